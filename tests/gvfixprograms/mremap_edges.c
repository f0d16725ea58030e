/* mremap as gVisor's mremap_test found it different: a shrink in place
 * across several mappings (or none) just unmaps the tail; old_size 0
 * duplicates a shared mapping (ENOMEM without MREMAP_MAYMOVE, EINVAL for
 * a private one), the copy sharing the pages with the original. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %s\n", label, r_ == -1 ? strerror(errno) : "ok"); } while (0)

static int mapped(void *p) { return msync(p, PG, MS_ASYNC) == 0; }

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int kinds[2] = {MAP_PRIVATE, MAP_SHARED};
    for (int k = 0; k < 2; k++) {
        char *m = mmap(NULL, 3 * PG, PROT_READ, kinds[k] | MAP_ANONYMOUS, -1, 0);
        mprotect(m, PG, PROT_NONE);
        void *r = mremap(m, 3 * PG, 2 * PG, 0);
        printf("%s: shrink across two mappings: same place %d, mapped %d %d %d\n",
               k ? "shared" : "private", r == m, mapped(m), mapped(m + PG), mapped(m + 2 * PG));
        munmap(m, 2 * PG);
        r = mremap(m, 3 * PG, PG, 0);
        printf("%s: shrink of an unmapped range: %s\n", k ? "shared" : "private",
               r == MAP_FAILED ? strerror(errno) : "ok");
    }
    char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *pr = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SHOW("duplicate in place", mremap(sh, 0, PG, 0));
    SHOW("duplicate a private mapping", mremap(pr, 0, PG, MREMAP_MAYMOVE));
    SHOW("duplicate an unmapped address", mremap((void *)0x10000, 0, PG, MREMAP_MAYMOVE));
    char *copy = mremap(sh, 0, PG, MREMAP_MAYMOVE);
    printf("copy elsewhere: moved %d, original still mapped %d\n",
           copy != MAP_FAILED && copy != sh, mapped(sh));
    strcpy(sh, "written through the original");
    printf("read through the copy: %s\n", copy);
    char *dst = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *fixed = mremap(sh, 0, PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    printf("copy at a fixed address: there %d, reads %s\n", fixed == dst, fixed);
    strcpy(fixed, "and back");
    printf("original now: %s\n", sh);
    return 0;
}
