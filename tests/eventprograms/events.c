/* Wait queues seen from a program: epoll (level, edge, oneshot, exclusive,
 * nested, items outliving their fd, epoll_pwait2), poll on pipe ends after
 * a close, eventfd, timerfd, signalfd and pidfd. Mode = argv[1]. Prints
 * only what must be the same natively and in the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int wait1(int ep, int ms, uint64_t *data);
#define CHECK(x) do { if ((x) < 0) { printf("FAIL %s: %s\n", #x, strerror(errno)); exit(1); } } while (0)

/* Two epoll_waits, in this order (printf's arguments have none). */
static void show2(const char *what, int ep1, int ep2) {
    int a = wait1(ep1, 0, 0);
    int b = wait1(ep2, 0, 0);
    printf("%s: lt=%d et=%d\n", what, a, b);
}

static int wait1(int ep, int ms, uint64_t *data) {
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, ms);
    if (n == 1 && data) *data = ev.data.u64;
    return n;
}

static void add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
}

static void msleep(int ms) { usleep(ms * 1000); }

/* The result of a call and, when it failed, its errno (arguments of one
 * printf are evaluated in no particular order, so never errno there). */
static void show(const char *what, long n) {
    int e = errno;
    if (n < 0) printf("%s: -1 %s\n", what, strerror(e));
    else printf("%s: %ld\n", what, n);
}

static void level_edge(void) {
    int p[2]; char buf[16];
    CHECK(pipe(p));
    int lt = epoll_create1(0), et = epoll_create1(0);
    add(lt, p[0], EPOLLIN, 1);
    add(et, p[0], EPOLLIN | EPOLLET, 2);
    show2("empty", lt, et);
    CHECK(write(p[1], "0123456789", 10));
    show2("written", lt, et);
    CHECK(read(p[0], buf, 3));
    show2("partial read", lt, et);
    CHECK(write(p[1], "x", 1));
    show2("another write", lt, et);
    show("et again", wait1(et, 0, 0));
    CHECK(read(p[0], buf, 16));
    show2("drained", lt, et);
    if (fork() == 0) { msleep(50); write(p[1], "y", 1); _exit(0); }
    uint64_t d = 0;
    show("blocked et wakes", wait1(et, 5000, &d));
    printf("data=%llu\n", (unsigned long long)d);
    wait(NULL);
}

static void oneshot(void) {
    int p[2]; uint64_t d = 0;
    CHECK(pipe(p));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    add(ep, p[0], EPOLLIN | EPOLLONESHOT, 5);
    CHECK(write(p[1], "a", 1));
    printf("first: %d\n", wait1(ep, 0, &d));
    CHECK(write(p[1], "b", 1));
    printf("disarmed: %d\n", wait1(ep, 0, 0));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 6};
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    show("rearmed", wait1(ep, 0, &d));
    printf("data=%llu\n", (unsigned long long)d);
    printf("disarmed again: %d\n", wait1(ep, 0, 0));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    show("mod exclusive", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
}

static void exclusive(void) {
    int efd = eventfd(0, 0), ready[2], report[2];
    CHECK(pipe(ready)); CHECK(pipe(report));
    for (int i = 0; i < 2; i++) {
        if (fork() == 0) {
            int ep = epoll_create1(0);
            add(ep, efd, EPOLLIN | EPOLLEXCLUSIVE, i);
            write(ready[1], "r", 1);
            char c = wait1(ep, 4000, 0) == 1 ? '1' : '0';
            write(report[1], &c, 1);
            _exit(0);
        }
    }
    char c, got[2];
    read(ready[0], &c, 1); read(ready[0], &c, 1);
    msleep(1000);                              /* both children blocked in epoll_wait */
    uint64_t one = 1;
    CHECK(write(efd, &one, 8));
    read(report[0], &got[0], 1); read(report[0], &got[1], 1);
    wait(NULL); wait(NULL);
    printf("woken by one write: %d of 2\n", (got[0] == '1') + (got[1] == '1'));
}

