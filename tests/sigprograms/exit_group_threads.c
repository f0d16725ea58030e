/* exit_group while other threads are blocked in futex waits (condvar,
 * mutex, pthread_join, raw FUTEX_WAIT): the whole process ends at once
 * with the status given. argv[1] = "main": the main thread calls exit;
 * "thread": a worker calls exit(); "signal": a worker dies of SIGTERM. */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int word;
static pthread_t never;
static volatile int started;
static pthread_mutex_t sm = PTHREAD_MUTEX_INITIALIZER;

static void up(void) { pthread_mutex_lock(&sm); started++; pthread_mutex_unlock(&sm); }

static void *cond_waiter(void *a) {
    (void)a;
    pthread_mutex_lock(&m);
    up();
    for (;;) pthread_cond_wait(&c, &m);
    return NULL;
}
static void *mutex_waiter(void *a) { (void)a; up(); pthread_mutex_lock(&held); return NULL; }
static void *raw_waiter(void *a) {
    (void)a;
    up();
    for (;;) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}
static void *never_ends(void *a) { (void)a; for (;;) pause(); return NULL; }
static void *joiner(void *a) { (void)a; up(); pthread_join(never, NULL); return NULL; }
static void *exiter(void *a) { exit((int)(long)a); }

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "main";
    pthread_mutex_lock(&held);
    pthread_t t;
    pthread_create(&never, NULL, never_ends, NULL);
    pthread_create(&t, NULL, cond_waiter, NULL);
    pthread_create(&t, NULL, mutex_waiter, NULL);
    pthread_create(&t, NULL, raw_waiter, NULL);
    pthread_create(&t, NULL, joiner, NULL);
    while (started < 4) usleep(1000);
    usleep(50000);                         /* they are asleep in futex waits */
    printf("4 waiters blocked, exiting via %s\n", how);
    fflush(stdout);
    if (!strcmp(how, "main")) exit(42);
    if (!strcmp(how, "thread")) {
        pthread_create(&t, NULL, exiter, (void *)23);
        for (;;) pause();
    }
    pthread_kill(t, SIGTERM);
    for (;;) pause();
}
