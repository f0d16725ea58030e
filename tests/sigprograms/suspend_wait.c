/* sigsuspend waits with a temporary mask and restores the old one;
 * sigtimedwait takes a pending signal without a handler, times out with
 * EAGAIN, and waits for a signal sent later by a child. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int got;
static void handler(int sig) { got = sig; }

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);

    sigset_t block, old, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);

    /* sigsuspend: a child signals us after a delay. */
    fflush(stdout);
    pid_t parent = getpid(), child = fork();
    if (child == 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    sigfillset(&waitmask);
    sigdelset(&waitmask, SIGUSR1);         /* only USR1 may wake us */
    int r = sigsuspend(&waitmask);
    int err = errno;
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("sigsuspend=%d errno=%s got=%d mask_restored=%d\n", r,
           err == EINTR ? "EINTR" : "other", got == SIGUSR1,
           sigismember(&now, SIGUSR1) && sigismember(&now, SIGUSR2) &&
           !sigismember(&now, SIGCHLD));
    waitpid(child, NULL, 0);

    /* sigtimedwait: already pending. */
    got = 0;
    raise(SIGUSR2);
    sigset_t which;
    sigemptyset(&which);
    sigaddset(&which, SIGUSR2);
    struct timespec zero = {0, 0};
    siginfo_t si;
    r = sigtimedwait(&which, &si, &zero);
    printf("sigtimedwait pending=%d code_user=%d handler_ran=%d\n", r,
           si.si_code == SI_TKILL || si.si_code == SI_USER, got);

    /* Nothing pending: times out. */
    struct timespec short_ = {0, 50 * 1000 * 1000};
    r = sigtimedwait(&which, &si, &short_);
    printf("sigtimedwait empty=%d errno=%s\n", r, errno == EAGAIN ? "EAGAIN" : "other");

    /* Sent later by a child. */
    fflush(stdout);
    child = fork();
    if (child == 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        union sigval v = {.sival_int = 9};
        sigqueue(getppid(), SIGUSR2, v);
        _exit(0);
    }
    struct timespec longer = {5, 0};
    r = sigtimedwait(&which, &si, &longer);
    printf("sigtimedwait later=%d from_child=%d value=%d\n", r, si.si_pid == child,
           si.si_value.sival_int);
    waitpid(child, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}
