/* SA_SIGINFO: si_signo, si_code (SI_USER, SI_TKILL, SI_QUEUE), si_pid,
 * si_uid, si_value, for signals from this process and from a child. */
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got_signo, got_code, got_pid, got_uid, got_value, count;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)uc; (void)sig;
    got_signo = si->si_signo;
    got_code = si->si_code;
    got_pid = si->si_pid;
    got_uid = si->si_uid;
    got_value = si->si_value.sival_int;
    count++;
}

static const char *code_name(int c) {
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_KERNEL: return "SI_KERNEL";
    default: return "other";
    }
}

static void report(const char *what, pid_t expect_pid, int show_value) {
    printf("%-16s signo=%d code=%s pid_ok=%d uid_ok=%d", what, got_signo,
           code_name(got_code), got_pid == expect_pid, got_uid == (int)getuid());
    if (show_value) printf(" value=%d", got_value);
    printf("\n");
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGRTMIN, &sa, NULL);
    pid_t me = getpid();

    kill(me, SIGUSR1);
    report("kill", me, 0);
    syscall(SYS_tgkill, me, (pid_t)syscall(SYS_gettid), SIGUSR2);
    report("tgkill", me, 0);
    raise(SIGUSR1);
    report("raise", me, 0);
    union sigval v = {.sival_int = 4242};
    sigqueue(me, SIGRTMIN, v);
    report("sigqueue", me, 1);

    /* From a child: block the signals, let the child send, then take them. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        kill(getppid(), SIGUSR1);
        union sigval cv = {.sival_int = 77};
        sigqueue(getppid(), SIGRTMIN, cv);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    siginfo_t si;
    for (int i = 0; i < 2; i++) {
        int s = sigwaitinfo(&set, &si);
        printf("child %-10s signo=%d code=%s pid_ok=%d", s == SIGUSR1 ? "kill" : "sigqueue",
               si.si_signo, code_name(si.si_code), si.si_pid == child);
        if (s != SIGUSR1) printf(" value=%d", si.si_value.sival_int);
        printf("\n");
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("handler count=%d\n", count);
    return 0;
}
