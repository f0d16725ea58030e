/* Signals that interrupt plain user code (not a syscall) must give it back
 * every register: rcx and r11 too, which a return through SYSRET would
 * overwrite. The loop below holds a distinct value in each general
 * register while SIGALRM handlers run (each returns through rt_sigreturn,
 * whose site the sandbox takes the slow path for the first time), then
 * checks them all. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define SIGNALS 4
#define STR(x) #x
#define XSTR(x) STR(x)
volatile int handled;

static void on_alarm(int sig) { (void)sig; handled++; getppid(); }

/* Fills rax..r15 (not rsp) with 0x11.. 0x22.. ..., spins until `handled`
 * reaches SIGNALS, and stores the registers into out[15]. */
void spin(unsigned long *out);
__asm__(
    ".text\n.globl spin\nspin:\n"
    "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  push %rdi\n"
    "  movabs $0x1111111111111111, %rax\n movabs $0x2222222222222222, %rbx\n"
    "  movabs $0x3333333333333333, %rcx\n movabs $0x4444444444444444, %rdx\n"
    "  movabs $0x5555555555555555, %rsi\n movabs $0x6666666666666666, %rdi\n"
    "  movabs $0x7777777777777777, %rbp\n movabs $0x8888888888888888, %r8\n"
    "  movabs $0x9999999999999999, %r9\n  movabs $0xaaaaaaaaaaaaaaaa, %r10\n"
    "  movabs $0xbbbbbbbbbbbbbbbb, %r11\n movabs $0xcccccccccccccccc, %r12\n"
    "  movabs $0xdddddddddddddddd, %r13\n movabs $0xeeeeeeeeeeeeeeee, %r14\n"
    "  movabs $0x0f0f0f0f0f0f0f0f, %r15\n"
    "1: cmpl $" XSTR(SIGNALS) ", handled(%rip)\n"
    "  jb 1b\n"
    "  push %rdi\n"
    "  mov 8(%rsp), %rdi\n"                  /* out */
    "  mov %rax, 0(%rdi)\n mov %rbx, 8(%rdi)\n mov %rcx, 16(%rdi)\n"
    "  mov %rdx, 24(%rdi)\n mov %rsi, 32(%rdi)\n pop %rax\n mov %rax, 40(%rdi)\n"
    "  mov %rbp, 48(%rdi)\n mov %r8, 56(%rdi)\n mov %r9, 64(%rdi)\n"
    "  mov %r10, 72(%rdi)\n mov %r11, 80(%rdi)\n mov %r12, 88(%rdi)\n"
    "  mov %r13, 96(%rdi)\n mov %r14, 104(%rdi)\n mov %r15, 112(%rdi)\n"
    "  pop %rdi\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
    "  ret\n");

int main(void)
{
    static const char *names[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
    static const unsigned long want[15] = {
        0x1111111111111111, 0x2222222222222222, 0x3333333333333333,
        0x4444444444444444, 0x5555555555555555, 0x6666666666666666,
        0x7777777777777777, 0x8888888888888888, 0x9999999999999999,
        0xaaaaaaaaaaaaaaaa, 0xbbbbbbbbbbbbbbbb, 0xcccccccccccccccc,
        0xdddddddddddddddd, 0xeeeeeeeeeeeeeeee, 0x0f0f0f0f0f0f0f0f};
    unsigned long got[15];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    spin(got);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    int bad = 0;
    for (int i = 0; i < 15; i++)
        if (got[i] != want[i]) {
            printf("%s = %#lx, expected %#lx\n", names[i], got[i], want[i]);
            bad++;
        }
    printf("%d signals handled in user code, %s\n", handled >= SIGNALS ? SIGNALS : -1,
           bad ? "registers CLOBBERED" : "all registers intact");
    return bad != 0;
}
