/* pthread_kill directs a signal at one thread: the handler runs on that
 * thread. A process-directed signal goes to a thread that does not block
 * it. sigwait in a dedicated thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define N 3
static pthread_t threads[N];
static volatile int ran_on[N + 1];           /* index N: main thread */
static pthread_barrier_t barrier;
static volatile int stop;

static int whoami(void) {
    pthread_t self = pthread_self();
    for (int i = 0; i < N; i++)
        if (pthread_equal(self, threads[i])) return i;
    return N;
}

static void handler(int sig) { (void)sig; ran_on[whoami()]++; }

static void *worker(void *arg) {
    (void)arg;
    pthread_barrier_wait(&barrier);
    while (!stop) usleep(1000);
    return NULL;
}

static void *waiter(void *arg) {
    sigset_t *set = arg;
    int sig;
    sigwait(set, &sig);
    return (void *)(long)sig;
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_barrier_init(&barrier, NULL, N + 1);
    for (int i = 0; i < N; i++) pthread_create(&threads[i], NULL, worker, NULL);
    pthread_barrier_wait(&barrier);

    for (int i = 0; i < N; i++) {
        for (int k = 0; k <= i; k++) pthread_kill(threads[i], SIGUSR1);
        /* wait until each of the i+1 signals ran (they may coalesce) */
        for (int t = 0; t < 2000 && !ran_on[i]; t++) usleep(1000);
    }
    usleep(50000);
    printf("handled on: t0=%d t1=%d t2=%d main=%d\n", ran_on[0] > 0, ran_on[1] > 0,
           ran_on[2] > 0, ran_on[N]);

    /* Process-directed, main blocks it: some worker runs the handler. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int before = ran_on[0] + ran_on[1] + ran_on[2];
    kill(getpid(), SIGUSR1);
    for (int t = 0; t < 2000 && ran_on[0] + ran_on[1] + ran_on[2] == before; t++)
        usleep(1000);
    printf("process-directed: a worker ran it=%d main=%d\n",
           ran_on[0] + ran_on[1] + ran_on[2] == before + 1, ran_on[N]);

    stop = 1;
    for (int i = 0; i < N; i++) pthread_join(threads[i], NULL);

    /* sigwait in a thread, every thread blocks SIGUSR2. */
    sigset_t s2;
    sigemptyset(&s2);
    sigaddset(&s2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s2, NULL);
    pthread_t w;
    pthread_create(&w, NULL, waiter, &s2);
    usleep(20000);
    kill(getpid(), SIGUSR2);
    void *ret;
    pthread_join(w, &ret);
    printf("sigwait thread got %s\n", (long)ret == SIGUSR2 ? "SIGUSR2" : "other");

    /* pthread_kill to a thread that ignores nothing but blocks it: stays
     * pending on that thread only. */
    pthread_kill(pthread_self(), SIGUSR2);
    sigset_t p;
    sigpending(&p);
    printf("pending on self=%d\n", sigismember(&p, SIGUSR2));
    return 0;
}
