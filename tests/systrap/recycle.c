/* What a program leaves in its host thread does not reach the next
 * process (tests/systrap/test_forge.py). A single-threaded process H,
 * through one of the stub's own calls (a jump to its `syscall`, which its
 * filter lets through), blocks the kick's host signal, then exits: the
 * sentry keeps its host process, stopped in the stub, for the next
 * address space (IdleProcesses). The next process C, a fork of B, runs on
 * that host thread (the slot's host tid says so) and must take B's
 * SIGUSR1 while it spins: with the old mask the kick never reaches it.
 *
 * -D: CTL_VA, STUB_BASE, KICK_SIGNAL (the layout). Systrap only. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MSG_TID = 80 };                /* struct msg's tid */
static sigjmp_buf jb;
static volatile sig_atomic_t got;

static void on_ill(int sig) { siglongjmp(jb, 1); }
static void on_usr1(int sig) { got = 1; }

static uint64_t host_tid(void) { return *(volatile uint64_t *)(CTL_VA + MSG_TID); }

/* One of the stub's calls, at its restorer's `syscall; ud2`. */
static void stub_call(long nr, long a, long b, long c, long d)
{
    static const unsigned char pat[] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b };
    uint64_t site = 0;
    for (uint64_t p = STUB_BASE + 0x1000; p < STUB_BASE + 0x3000 && !site; p++)
        if (memcmp((void *)p, pat, sizeof(pat)) == 0)
            site = p + 5;
    signal(SIGILL, on_ill);
    if (site && sigsetjmp(jb, 1) == 0) {
        register long r10 __asm__("r10") = d;
        __asm__ volatile("jmp *%[site]" : : [site] "r"(site), "a"(nr), "D"(a), "S"(b),
                         "d"(c), "r"(r10) : "memory");
        __builtin_unreachable();
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    int p[2];
    if (pipe(p) < 0)
        return 2;
    pid_t h = fork();
    if (h == 0) {
        uint64_t tid = host_tid();
        if (write(p[1], &tid, 8) != 8)
            _exit(2);
        uint64_t mask = 1ULL << (KICK_SIGNAL - 1);
        stub_call(14, SIG_BLOCK, (long)&mask, 0, 8);          /* rt_sigprocmask */
        _exit(0);
    }
    int st;
    waitpid(h, &st, 0);
    uint64_t h_tid = 0, c_tid = 0;
    if (read(p[0], &h_tid, 8) != 8)
        return 2;

    pid_t c = fork();
    if (c == 0) {
        signal(SIGUSR1, on_usr1);
        uint64_t tid = host_tid();
        if (write(p[1], &tid, 8) != 8)
            _exit(2);
        double end = now() + 20;
        while (!got && now() < end)
            ;                                                  /* no syscall: only a kick */
        if (!got)
            _exit(3);
        _exit(getppid() > 0 ? 0 : 4);                           /* a trap after it */
    }
    if (read(p[0], &c_tid, 8) != 8)
        return 2;
    printf("recycled: %s host thread\n", c_tid == h_tid ? "same" : "another");
    kill(c, SIGUSR1);
    waitpid(c, &st, 0);
    if (WIFEXITED(st))
        printf("next process: exit %d\n", WEXITSTATUS(st));
    else
        printf("next process: signal %d\n", WTERMSIG(st));
    return 0;
}
