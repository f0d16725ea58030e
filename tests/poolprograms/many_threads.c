/* N threads (default 2000) alive at once: each waits at a barrier until
 * all exist, writes one byte to a pipe, and exits with a value; main reads
 * the N bytes and joins them all. Far more threads than vCPUs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_barrier_t barrier;
static int pipefd[2];
static atomic_long sum;

static void *worker(void *arg)
{
    long i = (long)arg;
    pthread_barrier_wait(&barrier);
    char c = 'a' + i % 26;
    if (write(pipefd[1], &c, 1) != 1)
        abort();
    atomic_fetch_add(&sum, i);
    return (void *)(i * 2);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t attr;
    if (!t || pipe(pipefd) != 0)
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&barrier, NULL, n + 1);
    for (long i = 0; i < n; i++) {
        int e = pthread_create(&t[i], &attr, worker, (void *)i);
        if (e) {
            printf("pthread_create %ld failed: %d\n", i, e);
            return 1;
        }
    }
    printf("created %d threads\n", n);
    pthread_barrier_wait(&barrier);
    printf("all %d met at the barrier\n", n);
    long got = 0, letters[26] = {0};
    while (got < n) {
        char buf[512];
        ssize_t r = read(pipefd[0], buf, sizeof buf < (size_t)(n - got) ? sizeof buf : (size_t)(n - got));
        if (r <= 0)
            return 2;
        for (ssize_t k = 0; k < r; k++)
            letters[buf[k] - 'a']++;
        got += r;
    }
    long rets = 0;
    for (int i = 0; i < n; i++) {
        void *rv;
        if (pthread_join(t[i], &rv) != 0)
            return 3;
        rets += (long)rv;
    }
    printf("read %ld bytes: a=%ld z=%ld\n", got, letters[0], letters[25]);
    printf("joined %d: sum %ld, returns %ld\n", n, (long)atomic_load(&sum), rets);
    return 0;
}
