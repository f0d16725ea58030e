/* fork + execve of itself, over and over: what each new program sees must
 * be a fresh process whatever the sandbox reuses underneath (systrap keeps
 * the host processes of ended programs for the next one). Each child
 * checks that its bss and a new anonymous mapping are zero, then fills
 * them for the next one to find if memory leaked across; that the signal
 * mask and ignored signals came through execve and handlers did not; that
 * /proc/self/exe names it; that its CPU time starts near zero although the
 * child before it burned some; and exits with a status the parent checks,
 * with and without a signal. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char bss[3 * 4096 + 123];

static long cpu_ms(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void burn(long ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    do
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

static void on_usr2(int sig) { (void)sig; }

static int child(int n)
{
    int zero = 1;
    for (size_t i = 0; i < sizeof bss; i++)
        zero &= bss[i] == 0;
    char *m = mmap(NULL, 5 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 5 * 4096; i++)
        zero &= m[i] == 0;
    memset(bss, 0xa5, sizeof bss);
    memset(m, 0x5a, 5 * 4096);

    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    struct sigaction term, usr2;
    sigaction(SIGTERM, NULL, &term);
    sigaction(SIGUSR2, NULL, &usr2);
    char exe[256] = "";
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0)
        exe[len] = 0;
    const char *base = strrchr(exe, '/');
    long cpu = cpu_ms(RUSAGE_SELF);
    printf("child %d: zero %d, usr1 blocked %d, term ignored %d, usr2 default %d, "
           "exe %s, cpu fresh %d\n", n, zero, sigismember(&mask, SIGUSR1),
           term.sa_handler == SIG_IGN, usr2.sa_handler == SIG_DFL,
           base ? base + 1 : "?", cpu < 40);
    fflush(stdout);
    if (n % 3 == 1)
        burn(60);                      /* for the next child's CPU time */
    if (n % 4 == 3)
        raise(SIGKILL);
    return n;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "child") == 0)
        return child(atoi(argv[2]));
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    signal(SIGTERM, SIG_IGN);
    signal(SIGUSR2, on_usr2);
    long before = cpu_ms(RUSAGE_CHILDREN);
    for (int n = 0; n < 8; n++) {
        char num[16];
        snprintf(num, sizeof num, "%d", n);
        pid_t pid = fork();
        if (pid == 0) {
            char *args[] = {argv[0], "child", num, NULL};
            execv("/proc/self/exe", args);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid)
            return 1;
        printf("parent: child %d exited=%d code=%d signaled=%d sig=%d\n", n,
               WIFEXITED(st), WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st),
               WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    /* Children 1, 4 and 7 burned 60 ms each. */
    printf("children's cpu counted %d\n", cpu_ms(RUSAGE_CHILDREN) - before >= 150);
    return 0;
}
