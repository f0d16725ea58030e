/* Pipe behaviour gVisor's pipe_test found different: positional calls on
 * pipe ends (ESPIPE before the access mode), a blocking write cut short by
 * the last reader leaving (its count, then EPIPE, a SIGPIPE each), and a
 * read end closed while a thread is blocked reading it (the read still
 * holds the file, so the writer still has a reader). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static volatile int sigpipes;

static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-40s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

static void positional(void)
{
    int p[2];
    char buf[8] = {0};
    struct iovec iov = {buf, sizeof(buf)};
    pipe(p);
    SHOW("pread on the write end", pread(p[1], buf, 1, 0));
    SHOW("pwrite on the read end", pwrite(p[0], buf, 1, 0));
    SHOW("preadv on the write end", preadv(p[1], &iov, 1, 0));
    SHOW("pwritev on the read end", pwritev(p[0], &iov, 1, 0));
    SHOW("pread on the read end", pread(p[0], buf, 1, 0));
    SHOW("pread at -1 on a bad fd", pread(999, buf, 1, -1));
    SHOW("preadv with a bad iovec on a pipe", syscall(SYS_preadv, p[0], 8L, 1, 0L, 0L));
    int path = open("/", O_PATH);
    SHOW("pread on an O_PATH fd", pread(path, buf, 1, 0));
    close(path);
    close(p[0]);
    close(p[1]);
}

static int wfd, rfd, capacity;
static long first, second;
static int second_errno;

static void *big_writer(void *arg)
{
    static char big[1 << 21];
    (void)arg;
    first = write(wfd, big, 2 * capacity);
    second = write(wfd, big, 2 * capacity);
    second_errno = errno;
    return NULL;
}

static void partial_write(void)
{
    int p[2], n = 0;
    pthread_t t;
    pipe(p);
    rfd = p[0];
    wfd = p[1];
    capacity = fcntl(wfd, F_GETPIPE_SZ);
    pthread_create(&t, NULL, big_writer, NULL);
    while (n < capacity) {          /* full: the writer is blocked for more */
        usleep(1000);
        ioctl(rfd, FIONREAD, &n);
    }
    close(rfd);
    pthread_join(t, NULL);
    printf("cut-short write returned the capacity: %d\n", first == capacity);
    printf("next write: %ld %s\n", second, strerror(second_errno));
    printf("SIGPIPEs: %d\n", sigpipes);
    close(wfd);
}

static int notify[2];
static long got;
static int got_value;

static void *blocked_reader(void *arg)
{
    (void)arg;
    write(notify[1], "x", 1);
    got = read(rfd, &got_value, sizeof(got_value));
    return NULL;
}

static void close_under_reader(void)
{
    int p[2], v = 0x5a5a5a5a;
    char c;
    pthread_t t;
    pipe(p);
    pipe(notify);
    rfd = p[0];
    wfd = p[1];
    pthread_create(&t, NULL, blocked_reader, NULL);
    read(notify[0], &c, 1);
    usleep(300 * 1000);             /* let it block in read */
    SHOW("close the read end", close(rfd));
    SHOW("write with a reader still reading", write(wfd, &v, sizeof(v)));
    pthread_join(t, NULL);
    printf("the blocked read got %ld bytes, value ok %d\n", got, got_value == v);
    printf("SIGPIPEs: %d\n", sigpipes);
}

int main(void)
{
    signal(SIGPIPE, on_sigpipe);
    setvbuf(stdout, NULL, _IONBF, 0);
    positional();
    partial_write();
    close_under_reader();
    return 0;
}
