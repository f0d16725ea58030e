/* Futexes as gVisor's futex_test found them different. PI futexes
 * (FUTEX_LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI) as the test uses them and
 * as glibc's PTHREAD_PRIO_INHERIT mutexes do: the word's owner tid and
 * FUTEX_WAITERS bit, EDEADLK/EPERM/EAGAIN/ESRCH, timeouts on both clocks,
 * hand-over under contention. Wakes: a count of 0 still wakes one, and a
 * shared wake does not find a private waiter (nor the reverse). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

static long fx(atomic_int *w, int op, const struct timespec *t)
{
    return syscall(SYS_futex, w, op, 0, t, NULL, 0);
}

static int tid(void) { return syscall(SYS_gettid); }

static int lock(atomic_int *w, int op)
{
    int zero = 0;
    if (atomic_compare_exchange_strong(w, &zero, tid()))
        return 0;
    long r;
    while ((r = fx(w, op, NULL)) < 0 && errno == EINTR)
        ;
    return r;
}

static int unlock(atomic_int *w, int op)
{
    int me = tid();
    if (atomic_compare_exchange_strong(w, &me, 0))
        return 0;
    return fx(w, op, NULL);
}

static atomic_int word;
static int main_tid, counter, bad;

static void *try_other(void *arg)
{
    (void)arg;
    SHOW("other thread: trylock", fx(&word, FUTEX_TRYLOCK_PI, NULL));
    SHOW("other thread: unlock", fx(&word, FUTEX_UNLOCK_PI, NULL));
    return NULL;
}

static void *blocker(void *arg)
{
    int op = *(int *)arg;
    int r = lock(&word, FUTEX_LOCK_PI | op);
    int owned = (atomic_load(&word) & FUTEX_TID_MASK) == tid();
    int r2 = unlock(&word, FUTEX_UNLOCK_PI | op);
    static char line[80];
    snprintf(line, sizeof(line), "blocked thread: lock %d owned %d unlock %d", r, owned, r2);
    return line;
}

static void *worker(void *arg)
{
    int op = *(int *)arg;
    for (int i = 0; i < 30; i++) {
        if (lock(&word, FUTEX_LOCK_PI | op))
            bad++;
        if ((atomic_load(&word) & FUTEX_TID_MASK) != tid())
            bad++;
        int c = counter;
        usleep(100);
        counter = c + 1;
        if (unlock(&word, FUTEX_UNLOCK_PI | op))
            bad++;
    }
    return NULL;
}

static void round_of(int op)
{
    pthread_t t[6];
    printf("--- %s\n", op ? "private" : "shared");
    atomic_store(&word, 0);
    SHOW("lock", lock(&word, FUTEX_LOCK_PI | op));
    printf("word is my tid: %d\n", atomic_load(&word) == main_tid);
    SHOW("lock again", fx(&word, FUTEX_LOCK_PI | op, NULL));
    SHOW("trylock again", fx(&word, FUTEX_TRYLOCK_PI | op, NULL));
    pthread_create(&t[0], NULL, try_other, NULL);
    pthread_join(t[0], NULL);

    /* A waiter sets FUTEX_WAITERS; the unlock hands the lock over. */
    pthread_create(&t[0], NULL, blocker, &op);
    while (atomic_load(&word) != (main_tid | (int)FUTEX_WAITERS))
        usleep(1000);
    printf("word shows waiters\n");
    SHOW("unlock (kernel)", unlock(&word, FUTEX_UNLOCK_PI | op));
    void *line;
    pthread_join(t[0], &line);
    puts(line);
    printf("word after hand-over and release: %x\n", atomic_load(&word));
    SHOW("unlock of an unowned lock", fx(&word, FUTEX_UNLOCK_PI | op, NULL));

    /* Timeouts: LOCK_PI on CLOCK_REALTIME, LOCK_PI2 on CLOCK_MONOTONIC. */
    atomic_store(&word, 0x3ffffff0);
    SHOW("lock of a word naming no task", fx(&word, FUTEX_LOCK_PI | op, NULL));
    pthread_create(&t[0], NULL, try_other, NULL);
    pthread_join(t[0], NULL);
    atomic_store(&word, 0);
    lock(&word, FUTEX_LOCK_PI | op);
    atomic_store(&word, main_tid);
    SHOW("bad timeout", fx(&word, FUTEX_LOCK_PI2 | op, &(struct timespec){0, -1}));
    SHOW("misaligned", syscall(SYS_futex, (char *)&word + 1, FUTEX_LOCK_PI | op, 0, NULL, NULL, 0));
    atomic_store(&word, 0);

    /* Contention: a counter updated only under the lock. */
    counter = bad = 0;
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, worker, &op);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    printf("counter %d, errors %d, word %x\n", counter, bad, atomic_load(&word));
}

