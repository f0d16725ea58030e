/* A robust mutex whose owner thread exits while holding it: the next
 * locker gets EOWNERDEAD (the kernel walks the dead thread's robust list
 * and sets FUTEX_OWNER_DIED), makes it consistent, and the mutex works
 * again. Also with a waiter already blocked when the owner dies. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t m;

static void *owner(void *arg) {
    pthread_mutex_lock(&m);
    if (arg) usleep(100000);               /* let the waiter block first */
    return NULL;                           /* exits holding m */
}

static void *waiter(void *arg) {
    (void)arg;
    int r = pthread_mutex_lock(&m);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&m);
    pthread_mutex_unlock(&m);
    return (void *)(long)r;
}

static const char *name(int r) {
    return r == 0 ? "0" : r == EOWNERDEAD ? "EOWNERDEAD" : r == ENOTRECOVERABLE
           ? "ENOTRECOVERABLE" : strerror(r);
}

int main(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);

    pthread_t t;
    pthread_create(&t, NULL, owner, NULL);
    pthread_join(t, NULL);
    int r = pthread_mutex_lock(&m);
    printf("lock after owner died: %s\n", name(r));
    if (r == EOWNERDEAD) printf("consistent: %d\n", pthread_mutex_consistent(&m));
    printf("unlock: %d\n", pthread_mutex_unlock(&m));
    printf("relock: %s\n", name(pthread_mutex_lock(&m)));
    pthread_mutex_unlock(&m);

    pthread_t o, w;
    pthread_create(&o, NULL, owner, (void *)1);
    usleep(20000);
    pthread_create(&w, NULL, waiter, NULL);
    void *ret;
    pthread_join(o, NULL);
    pthread_join(w, &ret);
    printf("blocked waiter got: %s\n", name((int)(long)ret));
    return 0;
}
