/* guest_sizes CASE [DIR]: one syscall with a hostile size, count or
 * length, and Linux's answer to it on stdout. Buffers point into a large
 * mapping never touched (it costs neither Linux nor the sandbox a frame),
 * so a sentry that copies what it is asked for before bounding it shows in
 * its peak RSS, which the test measures. DIR is a scratch directory for the
 * cases that need files. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/aio_abi.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/xattr.h>
#include <unistd.h>

#define GIB (1UL << 30)
#define BIG (3 * GIB)              /* the untouched mapping */
#define HUGE_LEN (2 * GIB)         /* > MAX_RW_COUNT, still inside BIG */

static char *big;

static void show(const char *what, long r)
{
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

/* A count that depends on buffer sizes Linux tunes (socket buffers): only
 * whether some was taken. */
static void show_some(const char *what, long r)
{
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %s\n", what, r > 0 ? "some" : "0");
}

static struct iovec *huge_iovecs(int n)
{
    struct iovec *v = malloc(n * sizeof *v);
    for (int i = 0; i < n; i++)
        v[i] = (struct iovec){big, HUGE_LEN};
    return v;
}

static void nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void pipes(void)
{
    int p[2];
    pipe(p);
    nonblocking(p[0]);
    nonblocking(p[1]);
    show("write pipe 2G", write(p[1], big, HUGE_LEN));
    show("read pipe 2G", read(p[0], big, HUGE_LEN));
    show("writev pipe 1024x2G", writev(p[1], huge_iovecs(1024), 1024));
    show("readv pipe 1024x2G", readv(p[0], huge_iovecs(1024), 1024));
    show("writev pipe 1025", writev(p[1], huge_iovecs(1025), 1025));
    int null = open("/dev/null", O_WRONLY);
    show("writev null 1024x2G", writev(null, huge_iovecs(1024), 1024));
}

static void unix_sockets(void)
{
    int s[2], d[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, d);
    nonblocking(s[0]);
    show_some("send stream 2G", send(s[0], big, HUGE_LEN, MSG_DONTWAIT));
    show_some("write stream 2G", write(s[0], big, HUGE_LEN));
    show("send dgram 2G", send(d[0], big, HUGE_LEN, MSG_DONTWAIT));
    struct msghdr m = {.msg_iov = huge_iovecs(1024), .msg_iovlen = 1024};
    show("sendmsg dgram 1024x2G", sendmsg(d[0], &m, MSG_DONTWAIT));
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    show_some("sendmsg stream 1024x2G", sendmsg(s[0], &m, MSG_DONTWAIT));
    m.msg_iovlen = 1025;
    show("sendmsg 1025 iovecs", sendmsg(s[0], &m, MSG_DONTWAIT));
    struct iovec one = {"x", 1};
    struct msghdr c = {.msg_iov = &one, .msg_iovlen = 1, .msg_control = big,
                       .msg_controllen = GIB};
    show("sendmsg control 1G", sendmsg(d[0], &c, MSG_DONTWAIT));
    c.msg_controllen = 1UL << 32;
    show("sendmsg control 4G", sendmsg(d[0], &c, MSG_DONTWAIT));
    show("send dgram 1", send(d[1], "y", 1, 0));
    char in[4];
    struct iovec back = {in, sizeof in};
    struct msghdr r = {.msg_iov = &back, .msg_iovlen = 1, .msg_control = big,
                       .msg_controllen = GIB};
    show("recvmsg control 1G", recvmsg(d[0], &r, MSG_DONTWAIT));
    printf("  controllen %zu\n", r.msg_controllen);
    show("recv dgram 2G", recv(d[0], big, HUGE_LEN, MSG_DONTWAIT));
}

static int loopback(int type, struct sockaddr_in *a)
{
    int s = socket(AF_INET, type, 0);
    socklen_t len = sizeof *a;
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)a, sizeof *a);
    getsockname(s, (struct sockaddr *)a, &len);
    return s;
}

