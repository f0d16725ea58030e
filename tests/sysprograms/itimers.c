/* alarm(2) and setitimer/getitimer. Usage: itimers MODE
 *   alarm       alarm's return values, then pause() until SIGALRM
 *   alarm_kill  alarm(1) with SIGALRM's default action: death by SIGALRM
 *   interval    an ITIMER_REAL interval timer counted to 3 SIGALRMs
 *   errors      EINVAL cases and unarmed timers
 *   exec        alarm survives execve (re-exec'd as "exec2")
 *   cpu         ITIMER_PROF/VIRTUAL and CPU-clock POSIX timers count CPU
 *               time: silent through a sleep, firing in a busy loop
 * Prints nothing that depends on timing beyond coarse bounds. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) { (void)sig; alarms++; }

static void catch_alarm(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
}

static long elapsed_ms(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int mode_alarm(void) {
    catch_alarm();
    printf("first alarm(10) returned %u\n", alarm(10));
    printf("alarm(1) returned %u\n", alarm(1));
    struct itimerval it;
    getitimer(ITIMER_REAL, &it);
    printf("getitimer: interval=%ld.%06ld value<=1s:%d value>0:%d\n",
           (long)it.it_interval.tv_sec, (long)it.it_interval.tv_usec,
           it.it_value.tv_sec < 1 || (it.it_value.tv_sec == 1 && it.it_value.tv_usec == 0),
           it.it_value.tv_sec > 0 || it.it_value.tv_usec > 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = pause();
    long ms = elapsed_ms(&t0);
    printf("pause returned %d errno=%s alarms=%d waited>=900ms:%d <3s:%d\n", r,
           strerror(errno), (int)alarms, ms >= 900, ms < 3000);
    printf("alarm(0) after it fired returned %u\n", alarm(0));
    alarm(30);
    printf("alarm(0) cancelling a 30s alarm returned %u\n", alarm(0));
    return 0;
}

static int mode_alarm_kill(void) {
    alarm(1);
    pause();
    printf("not reached\n");
    return 1;
}

static int mode_interval(void) {
    catch_alarm();
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct itimerval it = {{0, 50000}, {0, 50000}}, got, prev;
    /* (timed from before the arming: the third alarm is 150 ms after it,
     * however long the first printf takes on a loaded machine) */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (setitimer(ITIMER_REAL, &it, NULL))
        perror("setitimer");
    getitimer(ITIMER_REAL, &got);
    printf("interval %ld.%06ld, value within it: %d\n", (long)got.it_interval.tv_sec,
           (long)got.it_interval.tv_usec,
           got.it_value.tv_sec == 0 && got.it_value.tv_usec <= 50000 && got.it_value.tv_usec > 0);
    while (alarms < 3)
        sigsuspend(&old);
    long ms = elapsed_ms(&t0);
    struct itimerval zero = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &zero, &prev);
    printf("3 alarms: %d, took >=100ms:%d <2s:%d, old interval %ld.%06ld\n", (int)alarms,
           ms >= 100, ms < 2000, (long)prev.it_interval.tv_sec, (long)prev.it_interval.tv_usec);
    getitimer(ITIMER_REAL, &got);
    printf("after disarm: %ld %ld %ld %ld\n", (long)got.it_interval.tv_sec,
           (long)got.it_interval.tv_usec, (long)got.it_value.tv_sec, (long)got.it_value.tv_usec);
    return 0;
}

static void show(const char *what, int r) {
    printf("%s: %d %s\n", what, r, r ? strerror(errno) : "ok");
    errno = 0;
}

