/* POSIX timers (timer_create & co). Usage: posix_timers MODE
 *   signal     SIGEV_SIGNAL one-shot: si_code, si_value, si_timerid, overrun
 *   default    a NULL sigevent: SIGALRM carrying the timer id
 *   interval   a periodic timer counted to 5 signals, then deleted
 *   overrun    a 1 ms periodic timer whose signal stays blocked: overruns
 *   thread_id  SIGEV_THREAD_ID: the handler runs in the chosen thread
 *   abstime    TIMER_ABSTIME on CLOCK_REALTIME and a deadline in the past
 *   none       SIGEV_NONE: no signal, timer_gettime counts down
 *   errors     EINVAL cases
 *   fork       a child does not inherit the parent's timers */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits, last_code, last_value, last_timerid, last_overrun, last_tid;

static void on_timer(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    hits++;
    last_code = si->si_code;
    last_value = si->si_value.sival_int;
    last_timerid = si->si_timerid;
    last_overrun = si->si_overrun;
    last_tid = (sig_atomic_t)syscall(SYS_gettid);
}

static void catch(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO;
    sigaction(sig, &sa, NULL);
}

static sigset_t block(int sig) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, &old);
    return old;
}

static long elapsed_ms(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static timer_t make(clockid_t clock, int notify, int sig, int value) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = notify;
    sev.sigev_signo = sig;
    sev.sigev_value.sival_int = value;
    timer_t t;
    if (timer_create(clock, &sev, &t)) {
        perror("timer_create");
        exit(1);
    }
    return t;
}

static void arm(timer_t t, int flags, long value_ns, long interval_ns) {
    struct itimerspec its = {{interval_ns / 1000000000, interval_ns % 1000000000},
                             {value_ns / 1000000000, value_ns % 1000000000}};
    if (timer_settime(t, flags, &its, NULL))
        perror("timer_settime");
}

