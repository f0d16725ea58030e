/* Robust mutexes whose owner dies holding them: the next locker gets
 * EOWNERDEAD, makes the mutex consistent, and it works again.
 *
 * argv[1] selects how the owner dies:
 *   "return"  an owner thread returns from its start routine (glibc's
 *             start_thread walks the robust list itself, in user space);
 *   "sysexit" an owner thread ends with a raw exit syscall (only the
 *             kernel's walk of the robust list at thread exit helps);
 *   "process" a forked owner _exit()s holding a process-shared robust
 *             mutex in MAP_SHARED memory (the kernel walks it at exit). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t *m;
static int raw_exit;

static volatile int owner_locked;

static void *owner(void *arg) {
    pthread_mutex_lock(m);
    owner_locked = 1;
    if (arg) usleep(100000);               /* let the waiter block first */
    if (raw_exit) syscall(SYS_exit, 0);    /* no user-space cleanup */
    return NULL;                           /* exits holding m */
}

static void *waiter(void *arg) {
    (void)arg;
    int r = pthread_mutex_lock(m);
    if (r == EOWNERDEAD) pthread_mutex_consistent(m);
    pthread_mutex_unlock(m);
    return (void *)(long)r;
}

static const char *name(int r) {
    return r == 0 ? "0" : r == EOWNERDEAD ? "EOWNERDEAD" : r == ENOTRECOVERABLE
           ? "ENOTRECOVERABLE" : strerror(r);
}

static void take_over(void) {
    int r = pthread_mutex_lock(m);
    printf("lock after owner died: %s\n", name(r));
    if (r == EOWNERDEAD) printf("consistent: %d\n", pthread_mutex_consistent(m));
    printf("unlock: %d\n", pthread_mutex_unlock(m));
    printf("relock: %s\n", name(pthread_mutex_lock(m)));
    pthread_mutex_unlock(m);
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "return";
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &a);
    raw_exit = !strcmp(how, "sysexit");

    if (!strcmp(how, "process")) {
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            pthread_mutex_lock(m);
            _exit(5);
        }
        int st;
        waitpid(child, &st, 0);
        printf("owner process exit %d\n", WEXITSTATUS(st));
        take_over();
        return 0;
    }

    pthread_t t;
    pthread_create(&t, NULL, owner, NULL);
    pthread_join(t, NULL);
    take_over();

    pthread_t o, w;
    owner_locked = 0;
    pthread_create(&o, NULL, owner, (void *)1);
    while (!owner_locked)                  /* (on a loaded host 20 ms was not enough) */
        usleep(1000);
    pthread_create(&w, NULL, waiter, NULL);
    void *ret;
    pthread_join(o, NULL);
    pthread_join(w, &ret);
    printf("blocked waiter got: %s\n", name((int)(long)ret));
    return 0;
}
