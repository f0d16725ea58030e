/* A process-shared mutex and condition variable in MAP_SHARED memory:
 * parent and child meet on shared futex keys. */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared { pthread_mutex_t m; pthread_cond_t c; int turn, count; };

int main(void) {
    struct shared *s = mmap(0, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t ma; pthread_condattr_t ca;
    pthread_mutexattr_init(&ma); pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_condattr_init(&ca); pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->m, &ma); pthread_cond_init(&s->c, &ca);
    pid_t p = fork();
    int me = p == 0;
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&s->m);
        while (s->turn != me) pthread_cond_wait(&s->c, &s->m);
        s->count++;
        s->turn = !me;
        pthread_cond_broadcast(&s->c);
        pthread_mutex_unlock(&s->m);
    }
    if (p == 0) _exit(0);
    waitpid(p, 0, 0);
    printf("count %d\n", s->count);
    return 0;
}
