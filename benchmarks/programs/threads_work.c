/* CPU-bound integer work split over N threads: a fixed total number of
 * hash steps (argv[2], default 200M) divided evenly among argv[1] threads
 * (default 1). Prints one JSON line with the wall time of create..join and
 * a checksum that does not depend on the thread count. No syscalls in the
 * hot loop, so in the sandbox it measures guest threads running in
 * parallel on host cores. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct chunk { uint64_t begin, end, sum; };

static void *work(void *arg) {
    struct chunk *c = arg;
    uint64_t sum = 0;
    for (uint64_t i = c->begin; i < c->end; i++) {
        uint64_t x = i * 0x9E3779B97F4A7C15ull;   /* splitmix64 finalizer */
        x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 27; x *= 0x94D049BB133111EBull;
        sum += x ^ (x >> 31);
    }
    c->sum = sum;
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    uint64_t total = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000000ull;
    if (n < 1 || n > 64) return 2;
    pthread_t t[64];
    struct chunk c[64];
    double start = now();
    for (int i = 0; i < n; i++) {
        c[i].begin = total * i / n;
        c[i].end = total * (i + 1) / n;
        pthread_create(&t[i], NULL, work, &c[i]);
    }
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        sum += c[i].sum;
    }
    double secs = now() - start;
    printf("{\"threads\": %d, \"steps\": %llu, \"seconds\": %.6f, \"checksum\": \"%016llx\"}\n",
           n, (unsigned long long)total, secs, (unsigned long long)sum);
    return 0;
}
