/* One task wakes another from inside a syscall and then does something
 * else at once: spins in user space without another syscall, blocks
 * itself, or ends. Each case prints "<case> ok" once the woken side ran
 * (a wake-up that never reaches the sleeper ends the spin after 10 s with
 * "<case> FAIL"). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int p1[2], p2[2], efd;
static atomic_int flag, word;
static pthread_t sleeper;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);          /* the vDSO: no syscall */
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spin without syscalls until *f is set; whether it was. */
static int spin(atomic_int *f) {
    double end = now() + 10;
    while (!atomic_load(f))
        if (now() > end) return 0;
    return 1;
}

static void report(const char *name, int ok) { printf("%s %s\n", name, ok ? "ok" : "FAIL"); }

static void *read_then_flag(void *arg) {
    char c;
    int n = read(p1[0], &c, 1);
    if (arg) write(p2[1], "y", 1);
    atomic_store(&flag, n == 1 ? 1 : 2);
    return NULL;
}

static void *futex_then_flag(void *arg) {
    (void)arg;
    while (!atomic_load(&word))
        syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    atomic_store(&flag, 1);
    return NULL;
}

static void *epoll_then_flag(void *arg) {
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    int n = epoll_wait(ep, &out, 1, -1);
    close(ep);
    atomic_store(&flag, n == 1 ? 1 : 2);
    return NULL;
}

static void on_usr1(int sig) { (void)sig; }

static void *interrupted_read(void *arg) {
    (void)arg;
    char c;
    int n = read(p1[0], &c, 1);
    atomic_store(&flag, n < 0 && errno == EINTR ? 1 : 2);
    return NULL;
}

static void *write_and_exit(void *arg) {
    (void)arg;
    write(p1[1], "x", 1);
    return NULL;
}

static void start(void *(*fn)(void *), void *arg) {
    atomic_store(&flag, 0);
    pthread_create(&sleeper, NULL, fn, arg);
    usleep(50000);                                 /* let it block first */
}

int main(void) {
    alarm(60);
    if (pipe(p1) || pipe(p2)) return 1;
    efd = eventfd(0, 0);

    start(read_then_flag, NULL);                   /* pipe write, then spin */
    write(p1[1], "x", 1);
    report("pipe_write_spin", spin(&flag) && atomic_load(&flag) == 1);
    pthread_join(sleeper, NULL);

    start(read_then_flag, "reply");                /* pipe write, then block */
    write(p1[1], "x", 1);
    char c;
    report("pipe_write_block", read(p2[0], &c, 1) == 1 && c == 'y');
    pthread_join(sleeper, NULL);

    start(futex_then_flag, NULL);                  /* FUTEX_WAKE, then spin */
    atomic_store(&word, 1);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    report("futex_wake_spin", spin(&flag));
    pthread_join(sleeper, NULL);

    start(epoll_then_flag, NULL);                  /* eventfd write wakes epoll_wait */
    uint64_t one = 1;
    write(efd, &one, 8);
    report("eventfd_epoll_spin", spin(&flag) && atomic_load(&flag) == 1);
    pthread_join(sleeper, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;                       /* no SA_RESTART: EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    start(interrupted_read, NULL);                 /* a signal, then spin */
    pthread_kill(sleeper, SIGUSR1);
    report("signal_spin", spin(&flag) && atomic_load(&flag) == 1);
    pthread_join(sleeper, NULL);

    pthread_t writer;                              /* the waker's thread ends */
    pthread_create(&writer, NULL, write_and_exit, NULL);
    report("write_then_exit", read(p1[0], &c, 1) == 1);
    pthread_join(writer, NULL);

    /* Across processes: a child blocked in read, the parent writes and
     * spins on shared memory the child sets. */
    atomic_int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                              -1, 0);
    pid_t child = fork();
    if (child == 0) {
        atomic_store(shared, read(p1[0], &c, 1) == 1);
        _exit(0);
    }
    usleep(50000);
    write(p1[1], "x", 1);
    report("process_write_spin", spin(shared));
    int st;
    waitpid(child, &st, 0);
    return 0;
}