static atomic_int timed;

static void *timed_locker(void *arg)
{
    int clock_op = *(int *)arg;
    struct timespec until;
    clock_gettime(clock_op == FUTEX_LOCK_PI ? CLOCK_REALTIME : CLOCK_MONOTONIC, &until);
    until.tv_nsec += 30 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    SHOW(clock_op == FUTEX_LOCK_PI ? "timed lock (realtime)" : "timed lock (monotonic)",
         syscall(SYS_futex, &timed, clock_op | FUTEX_PRIVATE_FLAG, 0, &until, NULL, 0));
    return NULL;
}

static atomic_int plain;
static long waiter_result;

static void *plain_waiter(void *arg)
{
    int op = *(int *)arg;
    struct timespec t = {0, 300 * 1000 * 1000};
    waiter_result = syscall(SYS_futex, &plain, FUTEX_WAIT | op, 0, op == -1 ? NULL : &t, NULL, 0);
    if (waiter_result < 0)
        waiter_result = -errno;
    return NULL;
}

static void wake_rules(void)
{
    pthread_t t;
    int priv = FUTEX_PRIVATE_FLAG, shared = 0;
    long woken = 0;
    for (int kind = 0; kind < 2; kind++) {
        int *mine = kind ? &shared : &priv, other = kind ? FUTEX_PRIVATE_FLAG : 0;
        atomic_store(&plain, 0);
        pthread_create(&t, NULL, plain_waiter, mine);
        woken = 0;
        for (int i = 0; i < 50; i++) {             /* 100 ms of wrong-kind wakes */
            woken += syscall(SYS_futex, &plain, FUTEX_WAKE | other, 1, NULL, NULL, 0);
            usleep(2000);
        }
        pthread_join(t, NULL);
        printf("%s waiter: woken by the other kind %ld, result %s\n",
               kind ? "shared" : "private", woken, strerror(-waiter_result));
    }
    /* A wake count of 0 (or less) wakes one waiter. */
    int counts[2] = {0, -5};
    for (int i = 0; i < 2; i++) {
        atomic_store(&plain, 0);
        pthread_create(&t, NULL, plain_waiter, &priv);
        woken = 0;
        for (int tries = 0; tries < 1000 && !woken; tries++) {
            woken = syscall(SYS_futex, &plain, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, counts[i],
                            NULL, NULL, 0);
            if (!woken)
                usleep(1000);
        }
        pthread_join(t, NULL);
        printf("wake with count %d woke %ld, waiter result %ld\n", counts[i], woken,
               waiter_result);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    main_tid = tid();
    round_of(FUTEX_PRIVATE_FLAG);
    round_of(0);
    wake_rules();

    atomic_store(&timed, main_tid);
    int ops[2] = {FUTEX_LOCK_PI, FUTEX_LOCK_PI2};
    for (int i = 0; i < 2; i++) {
        pthread_t t;
        pthread_create(&t, NULL, timed_locker, &ops[i]);
        pthread_join(t, NULL);
        printf("word after the timeout keeps its owner: %d\n",
               (atomic_load(&timed) & FUTEX_TID_MASK) == main_tid);
    }

    /* glibc's priority-inheritance mutex. */
    pthread_mutexattr_t a;
    pthread_mutex_t m;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&m, &a);
    printf("pthread PI lock %d\n", pthread_mutex_lock(&m));
    printf("pthread PI relock %s\n", strerror(pthread_mutex_lock(&m)));
    printf("pthread PI trylock %s\n", strerror(pthread_mutex_trylock(&m)));
    printf("pthread PI unlock %d\n", pthread_mutex_unlock(&m));
    printf("pthread PI unlock again %s\n", strerror(pthread_mutex_unlock(&m)));
    return 0;
}
