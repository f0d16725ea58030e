/* poll, ppoll, select, pselect and epoll on pipes. Usage: polling MODE
 *   poll      timeouts, POLLIN, POLLHUP, POLLERR, POLLNVAL, ignored fds
 *   poll_rlimit  nfds above RLIMIT_NOFILE is EINVAL
 *   poll_wake a child writes after 100 ms; poll(-1) wakes for it
 *   poll_eintr  a SIGALRM handler interrupts poll(-1)
 *   select    timeouts and the timeval written back, fd sets, EBADF
 *   ppoll     a blocked pending signal is taken during ppoll's mask
 *   pselect   the same with pselect
 *   epoll     epoll_create1/ctl/wait on a pipe and its error cases
 *   stdin     poll on the inherited stdin (/dev/null in the tests) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Print a call's result and, if it failed, its errno (read after the call). */
#define TRY(what, call) do { errno = 0; long r_ = (call); int e_ = errno; \
        printf("%s: %ld %s\n", what, r_, r_ < 0 ? strerror(e_) : "ok"); } while (0)

static volatile sig_atomic_t caught;

static void on_signal(int sig) { caught = sig; }

static void handle(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(sig, &sa, NULL);
}

static long elapsed_ms(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void one(const char *what, struct pollfd *p, int n, int timeout) {
    errno = 0;
    int r = poll(p, n, timeout);
    printf("%s: r=%d%s%s", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
    for (int i = 0; i < n; i++)
        printf(" [fd%d ev=%#x rev=%#x]", p[i].fd >= 0 ? 1 : -1, p[i].events, p[i].revents);
    printf("\n");
}

static int mode_poll(void) {
    int fds[2];
    pipe(fds);
    struct pollfd p[3] = {{fds[0], POLLIN, 0x7777}, {fds[1], POLLOUT, 0}, {-1, POLLIN, 0x55}};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    one("empty read end, 100ms", p, 1, 100);
    long ms = elapsed_ms(&t0);
    printf("waited >=90ms:%d <1s:%d\n", ms >= 90, ms < 1000);
    one("both ends, negative fd", p, 3, 0);
    write(fds[1], "x", 1);
    one("after write", p, 2, 0);
    p[0].events = 0;
    one("events 0", p, 1, 0);
    p[0].events = POLLIN | POLLPRI | POLLRDNORM;
    one("POLLIN|POLLPRI|POLLRDNORM", p, 1, 0);
    close(fds[1]);
    one("writer closed, data left", p, 1, 0);
    char c;
    read(fds[0], &c, 1);
    one("writer closed, drained", p, 1, 0);
    int fds2[2];
    pipe(fds2);
    close(fds2[0]);
    struct pollfd w = {fds2[1], POLLOUT, 0};
    one("reader closed", &w, 1, 0);
    struct pollfd bad[2] = {{77, POLLIN, 0}, {fds[0], POLLIN, 0}};
    one("closed fd 77", bad, 2, 0);
    one("no fds, 50ms", NULL, 0, 50);
    int devnull = open("/dev/null", O_RDWR);
    struct pollfd dn = {devnull, POLLIN | POLLOUT, 0};
    one("/dev/null", &dn, 1, 0);
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY);
    struct pollfd dir = {tmp, POLLIN | POLLOUT | POLLPRI, 0};
    one("directory", &dir, 1, 0);
    TRY("bad pointer", syscall(SYS_poll, 8L, 1, 0));
    return 0;
}

static int mode_poll_rlimit(void) {
    struct rlimit rl = {16, 16};
    setrlimit(RLIMIT_NOFILE, &rl);
    struct pollfd p[17];
    for (int i = 0; i < 17; i++) {
        p[i].fd = -1;
        p[i].events = 0;
    }
    errno = 0;
    printf("16 fds: %d\n", poll(p, 16, 0));
    TRY("17 fds", poll(p, 17, 0));
    return 0;
}

static int mode_poll_wake(void) {
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100000);
        write(fds[1], "hello", 5);
        _exit(0);
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = poll(&p, 1, -1);
    long ms = elapsed_ms(&t0);
    printf("woke: r=%d rev=%#x after >=80ms:%d <2s:%d\n", r, p.revents, ms >= 80, ms < 2000);
    waitpid(pid, NULL, 0);
    return 0;
}

