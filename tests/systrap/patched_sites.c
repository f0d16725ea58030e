/* Syscalls through patched sites (tests/systrap/test_patching.py), run
 * natively and in the sandbox: stdout must match. Each phase makes
 * thousands of calls through libc's wrappers (getpid, getppid: `mov
 * $nr,%eax; syscall`) and syscall(2), so their sites get patched, and
 * checks every result and errno while the FPU holds live state across
 * the calls and signals arrive (an interval timer, pthread_kill of busy
 * threads: on systrap they land inside trampolines and the stub's entry
 * too). Then: a restarted call (SA_RESTART read), threads, fork, a
 * mapping over the patch table's address, arch_prctl(ARCH_SET_GS), exec.
 * stderr says whether getpid's code was patched (not compared). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARCH_SET_GS 0x1001

static volatile sig_atomic_t alarms, usr1;
static int pipefd[2];

static void on_alrm(int sig)
{
    volatile double d = 3.5;          /* the handler's own FPU use */
    d *= d;
    alarms++;
}

static void on_usr1(int sig) { usr1++; }

/* n rounds of calls; returns how many answers were wrong. *acc carries
 * floating-point state across every call. */
static long calls(int n, double *acc)
{
    long bad = 0;
    pid_t pid = getpid(), ppid = getppid();
    double a = *acc;
    for (int i = 0; i < n; i++) {
        a = a * 1.0000001 + 0.25;
        if (getpid() != pid)
            bad++;
        if (syscall(SYS_getpid) != pid)
            bad++;
        if (getppid() != ppid)
            bad++;
        errno = 0;
        if (syscall(SYS_close, -1) != -1 || errno != EBADF)
            bad++;
        errno = 0;
        if (syscall(SYS_dup, -5) != -1 || errno != EBADF)
            bad++;
    }
    *acc = a;
    return bad;
}

static void *worker(void *arg)
{
    double acc = (long)arg;
    long bad = calls(2000, &acc);
    return (void *)(bad * 1000 + (acc > 0));
}

static void *late_writer(void *arg)
{
    usleep(30000);
    if (write(pipefd[1], "R", 1) != 1)
        abort();
    return 0;
}

static void report_patched(void)
{
    const unsigned char *code = (const unsigned char *)getpid;
    fprintf(stderr, "getpid code: %02x\n", code[0]);
}

static long phase_gs(void)
{
    static long gsbuf[4] = { 0x1234, 0, 0, 0 };
    if (syscall(SYS_arch_prctl, ARCH_SET_GS, gsbuf) != 0)
        return -1;
    long v;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
    double acc = 2;
    long bad = calls(300, &acc);
    return bad * 100000 + v;
}

int main(int argc, char **argv)
{
    double acc = 1;
    if (argc > 1) {                   /* after exec: a fresh address space */
        long bad = calls(500, &acc);
        printf("exec: bad=%ld acc=%.6f\n", bad, acc);
        return 0;
    }
    setvbuf(stdout, 0, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, 0);

    /* 1. One thread, a 1 ms interval timer firing throughout. */
    struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
    setitimer(ITIMER_REAL, &it, 0);
    long bad = calls(4000, &acc);
    printf("single: bad=%ld acc=%.6f\n", bad, acc);
    report_patched();

    /* 2. A blocking read through syscall(2)'s (patched) site, interrupted
     * by the timer and restarted (SA_RESTART), until a thread writes. */
    if (pipe(pipefd))
        return 1;
    char c = 0;
    if (write(pipefd[1], "x", 1) != 1 || syscall(SYS_read, pipefd[0], &c, 1) != 1)
        return 1;
    pthread_t w;
    pthread_create(&w, 0, late_writer, 0);
    long n = syscall(SYS_read, pipefd[0], &c, 1);
    pthread_join(w, 0);
    printf("restarted read: %ld %c\n", n, c);
    it.it_value.tv_usec = it.it_interval.tv_usec = 0;
    setitimer(ITIMER_REAL, &it, 0);

    /* 3. Threads on the same sites, signalled while they run. */
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], 0, worker, (void *)(i + 1));
    for (int k = 0; k < 200; k++)
        for (int i = 0; i < 4; i++)
            pthread_kill(t[i], SIGUSR1);
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("threads: %ld\n", sum);

    /* 4. fork: the child runs the parent's patched code. */
    pid_t p = fork();
    if (p == 0) {
        double a = 3;
        _exit(calls(1000, &a) ? 1 : 0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("fork child: %#x\n", st);

    /* 5. A mapping where the sandbox keeps its patch table. */
    p = fork();
    if (p == 0) {
        char *m = mmap((void *)0x7f060000, 0x20000, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (m == MAP_FAILED)
            _exit(2);
        memset(m, 0x5a, 0x20000);
        double a = 4;
        long b = calls(1000, &a);
        _exit(b || m[0x1234] != 0x5a ? 1 : 0);
    }
    waitpid(p, &st, 0);
    printf("map over table: %#x\n", st);

    /* 6. The program's own gs base. */
    p = fork();
    if (p == 0)
        _exit(phase_gs() == 0x1234 ? 0 : 1);
    waitpid(p, &st, 0);
    printf("own gs base: %#x\n", st);

    bad = calls(500, &acc);
    printf("after: bad=%ld acc=%.6f\n", bad, acc);
    fprintf(stderr, "SIGUSR1 handled: %d\n", usr1);   /* (how many: timing) */
    execl("/proc/self/exe", argv[0], "again", (char *)0);
    return 99;
}
