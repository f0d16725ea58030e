/* N threads (default 200) runnable at once, spinning in user code with no
 * syscall until all N have arrived: each needs CPU time while the others
 * spin, so in the sandbox the vCPUs must rotate (preemption) or the
 * program never ends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int arrived;
static atomic_long laps;
static int n;

static void *spin(void *arg)
{
    (void)arg;
    atomic_fetch_add(&arrived, 1);
    long k = 0;
    while (atomic_load(&arrived) < n) {
        __builtin_ia32_pause();
        k++;
    }
    atomic_fetch_add(&laps, k > 0);
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], &attr, spin, NULL) != 0)
            return 1;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("all %d arrived (%d)\n", n, atomic_load(&arrived));
    /* The first thread spun until the last arrived. */
    printf("some spun: %d\n", atomic_load(&laps) > 0);
    return 0;
}