static void inet(void)
{
    struct sockaddr_in a;
    int u = loopback(SOCK_DGRAM, &a);
    connect(u, (struct sockaddr *)&a, sizeof a);
    struct msghdr m = {.msg_iov = huge_iovecs(1024), .msg_iovlen = 1024};
    show("udp send 2G", send(u, big, HUGE_LEN, 0));
    show("udp sendmsg 1024x2G", sendmsg(u, &m, 0));
    show("udp send 1", send(u, "x", 1, 0));
    show("udp recv 2G", recv(u, big, HUGE_LEN, 0));
    show("udp send 1", send(u, "x", 1, 0));
    show("udp recvmsg 1024x2G", recvmsg(u, &m, MSG_DONTWAIT));
    show("udp send 1", send(u, "x", 1, 0));
    show("udp recvmsg 1024x2G waiting", recvmsg(u, &m, 0));

    /* Each send on a connection of its own, whose reader reads nothing. */
    int l = loopback(SOCK_STREAM, &a), c[4], r[4];
    listen(l, 4);
    for (int i = 0; i < 4; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM, 0);
        connect(c[i], (struct sockaddr *)&a, sizeof a);
        r[i] = accept(l, NULL, NULL);
        /* A blocking send that must wait for room: a timeout ends it after a part. */
        setsockopt(c[i], SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){0, 200000},
                   sizeof(struct timeval));
    }
    show_some("tcp send 2G nonblocking", send(c[0], big, HUGE_LEN, MSG_DONTWAIT));
    show_some("tcp sendmsg 1024x2G nonblocking", sendmsg(c[1], &m, MSG_DONTWAIT));
    show_some("tcp send 2G timeout", send(c[2], big, HUGE_LEN, 0));
    show_some("tcp sendmsg 1024x2G timeout", sendmsg(c[3], &m, 0));
    show_some("tcp recv 2G", recv(r[0], big, HUGE_LEN, 0));
    show_some("tcp recvmsg 1024x2G", recvmsg(r[1], &m, 0));
    show_some("tcp recv 2G nonblocking", recv(r[2], big, HUGE_LEN, MSG_DONTWAIT));

    /* MSG_WAITALL of 2 GiB from a peer that sends 3 MiB and closes: all of it. */
    for (int i = 0; i < 2; i++) {
        int w = socket(AF_INET, SOCK_STREAM, 0);
        connect(w, (struct sockaddr *)&a, sizeof a);
        int rd = accept(l, NULL, NULL);
        pid_t p = fork();
        if (p == 0) {
            for (long left = 3 << 20, n; left > 0; left -= n)
                if ((n = write(w, big + GIB, left)) <= 0)
                    _exit(1);
            _exit(0);
        }
        close(w);
        if (i == 0)
            show("tcp recv 2G waitall", recv(rd, big, HUGE_LEN, MSG_WAITALL));
        else
            show("tcp recvmsg 1024x2G waitall", recvmsg(rd, &m, MSG_WAITALL));
        waitpid(p, NULL, 0);
        close(rd);
    }
}

static void polls(void)
{
    show("poll nfds 2^20", poll((struct pollfd *)big, 1 << 20, 0));
    show("poll nfds 2^31", syscall(SYS_poll, big, 1UL << 31, 0));
    show("ppoll nfds 2^20", ppoll((struct pollfd *)big, 1 << 20, &(struct timespec){0}, NULL));
    fd_set r;
    FD_ZERO(&r);
    FD_SET(0, &r);
    show("select nfds 2^30", syscall(SYS_select, 1 << 30, &r, NULL, NULL, &(struct timeval){0}));
    show("select nfds -1", syscall(SYS_select, -1, &r, NULL, NULL, &(struct timeval){0}));
    show("pselect nfds 2^30", syscall(SYS_pselect6, 1 << 30, &r, NULL, NULL,
                                       &(struct timespec){0}, NULL));
    /* As many entries (all fd 0) as RLIMIT_NOFILE may be raised to: the
     * sandbox's hard limit is 2^20, whatever the host's is. */
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    show("setrlimit nofile hard", setrlimit(RLIMIT_NOFILE, &nofile));
    show("poll nfds hard limit", poll((struct pollfd *)big, nofile.rlim_max, 0));
    show("select nfds hard limit", syscall(SYS_select, nofile.rlim_max, &r, NULL, NULL,
                                           &(struct timeval){0}));
    int ep = epoll_create1(0);
    show("epoll_wait max INT_MAX/12", epoll_wait(ep, (struct epoll_event *)big,
                                                  0x7fffffff / 12, 0));
    show("epoll_wait max INT_MAX", epoll_wait(ep, (struct epoll_event *)big, 0x7fffffff, 0));
}

static void aio(void)
{
    aio_context_t ctx = 0;
    show("io_setup 2^31-1", syscall(SYS_io_setup, 0x7fffffff, &ctx));
    ctx = 0;
    show("io_setup 64", syscall(SYS_io_setup, 64, &ctx));
    show("io_submit 2^40", syscall(SYS_io_submit, ctx, 1L << 40, big));
    show("io_submit 2^30", syscall(SYS_io_submit, ctx, 1L << 30, big));
    show("io_getevents 2^30", syscall(SYS_io_getevents, ctx, 0, 1L << 30, big,
                                      &(struct timespec){0}));
}

