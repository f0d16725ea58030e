/* 1-byte ping-pong between a parent and a forked child over two pipes,
 * argv[2] round trips (after 100 untimed ones). argv[1] "epoll": each side
 * blocks in epoll_wait on its read pipe before reading; "plain": each side
 * blocks in read. Prints one JSON line with the mean round-trip time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ep = -1;

static int get(int fd, char *b) {
    if (ep >= 0) {
        struct epoll_event ev;
        if (epoll_wait(ep, &ev, 1, -1) != 1) return -1;
    }
    return read(fd, b, 1);
}

static void watch(int fd) {
    if (ep < 0) return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv) {
    int use_epoll = argc > 1 && !strcmp(argv[1], "epoll");
    int n = argc > 2 ? atoi(argv[2]) : 2000, warm = 100;
    int ping[2], pong[2];
    if (pipe(ping) || pipe(pong)) return 1;
    pid_t child = fork();
    char b = 'x';
    if (use_epoll) ep = epoll_create1(0);
    if (child == 0) {
        close(ping[1]); close(pong[0]);
        watch(ping[0]);
        while (get(ping[0], &b) == 1)
            if (write(pong[1], &b, 1) != 1) _exit(1);
        _exit(0);
    }
    close(ping[0]); close(pong[1]);
    watch(pong[0]);
    double start = 0;
    for (int i = 0; i < warm + n; i++) {
        if (i == warm) start = now();
        if (write(ping[1], &b, 1) != 1 || get(pong[0], &b) != 1) return 1;
    }
    double secs = now() - start;
    close(ping[1]);
    int st;
    waitpid(child, &st, 0);
    printf("{\"mode\": \"%s\", \"round_trips\": %d, \"seconds\": %.6f, "
           "\"us_per_round_trip\": %.2f}\n", use_epoll ? "epoll" : "plain", n, secs,
           secs / n * 1e6);
    return 0;
}