static int mode_poll_eintr(void) {
    int fds[2];
    pipe(fds);
    handle(SIGALRM);
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct pollfd p = {fds[0], POLLIN, 0};
    errno = 0;
    int r = poll(&p, 1, -1);
    printf("poll: %d %s caught=%d rev=%#x\n", r, strerror(errno), (int)caught, p.revents);
    caught = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    errno = 0;
    r = select(fds[0] + 1, &rd, NULL, NULL, NULL);
    printf("select: %d %s caught=%d still set=%d\n", r, strerror(errno), (int)caught,
           FD_ISSET(fds[0], &rd));
    return 0;
}

static int mode_select(void) {
    int fds[2];
    pipe(fds);
    fd_set rd, wr, ex;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    FD_SET(fds[0], &rd);
    FD_SET(fds[0], &ex);
    struct timeval tv = {0, 100000};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = select(fds[1] + 1, &rd, &wr, &ex, &tv);
    long ms = elapsed_ms(&t0);
    printf("empty pipe: r=%d rd=%d ex=%d tv=%ld.%06ld >=90ms:%d\n", r, FD_ISSET(fds[0], &rd),
           FD_ISSET(fds[0], &ex), (long)tv.tv_sec, (long)tv.tv_usec, ms >= 90);
    write(fds[1], "x", 1);
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    FD_SET(fds[1], &wr);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    r = select(fds[1] + 1, &rd, &wr, NULL, &tv);
    printf("ready: r=%d rd=%d wr=%d tv left in (4,5]s: %d\n", r, FD_ISSET(fds[0], &rd),
           FD_ISSET(fds[1], &wr), tv.tv_sec == 4 || (tv.tv_sec == 5 && tv.tv_usec == 0));
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    r = select(fds[0] + 1, &rd, NULL, NULL, NULL);
    printf("no timeout: r=%d rd=%d\n", r, FD_ISSET(fds[0], &rd));
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    FD_SET(40, &rd);
    errno = 0;
    r = select(41, &rd, NULL, NULL, NULL);
    printf("closed fd 40: r=%d %s\n", r, strerror(errno));
    errno = 0;
    r = select(-1, NULL, NULL, NULL, NULL);
    printf("nfds -1: r=%d %s\n", r, strerror(errno));
    tv.tv_sec = 0;
    tv.tv_usec = -5;
    errno = 0;
    r = select(0, NULL, NULL, NULL, &tv);
    printf("usec -5: r=%d %s\n", r, strerror(errno));
    tv.tv_sec = 0;
    tv.tv_usec = 1050000;             /* more than a second of usec: normalised */
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    r = select(fds[0] + 1, &rd, NULL, NULL, &tv);
    printf("usec 1050000: r=%d tv left in (0,1.05]s: %d\n", r,
           (tv.tv_sec == 1 && tv.tv_usec <= 50000) || tv.tv_sec == 0);
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = select(0, NULL, NULL, NULL, &tv);
    printf("sleep-select: r=%d tv=%ld.%06ld >=15ms:%d\n", r, (long)tv.tv_sec, (long)tv.tv_usec,
           elapsed_ms(&t0) >= 15);
    return 0;
}

static int mode_ppoll(int use_pselect) {
    int fds[2];
    pipe(fds);
    handle(SIGUSR1);
    sigset_t block, empty, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGUSR1);                         /* pending, blocked */
    printf("before: caught=%d\n", (int)caught);
    sigemptyset(&empty);
    struct timespec ts = {2, 0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r;
    errno = 0;
    if (use_pselect) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fds[0], &rd);
        r = pselect(fds[0] + 1, &rd, NULL, NULL, &ts, &empty);
    } else {
        struct pollfd p = {fds[0], POLLIN, 0};
        r = ppoll(&p, 1, &ts, &empty);
    }
    printf("wait: r=%d %s caught=%d quick=%d\n", r, strerror(errno), (int)caught,
           elapsed_ms(&t0) < 1000);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("mask restored: %d\n", sigismember(&now, SIGUSR1));
    /* With the signal still blocked in the wait's mask, it only times out. */
    caught = 0;
    raise(SIGUSR1);
    ts.tv_sec = 0;
    ts.tv_nsec = 50000000;
    errno = 0;
    if (use_pselect) {
        r = pselect(0, NULL, NULL, NULL, &ts, &block);
    } else {
        r = ppoll(NULL, 0, &ts, &block);
    }
    printf("blocked in mask: r=%d caught=%d\n", r, (int)caught);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("after unblock: caught=%d\n", (int)caught);
    /* A ready fd wins over nothing: the mask is restored on success too. */
    write(fds[1], "x", 1);
    if (use_pselect) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fds[0], &rd);
        r = pselect(fds[0] + 1, &rd, NULL, NULL, NULL, &empty);
    } else {
        struct pollfd p = {fds[0], POLLIN, 0};
        r = ppoll(&p, 1, NULL, &empty);
    }
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("ready: r=%d mask has SIGUSR1: %d\n", r, sigismember(&now, SIGUSR1));
    return 0;
}

