/* brk(2): query, grow, shrink, unaligned ends and refusals. Addresses are
 * randomized natively, so only offsets from the initial break are printed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "maps_lines.h"

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

/* The mappings over [base, brk) in pages from base's page. */
static void heap_maps(unsigned long base, const char *what)
{
    print_maps(base & ~4095ul, brk_(0), what);
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
    /* Linux keeps a page free between the break and the next mapping
     * (brk(): find_vma_intersection(mm, oldbrk, newbrk + PAGE_SIZE)). */
    unsigned long g = ((brk_(0) + 4095) & ~4095ul) + 8 * 4096;
    void *gm = mmap((void *)g, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
                    MAP_FIXED_NOREPLACE, -1, 0);
    printf("a page 8 pages above the break: %d\n", gm == (void *)g);
    static const long ends[] = {-5 * 4096, -2 * 4096, -4096 - 1, -4096, -4096 + 1, -1, 0, 4096};
    for (unsigned i = 0; i < sizeof ends / sizeof *ends; i++)
        printf("to %+ld from that page: %+ld\n", ends[i], (long)(brk_(g + ends[i]) - base));
    munmap(gm, 4096);
    /* Below a mapping that grows down, the stack guard gap (256 pages by
     * default) is kept too. */
    g = ((brk_(0) + 4095) & ~4095ul) + 300 * 4096;
    gm = mmap((void *)g, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
              MAP_FIXED_NOREPLACE | MAP_GROWSDOWN, -1, 0);
    printf("a grows-down page 300 pages above the break: %d\n", gm == (void *)g);
    static const long gaps[] = {-258 * 4096, -257 * 4096, -257 * 4096 + 1, -256 * 4096};
    for (unsigned i = 0; i < sizeof gaps / sizeof *gaps; i++)
        printf("to %+ld from that page: %+ld\n", gaps[i], (long)(brk_(g + gaps[i]) - base));
    munmap(gm, 4096);
    printf("kernel address refused: %+ld\n", (long)(brk_(0xffff800000000000ul) - base));
    /* The heap grows in place (Linux expands its mapping), past a page
     * made read-only or locked (a mapping of its own), and shrinks. */
    unsigned long page = (base + 4095) & ~4095ul;
    brk_(base + 5 * 4096);
    heap_maps(base, "five pages");
    brk_(base + 300 * 4096);
    heap_maps(base, "grown in place");
    memset((char *)base, 'h', 300 * 4096);
    mprotect((void *)page, 4096, PROT_READ);
    brk_(base + 301 * 4096);
    heap_maps(base, "past a read-only page");
    mprotect((void *)page, 4096, PROT_READ | PROT_WRITE);
    heap_maps(base, "its rights back");
    unsigned long last = ((brk_(0) + 4095) & ~4095ul) - 4096;   /* the heap's top page */
    printf("mlock: %d\n", mlock((void *)last, 4096));
    brk_(base + 302 * 4096);
    heap_maps(base, "past a locked page");
    munlock((void *)last, 4096);
    brk_(base + 10 * 4096);
    heap_maps(base, "shrunk");
    brk_(base + 20 * 4096);
    heap_maps(base, "grown again");
    printf("kept: %d, regrown zero: %d\n", all((char *)base, 9 * 4096, 'h'),
           all((char *)page + 10 * 4096, 9 * 4096, 0));
    /* A mapping made just above the break joins the heap's mapping (a new
     * anonymous mapping merges with a matching neighbour), one that does
     * not match stays apart; the break grows into neither. */
    unsigned long top = (brk_(0) + 4095) & ~4095ul;
    void *above = mmap((void *)top, 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("mapped just above the break: %d\n", above == (void *)top);
    heap_maps(base, "with a mapping above");
    printf("growing into it refused: %+ld\n", (long)(brk_(top + 4096) - base));
    munmap(above, 4096);
    heap_maps(base, "without it");
    above = mmap((void *)top, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                 -1, 0);
    heap_maps(base, "with a read-only mapping above");
    munmap(above, 4096);
    printf("back to start: %+ld\n", (long)(brk_(base) - base));
    printf("sbrk agrees: %d\n", (unsigned long)sbrk(0) == base);
    return 0;
}
