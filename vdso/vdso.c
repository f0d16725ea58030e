/* The sandbox's vDSO: time without a VM exit.
 *
 * The sentry maps this image into every process, announced in
 * AT_SYSINFO_EHDR, with the [vvar] page just below it. The page holds a
 * seqlock'd time base that the sentry keeps current: CLOCK_MONOTONIC at a
 * TSC reading, the TSC's rate, and the offsets of CLOCK_REALTIME and
 * CLOCK_BOOTTIME from CLOCK_MONOTONIC. While the sentry says the TSC is
 * usable (mode 1) the clocks are computed here; otherwise, and for every
 * other clock, the real system call answers. Layout of struct vvar is
 * shared with kvmsentry/mm/vdso.py. Built by vdso/build.py. */
#include <stdint.h>

struct vvar {
    volatile uint32_t seq;      /* odd while the sentry updates the page */
    uint32_t mode;              /* 0: make the syscall; 1: use the TSC */
    uint64_t tsc_base;          /* guest TSC when mono_ns was true */
    uint64_t mono_ns;           /* CLOCK_MONOTONIC at tsc_base */
    uint64_t mult;              /* nanoseconds per TSC tick, times 2^32 */
    int64_t real_offset;        /* CLOCK_REALTIME - CLOCK_MONOTONIC */
    int64_t boot_offset;        /* CLOCK_BOOTTIME - CLOCK_MONOTONIC */
    uint64_t res_ns;            /* resolution of the clocks computed here */
};

struct timespec_ { int64_t tv_sec; int64_t tv_nsec; };
struct timeval_ { int64_t tv_sec; int64_t tv_usec; };
struct timezone_ { int tz_minuteswest; int tz_dsttime; };

#define NSEC 1000000000ULL
#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229
#define SYS_getcpu 309

/* The ELF header of this image; the [vvar] page is the page before it. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static inline const struct vvar *vvar(void)
{
    return (const struct vvar *)(__ehdr_start - 4096);
}

static inline long syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline uint64_t rdtsc_ordered(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}

/* CLOCK_MONOTONIC in ns, plus the offset for `clock`; 0 if the syscall
 * must answer. */
static int read_clock(int clock, uint64_t *ns)
{
    const struct vvar *v = vvar();
    uint32_t seq;
    uint64_t now;
    do {
        seq = v->seq;
        __asm__ volatile("" ::: "memory");
        if (seq & 1)
            continue;
        if (v->mode != 1)
            return 0;
        uint64_t delta = rdtsc_ordered() - v->tsc_base;
        if ((int64_t)delta < 0)
            delta = 0;
        now = v->mono_ns + (uint64_t)(((unsigned __int128)delta * v->mult) >> 32);
        if (clock == 0 || clock == 5)           /* REALTIME, REALTIME_COARSE */
            now += v->real_offset;
        else if (clock == 7)                    /* BOOTTIME */
            now += v->boot_offset;
        __asm__ volatile("" ::: "memory");
    } while ((seq & 1) || v->seq != seq);
    *ns = now;
    return 1;
}

static inline int computed_here(int clock)
{
    return clock == 0 || clock == 1 || clock == 5 || clock == 6 || clock == 7;
}

int __vdso_clock_gettime(int clock, struct timespec_ *ts)
{
    uint64_t ns;
    if (!computed_here(clock) || !read_clock(clock, &ns))
        return (int)syscall3(SYS_clock_gettime, clock, (long)ts, 0);
    ts->tv_sec = ns / NSEC;
    ts->tv_nsec = ns % NSEC;
    return 0;
}

int __vdso_gettimeofday(struct timeval_ *tv, struct timezone_ *tz)
{
    uint64_t ns;
    if (!read_clock(0, &ns))
        return (int)syscall3(SYS_gettimeofday, (long)tv, (long)tz, 0);
    if (tv) {
        tv->tv_sec = ns / NSEC;
        tv->tv_usec = ns % NSEC / 1000;
    }
    if (tz) {                                   /* the sandbox is UTC */
        tz->tz_minuteswest = 0;
        tz->tz_dsttime = 0;
    }
    return 0;
}

int64_t __vdso_time(int64_t *t)
{
    uint64_t ns;
    if (!read_clock(0, &ns))
        return syscall3(SYS_time, (long)t, 0, 0);
    if (t)
        *t = ns / NSEC;
    return ns / NSEC;
}

int __vdso_clock_getres(int clock, struct timespec_ *res)
{
    const struct vvar *v = vvar();
    if (!computed_here(clock) || v->mode != 1)
        return (int)syscall3(SYS_clock_getres, clock, (long)res, 0);
    if (res) {
        res->tv_sec = 0;
        res->tv_nsec = v->res_ns;
    }
    return 0;
}

/* Which sandbox CPU a thread is on is the sentry's to say. */
int __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
    return (int)syscall3(SYS_getcpu, (long)cpu, (long)node, (long)cache);
}

int clock_gettime(int, struct timespec_ *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_ *, struct timezone_ *)
    __attribute__((weak, alias("__vdso_gettimeofday")));
int64_t time(int64_t *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct timespec_ *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
