/* N threads (default 200) made runnable at once (a barrier releases them
 * together), each spinning in user code with no syscall until all N have
 * arrived: every thread needs CPU time while the others spin, so in the
 * sandbox the vCPUs must rotate (preemption) or the program never ends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_barrier_t start;
static atomic_int arrived;
static atomic_int spun;
static int n;

static void *spin(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    atomic_fetch_add(&arrived, 1);
    long k = 0;
    while (atomic_load(&arrived) < n) {
        __builtin_ia32_pause();
        k++;
    }
    if (k > 0)
        atomic_fetch_add(&spun, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&start, NULL, n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], &attr, spin, NULL) != 0)
            return 1;
    pthread_barrier_wait(&start);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("all %d arrived (%d)\n", n, atomic_load(&arrived));
    /* At least the first to arrive spun until the last did. */
    printf("some spun: %d\n", atomic_load(&spun) > 0);
    return 0;
}
