/* POSIX message queues, natively (fresh IPC namespace) and in the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%s = %ld%s%s\n", label, r_, r_ < 0 ? " " : "", r_ < 0 ? strerrorname_np(errno) : ""); \
    fflush(stdout); } while (0)

static volatile sig_atomic_t got_sig, got_code, got_value, got_pid_ok;

static void on_usr1(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    got_sig = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
    got_pid_ok = si->si_pid == getpid();
}

static int thread_pipe[2];

static void on_message(union sigval v) {
    char c = (char)v.sival_int;
    if (write(thread_pipe[1], &c, 1) != 1) _exit(98);
}

static void attrs(mqd_t q) {
    struct mq_attr a;
    mq_getattr(q, &a);
    printf("attr: flags=%#lx maxmsg=%ld msgsize=%ld curmsgs=%ld\n", a.mq_flags, a.mq_maxmsg,
           a.mq_msgsize, a.mq_curmsgs);
}

static void recv1(mqd_t q, size_t len) {
    char buf[128];
    unsigned prio = 99;
    errno = 0;
    long n = mq_receive(q, buf, len, &prio);
    if (n < 0) printf("receive = -1 %s\n", strerrorname_np(errno));
    else printf("receive = %ld '%.*s' prio %u\n", n, (int)n, buf, prio);
    fflush(stdout);
}

static struct timespec after_ms(int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    return ts;
}

static void status_line(mqd_t q) {
    char buf[128];
    lseek(q, 0, SEEK_SET);
    ssize_t n = read(q, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char *pid = strstr(buf, "NOTIFY_PID:");
    if (pid && atoi(pid + 11) == getpid()) strcpy(pid + 11, "self\n");
    printf("read: %s", buf);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(022);
    struct mq_attr attr = {.mq_maxmsg = 3, .mq_msgsize = 64};
    mqd_t q = mq_open("/q1", O_CREAT | O_RDWR, 0666, &attr);
    SHOW("open", q >= 0);
    attrs(q);
    struct stat st;
    fstat(q, &st);
    printf("fstat mode %o\n", st.st_mode & 07777);
    SHOW("excl", mq_open("/q1", O_CREAT | O_EXCL | O_RDWR, 0600, &attr));
    SHOW("missing", mq_open("/nope", O_RDWR));
    SHOW("no slash", mq_open("q1", O_RDWR));
    SHOW("inner slash", mq_open("/a/b", O_CREAT | O_RDWR, 0600, NULL));
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 64};
    SHOW("maxmsg 0", mq_open("/bad", O_CREAT | O_RDWR, 0600, &bad));
    bad.mq_maxmsg = 4; bad.mq_msgsize = -1;
    SHOW("msgsize -1", mq_open("/bad", O_CREAT | O_RDWR, 0600, &bad));
    SHOW("send a", mq_send(q, "a-low", 5, 1));
    SHOW("send b", mq_send(q, "b-high", 6, 5));
    SHOW("send c", mq_send(q, "c-low", 5, 1));
    attrs(q);
    status_line(q);
    struct pollfd pfd = {q, POLLIN | POLLOUT, 0};
    SHOW("poll full", poll(&pfd, 1, 0));
    printf("revents %#x\n", pfd.revents);
    struct timespec ts = after_ms(50);
    SHOW("timedsend full", mq_timedsend(q, "x", 1, 0, &ts));
    SHOW("too long", mq_send(q, "x", 65, 0));
    SHOW("prio too big", mq_send(q, "x", 1, 32768));
    recv1(q, 63);
    recv1(q, 64);
    recv1(q, 64);
    recv1(q, 128);
    ts = after_ms(50);
    errno = 0;
    SHOW("timedreceive empty", mq_timedreceive(q, (char[64]){0}, 64, NULL, &ts));
    ts.tv_nsec = -1;
    SHOW("bad timeout", mq_timedreceive(q, (char[64]){0}, 64, NULL, &ts));
    pfd.revents = 0;
    SHOW("poll empty", poll(&pfd, 1, 0));
    printf("revents %#x\n", pfd.revents);
    struct mq_attr nb = {.mq_flags = O_NONBLOCK}, old;
    SHOW("setattr nonblock", mq_setattr(q, &nb, &old));
    printf("old flags %#lx\n", old.mq_flags);
    attrs(q);
    recv1(q, 64);
    nb.mq_flags = O_NONBLOCK | O_APPEND;
    SHOW("setattr bad flags", mq_setattr(q, &nb, NULL));
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    /* a blocked receiver */
    if (fork() == 0) {
        recv1(q, 64);
        _exit(0);
    }
    usleep(100000);
    long sent = mq_send(q, "hello child", 11, 3);
    wait(NULL);                                  /* the child prints first */
    SHOW("send to child", sent);
    /* notification */
    struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    sev.sigev_value.sival_int = 42;
    SHOW("notify", mq_notify(q, &sev));
    SHOW("notify again", mq_notify(q, &sev));
    status_line(q);
    mq_send(q, "n1", 2, 0);
    printf("signal %d code %d value %d pid_ok %d\n", got_sig, got_code, got_value, got_pid_ok);
    status_line(q);
    got_sig = 0;
    mq_send(q, "n2", 2, 0);
    printf("no second signal: %d\n", got_sig == 0);
    recv1(q, 64);
    recv1(q, 64);
    SHOW("register again", mq_notify(q, &sev));
    SHOW("unregister", mq_notify(q, NULL));
    mq_send(q, "n3", 2, 0);
    printf("no signal after unregister: %d\n", got_sig == 0);
    recv1(q, 64);
    sev.sigev_notify = SIGEV_NONE;
    SHOW("SIGEV_NONE", mq_notify(q, &sev));
    status_line(q);
    if (fork() == 0) {
        SHOW("child notify busy", mq_notify(q, &sev));
        _exit(0);
    }
    wait(NULL);
    SHOW("unregister SIGEV_NONE", mq_notify(q, NULL));
    /* SIGEV_THREAD: libc's helper thread, fed through a netlink socket */
    if (pipe(thread_pipe)) return 1;
    struct sigevent tev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_message};
    tev.sigev_value.sival_int = 'T';
    SHOW("SIGEV_THREAD", mq_notify(q, &tev));
    mq_send(q, "t1", 2, 0);
    struct pollfd tp = {thread_pipe[0], POLLIN, 0};
    SHOW("thread ran", poll(&tp, 1, 10000));
    char tc = 0;
    if (read(thread_pipe[0], &tc, 1) == 1) printf("thread got %c\n", tc);
    recv1(q, 64);
    SHOW("SIGEV_THREAD again", mq_notify(q, &tev));
    SHOW("unregister SIGEV_THREAD", mq_notify(q, NULL));
    mq_send(q, "t2", 2, 0);
    SHOW("no thread after unregister", poll(&tp, 1, 200));
    recv1(q, 64);
    mqd_t q3 = mq_open("/q1", O_RDWR);
    sev.sigev_notify = SIGEV_NONE;
    SHOW("register on a second descriptor", mq_notify(q3, &sev));
    SHOW("busy through the first", mq_notify(q, &sev));
    mq_close(q3);
    SHOW("closing dropped it", mq_notify(q, &sev));
    mq_notify(q, NULL);
    sev.sigev_notify = 77;
    SHOW("bad sigev_notify", mq_notify(q, &sev));
    /* opening modes and permissions */
    mqd_t r = mq_open("/q1", O_RDONLY);
    SHOW("send on O_RDONLY", mq_send(r, "x", 1, 0));
    mqd_t w = mq_open("/q1", O_WRONLY);
    SHOW("receive on O_WRONLY", mq_receive(w, (char[64]){0}, 64, NULL));
    SHOW("not a queue", mq_send(1, "x", 1, 0));
    mq_close(r);
    mq_close(w);
    mqd_t p = mq_open("/private", O_CREAT | O_RDWR, 0600, NULL);
    attrs(p);
    if (fork() == 0) {
        if (setgid(65534) || setuid(65534)) _exit(99);
        SHOW("nobody open 0600", mq_open("/private", O_RDONLY));
        SHOW("nobody open 0644 read", mq_open("/q1", O_RDONLY) >= 0);
        SHOW("nobody open 0644 write", mq_open("/q1", O_WRONLY));
        SHOW("nobody unlink", mq_unlink("/q1"));
        struct mq_attr big = {.mq_maxmsg = 11, .mq_msgsize = 64};
        SHOW("nobody maxmsg 11", mq_open("/big", O_CREAT | O_RDWR, 0600, &big));
        _exit(0);
    }
    wait(NULL);
    struct rlimit rl = {1000, 1000};
    setrlimit(RLIMIT_MSGQUEUE, &rl);
    SHOW("past RLIMIT_MSGQUEUE", mq_open("/limited", O_CREAT | O_RDWR, 0600, NULL));
    SHOW("unlink", mq_unlink("/q1"));
    SHOW("unlink again", mq_unlink("/q1"));
    SHOW("still usable", mq_send(q, "z", 1, 0));
    recv1(q, 64);
    SHOW("reopen", mq_open("/q1", O_RDWR));
    mq_unlink("/private");
    return 0;
}
