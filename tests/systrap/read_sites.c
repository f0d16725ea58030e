/* glibc's read(2) through patched sites (tests/systrap/test_patching.py),
 * run natively and in the sandbox: stdout must match. read's fast path
 * loads its number with `xor %eax,%eax` after a branch, so the patch moves
 * a compare and a branch with it; its cancellable path (once the program
 * has a thread) is a second site. Phases: reads of a pipe (its site
 * patched after a few), calls into read's middle, a read blocked while
 * interval-timer signals interrupt it (restarted: SA_RESTART) or end it
 * (EINTR), a traced child single-stepped through read and stopped by a
 * breakpoint on it, and reads from threads while signals arrive (a signal
 * may land in a trampoline whose code branches away). stderr says how
 * many of read's sites are patched (the jumps, ff 24 25, in read's code:
 * the program's code reads back patched on systrap; not compared). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "breakpoint.h"

static volatile sig_atomic_t alarms, usr1;
static int p[2];

static void on_alrm(int sig) { alarms++; }
static void on_usr1(int sig) { usr1++; }

static void report(const char *when)
{
    const unsigned char *code = (const unsigned char *)read;
    int jumps = 0;
    for (int i = 0; i + 3 <= 0xa0; i++)
        if (code[i] == 0xff && code[i + 1] == 0x24 && code[i + 2] == 0x25)
            jumps++;
    fprintf(stderr, "read sites patched %s: %d\n", when, jumps);
}

/* n one-byte round trips through the pipe; returns the wrong answers. */
static long round_trips(int fd_in, int fd_out, int n)
{
    long bad = 0;
    for (int i = 0; i < n; i++) {
        char c = 'a' + i % 26, got = 0;
        if (write(fd_out, &c, 1) != 1 || read(fd_in, &got, 1) != 1 || got != c)
            bad++;
    }
    errno = 0;
    char buf[4];
    if (read(-1, buf, 1) != -1 || errno != EBADF)    /* an error through the site */
        bad++;
    return bad;
}

/* read's code entered in its middle, as no caller does: at its `je`
 * (ZF clear: it falls through) and at its `xor`; on systrap a fault
 * there goes on at the same instruction in the trampoline. */
static long enter_read_at(unsigned long at, int fd, char *buf)
{
    register long rdi __asm__("rdi") = fd;
    register char *rsi __asm__("rsi") = buf;
    register long rdx __asm__("rdx") = 1;
    register unsigned long target __asm__("r11") = at;
    long ret;
    __asm__ volatile("sub $128, %%rsp\n\t"          /* (the red zone) */
                     "test %%rdx, %%rdx\n\t"
                     "call *%%r11\n\t"
                     "add $128, %%rsp"
                     : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(target)
                     : : "rcx", "r8", "r9", "r10", "memory", "cc");
    return ret;
}

static void stray_entries(void)
{
    const unsigned char *code = (const unsigned char *)read;
    /* glibc 2.36's read (its syscall patched on kvm), or patched (jmp *CELL) */
    if (!((code[0] == 0x80 && code[7] == 0x74 && code[9] == 0x31)
          || (code[0] == 0xff && code[1] == 0x24))) {
        printf("stray entries: not glibc 2.36's read\n");
        return;
    }
    char got[2] = { 0, 0 };
    write(p[1], "jx", 2);
    long a = enter_read_at((unsigned long)read + 7, p[0], &got[0]);
    long b = enter_read_at((unsigned long)read + 9, p[0], &got[1]);
    printf("stray entries: %ld %ld '%c%c'\n", a, b, got[0], got[1]);
}

static void interrupted_read(int restart)
{
    int q[2];
    if (pipe(q))
        abort();
    struct sigaction sa = { .sa_handler = on_alrm, .sa_flags = restart ? SA_RESTART : 0 };
    sigaction(SIGALRM, &sa, 0);
    pid_t child = fork();
    if (child == 0) {
        usleep(80000);
        write(q[1], "R", 1);
        _exit(0);
    }
    alarms = 0;
    struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
    setitimer(ITIMER_REAL, &it, 0);
    char c = 0;
    errno = 0;
    long n = read(q[0], &c, 1);
    int err = errno;
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, 0);
    waitpid(child, 0, 0);
    if (restart)
        printf("restarted read: %ld '%c', interrupted: %s\n", n, c, alarms > 1 ? "yes" : "no");
    else
        printf("interrupted read: %ld %s\n", n, strerror(err));
    close(q[0]);
    close(q[1]);
}

/* A debugger's single steps through read (its site patched, from the
 * parent's) and a breakpoint on it. */
static void traced_read(void)
{
    unsigned long at = (unsigned long)read;
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        char c = 0;
        long n = (write(p[1], "x", 1), read(p[0], &c, 1));
        raise(SIGSTOP);
        long m = (write(p[1], "y", 1), read(p[0], &c, 1));
        printf("child: reads %ld %ld, last '%c'\n", n, m, c);
        fflush(stdout);
        _exit(0);
    }
    int st;
    struct user_regs_struct regs;
    waitpid(child, &st, 0);
    int steps = 0;
    long rips[8];
    for (int n = 0; n < 100000 && steps < 8; n++) {
        ptrace(PTRACE_GETREGS, child, 0, &regs);
        if (regs.rip == at || steps)
            rips[steps++] = regs.rip - at;
        ptrace(PTRACE_SINGLESTEP, child, 0, 0);
        waitpid(child, &st, 0);
        if (!WIFSTOPPED(st))
            break;
    }
    printf("steps in read:");
    for (int i = 0; i < steps; i++)      /* (then its caller's: out) */
        rips[i] >= 0 && rips[i] < 0x100 ? printf(" +%ld", rips[i]) : printf(" out");
    printf("\n");
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &st, 0);                        /* the second SIGSTOP */
    long word = ptrace(PTRACE_PEEKTEXT, child, (void *)at, 0);
    printf("read's code:");
    for (int i = 0; i < 8; i++)
        printf(" %02lx", (word >> 8 * i) & 0xff);
    printf("\n");
    breakpoint_stop(child, at, word, "read");
    fflush(stdout);
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &st, 0);
    printf("child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void *reader(void *arg)
{
    int q[2];
    if (pipe(q))
        abort();
    long bad = round_trips(q[0], q[1], 3000);
    close(q[0]);
    close(q[1]);
    return (void *)bad;
}

int main(void)
{
    if (pipe(p))
        abort();
    printf("single-threaded: bad=%ld\n", round_trips(p[0], p[1], 3000));
    report("single-threaded");
    /* A child's reads: its copy of the patched code. */
    pid_t child = fork();
    if (child == 0)
        _exit(round_trips(p[0], p[1], 500) ? 1 : 0);
    int st;
    waitpid(child, &st, 0);
    printf("forked child: %d\n", WEXITSTATUS(st));
    stray_entries();
    interrupted_read(1);
    interrupted_read(0);
    fflush(stdout);
    traced_read();

    struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
    sigaction(SIGUSR1, &sa, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], 0, reader, 0);
    for (int i = 0; i < 200; i++)
        pthread_kill(t[i % 2], SIGUSR1);
    long bad = round_trips(p[0], p[1], 3000);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    printf("threads: bad=%ld\n", bad);
    report("with threads");
    return 0;
}