static void files(const char *dir)
{
    chdir(dir);
    int d = open(".", O_RDONLY | O_DIRECTORY);
    show("getdents64 1G", syscall(SYS_getdents64, d, big, GIB));
    show("getdents 1G", syscall(SYS_getdents, d, big, GIB));
    symlink("target", "link");
    show("readlink 1G", readlink("link", big, GIB));
    close(open("file", O_CREAT | O_RDWR, 0644));
    setxattr("file", "user.a", "v", 1, 0);
    show("getxattr 1G", getxattr("file", "user.a", big, GIB));
    show("listxattr 1G", listxattr("file", big, GIB));
    show("setxattr 1G", setxattr("file", "user.b", big, GIB, 0));
    int m = memfd_create("m", 0);
    show("memfd ftruncate 1T", ftruncate(m, 1L << 40));
    show("memfd pwrite at 1T-1", pwrite(m, "z", 1, (1L << 40) - 1));
    show("memfd pread 2G at 1T-1", pread(m, big, HUGE_LEN, (1L << 40) - 1));
}

static void tasks(void)
{
    show("sched_setaffinity 1G", sched_setaffinity(0, GIB, (cpu_set_t *)big));
    long n = syscall(SYS_sched_getaffinity, 0, GIB, big);
    printf("sched_getaffinity 1G = %s\n", n > 0 ? "ok" : strerrorname_np(errno));
    show("set_robust_list 1G", syscall(SYS_set_robust_list, big, GIB));
    show("rseq 1G", syscall(SYS_rseq, big, GIB, 0, 0));
    show("getgroups 2^30", syscall(SYS_getgroups, 1 << 30, big));
    show("setgroups 2^30", syscall(SYS_setgroups, 1 << 30, big));
    /* 2 GiB asked for, 16 MiB of room to put it in. */
    struct iovec local = {big, 16 << 20}, remote = {big + GIB, HUGE_LEN};
    show("process_vm_readv 2G", process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
}

static void sockopts(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_UNIX, SOCK_STREAM, 0);
    show("setsockopt inet 1G", setsockopt(s, SOL_SOCKET, SO_SNDBUF, big, GIB));
    show("setsockopt unix 1G", setsockopt(u, SOL_SOCKET, SO_SNDBUF, big, GIB));
    socklen_t len = GIB;
    show("getsockopt inet 1G", getsockopt(s, SOL_SOCKET, SO_TYPE, big, &len));
    printf("  optlen %u\n", len);
    len = GIB;
    show("getsockopt unix 1G", getsockopt(u, SOL_SOCKET, SO_TYPE, big, &len));
    printf("  optlen %u\n", len);
    show("bind addrlen 1G", bind(u, (struct sockaddr *)big, GIB));
}

static void execs(void)
{
    /* 4M pointers to one short string: over the argument limit. */
    long n = 4L << 20;
    char **argv = (char **)big;
    for (long i = 0; i < n; i++)
        argv[i] = "x";
    show("execve 4M args", execve("/bin/true", argv, (char *[]){NULL}));
    char *one = big + GIB;
    memset(one, 'y', 200 << 10);
    show("execve 200K arg", execve("/bin/true", (char *[]){"true", one, NULL},
                                   (char *[]){NULL}));
    show("execve 4M envs", execve("/bin/true", (char *[]){"true", NULL}, argv));
}