static int mode_signal(void) {
    catch(SIGUSR1);
    sigset_t old = block(SIGUSR1);
    timer_t t = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 4242);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    arm(t, 0, 100000000, 0);
    struct itimerspec cur;
    timer_gettime(t, &cur);
    printf("armed: interval %ld.%09ld, value in (0,100ms]: %d\n", (long)cur.it_interval.tv_sec,
           cur.it_interval.tv_nsec, cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 &&
           cur.it_value.tv_nsec <= 100000000);
    while (!hits)
        sigsuspend(&old);
    long ms = elapsed_ms(&t0);
    printf("hits=%d code_is_SI_TIMER=%d value=%d timerid_matches=%d overrun=%d waited>=90ms:%d\n",
           (int)hits, last_code == SI_TIMER, (int)last_value,
           last_timerid == (int)(long)t, (int)last_overrun, ms >= 90);
    timer_gettime(t, &cur);
    printf("after expiry: %ld %ld %ld %ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec,
           (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    printf("getoverrun=%d\n", timer_getoverrun(t));
    printf("delete=%d\n", timer_delete(t));
    errno = 0;
    int r = timer_delete(t);
    printf("delete again=%d %s\n", r, strerror(errno));
    return 0;
}

static int mode_default(void) {
    catch(SIGALRM);
    sigset_t old = block(SIGALRM);
    timer_t t;
    if (timer_create(CLOCK_REALTIME, NULL, &t))
        perror("timer_create");
    arm(t, 0, 20000000, 0);
    while (!hits)
        sigsuspend(&old);
    printf("SIGALRM: code_is_SI_TIMER=%d value_is_id=%d\n", last_code == SI_TIMER,
           last_value == (int)(long)t);
    timer_delete(t);
    return 0;
}

static int mode_interval(void) {
    catch(SIGRTMIN);
    sigset_t old = block(SIGRTMIN);
    timer_t t = make(CLOCK_BOOTTIME, SIGEV_SIGNAL, SIGRTMIN, 7);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    arm(t, 0, 20000000, 20000000);
    while (hits < 5)
        sigsuspend(&old);
    long ms = elapsed_ms(&t0);
    struct itimerspec cur, prev, zero = {{0, 0}, {0, 0}};
    timer_gettime(t, &cur);
    printf("5 signals, >=80ms:%d, value=%d, interval %ld.%09ld, next within it: %d\n", ms >= 80,
           (int)last_value, (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec,
           cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 20000000);
    timer_settime(t, 0, &zero, &prev);
    printf("old interval %ld.%09ld\n", (long)prev.it_interval.tv_sec, prev.it_interval.tv_nsec);
    int before = hits;
    usleep(100000);
    printf("disarmed: no more signals: %d\n", hits == before);
    timer_delete(t);
    return 0;
}

static int mode_overrun(void) {
    catch(SIGUSR2);
    sigset_t old = block(SIGUSR2);
    timer_t t = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR2, 1);
    arm(t, 0, 1000000, 1000000);
    usleep(200000);                    /* ~200 expirations, one signal queued */
    sigsuspend(&old);
    int reported = timer_getoverrun(t);
    timer_delete(t);
    printf("hits=%d overrun>50:%d getoverrun>50:%d\n", (int)hits, last_overrun > 50,
           reported > 50);
    /* A kill of the same standard signal pending first for the thread the
     * timer signals: the expiries that could not queue theirs count as the
     * overrun of the next one. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    block(SIGUSR1);
    int tid = (int)syscall(SYS_gettid);
    syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_value.sival_int = 7;
    sev._sigev_un._tid = tid;
    timer_create(CLOCK_MONOTONIC, &sev, &t);
    arm(t, 0, 50000000, 50000000);
    usleep(170000);
    struct timespec zero = {0, 0};
    siginfo_t si;
    int got = sigtimedwait(&usr1, &si, &zero);
    printf("first: the kill %d\n", got == SIGUSR1 && si.si_code != SI_TIMER);
    usleep(60000);
    got = sigtimedwait(&usr1, &si, &zero);
    printf("then the timer's: %d, overrun >= 2: %d, value %d\n", got == SIGUSR1 &&
           si.si_code == SI_TIMER, si.si_overrun >= 2, si.si_value.sival_int);
    timer_delete(t);
    return 0;
}

static volatile int target_tid, thread_ready;

static void *waiter(void *arg) {
    (void)arg;
    target_tid = (int)syscall(SYS_gettid);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    thread_ready = 1;
    while (!hits)
        usleep(1000);
    return NULL;
}

static int mode_thread_id(void) {
    catch(SIGUSR2);
    block(SIGUSR2);                 /* the main thread never takes it */
    pthread_t th;
    pthread_create(&th, NULL, waiter, NULL);
    while (!thread_ready)
        usleep(1000);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR2;
    sev.sigev_value.sival_int = 99;
    sev._sigev_un._tid = target_tid;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t))
        perror("timer_create");
    arm(t, 0, 30000000, 0);
    pthread_join(th, NULL);
    printf("thread-directed: hits=%d in target thread=%d value=%d code_is_SI_TIMER=%d\n",
           (int)hits, last_tid == target_tid, (int)last_value, last_code == SI_TIMER);
    sev._sigev_un._tid = 999999;
    errno = 0;
    int r = timer_create(CLOCK_MONOTONIC, &sev, &t);
    printf("bad tid: %d %s\n", r, strerror(errno));
    return 0;
}

static int mode_abstime(void) {
    catch(SIGUSR1);
    sigset_t old = block(SIGUSR1);
    timer_t t = make(CLOCK_REALTIME, SIGEV_SIGNAL, SIGUSR1, 5);
    struct timespec now, t0;
    clock_gettime(CLOCK_REALTIME, &now);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long target = 150000000;
    struct itimerspec its = {{0, 0}, {now.tv_sec, now.tv_nsec + target}};
    if (its.it_value.tv_nsec >= 1000000000) {
        its.it_value.tv_sec++;
        its.it_value.tv_nsec -= 1000000000;
    }
    timer_settime(t, TIMER_ABSTIME, &its, NULL);
    struct itimerspec cur;
    timer_gettime(t, &cur);
    printf("absolute: relative value reported: %d\n",
           cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= target);
    while (!hits)
        sigsuspend(&old);
    long ms = elapsed_ms(&t0);
    printf("fired after >=140ms:%d <1s:%d\n", ms >= 140, ms < 1000);
    its.it_value.tv_sec -= 100;        /* in the past: fires at once */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    timer_settime(t, TIMER_ABSTIME, &its, NULL);
    while (hits < 2)
        sigsuspend(&old);
    printf("past deadline fired at once: %d\n", elapsed_ms(&t0) < 500);
    timer_delete(t);
    return 0;
}

