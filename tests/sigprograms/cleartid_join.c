/* CLONE_CHILD_CLEARTID: a raw clone'd thread's tid word is cleared and
 * futex-woken when it exits; pthread_join (built on the same) returns
 * each thread's value; a detached thread's exit does not disturb others. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile pid_t ctid = -1;      /* CLONE_CHILD_CLEARTID zeroes it */
static volatile int child_ran;

static int child_fn(void *arg) {
    (void)arg;
    usleep(50000);
    child_ran = 1;
    syscall(SYS_exit, 0);                  /* thread exit, not exit_group */
    return 0;
}

static void *ret_value(void *arg) { return (void *)((long)arg * 3); }
static void *detached(void *arg) { (void)arg; usleep(10000); return NULL; }

int main(void) {
    size_t sz = 256 * 1024;
    char *stack = malloc(sz);
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    pid_t ptid = 0;
    int tid = clone(child_fn, stack + sz, flags, NULL, &ptid, NULL, &ctid);
    printf("clone ok=%d ptid_set=%d\n", tid > 0, ptid == tid);
    while (ctid != 0) {
        syscall(SYS_futex, &ctid, FUTEX_WAIT, ctid, NULL, NULL, 0);
    }
    printf("ctid cleared, child ran=%d\n", child_ran);

    pthread_t t[8];
    for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, ret_value, (void *)i);
    long sum = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("join sum=%ld\n", sum);

    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 4; i++) {
        pthread_t d;
        pthread_create(&d, &at, detached, NULL);
    }
    usleep(100000);
    pthread_t last;
    pthread_create(&last, NULL, ret_value, (void *)14);
    void *r;
    pthread_join(last, &r);
    printf("after detached: %ld\n", (long)r);
    return 0;
}