static int shared_ep, woken_threads;

static void *epoll_sleeper(void *arg) {
    (void)arg;
    if (wait1(shared_ep, 1500, 0) == 1) __sync_fetch_and_add(&woken_threads, 1);
    return NULL;
}

/* Two threads in epoll_wait on one instance, an edge-triggered item: one
 * event wakes one of them. */
static void threads(void) {
    int p[2];
    pthread_t t[2];
    CHECK(pipe(p));
    shared_ep = epoll_create1(0);
    add(shared_ep, p[0], EPOLLIN | EPOLLET, 1);
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, epoll_sleeper, NULL);
    msleep(500);
    CHECK(write(p[1], "x", 1));
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("threads woken by one edge: %d of 2\n", woken_threads);
}

static void pipe_hup(void) {
    int p[2]; char c;
    CHECK(pipe(p));
    CHECK(write(p[1], "x", 1));
    close(p[1]);
    struct pollfd pf = {.fd = p[0], .events = POLLIN | POLLOUT};
    show("reader, data, writer gone", poll(&pf, 1, 0));
    printf("revents=%#x\n", pf.revents);
    read(p[0], &c, 1);
    show("reader, drained", poll(&pf, 1, 0));
    printf("revents=%#x\n", pf.revents);
    close(p[0]);
    CHECK(pipe(p));
    struct pollfd both[2] = {{.fd = p[0], .events = POLLIN}, {.fd = p[1], .events = POLLOUT}};
    show("both ends open", poll(both, 2, 0));
    printf("in=%#x out=%#x\n", both[0].revents, both[1].revents);
    close(p[0]);
    struct pollfd w = {.fd = p[1], .events = POLLOUT};
    show("writer, reader gone", poll(&w, 1, 0));
    printf("revents=%#x\n", w.revents);
    CHECK(pipe(p));
    if (fork() == 0) { msleep(50); _exit(0); }   /* holds the write end, then drops it */
    close(p[1]);
    struct pollfd r = {.fd = p[0], .events = POLLIN};
    show("blocked poll sees the hangup", poll(&r, 1, 5000));
    printf("revents=%#x\n", r.revents);
    wait(NULL);
}

static void eventfds(void) {
    uint64_t v;
    int s = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    for (int i = 0; i < 4; i++) {
        v = 0;
        show("semaphore read", read(s, &v, 8));
        printf("value %llu\n", (unsigned long long)v);
    }
    v = 2; write(s, &v, 8);
    read(s, &v, 8);
    printf("after adding 2: %llu\n", (unsigned long long)v);
    int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    printf("cloexec: %d nonblock: %d\n", fcntl(e, F_GETFD) & FD_CLOEXEC,
           !!(fcntl(e, F_GETFL) & O_NONBLOCK));
    v = 5; write(e, &v, 8); v = 7; write(e, &v, 8);
    read(e, &v, 8);
    printf("counter: %llu\n", (unsigned long long)v);
    show("empty", read(e, &v, 8));
    show("short read", read(e, &v, 4));
    v = UINT64_MAX;
    show("write max", write(e, &v, 8));
    v = UINT64_MAX - 1; write(e, &v, 8);
    v = 1;
    show("full", write(e, &v, 8));
    struct pollfd pf = {.fd = e, .events = POLLIN | POLLOUT};
    poll(&pf, 1, 0);
    printf("full revents=%#x\n", pf.revents);
    int b = eventfd(0, 0);
    if (fork() == 0) { msleep(50); v = 9; write(b, &v, 8); _exit(0); }
    read(b, &v, 8);
    printf("blocking read: %llu\n", (unsigned long long)v);
    wait(NULL);
}

