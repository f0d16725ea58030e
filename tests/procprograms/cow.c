/* Copy-on-write after fork: a big buffer written by both sides after the
 * fork keeps each side's own bytes; threads of the parent keep writing
 * while it forks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (8 << 20)
static volatile int stop;
static unsigned char *buf;

static void *scribbler(void *arg) {
    while (!stop) buf[SIZE - 1] = (unsigned char)(buf[SIZE - 1] + 1);
    return NULL;
}

int main(void) {
    buf = malloc(SIZE);
    memset(buf, 'a', SIZE);
    pthread_t t;
    pthread_create(&t, NULL, scribbler, NULL);
    pid_t p = fork();
    if (p == 0) {
        long bad = 0;
        for (long i = 0; i < SIZE - 1; i += 4096) bad += buf[i] != 'a';
        memset(buf, 'c', SIZE / 2);
        for (long i = 0; i < SIZE / 2; i += 4096) bad += buf[i] != 'c';
        _exit(bad ? 1 : 0);
    }
    memset(buf + SIZE / 4, 'p', SIZE / 4);
    int status;
    waitpid(p, &status, 0);
    stop = 1;
    pthread_join(t, NULL);
    long bad = 0;
    for (long i = 0; i < SIZE / 4; i += 4096) bad += buf[i] != 'a';
    for (long i = SIZE / 4; i < SIZE / 2; i += 4096) bad += buf[i] != 'p';
    printf("child status %d, parent mismatches %ld\n", WEXITSTATUS(status), bad);
    return 0;
}
