/* Clocks and sleeps: only properties are printed, never times. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double secs(struct timespec t)
{
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
    struct timespec a, b, res, req = {0, 10 * 1000 * 1000};
    int monotonic = 1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 50; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        monotonic &= secs(b) >= secs(a);
        a = b;
    }
    printf("monotonic non-decreasing: %d\n", monotonic);

    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double slept = secs(b) - secs(a);
    printf("nanosleep(10ms) = %d, slept >= 10ms: %d, < 2s: %d\n", r, slept >= 0.010, slept < 2);

    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec rel = {0, 5 * 1000 * 1000};
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("clock_nanosleep(5ms) = %d, slept >= 5ms: %d\n", r, secs(b) - secs(a) >= 0.005);

    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec until = a;
    until.tv_nsec += 5 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("clock_nanosleep(abs +5ms) = %d, reached: %d\n", r, secs(b) >= secs(until));

    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t now = time(NULL);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    printf("gettimeofday ~ time(): %d\n", tv.tv_sec - now <= 1 && now - tv.tv_sec <= 1);
    printf("CLOCK_REALTIME ~ time(): %d\n", rt.tv_sec - now <= 1 && now - rt.tv_sec <= 1);
    printf("after 2020: %d\n", now > 1577836800);
    printf("usec in range: %d\n", tv.tv_usec >= 0 && tv.tv_usec < 1000000);

    clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
                       CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID};
    for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        errno = 0;
        long g = syscall(SYS_clock_gettime, ids[i], &a);
        long s = syscall(SYS_clock_getres, ids[i], &res);
        printf("clock %d: gettime=%ld getres=%ld res=%ld.%09ld errno=%d\n", ids[i], g, s,
               (long)res.tv_sec, res.tv_nsec, errno);
    }
    errno = 0;
    long g = syscall(SYS_clock_gettime, 1000, &a);
    printf("clock_gettime(1000) = %ld errno=%s\n", g, strerror(errno));
    errno = 0;
    g = syscall(SYS_clock_getres, -100, &res);
    printf("clock_getres(-100) = %ld errno=%s\n", g, strerror(errno));
    struct timespec bad = {0, 1000000000};
    errno = 0;
    g = syscall(SYS_nanosleep, &bad, NULL);
    printf("nanosleep(nsec=1e9) = %ld errno=%s\n", g, strerror(errno));
    bad.tv_nsec = -1;
    errno = 0;
    g = syscall(SYS_nanosleep, &bad, NULL);
    printf("nanosleep(nsec=-1) = %ld errno=%s\n", g, strerror(errno));
    struct timespec zero = {0, 0};
    printf("nanosleep(0) = %ld\n", syscall(SYS_nanosleep, &zero, NULL));
    errno = 0;
    g = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 12345, &zero, NULL);
    printf("clock_nanosleep(bad flags) = %ld errno=%d\n", g, errno);
    return 0;
}