static void timerfds(void) {
    uint64_t ticks;
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec later = {.it_value = {10, 0}};
    CHECK(timerfd_settime(t, 0, &later, NULL));
    show("before expiry", read(t, &ticks, 8));
    struct itimerspec its = {.it_value = {0, 50000000}, .it_interval = {0, 50000000}};
    CHECK(timerfd_settime(t, 0, &its, NULL));
    msleep(280);                                  /* at least 280 ms: at least 5 ticks */
    read(t, &ticks, 8);
    printf("ticks after 280 ms: %s\n", ticks >= 5 ? "at least 5" : "too few");
    int ep = epoll_create1(0);
    add(ep, t, EPOLLIN, 1);
    int woke = 0;
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        woke += wait1(ep, 5000, 0);
        if (read(t, &ticks, 8) == 8) total += ticks;
    }
    printf("epoll woke %d times, ticks counted: %s\n", woke, total >= 3 ? "yes" : "no");
    struct itimerspec cur, off = {{0, 0}, {0, 0}};
    CHECK(timerfd_settime(t, 0, &off, &cur));
    printf("old interval: %ld ns\n", cur.it_interval.tv_nsec);
    timerfd_gettime(t, &cur);
    printf("disarmed: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    int a = timerfd_create(CLOCK_REALTIME, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 100000000;
    if (now.tv_nsec >= 1000000000) { now.tv_sec++; now.tv_nsec -= 1000000000; }
    struct itimerspec abs = {.it_value = now};
    CHECK(timerfd_settime(a, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, NULL));
    show("absolute realtime, blocking read", read(a, &ticks, 8));
    printf("ticks=%llu\n", (unsigned long long)ticks);
    uint64_t set = 42;
    show("set ticks", ioctl(t, TFD_IOC_SET_TICKS, &set));
    show("read them", read(t, &ticks, 8));
    printf("ticks=%llu\n", (unsigned long long)ticks);
    set = 0;
    show("set zero ticks", ioctl(t, TFD_IOC_SET_TICKS, &set));
    show("bad clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    show("bad flags", timerfd_settime(a, 8, &abs, NULL));
}

static void signalfds(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int s = signalfd(-1, &set, SFD_CLOEXEC);
    struct pollfd pf = {.fd = s, .events = POLLIN};
    printf("nothing pending: %d\n", poll(&pf, 1, 0));
    pid_t child = fork();
    if (child == 0) { msleep(30); _exit(7); }
    show("poll for SIGCHLD", poll(&pf, 1, 5000));
    printf("revents=%#x\n", pf.revents);
    struct signalfd_siginfo si;
    printf("read: %zd\n", read(s, &si, sizeof si));
    printf("signo=%u code=%d status=%d pid matches=%d\n", si.ssi_signo, si.ssi_code,
           si.ssi_status, si.ssi_pid == (uint32_t)child);
    waitpid(child, NULL, 0);
    kill(getpid(), SIGUSR1);
    read(s, &si, sizeof si);
    printf("signo=%u code=%d pid matches=%d\n", si.ssi_signo, si.ssi_code,
           si.ssi_pid == (uint32_t)getpid());
    int ep = epoll_create1(0);
    add(ep, s, EPOLLIN, 3);
    printf("epoll, none pending: %d\n", wait1(ep, 0, 0));
    child = fork();
    if (child == 0) { msleep(30); kill(getppid(), SIGUSR1); _exit(0); }
    printf("epoll wakes for a signal: %d\n", wait1(ep, 5000, 0));
    read(s, &si, sizeof si);
    printf("signo=%u code=%d\n", si.ssi_signo, si.ssi_code);
    waitpid(child, NULL, 0);
    read(s, &si, sizeof si);                     /* the SIGCHLD of that child */
    int n = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, n | O_NONBLOCK);
    show("empty", read(s, &si, sizeof si));
    show("small buffer", read(s, &si, 100));
}