/* Under the test's RLIMIT_AS of 8 GiB (the 3 GiB of BIG included). */
static void maps(void)
{
    void *p = mmap(NULL, 1L << 40, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    show("mmap 1T noreserve", p == MAP_FAILED ? -1 : 0);
    p = mmap(NULL, 4 * GIB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    show("mmap 4G noreserve", p == MAP_FAILED ? -1 : 0);
    show("munmap 4G", munmap(p, 4 * GIB));
    void *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *r = mremap(q, 4096, 4 * GIB, MREMAP_MAYMOVE);
    show("mremap 4K to 4G", r == MAP_FAILED ? -1 : 0);
    r = mremap(r, 4 * GIB, 64 * GIB, MREMAP_MAYMOVE);
    show("mremap 4G to 64G", r == MAP_FAILED ? -1 : 0);
    p = mmap(NULL, 1L << 48, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    show("mmap 2^48", p == MAP_FAILED ? -1 : 0);
}

/* DIR is a tmpfs of 8 MiB (natively: size=8m,nr_inodes=8192, whose
 * inode space also bounds attributes; sandboxed: --tmpfs-size 8). */
static void storage(const char *dir)
{
    chdir(dir);
    close(open("f", O_CREAT | O_RDWR, 0644));
    char *value = calloc(1, 65536), name[32];
    long i;
    for (i = 0; i < 20000; i++) {
        sprintf(name, "user.%ld", i);
        if (setxattr("f", name, value, 65536, 0) < 0)
            break;
    }
    printf("20000 xattrs of 64K: %s\n", i < 20000 ? strerrorname_np(errno) : "all set");
    unlink("f");
    int m = memfd_create("m", 0);
    for (i = 0; i < 64; i++)
        if (write(m, value, 65536) < 0 || write(m, big, (1 << 20) - 65536) < 0)
            break;
    printf("memfd of 64M: %s\n", i < 64 ? strerrorname_np(errno) : "written");
}

/* Processes until fork fails (natively under RLIMIT_NPROC; sandboxed,
 * the sentry's own task limit or the host's resources come first), then
 * the program goes on: all of them are killed and reaped. */
static void forks(void)
{
    setpgid(0, 0);
    long i;
    for (i = 0; i < 20000; i++) {
        pid_t p = fork();
        if (p < 0)
            break;
        if (p == 0) {
            pause();
            _exit(0);
        }
    }
    printf("fork 20000: %s\n", i < 20000 ? strerrorname_np(errno) : "all");
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
    while (wait(NULL) > 0)
        ;
    printf("reaped\n");
}

/* The user's RLIMIT_SIGPENDING counts queued signals and POSIX timers.
 * Natively in a user namespace of its own, so that no other process's
 * pending signals count; its parent namespace's count still includes
 * the host user's few, so at the default limit only "near" it. */
static union sigval zero;

static long queue_until_refused(pid_t pid, int sig, long most)
{
    long i;
    for (i = 0; i < most; i++)
        if (sigqueue(pid, sig, zero) < 0)
            break;
    return i;
}

static const char *near(long n, rlim_t limit)
{
    return n <= (long)limit && n > (long)limit - 64 ? "near the limit" : "not near the limit";
}

static void drop_queued(int sig)
{
    signal(sig, SIG_IGN);          /* pending instances are discarded */
    signal(sig, SIG_DFL);
}

static void set_sigpending(rlim_t soft)
{
    struct rlimit r;
    getrlimit(RLIMIT_SIGPENDING, &r);
    r.rlim_cur = soft;
    show("setrlimit sigpending", setrlimit(RLIMIT_SIGPENDING, &r));
}

static void signals(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_SIGPENDING, &r);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    long n = queue_until_refused(getpid(), SIGRTMIN, 300000);
    printf("sigqueue 300000: %s, %s\n", n < 300000 ? strerrorname_np(errno) : "all queued",
           near(n, r.rlim_cur));
    drop_queued(SIGRTMIN);

    set_sigpending(64);
    n = queue_until_refused(getpid(), SIGRTMIN, 1000);
    printf("sigqueue at 64: %ld then %s\n", n, strerrorname_np(errno));
    show("rt_tgsigqueueinfo at 64", syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(),
                                            SIGRTMIN + 1, &(siginfo_t){.si_code = SI_QUEUE}));
    show("tgkill rt at 64", syscall(SYS_tgkill, getpid(), gettid(), SIGRTMIN + 1));
    show("kill rt at 64", kill(getpid(), SIGRTMIN + 2));
    show("kill rt at 64 again", kill(getpid(), SIGRTMIN + 2));
    show("kill SIGUSR1 at 64", kill(getpid(), SIGUSR1));
    show("kill SIGUSR1 again", kill(getpid(), SIGUSR1));
    show("sigqueue SIGUSR2 at 64", sigqueue(getpid(), SIGUSR2, zero));
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGRTMIN + 2);
    siginfo_t got;
    show("sigtimedwait lost rt", sigtimedwait(&one, &got, &(struct timespec){0}));
    printf("  code %d pid %d\n", got.si_code, got.si_pid);
    show("sigtimedwait lost rt again", sigtimedwait(&one, &got, &(struct timespec){0}));
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    show("sigtimedwait SIGUSR2", sigtimedwait(&one, &got, &(struct timespec){0}));
    printf("  code %d\n", got.si_code);
    drop_queued(SIGRTMIN);
    drop_queued(SIGUSR1);

    /* Counted per user: a child's queued signals leave the parent less,
     * until the child is gone. */
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        long c = queue_until_refused(getpid(), SIGRTMIN, 40);
        write(ready[1], &c, sizeof c);
        pause();
        _exit(0);
    }
    long c;
    read(ready[0], &c, sizeof c);
    n = queue_until_refused(getpid(), SIGRTMIN, 1000);
    printf("child queued %ld, then the parent %ld\n", c, n);
    drop_queued(SIGRTMIN);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    n = queue_until_refused(getpid(), SIGRTMIN, 1000);
    printf("with the child gone: %ld\n", n);
}

