/* CPU exceptions in user mode and the signal each one kills with;
 * argv[1] names the case. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    printf("case %s\n", c);
    fflush(stdout);
    if (!strcmp(c, "int3"))
        __asm__ volatile("int3");
    else if (!strcmp(c, "ud2"))
        __asm__ volatile("ud2");
    else if (!strcmp(c, "divzero")) {
        /* In assembly: the compiler may turn 1 / x into a comparison. */
        __asm__ volatile("xor %%ecx, %%ecx\n mov $1, %%eax\n cltd\n idiv %%ecx"
                         ::: "rax", "rcx", "rdx");
    } else if (!strcmp(c, "hlt"))
        __asm__ volatile("hlt");
    else if (!strcmp(c, "kernel_read"))
        printf("%d\n", *(volatile int *)0xffffffff81000000ul);
    else if (!strcmp(c, "noncanonical"))
        printf("%d\n", *(volatile int *)0x8000000000000000ul);
    else if (!strcmp(c, "exec_data")) {
        /* Jump into a writable, non-executable mapping holding `ret`. */
        unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 0xc3;
        ((void (*)(void))p)();
    } else if (!strcmp(c, "null_call"))
        ((void (*)(void))0)();
    else if (!strcmp(c, "out_port"))
        /* `out` needs I/O privilege: SIGSEGV, whatever the port and rax. */
        __asm__ volatile("mov $60, %%eax\n mov $77, %%edi\n out %%al, $0x4a" ::: "rax", "rdi");
    else if (!strcmp(c, "in_port"))
        __asm__ volatile("in $0x4c, %%al" ::: "rax");
    else if (!strcmp(c, "gate_read"))
        /* Linux maps nothing a program can read in the upper half. */
        printf("%d\n", *(volatile int *)0xffffff8000003000ul);
    else {
        printf("unknown case\n");
        return 2;
    }
    printf("survived\n");
    return 0;
}