static int mode_errors(void) {
    struct itimerval it = {{0, 0}, {0, 1000000}}, got;
    show("setitimer(usec=1000000)", setitimer(ITIMER_REAL, &it, NULL));
    it.it_value.tv_usec = -1;
    show("setitimer(usec=-1)", setitimer(ITIMER_REAL, &it, NULL));
    show("setitimer(which=7)", setitimer(7, &it, NULL));
    show("getitimer(which=-1)", getitimer(-1, &got));
    for (int which = 0; which < 3; which++) {
        memset(&got, 0x55, sizeof got);
        getitimer(which, &got);
        printf("unarmed %d: %ld %ld %ld %ld\n", which, (long)got.it_interval.tv_sec,
               (long)got.it_interval.tv_usec, (long)got.it_value.tv_sec,
               (long)got.it_value.tv_usec);
    }
    printf("alarm(0) unarmed: %u\n", alarm(0));
    /* A virtual timer set and read back (not left to fire). */
    struct itimerval v = {{2, 0}, {5, 0}};
    setitimer(ITIMER_VIRTUAL, &v, NULL);
    getitimer(ITIMER_VIRTUAL, &got);
    /* Linux rounds CPU timers to its tick: 5 s may read back a little over. */
    printf("virtual: interval %ld, value about 5s: %d\n", (long)got.it_interval.tv_sec,
           got.it_value.tv_sec == 4 || (got.it_value.tv_sec == 5 && got.it_value.tv_usec <= 20000));
    struct itimerval zero = {{0, 0}, {0, 0}};
    setitimer(ITIMER_VIRTUAL, &zero, NULL);
    return 0;
}

static int mode_exec(const char *self) {
    alarm(1);
    execl(self, self, "exec2", (char *)NULL);
    perror("execl");
    return 1;
}

static int mode_exec2(void) {
    unsigned left = alarm(0);
    printf("after exec the alarm is still set: %d\n", left == 1);
    return 0;
}

static volatile sig_atomic_t profs, virts, process_timer_fired, thread_timer_fired;
static volatile unsigned long cpu_sink;

static void on_cpu_signal(int sig) {
    if (sig == SIGPROF)
        profs++;
    else if (sig == SIGVTALRM)
        virts++;
    else if (sig == SIGUSR1)
        process_timer_fired++;
    else
        thread_timer_fired++;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000}, left;
    while (nanosleep(&t, &left) == -1 && errno == EINTR)
        t = left;
}

/* Burn ms of this thread's CPU time. */
static void burn_ms(long ms) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 200000; i++)
            cpu_sink += i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static int mode_cpu(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_cpu_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    sigaction(SIGVTALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    struct itimerval every20ms = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_PROF, &every20ms, NULL);
    setitimer(ITIMER_VIRTUAL, &every20ms, NULL);
    timer_t process_timer, thread_timer;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &process_timer);
    sev.sigev_signo = SIGUSR2;
    timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &thread_timer);
    struct itimerspec in50ms = {{0, 0}, {0, 50000000}};
    timer_settime(process_timer, 0, &in50ms, NULL);
    timer_settime(thread_timer, 0, &in50ms, NULL);
    sleep_ms(300);                  /* no CPU time passes */
    printf("asleep: SIGPROF %d, SIGVTALRM %d, CPU-clock timers %d %d\n", profs, virts,
           process_timer_fired, thread_timer_fired);
    struct itimerspec left;
    timer_gettime(process_timer, &left);
    printf("process timer still about 50 ms away: %d\n",
           left.it_value.tv_sec == 0 && left.it_value.tv_nsec > 30000000);
    burn_ms(200);
    printf("busy: SIGPROF at least 3: %d, SIGVTALRM at least 3: %d, CPU-clock timers %d %d\n",
           profs >= 3, virts >= 3, process_timer_fired, thread_timer_fired);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "alarm"))
        return mode_alarm();
    if (!strcmp(mode, "alarm_kill"))
        return mode_alarm_kill();
    if (!strcmp(mode, "interval"))
        return mode_interval();
    if (!strcmp(mode, "errors"))
        return mode_errors();
    if (!strcmp(mode, "exec"))
        return mode_exec(argv[0]);
    if (!strcmp(mode, "exec2"))
        return mode_exec2();
    if (!strcmp(mode, "cpu"))
        return mode_cpu();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
