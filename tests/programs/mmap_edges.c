/* mmap, munmap, mprotect, mremap and madvise edge cases, and their errnos.
 * Everything happens inside a private PROT_NONE arena so that MAP_FIXED and
 * MREMAP_FIXED never land on libc's own mappings. Addresses differ between
 * runs; only results relative to the arena are printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096ul
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void show(const char *what, long r)
{
    printf("%-58s -> %s", what, r == -1 ? "-1" : r == 0 ? "0" : "ok");
    if (r == -1)
        printf(" errno=%d (%s)", errno, strerror(errno));
    printf("\n");
}

static long mm(void *p)
{
    return p == MAP_FAILED ? -1 : 1;
}

#define TRY(call) (errno = 0, show(#call, (call)))
#define TRYMAP(call) (errno = 0, show(#call, mm(call)))

static int all(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

int main(void)
{
    char *arena = mmap(NULL, 32 * PG, PROT_NONE, ANON, -1, 0);
    printf("arena aligned=%d\n", ((uintptr_t)arena % PG) == 0);
    char *a = mmap(arena, 8 * PG, RW, ANON | MAP_FIXED, -1, 0);
    printf("fixed at arena=%d zero=%d\n", a == arena, all(a, 8 * PG, 0));
    memset(a, 'a', 8 * PG);

    /* mmap argument checks */
    TRYMAP(mmap(NULL, 0, RW, ANON, -1, 0));
    TRYMAP(mmap(NULL, PG, RW, ANON, -1, 1));
    TRYMAP(mmap(NULL, PG, RW, MAP_ANONYMOUS, -1, 0));
    TRYMAP(mmap(a + 1, PG, RW, ANON | MAP_FIXED, -1, 0));
    TRYMAP(mmap(NULL, 1ul << 47, RW, ANON, -1, 0));
    TRYMAP(mmap(NULL, -PG, RW, ANON, -1, 0));
    TRYMAP(mmap(NULL, PG, RW, MAP_PRIVATE, -1, 0));
    TRYMAP(mmap(NULL, PG, RW, MAP_PRIVATE, 12345, 0));
    TRYMAP(mmap(a, PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0));
    TRYMAP(mmap(a + 4 * PG, 8 * PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0));
    printf("NOREPLACE left data: %d\n", all(a, 8 * PG, 'a'));
    char *odd = mmap(NULL, PG + 1, PROT_READ, ANON, -1, 0);
    printf("length rounds up: %d\n", munmap(odd, 2 * PG) == 0);

    /* MAP_FIXED replaces: the middle pages come back zeroed */
    TRYMAP(mmap(a + 2 * PG, 2 * PG, RW, ANON | MAP_FIXED, -1, 0));
    printf("MAP_FIXED replaced zero=%d neighbours kept=%d %d\n", all(a + 2 * PG, 2 * PG, 0),
           all(a, 2 * PG, 'a'), all(a + 4 * PG, 4 * PG, 'a'));
    memset(a + 2 * PG, 'a', 2 * PG);

    /* munmap: page 7 becomes a hole */
    TRY(munmap(a + 1, PG));
    TRY(munmap(a, 0));
    TRY(munmap((void *)(1ul << 47), PG));
    TRY(munmap((void *)-PG, PG));
    TRY(munmap(a + 7 * PG, PG));
    TRY(munmap(a + 7 * PG, PG));  /* nothing mapped there any more: fine */

    /* mprotect */
    TRY(mprotect(a + 1, PG, PROT_READ));
    TRY(mprotect(a + 7 * PG, PG, PROT_READ));
    TRY(mprotect(a + 7 * PG, 2 * PG, PROT_READ));  /* starts in the hole */
    TRY(mprotect(a, PG, 0x100));
    TRY(mprotect(a, 0, PROT_READ));
    TRY(mprotect(a, PG + 1, PROT_READ));           /* length rounds up */
    printf("read-only still readable: %d\n", all(a, 2 * PG, 'a'));
    TRY(mprotect(a, 2 * PG, PROT_NONE));
    TRY(mprotect(a, 2 * PG, RW));
    a[0] = 'a';
    printf("PROT_NONE and back kept data: %d\n", all(a, 2 * PG, 'a'));
    TRY(mprotect(a + 8 * PG, PG, RW));             /* the arena's PROT_NONE part */
    a[8 * PG] = 'z';
    TRY(mprotect(a + 8 * PG, PG, PROT_NONE));

    /* madvise */
    TRY(madvise(a + 1, PG, MADV_DONTNEED));
    TRY(madvise(a + 7 * PG, PG, MADV_DONTNEED));
    TRY(madvise(a, PG, 12345));
    TRY(madvise(a + PG, PG, MADV_DONTNEED));
    printf("DONTNEED zeroed=%d others kept=%d %d\n", all(a + PG, PG, 0),
           all(a, PG, 'a'), all(a + 2 * PG, 5 * PG, 'a'));
    TRY(madvise(a + 8 * PG, PG, MADV_DONTNEED));   /* PROT_NONE pages too */
    TRY(mprotect(a + 8 * PG, PG, PROT_READ));
    printf("PROT_NONE page dropped: %d\n", a[8 * PG] == 0);
    TRY(madvise(a, PG, MADV_WILLNEED));
    TRY(madvise(a, PG, MADV_NORMAL));
    TRY(madvise(a, PG, MADV_FREE));
    printf("after WILLNEED kept=%d\n", all(a + 2 * PG, PG, 'a'));

    /* mremap: r is arena pages 12-13, page 14 is still arena (PROT_NONE) */
    char *r = mmap(arena + 12 * PG, 2 * PG, RW, ANON | MAP_FIXED, -1, 0);
    memset(r, 'r', 2 * PG);
    TRYMAP(mremap(r, 2 * PG, 4 * PG, 0));
    TRYMAP(mremap(r + 1, PG, 2 * PG, MREMAP_MAYMOVE));
    TRYMAP(mremap(r, 2 * PG, 0, MREMAP_MAYMOVE));
    TRYMAP(mremap(r, 2 * PG, 4 * PG, 0x100));
    TRYMAP(mremap(r, 2 * PG, 4 * PG, MREMAP_FIXED));
    TRYMAP(mremap(a + 7 * PG, PG, 2 * PG, MREMAP_MAYMOVE));
    char *m = mremap(r, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
    printf("grow+move ok=%d moved=%d data kept=%d tail zero=%d\n", m != MAP_FAILED,
           m != r, all(m, 2 * PG, 'r'), all(m + 2 * PG, 62 * PG, 0));
    memset(m, 'm', 64 * PG);
    char *s = mremap(m, 64 * PG, 3 * PG, 0);
    printf("shrink in place=%d data kept=%d\n", s == m, all(s, 3 * PG, 'm'));
    char *t = mremap(s, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, arena + 16 * PG);
    printf("move to fixed=%d data kept=%d\n", t == arena + 16 * PG, all(t, 3 * PG, 'm'));
    TRYMAP(mremap(t, 3 * PG, 6 * PG, 0));            /* the arena is in the way */
    TRY(munmap(arena + 19 * PG, 3 * PG));
    char *g = mremap(t, 3 * PG, 6 * PG, 0);
    printf("grow in place=%d data kept=%d tail zero=%d\n", g == t, all(g, 3 * PG, 'm'),
           all(g + 3 * PG, 3 * PG, 0));
    TRY(munmap(arena, 32 * PG));

    /* a lot of small mappings, touched and freed */
    unsigned long sum = 0;
    for (int i = 0; i < 64; i++) {
        size_t n = (i % 7 + 1) * PG;
        char *p = mmap(NULL, n, RW, ANON, -1, 0);
        p[0] = (char)i;
        p[n - 1] = (char)i;
        sum += p[0] + p[n - 1];
        munmap(p, n);
    }
    printf("many maps sum=%lu\n", sum);
    return 0;
}
