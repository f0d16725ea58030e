/* Thread creation and join, a mutex/condvar ping-pong. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn = 0, rounds = 200;
static long counter = 0;

static void *player(void *arg) {
    int me = (int)(long)arg;
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&m);
        while (turn != me) pthread_cond_wait(&c, &m);
        counter++;
        turn = 1 - me;
        pthread_cond_broadcast(&c);
        pthread_mutex_unlock(&m);
    }
    return (void *)(long)(me + 40);
}

static void *adder(void *arg) {
    long *sum = arg;
    for (int i = 1; i <= 1000; i++) *sum += i;
    return NULL;
}

int main(void) {
    pthread_t a, b, t[4];
    long sums[4] = {0};
    void *ra, *rb;
    pthread_create(&a, NULL, player, (void *)0);
    pthread_create(&b, NULL, player, (void *)1);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    printf("ping-pong counter %ld, returns %ld %ld\n", counter, (long)ra, (long)rb);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, adder, &sums[i]);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("sums %ld %ld %ld %ld\n", sums[0], sums[1], sums[2], sums[3]);
    return 0;
}
