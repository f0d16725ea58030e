/* Anonymous mappings made next to each other: /proc/self/maps shows one
 * mapping where Linux merges them (same rights and flags), apart where
 * it does not (other rights, MAP_NORESERVE, MAP_GROWSDOWN, locked), and
 * mremap treats a merged one as one. Offsets in pages from a reserved
 * region, so only what must be identical natively is printed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

#include "maps_lines.h"

#define PAGE 4096ul

static char *region;

static void show(const char *what)
{
    print_maps((unsigned long)region, (unsigned long)region + 32 * PAGE, what);
}

/* One page at `page` (pages from region), placed exactly. */
static int map_at(int page, int prot, int flags)
{
    void *want = region + page * PAGE;
    return mmap(want, PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags,
                -1, 0) == want;
}

static void clear(void)
{
    munmap(region, 32 * PAGE);
}

int main(void)
{
    region = mmap(NULL, 32 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    clear();
    printf("above, below, between: %d %d %d\n", map_at(4, PROT_READ | PROT_WRITE, 0),
           map_at(3, PROT_READ | PROT_WRITE, 0), map_at(6, PROT_READ | PROT_WRITE, 0));
    show("apart by a page");
    printf("the gap: %d\n", map_at(5, PROT_READ | PROT_WRITE, 0));
    show("filled");
    region[3 * PAGE] = 'x';
    char *moved = mremap(region + 3 * PAGE, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
                         region + 20 * PAGE);
    printf("mremap of all four: %d", moved == region + 20 * PAGE);
    printf(", kept '%c'\n", moved == region + 20 * PAGE ? moved[0] : '-');
    clear();
    printf("read-only, rw, noreserve, growsdown: %d %d %d %d\n",
           map_at(1, PROT_READ, 0), map_at(2, PROT_READ | PROT_WRITE, 0),
           map_at(3, PROT_READ | PROT_WRITE, MAP_NORESERVE),
           map_at(5, PROT_READ | PROT_WRITE, MAP_GROWSDOWN));
    printf("rw beside growsdown and noreserve: %d %d\n", map_at(4, PROT_READ | PROT_WRITE, 0),
           map_at(6, PROT_READ | PROT_WRITE, 0));
    show("unlike neighbours");
    printf("noreserve beside noreserve: %d\n", map_at(8, PROT_READ | PROT_WRITE, MAP_NORESERVE));
    printf("and again: %d\n", map_at(9, PROT_READ | PROT_WRITE, MAP_NORESERVE));
    show("noreserve pair");
    clear();
    printf("locked, then a neighbour: %d %d\n", map_at(2, PROT_READ | PROT_WRITE, MAP_LOCKED),
           map_at(3, PROT_READ | PROT_WRITE, 0));
    show("locked apart");
    return 0;
}
