/* The process and thread paths in one program: two threads make syscalls
 * at the same sites at the same time (on two vCPUs where the host has
 * them), then fork, exec of this program in the child, wait, and a signal
 * sent to and handled by this process. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CALLS 300

static void *worker(void *arg)
{
    long sum = 0;
    for (int i = 0; i < CALLS; i++)
        sum += getppid() == getppid();   /* the same two sites in both threads */
    *(long *)arg = sum;
    return NULL;
}

static volatile sig_atomic_t got;
static void on_usr2(int sig) { got = sig; }

int main(int argc, char **argv)
{
    if (argc > 1) {                      /* the exec'd child */
        printf("child after exec: %s\n", argv[1]);
        return 7;
    }
    long a = 0, b = 0;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, worker, &a);
    pthread_create(&tb, NULL, worker, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("threads: %ld %ld\n", a, b);

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "hello", (char *)NULL);
        execl(argv[0], argv[0], "hello", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    signal(SIGUSR2, on_usr2);
    kill(getpid(), SIGUSR2);
    printf("handled signal %d\n", got);
    return 0;
}
