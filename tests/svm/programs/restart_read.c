/* A signal handler interrupts a `read` blocked at a syscall site that has
 * already run once (so the sandbox has patched it): without SA_RESTART the
 * read fails with EINTR, with SA_RESTART it runs again after the handler
 * and returns the data that arrives later.
 *
 * The read is one inline `syscall` with a known address, so the handler
 * can tell from its ucontext that it interrupted exactly that call: Linux
 * shows rip at the site and rax = __NR_read for a restart, rip past it and
 * rax = -EINTR otherwise. A child keeps signalling until the handler has
 * seen such a hit, so the outcome does not depend on timing. On stderr:
 * the bytes at the site (the sandbox's patch shows there; stdout stays
 * comparable with native Linux). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

extern const unsigned char read_site[], read_site_end[];

/* read(2) from one fixed site; r12-r15 and rbx carry values that must
 * survive the interruption and the restart. */
__attribute__((noinline)) static long site_read(int fd, void *buf, size_t n, int *intact)
{
    long ret;
    register long r12 __asm__("r12") = 0x1212121212121212;
    register long r13 __asm__("r13") = 0x1313131313131313;
    register long r14 __asm__("r14") = 0x1414141414141414;
    register long r15 __asm__("r15") = 0x1515151515151515;
    long rbx = 0x0b0b0b0b0b0b0b0b;
    __asm__ volatile(".globl read_site, read_site_end\n"
                     "read_site: syscall\n"
                     "read_site_end:\n"
                     : "=a"(ret), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15), "+b"(rbx)
                     : "0"((long)SYS_read), "D"(fd), "S"(buf), "d"(n)
                     : "rcx", "r11", "memory");
    *intact = r12 == 0x1212121212121212 && r13 == 0x1313131313131313 &&
              r14 == 0x1414141414141414 && r15 == 0x1515151515151515 &&
              rbx == 0x0b0b0b0b0b0b0b0b;
    return ret;
}

static volatile sig_atomic_t handled, hits;
static volatile long hit_rax;
static int hit_pipe = -1;

static void on_usr1(int sig, siginfo_t *si, void *uc_)
{
    (void)sig; (void)si;
    ucontext_t *uc = uc_;
    uintptr_t rip = uc->uc_mcontext.gregs[REG_RIP];
    handled++;
    if (rip == (uintptr_t)read_site || rip == (uintptr_t)read_site_end) {
        hits++;
        hit_rax = uc->uc_mcontext.gregs[REG_RAX];
        char at = rip == (uintptr_t)read_site ? 's' : 'e';
        write(hit_pipe, &at, 1);
    }
}

/* Child: signal the parent until its handler reports a hit at the site,
 * then (for the restart case) write the data. */
static void child(pid_t parent, int hit_rd, int data_wr, int send_data)
{
    for (int i = 0; i < 600; i++) {
        kill(parent, SIGUSR1);
        struct pollfd p = {hit_rd, POLLIN, 0};
        if (poll(&p, 1, 100) == 1)
            break;
    }
    if (send_data)
        write(data_wr, "late", 4);
    _exit(0);
}

static void trial(int restart)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0);
    sigaction(SIGUSR1, &sa, NULL);
    handled = hits = 0;
    hit_rax = 0;

    int data[2], hit[2];
    pipe(data);
    pipe(hit);
    hit_pipe = hit[1];
    pid_t parent = getpid();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(data[0]);
        child(parent, hit[0], data[1], restart);
    }
    close(data[1]);
    char buf[16] = {0};
    int intact;
    long n = site_read(data[0], buf, sizeof buf - 1, &intact);
    printf("%s: read=%ld %s handled>0=%d hit=%s saved_rax=%s regs=%s\n",
           restart ? "SA_RESTART" : "no SA_RESTART", n,
           n == -EINTR ? "EINTR" : n > 0 ? buf : "?", handled > 0,
           hits ? "yes" : "no",
           hit_rax == SYS_read ? "__NR_read" : hit_rax == -EINTR ? "-EINTR" : "other",
           intact ? "intact" : "CLOBBERED");
    int st;
    waitpid(pid, &st, 0);
    printf("  child exit %d\n", WEXITSTATUS(st));
    close(data[0]); close(hit[0]); close(hit[1]);
}

int main(void)
{
    /* Run the site once with data ready, so it is patched before it blocks. */
    int p[2];
    char c;
    int intact;
    pipe(p);
    write(p[1], "x", 1);
    printf("warm-up read=%ld\n", site_read(p[0], &c, 1, &intact));
    close(p[0]); close(p[1]);
    fprintf(stderr, "site bytes %02x %02x\n", read_site[0], read_site[1]);
    trial(0);
    trial(1);
    return 0;
}
