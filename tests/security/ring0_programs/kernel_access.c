/* Read, write or execute one address given in hex: the sandbox's stub,
 * IDT, GDT/TSS, page tables and the rest of the kernel half, and
 * non-canonical addresses, must all be a SIGSEGV, as on Linux.
 * Usage: kernel_access {read|write|exec} ADDRESS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    volatile unsigned char *p = (volatile unsigned char *)strtoul(argv[2], NULL, 16);
    printf("%s %p\n", argv[1], (void *)p);
    fflush(stdout);
    if (strcmp(argv[1], "read") == 0)
        printf("read %#x\n", *p);
    else if (strcmp(argv[1], "write") == 0)
        *p = 0xcc;
    else if (strcmp(argv[1], "exec") == 0)
        ((void (*)(void))p)();
    printf("survived\n");
    return 0;
}