static int mode_none(void) {
    timer_t t = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
    arm(t, 0, 10000000000L, 0);
    struct itimerspec cur, prev;
    timer_gettime(t, &cur);
    printf("none: value in (9s,10s]: %d\n",
           (cur.it_value.tv_sec == 9) || (cur.it_value.tv_sec == 10 && cur.it_value.tv_nsec == 0));
    struct itimerspec its = {{1, 0}, {0, 1000000}};
    timer_settime(t, 0, &its, &prev);
    printf("old value still ~10s: %d\n", prev.it_value.tv_sec == 9 || prev.it_value.tv_sec == 10);
    usleep(20000);
    timer_gettime(t, &cur);
    printf("periodic none reloads: interval %ld value in (0,1s]: %d\n", (long)cur.it_interval.tv_sec,
           cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0);
    struct itimerspec oneshot = {{0, 0}, {0, 1000000}};
    timer_settime(t, 0, &oneshot, NULL);
    usleep(20000);
    timer_gettime(t, &cur);
    printf("expired one-shot none: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    printf("hits=%d\n", (int)hits);
    timer_delete(t);
    return 0;
}

static void show(const char *what, int r) {
    printf("%s: %d %s\n", what, r, r ? strerror(errno) : "ok");
    errno = 0;
}

static int mode_errors(void) {
    struct sigevent sev;
    timer_t t;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    show("clock 99", timer_create(99, &sev, &t));
    sev.sigev_notify = 17;
    show("notify 17", timer_create(CLOCK_MONOTONIC, &sev, &t));
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = 0;
    show("signo 0", timer_create(CLOCK_MONOTONIC, &sev, &t));
    sev.sigev_signo = 65;
    show("signo 65", timer_create(CLOCK_MONOTONIC, &sev, &t));
    sev.sigev_signo = SIGUSR1;
    show("good", timer_create(CLOCK_MONOTONIC, &sev, &t));
    struct itimerspec bad = {{0, 0}, {0, 1000000000}};
    show("nsec 1e9", timer_settime(t, 0, &bad, NULL));
    bad.it_value.tv_nsec = -1;
    show("nsec -1", timer_settime(t, 0, &bad, NULL));
    struct itimerspec cur;
    show("gettime unarmed", timer_gettime(t, &cur));
    printf("unarmed: %ld %ld %ld %ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec,
           (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    show("delete", timer_delete(t));
    show("gettime deleted", timer_gettime(t, &cur));
    show("getoverrun deleted", timer_getoverrun(t));
    show("raw delete 12345", (int)syscall(SYS_timer_delete, 12345));
    /* CPU-time clocks: glibc passes clock_getcpuclockid's encoding. */
    show("process CPU clock", timer_create(CLOCK_PROCESS_CPUTIME_ID, NULL, &t));
    struct itimerspec negative = {{0, -2}, {0, 1000000}};
    show("negative interval", timer_settime(t, 0, &negative, NULL));
    show("thread CPU clock", timer_create(CLOCK_THREAD_CPUTIME_ID, NULL, &t));
    clockid_t own;
    clock_getcpuclockid(getpid(), &own);
    show("clock_getcpuclockid(getpid())", timer_create(own, NULL, &t));
    show("CPU clock of no process", timer_create(((~(clockid_t)99999) << 3) | 2, NULL, &t));
    show("CPU clock kind 3", timer_create(((~(clockid_t)0) << 3) | 3, NULL, &t));
    return 0;
}

static int mode_fork(void) {
    timer_t t = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
    arm(t, 0, 5000000000L, 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct itimerspec cur;
        errno = 0;
        int r = timer_gettime(t, &cur);
        printf("child gettime: %d %s\n", r, strerror(errno));
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    struct itimerspec cur;
    printf("parent gettime: %d\n", timer_gettime(t, &cur));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "signal")) return mode_signal();
    if (!strcmp(mode, "default")) return mode_default();
    if (!strcmp(mode, "interval")) return mode_interval();
    if (!strcmp(mode, "overrun")) return mode_overrun();
    if (!strcmp(mode, "thread_id")) return mode_thread_id();
    if (!strcmp(mode, "abstime")) return mode_abstime();
    if (!strcmp(mode, "none")) return mode_none();
    if (!strcmp(mode, "errors")) return mode_errors();
    if (!strcmp(mode, "fork")) return mode_fork();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
