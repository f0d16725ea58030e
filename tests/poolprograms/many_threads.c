/* N threads (default 2000), started in batches of B (default all N) that
 * are alive at once: each thread of a batch waits at a barrier until the
 * whole batch exists, writes one byte to a pipe and exits with a value;
 * main reads the bytes and joins the batch. Far more threads than vCPUs.
 * Usage: many_threads [N [B]] */
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
    int batch = argc > 2 ? atoi(argv[2]) : n;
    pthread_t *t = calloc(batch, sizeof *t);
    pthread_attr_t attr;
    if (!t || batch <= 0 || n % batch || pipe(pipefd) != 0)
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    long got = 0, rets = 0, letters[26] = {0};
    int met = 0;
    for (long first = 0; first < n; first += batch) {
        pthread_barrier_init(&barrier, NULL, batch + 1);
        for (long i = 0; i < batch; i++) {
            int e = pthread_create(&t[i], &attr, worker, (void *)(first + i));
            if (e) {
                printf("pthread_create %ld failed: %d\n", first + i, e);
                return 1;
            }
        }
        pthread_barrier_wait(&barrier);
        met++;
        for (long left = batch; left > 0;) {
            char buf[512];
            ssize_t r = read(pipefd[0], buf, left < (long)sizeof buf ? (size_t)left : sizeof buf);
            if (r <= 0)
                return 2;
            for (ssize_t k = 0; k < r; k++)
                letters[buf[k] - 'a']++;
            left -= r;
            got += r;
        }
        for (int i = 0; i < batch; i++) {
            void *rv;
            if (pthread_join(t[i], &rv) != 0)
                return 3;
            rets += (long)rv;
        }
        pthread_barrier_destroy(&barrier);
    }
    printf("%d threads, %d batches of %d alive at once\n", n, met, batch);
    printf("read %ld bytes: a=%ld z=%ld\n", got, letters[0], letters[25]);
    printf("joined %d: sum %ld, returns %ld\n", n, (long)atomic_load(&sum), rets);
    return 0;
}