static long make_timers(timer_t *ids, long most)
{
    long i;
    for (i = 0; i < most; i++)
        if (timer_create(CLOCK_MONOTONIC, NULL, &ids[i]) < 0)
            break;
    return i;
}

static void timers(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_SIGPENDING, &r);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    timer_t *ids = malloc(200000 * sizeof *ids);
    set_sigpending(64);
    long n = make_timers(ids, 1000);
    printf("timer_create at 64: %ld then %s\n", n, strerrorname_np(errno));
    show("timer_delete", timer_delete(ids[--n]));
    show("sigqueue after timer_delete", sigqueue(getpid(), SIGRTMIN, zero));
    show("sigqueue then", sigqueue(getpid(), SIGRTMIN, zero));
    drop_queued(SIGRTMIN);
    show("setrlimit sigpending back", setrlimit(RLIMIT_SIGPENDING, &r));
    n += make_timers(ids + n, 200000 - n);
    printf("timer_create 200000: %s, %s\n", n < 200000 ? strerrorname_np(errno) : "all made",
           near(n, r.rlim_cur));
}

/* A pipe is full when its buffers are (a page each, 16 by default), not
 * its bytes: pipe_write merges only a write's last partial page into the
 * last buffer, and every other page of it takes a buffer of its own. */
static int fresh_pipe(int p[2], int size)
{
    pipe(p);
    nonblocking(p[0]);
    nonblocking(p[1]);
    return size ? fcntl(p[1], F_SETPIPE_SZ, size) : 0;
}

static void pipe_writes_until_full(const char *what, int fd, long size)
{
    long writes = 0, bytes = 0, n;
    while ((n = write(fd, big, size)) > 0 && writes < 100000) {
        writes++;
        bytes += n;
    }
    printf("%s: %ld writes, %ld bytes, then %s\n", what, writes, bytes,
           n < 0 ? strerrorname_np(errno) : "0");
}

static void writable(const char *what, int fd)
{
    struct pollfd p = {fd, POLLOUT, 0};
    printf("%s: poll %d revents %#x\n", what, poll(&p, 1, 0), p.revents);
}

static void pipe_buffers(void)
{
    int p[2];
    char c;
    fresh_pipe(p, 4096);
    show("one-page pipe: write 1", write(p[1], "x", 1));
    show("one-page pipe: write 5000", write(p[1], big, 5000));
    show("one-page pipe: write 100", write(p[1], big, 100));
    writable("one-page pipe", p[1]);

    fresh_pipe(p, 0);
    pipe_writes_until_full("writes of 4097", p[1], 4097);
    writable("after writes of 4097", p[1]);
    show("then read 4096", read(p[0], big, 4096));
    show("then write 100", write(p[1], big, 100));
    show("then write 4097", write(p[1], big, 4097));

    fresh_pipe(p, 0);
    pipe_writes_until_full("writes of 1", p[1], 1);
    show("then read 1", read(p[0], &c, 1));
    writable("a byte read", p[1]);
    show("then write 1", write(p[1], "x", 1));
    show("then read 4095", read(p[0], big, 4095));
    show("then write 1 again", write(p[1], "x", 1));

    fresh_pipe(p, 0);
    pipe_writes_until_full("writes of 3000", p[1], 3000);
    writable("after writes of 3000", p[1]);
    show("then write 1000", write(p[1], big, 1000));
    show("then write 5000", write(p[1], big, 5000));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    big = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (big == MAP_FAILED)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "pipes")) pipes();
    else if (!strcmp(c, "unix")) unix_sockets();
    else if (!strcmp(c, "inet")) inet();
    else if (!strcmp(c, "polls")) polls();
    else if (!strcmp(c, "aio")) aio();
    else if (!strcmp(c, "files")) files(argv[2]);
    else if (!strcmp(c, "storage")) storage(argv[2]);
    else if (!strcmp(c, "forks")) forks();
    else if (!strcmp(c, "tasks")) tasks();
    else if (!strcmp(c, "sockopts")) sockopts();
    else if (!strcmp(c, "execs")) execs();
    else if (!strcmp(c, "maps")) maps();
    else if (!strcmp(c, "pipe_buffers")) pipe_buffers();
    else if (!strcmp(c, "signals")) signals();
    else if (!strcmp(c, "timers")) timers();
    else if (!strcmp(c, "trivial")) ;
    else return 2;
    return 0;
}
