/* The workloads of benchmarks/peers.py in one static program:
 *
 *     peer_workload WORKLOAD N [FILE]
 *
 * runs N operations of WORKLOAD (after a few untimed warm-up ones) and
 * prints one JSON line {"workload": ..., "ops": N, "ns_per_op": ...},
 * timed with CLOCK_MONOTONIC inside the program, so the start-up of
 * whatever runs it is left out (the "hello" workload is timed from
 * outside, start to exit). An operation is:
 *
 *   hello        write "hello\n" to stdout once (N ignored)
 *   getpid       one getpid(2) through syscall(2) (libc may not cache it)
 *   compute      1000 rounds of an integer hash, no system calls
 *   file_read    read FILE front to back in 64 KiB read(2)s, per MiB
 *   small_io     pwrite 64 bytes to a file in the cwd, pread them back
 *   pipe         a 1-byte round trip to a forked child over two pipes
 *   epoll        the same round trip, each side in epoll_wait first
 *   fork_exec    fork, execve(argv[0], "exit"), waitpid
 *   mmap_touch   touch one new 4 KiB page of a 64 MiB anonymous mapping
 *                (mapped and unmapped per 16384 pages, inside the timing)
 *   threads      pthread_create + pthread_join of an empty thread
 *
 * Failures print a line on stderr and exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 3
#define MMAP_PAGES 16384

static const char *self_path;
static const char *file_path;
static volatile uint64_t sink;

static void die(const char *what) {
    fprintf(stderr, "peer_workload: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void op_getpid(void) { sink += syscall(SYS_getpid); }

static void op_compute(void) {
    uint64_t h = sink | 1;
    for (int i = 0; i < 1000; i++) h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull + i;
    sink = h;
}

static char io_buf[65536];

static void op_file_read(void) {
    int fd = open(file_path, O_RDONLY);
    if (fd < 0) die("open FILE");
    ssize_t n;
    while ((n = read(fd, io_buf, sizeof io_buf)) > 0) sink += io_buf[0];
    if (n < 0) die("read");
    close(fd);
}

static int small_fd = -1;

static void op_small_io(void) {
    char out[64], in[64];
    memset(out, (int)(sink++ & 0x7f), sizeof out);
    if (pwrite(small_fd, out, sizeof out, 0) != sizeof out) die("pwrite");
    if (pread(small_fd, in, sizeof in, 0) != sizeof in) die("pread");
    if (memcmp(in, out, sizeof in)) { fprintf(stderr, "small_io mismatch\n"); exit(1); }
}

static int to_child[2], from_child[2], use_epoll;
static int parent_ep = -1;

static void wait_readable(int ep) {
    struct epoll_event ev;
    if (epoll_wait(ep, &ev, 1, -1) != 1) die("epoll_wait");
}

static int epoll_for(int fd) {
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
    return ep;
}

static void start_echo_child(void) {
    if (pipe(to_child) || pipe(from_child)) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        int ep = use_epoll ? epoll_for(to_child[0]) : -1;
        char c;
        for (;;) {
            if (use_epoll) wait_readable(ep);
            if (read(to_child[0], &c, 1) != 1) _exit(0);
            if (write(from_child[1], &c, 1) != 1) _exit(1);
        }
    }
    close(to_child[0]);
    close(from_child[1]);
    if (use_epoll) parent_ep = epoll_for(from_child[0]);
}

static void op_pingpong(void) {
    char c = 'x';
    if (write(to_child[1], &c, 1) != 1) die("write");
    if (use_epoll) wait_readable(parent_ep);
    if (read(from_child[0], &c, 1) != 1) die("read");
}

static void stop_echo_child(void) {
    close(to_child[1]);
    int st;
    if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "echo child failed\n");
        exit(1);
    }
}

static void op_fork_exec(void) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char *argv[] = {(char *)self_path, "exit", NULL}, *envp[] = {NULL};
        execve(self_path, argv, envp);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "fork_exec child failed (status %#x)\n", st);
        exit(1);
    }
}

static char *touch_map;
static long touch_next = MMAP_PAGES;

static void op_mmap_touch(void) {
    if (touch_next == MMAP_PAGES) {
        if (touch_map && munmap(touch_map, (size_t)MMAP_PAGES * 4096)) die("munmap");
        touch_map = mmap(NULL, (size_t)MMAP_PAGES * 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (touch_map == MAP_FAILED) die("mmap");
        touch_next = 0;
    }
    touch_map[touch_next++ * 4096] = 1;
}

static void *empty_thread(void *arg) { return arg; }

static void op_threads(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, empty_thread, NULL)) die("pthread_create");
    if (pthread_join(t, NULL)) die("pthread_join");
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc < 2) { fprintf(stderr, "usage: peer_workload WORKLOAD N [FILE]\n"); return 2; }
    const char *w = argv[1];
    if (!strcmp(w, "exit")) return 0;
    if (!strcmp(w, "hello")) {
        if (write(1, "hello\n", 6) != 6) return 1;
        return 0;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000;
    file_path = argc > 3 ? argv[3] : NULL;
    void (*op)(void) = NULL;
    double per = 1.0;             /* operations counted per call of op */
    if (!strcmp(w, "getpid")) op = op_getpid;
    else if (!strcmp(w, "compute")) op = op_compute;
    else if (!strcmp(w, "file_read")) {
        if (!file_path) { fprintf(stderr, "file_read needs FILE\n"); return 2; }
        off_t size = 0;
        int fd = open(file_path, O_RDONLY);
        if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) <= 0) die("size of FILE");
        close(fd);
        op = op_file_read;
        per = size / 1048576.0;
    } else if (!strcmp(w, "small_io")) {
        small_fd = open("peer_small_io.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (small_fd < 0) die("open peer_small_io.tmp");
        unlink("peer_small_io.tmp");
        op = op_small_io;
    } else if (!strcmp(w, "pipe") || !strcmp(w, "epoll")) {
        use_epoll = !strcmp(w, "epoll");
        start_echo_child();
        op = op_pingpong;
    } else if (!strcmp(w, "fork_exec")) {
        if (self_path[0] != '/') { fprintf(stderr, "fork_exec needs an absolute argv[0]\n"); return 2; }
        op = op_fork_exec;
    } else if (!strcmp(w, "mmap_touch")) op = op_mmap_touch;
    else if (!strcmp(w, "threads")) op = op_threads;
    else { fprintf(stderr, "unknown workload %s\n", w); return 2; }

    for (int i = 0; i < WARMUP; i++) op();
    if (op == op_mmap_touch) touch_next = MMAP_PAGES;   /* timed pages are fresh */
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) op();
    uint64_t t1 = now_ns();
    if (op == op_pingpong) stop_echo_child();
    printf("{\"workload\": \"%s\", \"ops\": %.0f, \"ns_per_op\": %.1f}\n",
           w, n * per, (double)(t1 - t0) / (n * per));
    return 0;
}
