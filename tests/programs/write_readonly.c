/* A write to a page made read-only by mprotect: SIGSEGV (protection fault)
 * at the known address 0x3f100000a. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
    volatile char *p = mmap((void *)0x3f1000000ul, 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    p[10] = 42;
    mprotect((void *)p, 4096, PROT_READ);
    printf("still readable: %d\n", p[10]);
    fflush(stdout);
    p[10] = 43;
    printf("not reached\n");
    return 0;
}
