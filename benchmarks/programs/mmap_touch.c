/* Anonymous memory first-touch cost: mmap MIB MiB (default 256) private
 * anonymous, write one byte per 4 KiB page front to back, munmap; repeat
 * ROUNDS times (default 3) and print one JSON line with the best time.
 * Static, so the sandboxed run measures page faults, not the loader. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 256;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    size_t len = (size_t)mib << 20;
    double best = 1e9;
    unsigned long sum = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        for (size_t i = 0; i < len; i += 4096)
            p[i] = (char)i;
        for (size_t i = 0; i < len; i += 1 << 20)
            sum += p[i + 4096];
        munmap((void *)p, len);
        double s = now() - t0;
        if (s < best)
            best = s;
    }
    printf("{\"mib\": %ld, \"pages\": %zu, \"seconds\": %.6f, \"us_per_page\": %.3f, "
           "\"checksum\": %lu}\n", mib, len >> 12, best, best * 1e6 / (len >> 12), sum);
    return 0;
}
