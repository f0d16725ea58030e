/* Small files: open, read to EOF and close DIR/f0000 ... DIR/f<N-1>,
 * PASSES times after one untimed warm-up pass; print one JSON line with
 * the time per file. Static, like every benchmark program. */
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

static long long pass(const char *dir, int count, unsigned *sum)
{
    char path[4096], buf[8192];
    long long total = 0;
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/f%04d", dir, i);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            exit(1);
        }
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) {
            *sum = *sum * 31 + (unsigned char)buf[n - 1];
            total += n;
        }
        close(fd);
    }
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [COUNT] [PASSES]\n", argv[0]);
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 1000;
    int passes = argc > 3 ? atoi(argv[3]) : 3;
    unsigned sum = 0;
    long long bytes = pass(argv[1], count, &sum);
    double t0 = now();
    for (int i = 0; i < passes; i++)
        pass(argv[1], count, &sum);
    double s = now() - t0;
    printf("{\"files\": %d, \"bytes\": %lld, \"passes\": %d, \"seconds\": %.6f, "
           "\"us_per_file\": %.2f, \"checksum\": %u}\n",
           count, bytes, passes, s, s / passes / count * 1e6, sum);
    return 0;
}