static void pidfds(void) {
    pid_t child = fork();
    if (child == 0) { msleep(50); _exit(3); }
    int pfd = syscall(SYS_pidfd_open, child, 0);
    CHECK(pfd);
    printf("cloexec: %d\n", fcntl(pfd, F_GETFD) & FD_CLOEXEC);
    struct pollfd pf = {.fd = pfd, .events = POLLIN};
    printf("running: %d\n", poll(&pf, 1, 0));
    show("exit", poll(&pf, 1, 5000));
    printf("revents=%#x\n", pf.revents);
    siginfo_t info = {0};
    CHECK(waitid(P_PIDFD, pfd, &info, WEXITED));
    printf("waitid: code=%d status=%d pid matches=%d\n", info.si_code, info.si_status,
           info.si_pid == child);
    show("signal a reaped one", syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0));
    child = fork();
    if (child == 0) { pause(); _exit(0); }
    pfd = syscall(SYS_pidfd_open, child, 0);
    CHECK(syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0));
    int status;
    waitpid(child, &status, 0);
    printf("killed by %d\n", WTERMSIG(status));
    int sync[2];
    CHECK(pipe(sync));
    child = fork();
    if (child == 0) {
        int e = eventfd(5, 0);
        dup2(e, 42);
        write(sync[1], "r", 1);
        pause();
        _exit(0);
    }
    char c;
    read(sync[0], &c, 1);
    pfd = syscall(SYS_pidfd_open, child, 0);
    int copy = syscall(SYS_pidfd_getfd, pfd, 42, 0);
    uint64_t v = 0;
    show("pidfd_getfd", copy >= 0);
    show("read the child's eventfd", read(copy, &v, 8));
    printf("value %llu, cloexec %d\n", (unsigned long long)v, fcntl(copy, F_GETFD) & FD_CLOEXEC);
    show("no such fd", syscall(SYS_pidfd_getfd, pfd, 77, 0));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    } args = {.flags = CLONE_PIDFD, .exit_signal = SIGCHLD};
    int cfd = -1;
    args.pidfd = (uintptr_t)&cfd;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) syscall(SYS_exit, 4);
    show("clone3 with CLONE_PIDFD", pid > 0 && cfd >= 0);
    printf("cloexec %d\n", fcntl(cfd, F_GETFD) & FD_CLOEXEC);
    struct pollfd cp = {.fd = cfd, .events = POLLIN};
    show("its pidfd polls readable at exit", poll(&cp, 1, 5000));
    siginfo_t ci = {0};
    CHECK(waitid(P_PIDFD, cfd, &ci, WEXITED));
    printf("status=%d pid matches=%d\n", ci.si_status, ci.si_pid == pid);
    show("no such process", syscall(SYS_pidfd_open, 999999, 0));
    show("bad flags", syscall(SYS_pidfd_open, getpid(), 1));
}

static void nested_lifetime(void) {
    int p[2]; uint64_t d = 0;
    CHECK(pipe(p));
    int inner = epoll_create1(0), outer = epoll_create1(0);
    add(inner, p[0], EPOLLIN, 11);
    add(outer, inner, EPOLLIN, 22);
    show("loop", epoll_ctl(inner, EPOLL_CTL_ADD, outer, &(struct epoll_event){.events = EPOLLIN}));
    printf("outer, nothing: %d\n", wait1(outer, 0, 0));
    if (fork() == 0) { msleep(50); write(p[1], "x", 1); _exit(0); }
    show("outer wakes", wait1(outer, 5000, &d));
    printf("data=%llu\n", (unsigned long long)d);
    show("inner", wait1(inner, 0, &d));
    printf("data=%llu\n", (unsigned long long)d);
    wait(NULL);
    int copy = dup(p[0]);
    close(p[0]);                                  /* the file lives on through copy */
    d = 0;
    show("closed fd still reported", wait1(inner, 0, &d));
    printf("data=%llu\n", (unsigned long long)d);
    show("del by the closed fd", epoll_ctl(inner, EPOLL_CTL_DEL, p[0], NULL));
    close(copy);                                  /* now the file is gone: so is the item */
    printf("after the last close: %d\n", wait1(inner, 0, 0));
    struct timespec ts = {0, 20000000};
    struct epoll_event ev;
    printf("pwait2 timeout: %ld\n", syscall(SYS_epoll_pwait2, outer, &ev, 1, &ts, NULL, 8));
    int f = open("/bin/sh", O_RDONLY);
    show("regular file", epoll_ctl(outer, EPOLL_CTL_ADD, f, &(struct epoll_event){.events = EPOLLIN}));
}

