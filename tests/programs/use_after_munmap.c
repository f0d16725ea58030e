/* Touching memory after munmap must kill the program with SIGSEGV. The
 * mapping is at a fixed address, so the fault address is known: 0x3f0001000. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    volatile char *p = mmap((void *)0x3f0000000ul, 3 * 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    p[0] = 1;
    p[4096] = 2;
    printf("mapped and written: %d %d\n", p[0], p[4096]);
    /* Unmap only the middle page: its neighbours stay usable. */
    munmap((void *)(p + 4096), 4096);
    p[8192] = 3;
    printf("neighbours: %d %d\n", p[0], p[8192]);
    fflush(stdout);
    p[4096] = 4;
    printf("not reached\n");
    return 0;
}
