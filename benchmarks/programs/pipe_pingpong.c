/* 1-byte ping-pong between a parent and a forked child over two pipes:
 * argv[1] round trips (after 100 untimed ones). Prints one JSON line with
 * the mean round-trip time. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000, warm = 100;
    int ping[2], pong[2];
    if (pipe(ping) || pipe(pong)) return 1;
    pid_t child = fork();
    char b = 'x';
    if (child == 0) {
        close(ping[1]); close(pong[0]);
        while (read(ping[0], &b, 1) == 1)
            if (write(pong[1], &b, 1) != 1) _exit(1);
        _exit(0);
    }
    close(ping[0]); close(pong[1]);
    double start = 0;
    for (int i = 0; i < warm + n; i++) {
        if (i == warm) start = now();
        if (write(ping[1], &b, 1) != 1 || read(pong[0], &b, 1) != 1) return 1;
    }
    double secs = now() - start;
    close(ping[1]);
    int st;
    waitpid(child, &st, 0);
    printf("{\"round_trips\": %d, \"seconds\": %.6f, \"us_per_round_trip\": %.2f}\n",
           n, secs, secs / n * 1e6);
    return 0;
}
