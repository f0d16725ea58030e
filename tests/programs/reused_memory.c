/* Memory the program gave back is zeros when it comes back: large and
 * small anonymous mappings are filled, unmapped (or dropped with
 * MADV_DONTNEED, or left behind by a child that exits) and mapped again,
 * and every word of the new memory must read zero. The sentry keeps freed
 * 2 MiB runs allocated and zeroes them for reuse (mm/pool.py): this is
 * the check that it never hands one out dirty. Prints one line per step;
 * the sandbox must print what Linux prints. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096ul
#define MB2 (2ul << 20)

static char *map(size_t len) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); _exit(1); }
    return p;
}

/* Words of [p, p+len) that are not zero. */
static long dirty(const char *p, size_t len) {
    long n = 0;
    for (size_t i = 0; i < len; i += 8)
        n += *(const uint64_t *)(p + i) != 0;
    return n;
}

static void fill(char *p, size_t len, int byte) {
    for (size_t i = 0; i < len; i += P)
        memset(p + i, byte, P);
}

int main(void) {
    /* Big regions, in order (2 MiB runs) and at odd sizes and offsets. */
    for (int round = 0; round < 4; round++) {
        size_t len = 8 * MB2 + round * 37 * P;
        char *p = map(len);
        printf("big %d: fresh dirty words %ld\n", round, dirty(p, len));
        fill(p, len, 0xa5 + round);
        munmap(p, len);
    }
    /* Touched top-down, then in 64 KiB pieces: runs made of single frames. */
    char *q = map(6 * MB2);
    for (long i = 6 * MB2 / P - 1; i >= 0; i--)
        q[i * P] = 0x5a;
    fill(q, 6 * MB2, 0x77);
    munmap(q, 6 * MB2);
    for (int k = 0; k < 96; k++) {
        char *s = map(16 * P);
        fill(s, 16 * P, 0x33);
        munmap(s, 16 * P);
    }
    q = map(12 * MB2);
    printf("after pieces: dirty words %ld\n", dirty(q, 12 * MB2));
    fill(q, 12 * MB2, 0x11);
    /* MADV_DONTNEED of part of it reads zeros there, data elsewhere. */
    madvise(q + MB2, 3 * MB2, MADV_DONTNEED);
    printf("dontneed: dirty words inside %ld, outside kept %d\n",
           dirty(q + MB2, 3 * MB2), q[0] == 0x11 && q[5 * MB2] == 0x11);
    munmap(q, 12 * MB2);
    /* A child fills memory and exits; what the parent maps next is zero. */
    pid_t pid = fork();
    if (pid == 0) {
        char *c = map(10 * MB2);
        fill(c, 10 * MB2, 0xc3);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    q = map(16 * MB2);
    printf("after child (status %d): dirty words %ld\n", st, dirty(q, 16 * MB2));
    munmap(q, 16 * MB2);
    return 0;
}
