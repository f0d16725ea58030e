/* Heap churn over sizes from 1 byte to several MiB, so both the brk heap and
 * mmap'd chunks are used (glibc's mmap threshold starts at 128 KiB): fill,
 * realloc, verify, free in a scrambled order, print checksums. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 600

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t pick_size(void)
{
    switch (next() % 8) {
    case 0: return 1 + next() % 16;
    case 1: case 2: return 1 + next() % 512;
    case 3: case 4: return 1 + next() % 8192;
    case 5: return 1 + next() % (200 << 10);
    case 6: return (100 << 10) + next() % (300 << 10);
    default: return 1 + next() % 100;
    }
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31 + i * 7);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i * 7))
            return 0;
    return 1;
}

int main(void)
{
    static unsigned char *ptr[N];
    static size_t len[N];
    static unsigned order[N];
    uint64_t sum = 0;
    int bad = 0;

    for (unsigned i = 0; i < N; i++) {
        len[i] = pick_size();
        ptr[i] = malloc(len[i]);
        if (!ptr[i]) { printf("malloc %zu failed\n", len[i]); return 1; }
        fill(ptr[i], len[i], i);
    }
    /* A few large blocks: several MiB each, grown and shrunk with realloc. */
    for (unsigned i = 0; i < 4; i++) {
        size_t n = (size_t)(i + 1) << 21;
        unsigned char *p = malloc(n);
        fill(p, n, 1000 + i);
        p = realloc(p, 2 * n);
        bad += !check(p, n, 1000 + i);
        memset(p + n, 0xa5, n);
        p = realloc(p, n / 3);
        bad += !check(p, n / 3, 1000 + i);
        for (size_t k = 0; k < n / 3; k += 4096)
            sum += p[k];
        free(p);
    }
    /* realloc every third block, growing or shrinking it. */
    for (unsigned i = 0; i < N; i += 3) {
        size_t keep = len[i];
        size_t n = pick_size();
        ptr[i] = realloc(ptr[i], n);
        if (!ptr[i]) { printf("realloc %zu failed\n", n); return 1; }
        if (n < keep)
            keep = n;
        bad += !check(ptr[i], keep, i);
        len[i] = n;
        fill(ptr[i], n, i);
    }
    for (unsigned i = 0; i < N; i++)
        order[i] = i;
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = next() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned k = 0; k < N; k++) {
        unsigned i = order[k];
        bad += !check(ptr[i], len[i], i);
        for (size_t b = 0; b < len[i]; b += 61)
            sum = sum * 1099511628211ull + ptr[i][b];
        free(ptr[i]);
        /* Reuse freed memory straight away now and then. */
        if (k % 5 == 0) {
            unsigned char *q = malloc(len[i]);
            fill(q, len[i], 7);
            bad += !check(q, len[i], 7);
            free(q);
        }
    }
    size_t big = 24u << 20;
    unsigned char *z = calloc(big, 1);
    size_t nonzero = 0;
    for (size_t i = 0; i < big; i += 512)
        nonzero += z[i] != 0;
    nonzero += z[big - 1] != 0;
    free(z);
    unsigned char *z2 = calloc(1000, 300);
    for (size_t i = 0; i < 300000; i++)
        nonzero += z2[i] != 0;
    free(z2);
    printf("checksum %016llx bad %d nonzero %zu\n", (unsigned long long)sum, bad, nonzero);
    return bad != 0;
}