static void print_events(int in) {
    char buf[4096] __attribute__((aligned(8)));
    uint32_t cookie = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            const char *pair = "";
            if (ev->mask & IN_MOVED_FROM) cookie = ev->cookie;
            if (ev->mask & IN_MOVED_TO) pair = ev->cookie == cookie && cookie ? " (same cookie)" : " (cookie differs)";
            printf("  wd=%d mask=%#x name=%s len%%16=%u%s\n", ev->wd, ev->mask,
                   ev->len ? ev->name : "-", ev->len % 16, pair);
            p += sizeof *ev + ev->len;
        }
    }
}

static void inotify(void) {
    char dir[] = "/tmp/inotify-XXXXXX", path[64], path2[64], sub[64];
    if (!mkdtemp(dir)) { printf("FAIL mkdtemp\n"); exit(1); }
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    CHECK(in);
    int wd = inotify_add_watch(in, dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                               IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF);
    printf("wd=%d again=%d\n", wd, inotify_add_watch(in, dir, IN_CREATE | IN_DELETE |
           IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF));
    snprintf(path, sizeof path, "%s/created", dir);
    snprintf(path2, sizeof path2, "%s/renamed", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    struct pollfd pf = {.fd = in, .events = POLLIN};
    show("poll, nothing yet", poll(&pf, 1, 0));
    int f = open(path, O_CREAT | O_WRONLY, 0644);
    show("poll after create", poll(&pf, 1, 0));
    write(f, "data", 4);
    close(f);
    int fwd = inotify_add_watch(in, path, IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    printf("file wd=%d\n", fwd);
    rename(path, path2);
    chmod(path2, 0600);
    mkdir(sub, 0755);
    rmdir(sub);
    unlink(path2);
    print_events(in);
    show("short buffer", (creat(path, 0644), read(in, path, 8)));
    print_events(in);
    show("rm_watch", inotify_rm_watch(in, wd));
    print_events(in);
    show("rm_watch again", inotify_rm_watch(in, wd));
    show("not a directory", inotify_add_watch(in, "/bin/sh", IN_ONLYDIR | IN_OPEN));
    show("no events", inotify_add_watch(in, dir, 0));
    unlink(path);
    rmdir(dir);
    int b = inotify_init();
    char d2[] = "/tmp/inotify-XXXXXX";
    mkdtemp(d2);
    inotify_add_watch(b, d2, IN_CREATE);
    if (fork() == 0) {
        msleep(50);
        char p[64]; snprintf(p, sizeof p, "%s/late", d2);
        close(open(p, O_CREAT | O_WRONLY, 0644));
        _exit(0);
    }
    char buf[256] __attribute__((aligned(8)));
    show("blocking read", read(b, buf, sizeof buf) > 0);
    printf("  name=%s\n", ((struct inotify_event *)buf)->name);
    wait(NULL);
    char p[64]; snprintf(p, sizeof p, "%s/late", d2);
    unlink(p);
    rmdir(d2);
}

static void on_alarm(int sig) { (void)sig; }

/* A sleep interrupted by a handler: EINTR and the time left in rem. */
static void sleep_rem(void) {
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {0, 100000}};
    struct timespec req = {2, 0}, rem = {0, 0};
    setitimer(ITIMER_REAL, &it, NULL);
    show("nanosleep", nanosleep(&req, &rem));
    long left = rem.tv_sec * 1000 + rem.tv_nsec / 1000000;
    printf("rem written, less than asked: %d\n", left > 0 && left < 2000);
    setitimer(ITIMER_REAL, &it, NULL);
    rem.tv_sec = rem.tv_nsec = 0;
    int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
    left = rem.tv_sec * 1000 + rem.tv_nsec / 1000000;
    printf("clock_nanosleep: %s, rem written, less than asked: %d\n", strerror(r),
           left > 0 && left < 2000);
}

static volatile int usr1_seen;
static void on_usr1(int sig) { (void)sig; usr1_seen++; }

/* epoll_pwait with a signal pending that its mask unblocks: a zero
 * timeout returns 0 (ep_poll returns before it looks at signals, and the
 * old mask comes back with the signal still pending); a real one EINTR. */
static void pwait_zero(void) {
    int ep = epoll_create1(0);
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    kill(getpid(), SIGUSR1);
    struct epoll_event ev;
    int r = epoll_pwait(ep, &ev, 1, 0, &none);
    printf("timeout 0, signal pending: %d handler=%d\n", r, usr1_seen);
    r = epoll_pwait(ep, &ev, 1, 50, &none);
    printf("timeout 50 ms, signal pending: %d %s handler=%d\n", r, r < 0 ? strerror(errno) : "",
           usr1_seen);
}

/* epoll_wait's int arguments given as 64-bit registers with high bits
 * set (raw syscalls): Linux uses the low 32 bits of each, as ints. */
static void wide_args(void) {
    int ep = epoll_create1(0), p[2];
    CHECK(pipe(p));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 5}, out[2];
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    const long hi = 0x100000000L;
    /* Nothing ready: timeouts whose int is 0 return at once. */
    long r = syscall(SYS_epoll_wait, ep, out, hi | 1, hi);
    printf("maxevents 1, timeout 0 (high bits): %ld\n", r);
    r = syscall(SYS_epoll_wait, ep | 0xFFFFFFFF00000000L, out, 2L, 0xFFFFFFFF00000000L);
    printf("fd and timeout 0 with high bits: %ld\n", r);
    r = syscall(SYS_epoll_wait, ep, out, 0xFFFFFFFF00000000L, 0L);
    printf("maxevents 0 (high bits): %ld %s\n", r, r < 0 ? strerror(errno) : "");
    r = syscall(SYS_epoll_wait, ep, out, -1L, 0L);
    printf("maxevents -1: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    r = syscall(SYS_epoll_wait, ep, out, 1L, hi | 20);
    printf("timeout 20 ms (high bits), nothing ready: %ld\n", r);
    /* Ready: timeouts whose int is negative (forever) return the event. */
    CHECK(write(p[1], "x", 1));
    long forever[] = {0xFFFFFFFFL, -1L, hi | 0xFFFFFFFFL, 0xFFFFFFFF80000005L, 0x80000000L};
    for (int i = 0; i < 5; i++) {
        out[0].data.u64 = 0;
        r = syscall(SYS_epoll_wait, ep, out, 2L, forever[i]);
        printf("timeout %lx, ready: %ld data %llu\n", (unsigned long)forever[i], r,
               (unsigned long long)out[0].data.u64);
    }
}

/* One event of ep, printed as its bits and data (or the call's error). */
static void show_event(const char *what, int ep) {
    struct epoll_event ev = {0};
    int n = epoll_wait(ep, &ev, 1, 0);
    printf("%s: %d events=%x data=%llu\n", what, n, n == 1 ? ev.events : 0,
           n == 1 ? (unsigned long long)ev.data.u64 : 0);
}

/* epoll_ctl's arguments: an unknown op reads its event first (EFAULT
 * before EINVAL, as ep_op_has_event), DEL reads none, int arguments given
 * as 64-bit registers with high bits set, and the registration of a
 * loopback TCP socket (a host socket in the sandbox) and of a pipe with
 * plain events, unknown bits and the flag bits, through ADD, MOD and DEL. */
static void ctl_args(void) {
    int ep = epoll_create1(0), p[2];
    CHECK(pipe(p));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
    show("unknown op, NULL event", epoll_ctl(ep, 7, p[0], NULL));
    show("unknown op 0", epoll_ctl(ep, 0, p[0], &ev));
    show("del, NULL event, not there", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    const long hi = 0x100000000L;
    show("add, high bits", syscall(SYS_epoll_ctl, ep | hi, EPOLL_CTL_ADD | hi, p[0] | hi, &ev));
    show("add again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    CHECK(write(p[1], "x", 1));
    show_event("pipe readable", ep);
    ev.events = EPOLLIN | 0x800 | 0x1000;                     /* no such bits */
    show("mod, unknown bits", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    show_event("pipe, unknown bits", ep);
    ev.events = EPOLLIN | EPOLLONESHOT;
    show("mod oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    show_event("pipe oneshot", ep);
    show_event("pipe oneshot again", ep);
    show("del, high bits", syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL | hi, p[0] | hi, NULL));
    show("mod after del", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    /* EPOLLEXCLUSIVE takes only EPOLLEXCLUSIVE_OK_BITS beside it. */
    static const unsigned exclusive_with[] = {EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLET,
        EPOLLRDNORM | EPOLLWRNORM | EPOLLWAKEUP, EPOLLIN | EPOLLRDHUP, EPOLLIN | EPOLLPRI,
        EPOLLIN | EPOLLRDBAND, EPOLLIN | EPOLLMSG, EPOLLIN | EPOLLWRBAND, EPOLLIN | EPOLLONESHOT, EPOLLIN | 0x800};
    for (unsigned i = 0; i < sizeof exclusive_with / sizeof *exclusive_with; i++) {
        char what[64];
        ev.events = EPOLLEXCLUSIVE | exclusive_with[i];
        snprintf(what, sizeof what, "add exclusive with %#x", exclusive_with[i]);
        show(what, epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
        epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
    }

    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(l, (void *)&a, sizeof a));
    CHECK(listen(l, 4));
    CHECK(getsockname(l, (void *)&a, &al));
    CHECK(connect(c, (void *)&a, sizeof a));
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    CHECK(s);
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP, .data.u64 = 9};
    show("socket add", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    show("socket add again", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    show_event("socket, nothing", ep);
    CHECK(write(c, "y", 1));
    msleep(20);
    show_event("socket readable", ep);
    show_event("socket readable, level", ep);
    ev.events = EPOLLOUT;
    ev.data.u64 = 10;
    show("socket mod out", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
    show_event("socket writable", ep);
    ev.events = EPOLLIN | EPOLLET;
    show("socket mod in, edge", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
    show_event("socket edge", ep);
    show_event("socket edge, again", ep);
    ev.events = EPOLLIN | EPOLLONESHOT;
    show("socket mod oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
    show_event("socket oneshot", ep);
    show_event("socket oneshot, again", ep);
    show("socket del", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
    show_event("socket after del", ep);
    ev.events = EPOLLIN;
    show("socket add after del", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    show_event("socket added again", ep);
    close(s);                                    /* the last reference: the item goes */
    show_event("socket closed", ep);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "level_edge")) level_edge();
    else if (!strcmp(m, "oneshot")) oneshot();
    else if (!strcmp(m, "exclusive")) exclusive();
    else if (!strcmp(m, "threads")) threads();
    else if (!strcmp(m, "pipe_hup")) pipe_hup();
    else if (!strcmp(m, "eventfd")) eventfds();
    else if (!strcmp(m, "timerfd")) timerfds();
    else if (!strcmp(m, "signalfd")) signalfds();
    else if (!strcmp(m, "pidfd")) pidfds();
    else if (!strcmp(m, "nested")) nested_lifetime();
    else if (!strcmp(m, "inotify")) inotify();
    else if (!strcmp(m, "sleep_rem")) sleep_rem();
    else if (!strcmp(m, "pwait_zero")) pwait_zero();
    else if (!strcmp(m, "wide_args")) wide_args();
    else if (!strcmp(m, "ctl_args")) ctl_args();
    else { printf("unknown mode\n"); return 2; }
    return 0;
}
