/* A block mapped, barely touched and unmapped, as glibc's malloc does for
 * large blocks: mmap KIB KiB (default 1024) private anonymous, write two
 * bytes of it, munmap; COUNT times (default 2000). One JSON line: the
 * microseconds per cycle. Static: the sandboxed run measures the mapping
 * calls and faults, not the loader. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv)
{
    long kib = argc > 1 ? atol(argv[1]) : 1024;
    long count = argc > 2 ? atol(argv[2]) : 2000;
    size_t len = (size_t)kib << 10;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < count; i++) {
        volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        p[0] = 1;
        p[len / 2] = 2;
        munmap((void *)p, len);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / count;
    printf("{\"kib\": %ld, \"cycles\": %ld, \"us_per_cycle\": %.3f}\n", kib, count, us);
    return 0;
}