static int mode_epoll(void) {
    int fds[2];
    pipe(fds);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("epoll_create1: ok=%d cloexec=%d\n", ep >= 0, (fcntl(ep, F_GETFD) & FD_CLOEXEC) != 0);
    struct epoll_event ev = {EPOLLIN, {.u64 = 0x1122334455667788ULL}}, out[4];
    printf("add: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev));
    TRY("add again", epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = epoll_wait(ep, out, 4, 50);
    printf("empty: n=%d waited>=40ms:%d\n", n, elapsed_ms(&t0) >= 40);
    write(fds[1], "ab", 2);
    n = epoll_wait(ep, out, 4, 1000);
    printf("ready: n=%d events=%#x data=%#llx\n", n, out[0].events,
           (unsigned long long)out[0].data.u64);
    n = epoll_wait(ep, out, 4, 0);
    printf("level-triggered again: n=%d\n", n);
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = 7;
    printf("mod oneshot: %d\n", epoll_ctl(ep, EPOLL_CTL_MOD, fds[0], &ev));
    n = epoll_wait(ep, out, 4, 0);
    printf("oneshot first: n=%d data=%llu\n", n, (unsigned long long)out[0].data.u64);
    n = epoll_wait(ep, out, 4, 0);
    printf("oneshot second: n=%d\n", n);
    ev.events = EPOLLOUT;
    printf("add write end: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, fds[1], &ev));
    n = epoll_wait(ep, out, 4, 0);
    printf("writable: n=%d events=%#x\n", n, n > 0 ? out[0].events : 0);
    printf("del: %d\n", epoll_ctl(ep, EPOLL_CTL_DEL, fds[0], NULL));
    TRY("del again", epoll_ctl(ep, EPOLL_CTL_DEL, fds[0], NULL));
    int file = open("/etc/passwd", O_RDONLY);
    TRY("regular file", epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev));
    TRY("itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    TRY("not epoll", epoll_ctl(fds[0], EPOLL_CTL_ADD, fds[1], &ev));
    TRY("bad op", epoll_ctl(ep, 9, fds[1], &ev));
    TRY("maxevents 0", epoll_wait(ep, out, 0, 0));
    TRY("epoll_create(0)", epoll_create(0));
    /* Closing the write end: the read end hangs up (EPOLLHUP always reported). */
    int fds2[2];
    pipe(fds2);
    ev.events = EPOLLIN;
    ev.data.u64 = 3;
    epoll_ctl(ep, EPOLL_CTL_DEL, fds[1], NULL);
    epoll_ctl(ep, EPOLL_CTL_ADD, fds2[0], &ev);
    close(fds2[1]);
    n = epoll_wait(ep, out, 4, 1000);
    printf("hangup: n=%d events=%#x data=%llu\n", n, out[0].events,
           (unsigned long long)out[0].data.u64);
    struct pollfd p = {ep, POLLIN, 0};
    int r = poll(&p, 1, 0);
    printf("poll on the epoll fd: %d rev=%#x\n", r, p.revents);
    return 0;
}

static int mode_stdin(void) {
    struct pollfd p = {0, POLLIN, 0};
    int r = poll(&p, 1, 1000);
    printf("stdin: r=%d rev=%#x\n", r, p.revents);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(0, &rd);
    struct timeval tv = {1, 0};
    r = select(1, &rd, NULL, NULL, &tv);
    printf("select stdin: r=%d set=%d\n", r, FD_ISSET(0, &rd));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "poll")) return mode_poll();
    if (!strcmp(mode, "poll_rlimit")) return mode_poll_rlimit();
    if (!strcmp(mode, "poll_wake")) return mode_poll_wake();
    if (!strcmp(mode, "poll_eintr")) return mode_poll_eintr();
    if (!strcmp(mode, "select")) return mode_select();
    if (!strcmp(mode, "ppoll")) return mode_ppoll(0);
    if (!strcmp(mode, "pselect")) return mode_ppoll(1);
    if (!strcmp(mode, "epoll")) return mode_epoll();
    if (!strcmp(mode, "stdin")) return mode_stdin();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
