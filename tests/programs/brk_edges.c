/* brk(2): query, grow, shrink, unaligned ends and refusals. Addresses are
 * randomized natively, so only offsets from the initial break are printed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long brk_(unsigned long addr)
{
    return (unsigned long)syscall(SYS_brk, addr);
}

static int all(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

int main(void)
{
    unsigned long base = brk_(0);
    printf("brk(0) twice agrees: %d\n", brk_(0) == base);
    printf("grow 1 MiB: %+ld\n", (long)(brk_(base + (1 << 20)) - base));
    memset((char *)base, 'b', 1 << 20);
    printf("unaligned end: %+ld\n", (long)(brk_(base + (1 << 20) + 123) - base));
    printf("query: %+ld\n", (long)(brk_(0) - base));
    printf("shrink: %+ld\n", (long)(brk_(base + 4096) - base));
    printf("kept below: %d\n", all((char *)base, 4096, 'b'));
    printf("regrow: %+ld\n", (long)(brk_(base + 3 * 4096) - base));
    printf("regrown zero: %d\n", all((char *)base + 4096, 2 * 4096, 0));
    printf("below start refused: %+ld\n", (long)(brk_(base - 4096 * 1024ul) - base));
    /* A break may not grow into another mapping. */
    void *m = mmap((void *)(base + (64 << 20)), 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
                   MAP_FIXED_NOREPLACE, -1, 0);
    printf("mapping above the break: %d\n", m == (void *)(base + (64 << 20)));
    printf("growing into it refused: %+ld\n", (long)(brk_(base + (65 << 20)) - base));
    printf("growing up to it: %+ld\n", (long)(brk_(base + (64 << 20) - 4096) - base));
    munmap(m, 4096);
    printf("kernel address refused: %+ld\n", (long)(brk_(0xffff800000000000ul) - base));
    printf("back to start: %+ld\n", (long)(brk_(base) - base));
    printf("sbrk agrees: %d\n", (unsigned long)sbrk(0) == base);
    return 0;
}
