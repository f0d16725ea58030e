/* SA_SIGINFO: si_signo, si_code (SI_USER, SI_TKILL, SI_QUEUE), si_pid,
 * si_uid, si_value, for signals from this process and from a child; and
 * O_ASYNC on a pipe: F_SETOWN/F_SETSIG, si_fd and si_band. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#ifndef FIOGETOWN
#define FIOGETOWN 0x8903
#endif
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

    /* O_ASYNC: a write to the pipe signals the read end's owner. */
    int p[2];
    pipe(p);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGIO);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct f_owner_ex ox = {0};
    int set_ok = fcntl(p[0], F_SETOWN, me);
    int get_ok = fcntl(p[0], F_GETOWN) == me;
    fcntl(p[0], F_GETOWN_EX, &ox);
    int nobody = fcntl(p[0], F_SETOWN, 0x7ffffff0);
    printf("setown=%d getown_ok=%d owner_type=%d setown_nobody=%d\n", set_ok, get_ok, ox.type,
           nobody);
    fcntl(p[0], F_SETOWN, me);
    fcntl(p[0], F_SETSIG, SIGUSR2);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_ASYNC);
    write(p[1], "x", 1);
    int s = sigwaitinfo(&set, &si);
    printf("sigio setsig signo=%d code=%d fd_ok=%d band=%#lx getsig=%d\n", s, si.si_code,
           si.si_fd == p[0], (long)si.si_band, fcntl(p[0], F_GETSIG));
    fcntl(p[0], F_SETSIG, 0);
    write(p[1], "y", 1);
    s = sigwaitinfo(&set, &si);
    printf("sigio plain signo=%d\n", s);
    /* The same through ioctl: FIOASYNC, FIOGETOWN; and O_PATH fds have none. */
    int off = 0, owner = 0;
    printf("FIOASYNC off=%d", ioctl(p[0], FIOASYNC, &off));
    printf(" O_ASYNC left=%d", !!(fcntl(p[0], F_GETFL) & O_ASYNC));
    printf(" pipe FIOGETOWN=%d", ioctl(p[0], FIOGETOWN, &owner) < 0 ? -errno : 0);
    int sk = socket(AF_UNIX, SOCK_STREAM, 0);
    fcntl(sk, F_SETOWN, me);
    printf(" socket FIOGETOWN=%d", ioctl(sk, FIOGETOWN, &owner));
    printf(" owner_ok=%d", owner == me);
    int opath = open("/", O_PATH);
    printf(" O_PATH ioctl=%d\n", ioctl(opath, FIOCLEX) < 0 ? -errno : 0);
    return 0;
}
