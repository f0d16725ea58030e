/* Read throughput: read PATH from start to end with read() calls of
 * BLOCK bytes (default 1 MiB), PASSES times after one untimed warm-up pass,
 * and print one JSON line. Static, so the sandboxed run measures the
 * sentry's read path, not the dynamic loader. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One pass: bytes read; *sum gets a checksum of one byte per 4 KiB. */
static long long pass(const char *path, char *buf, long block, unsigned *sum, long *calls)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    long long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, block)) > 0) {
        for (ssize_t i = 0; i < n; i += 4096)
            *sum = *sum * 31 + (unsigned char)buf[i];
        total += n;
        ++*calls;
    }
    if (n < 0) {
        perror("read");
        exit(1);
    }
    close(fd);
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH [PASSES] [BLOCK]\n", argv[0]);
        return 2;
    }
    int passes = argc > 2 ? atoi(argv[2]) : 4;
    long block = argc > 3 ? atol(argv[3]) : 1 << 20;
    char *buf = malloc(block);
    unsigned sum = 0;
    long calls = 0;
    long long size = pass(argv[1], buf, block, &sum, &calls);
    calls = 0;
    double t0 = now();
    for (int i = 0; i < passes; i++)
        pass(argv[1], buf, block, &sum, &calls);
    double s = now() - t0;
    printf("{\"bytes\": %lld, \"passes\": %d, \"block\": %ld, \"reads\": %ld, "
           "\"seconds\": %.6f, \"mib_per_s\": %.1f, \"checksum\": %u}\n",
           size, passes, block, calls, s, size * passes / s / (1 << 20), sum);
    return 0;
}
