/* sigprocmask blocks delivery, sigpending reports what waits, and
 * unblocking delivers (standard signals once, real-time ones queued, the
 * lowest number first). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static char order[64];
static volatile int n;

static void handler(int sig) {
    order[n++] = sig == SIGUSR1 ? 'U' : sig == SIGUSR2 ? 'V' : 'a' + (sig - SIGRTMIN);
}

static void show_pending(const char *when) {
    sigset_t p;
    sigpending(&p);
    printf("%s: pending USR1=%d USR2=%d RTMIN=%d RTMIN+1=%d TERM=%d\n", when,
           sigismember(&p, SIGUSR1), sigismember(&p, SIGUSR2), sigismember(&p, SIGRTMIN),
           sigismember(&p, SIGRTMIN + 1), sigismember(&p, SIGTERM));
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    int sigs[] = {SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN + 1};
    for (int i = 0; i < 4; i++) sigaction(sigs[i], &sa, NULL);

    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; i < 4; i++) sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    show_pending("start");

    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);               /* standard: coalesced */
    union sigval v = {0};
    sigqueue(getpid(), SIGRTMIN + 1, v);
    sigqueue(getpid(), SIGRTMIN, v);
    sigqueue(getpid(), SIGRTMIN, v);       /* real-time: queued twice */
    show_pending("blocked");
    printf("delivered while blocked: %d\n", n);

    /* Unblock one: only it runs. */
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    order[n] = 0;
    printf("after unblocking USR2: %s\n", order);
    show_pending("partial");

    sigprocmask(SIG_SETMASK, &old, NULL);
    order[n] = 0;
    printf("after unblocking all: %s\n", order);
    show_pending("end");

    /* SIGKILL and SIGSTOP cannot be blocked. */
    sigset_t all, cur;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("blocked KILL=%d STOP=%d TERM=%d\n", sigismember(&cur, SIGKILL),
           sigismember(&cur, SIGSTOP), sigismember(&cur, SIGTERM));
    return 0;
}
