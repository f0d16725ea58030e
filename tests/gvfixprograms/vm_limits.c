/* Address-space limits gVisor's mmap_test checks: RLIMIT_DATA stops brk
 * (set by setrlimit or prlimit), RLIMIT_AS stops mmap (a replacing
 * MAP_FIXED mapping does not count twice), and MAP_FIXED_NOREPLACE wins
 * over MAP_FIXED. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-48s %s\n", label, r_ == -1 ? strerror(errno) : "ok"); } while (0)

static long vm_size(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    long total = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx", &s, &e) == 2)
            total += e - s;
    }
    fclose(f);
    return total;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct rlimit zero = {0, RLIM_INFINITY}, inf = {RLIM_INFINITY, RLIM_INFINITY};
    char *cur = sbrk(0);
    SHOW("grow brk", brk(cur + 8192));
    SHOW("RLIMIT_DATA 0 by setrlimit", setrlimit(RLIMIT_DATA, &zero));
    SHOW("grow brk past it", brk(cur + 3 * 8192));
    SHOW("shrink brk", brk(cur + 4096));
    setrlimit(RLIMIT_DATA, &inf);
    SHOW("RLIMIT_DATA 0 by prlimit(gettid)", prlimit(syscall(SYS_gettid), RLIMIT_DATA, &zero, NULL));
    SHOW("grow brk past it", brk(cur + 3 * 8192));
    setrlimit(RLIMIT_DATA, &inf);
    SHOW("grow brk again", brk(cur + 3 * 8192));

    /* RLIMIT_AS: 20 MiB of room. */
    char *fixed = mmap(NULL, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct rlimit as = {vm_size() + (20 << 20), RLIM_INFINITY};
    SHOW("RLIMIT_AS at the current size + 20 MiB", setrlimit(RLIMIT_AS, &as));
    SHOW("map 200 MiB", (long)mmap(NULL, 200 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    SHOW("map 10 MiB", (long)mmap(NULL, 10 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    SHOW("map 64 MiB over an existing 64 MiB (MAP_FIXED)",
         (long)mmap(fixed, 64 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    SHOW("map 20 MiB more", (long)mmap(NULL, 20 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    setrlimit(RLIMIT_AS, &inf);

    SHOW("MAP_FIXED_NOREPLACE|MAP_FIXED over a mapping",
         (long)mmap(fixed, 4096, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE, -1, 0));
    SHOW("MAP_FIXED_NOREPLACE over a mapping",
         (long)mmap(fixed, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    return 0;
}
