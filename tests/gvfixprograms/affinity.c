/* sched_setaffinity then sched_getaffinity returns the mask set, in the
 * calling thread, a forked child and a new thread (gVisor affinity_test
 * Sanity/LargeCpuMask, fork_test Affinity): the sandbox's CPU numbering
 * must not shift when the task's own host thread is narrowed; and
 * sched_getcpu (glibc reads rseq's cpu_id) names a CPU of the new mask
 * (getcpu_test IsValidCpu). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *label, cpu_set_t *m)
{
    printf("%-28s", label);
    for (int i = 0; i < 16; i++)
        putchar(CPU_ISSET(i, m) ? '1' : '0');
    putchar('\n');
}

static void *thread_view(void *arg)
{
    cpu_set_t m;
    (void)arg;
    sched_getaffinity(0, sizeof(m), &m);
    show("new thread", &m);
    return NULL;
}

int main(void)
{
    cpu_set_t all, one, got;
    setvbuf(stdout, NULL, _IONBF, 0);
    sched_getaffinity(0, sizeof(all), &all);
    one = all;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &one)) {
            CPU_CLR(i, &one);
            break;
        }
    if (CPU_COUNT(&one) == 0)           /* one CPU only: keep it */
        one = all;
    printf("set: %d\n", sched_setaffinity(0, sizeof(one), &one));
    sched_getaffinity(0, sizeof(got), &got);
    printf("got what was set: %d\n", CPU_EQUAL(&got, &one));
    show("after set", &got);
    pthread_t t;
    pthread_create(&t, NULL, thread_view, NULL);
    pthread_join(t, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sched_getaffinity(0, sizeof(got), &got);
        show("forked child", &got);
        _exit(CPU_EQUAL(&got, &one) ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
    /* A set at the sandbox's CPU count in a large mask, then back to all. */
    cpu_set_t *large = CPU_ALLOC(2048);
    size_t size = CPU_ALLOC_SIZE(2048);
    CPU_ZERO_S(size, large);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &all))
            CPU_SET_S(i, size, large);
    printf("set all (large mask): %d\n", sched_setaffinity(0, size, large));
    sched_getaffinity(0, sizeof(got), &got);
    printf("all again: %d\n", CPU_EQUAL(&got, &all));
    CPU_ZERO(&got);
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (!CPU_ISSET(i, &all))
            continue;
        cpu_set_t just;
        CPU_ZERO(&just);
        CPU_SET(i, &just);
        sched_setaffinity(0, sizeof(just), &just);
        printf("pinned to CPU %d: sched_getcpu in the mask %d\n", i, sched_getcpu() == i);
    }
    sched_setaffinity(0, sizeof(all), &all);
    CPU_ZERO(&got);
    int r = sched_setaffinity(0, sizeof(got), &got);
    printf("set empty: %d %s\n", r, strerror(errno));
    return 0;
}
