/* The vDSO as programs see it: announced in AT_SYSINFO_EHDR and in
 * /proc/self/maps, exporting the calls the C libraries look up, and
 * telling the same time as the system calls, never backwards, across
 * threads. Every line but the last must read the same natively and in
 * the sandbox; the last is CLOCK_REALTIME, for the caller to check.
 * With argument "loop" it only calls the time functions many times
 * (the caller counts the system calls that makes). */
#define _GNU_SOURCE
#include <elf.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define ITERATIONS 100000

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t libc_now(int clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return ns_of(&t);
}

static int64_t sys_now(int clock)
{
    struct timespec t;
    syscall(SYS_clock_gettime, clock, &t);
    return ns_of(&t);
}

/* Which of the five calls the image exports (walks DT_HASH's chain). */
static void exports(const unsigned char *base)
{
    static const char *want[] = {"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
                                 "__vdso_getcpu", "__vdso_clock_getres"};
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    intptr_t load = 0;
    const Elf64_Dyn *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && load == 0)
            load = (intptr_t)base - (intptr_t)ph[i].p_vaddr + (intptr_t)ph[i].p_offset;
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
    }
    const Elf64_Sym *sym = NULL;
    const char *str = NULL;
    const uint32_t *hash = NULL;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            sym = (const Elf64_Sym *)(load + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_STRTAB)
            str = (const char *)(load + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_HASH)
            hash = (const uint32_t *)(load + dyn->d_un.d_ptr);
    }
    if (!sym || !str || !hash) {
        printf("exports: no symbol table\n");
        return;
    }
    printf("exports:");
    for (unsigned w = 0; w < sizeof want / sizeof *want; w++)
        for (uint32_t i = 0; i < hash[1]; i++)
            if (sym[i].st_value && strcmp(str + sym[i].st_name, want[w]) == 0) {
                printf(" %s", want[w]);
                break;
            }
    printf("\n");
}

static void maps(unsigned long ehdr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int vdso_at_ehdr = 0, vvar_below = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        sscanf(line, "%lx-%lx", &lo, &hi);
        if (strstr(line, "[vdso]") && lo == ehdr)
            vdso_at_ehdr = 1;
        if (strstr(line, "[vvar]") && hi <= ehdr && hi + (1 << 20) > ehdr)
            vvar_below = 1;
    }
    fclose(f);
    printf("[vdso] at AT_SYSINFO_EHDR: %d\n[vvar] just below: %d\n", vdso_at_ehdr, vvar_below);
}

static int ordered(int clock)
{
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t a = libc_now(clock), b = sys_now(clock), c = libc_now(clock);
        bad += !(a <= b && b <= c);
    }
    return bad;
}

static _Atomic int64_t latest;
static atomic_int backwards;

static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERATIONS; i++) {
        int64_t seen = atomic_load(&latest);
        /* Every so often the system call: it moves the time base on. */
        int64_t now = i % 1000 == 0 ? sys_now(CLOCK_MONOTONIC) : libc_now(CLOCK_MONOTONIC);
        if (now < seen)
            atomic_fetch_add(&backwards, 1);
        int64_t cur = atomic_load(&latest);
        while (cur < now && !atomic_compare_exchange_weak(&latest, &cur, now))
            ;
    }
    return NULL;
}

static void loop(void)
{
    int64_t sum = 0;
    struct timeval tv;
    for (int i = 0; i < 3000; i++) {
        sum += libc_now(CLOCK_MONOTONIC) & 1;
        sum += libc_now(CLOCK_REALTIME) & 1;
        gettimeofday(&tv, NULL);
        sum += time(NULL) & 1;
    }
    printf("%d\n", sum >= 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "loop") == 0) {
        loop();
        return 0;
    }
    unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
    printf("AT_SYSINFO_EHDR: %s\n", ehdr && memcmp((void *)ehdr, ELFMAG, SELFMAG) == 0
                                        ? "an ELF image" : "missing");
    if (ehdr) {
        exports((const unsigned char *)ehdr);
        maps(ehdr);
    }
    printf("MONOTONIC vdso/syscall/vdso out of order: %d\n", ordered(CLOCK_MONOTONIC));
    printf("REALTIME out of order: %d\n", ordered(CLOCK_REALTIME));
    printf("BOOTTIME out of order: %d\n", ordered(CLOCK_BOOTTIME));
    int64_t coarse = libc_now(CLOCK_MONOTONIC_COARSE), fine = libc_now(CLOCK_MONOTONIC);
    printf("MONOTONIC_COARSE within 50 ms: %d\n", llabs(fine - coarse) < 50000000);
    coarse = libc_now(CLOCK_REALTIME_COARSE), fine = libc_now(CLOCK_REALTIME);
    printf("REALTIME_COARSE within 50 ms: %d\n", llabs(fine - coarse) < 50000000);

    struct timeval tv;
    int64_t before = sys_now(CLOCK_REALTIME) / 1000;
    gettimeofday(&tv, NULL);
    int64_t after = sys_now(CLOCK_REALTIME) / 1000, us = tv.tv_sec * 1000000LL + tv.tv_usec;
    printf("gettimeofday between syscalls: %d\n", before <= us && us <= after);
    time_t t0 = (time_t)(sys_now(CLOCK_REALTIME) / 1000000000), t1 = time(NULL);
    time_t t2 = (time_t)(sys_now(CLOCK_REALTIME) / 1000000000);
    printf("time between syscalls: %d\n", t0 <= t1 && t1 <= t2);
    int clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW,
                    CLOCK_PROCESS_CPUTIME_ID};
    for (unsigned i = 0; i < sizeof clocks / sizeof *clocks; i++) {
        struct timespec a, b;
        clock_getres(clocks[i], &a);
        syscall(SYS_clock_getres, clocks[i], &b);
        printf("clock_getres(%d) same as the syscall: %d\n", clocks[i],
               a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec);
    }
    struct timespec bad;
    printf("clock_gettime(-1): %d\n", clock_gettime(12345, &bad));
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    int cpu = sched_getcpu();
    printf("sched_getcpu in the affinity mask: %d\n", cpu >= 0 && CPU_ISSET(cpu, &set));

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, reader, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    printf("threads saw MONOTONIC go backwards: %d times\n", atomic_load(&backwards));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    printf("realtime %lld.%09ld\n", (long long)now.tv_sec, now.tv_nsec);
    return 0;
}
