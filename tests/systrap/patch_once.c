/* A syscall site's code after it ran once, twice and three times: the
 * sandbox patches a site on its second trap, not its first (a site that
 * runs once, as most of a short-lived process's do, is not worth a
 * private copy of its code page). Prints the site's first byte each time
 * on stderr: b8 is the original `mov $nr,%eax`, ff the patched jump. */
#include <stdio.h>

extern const unsigned char site_ppid[];
/* (volatile: the compiler may keep one load of a const object for all three) */
#define FIRST_BYTE (*(const volatile unsigned char *)site_ppid)

__attribute__((noinline, noclone)) static long call_getppid(void)
{
    long ret;
    __asm__ volatile(".globl site_ppid\n"
                     "site_ppid: mov $110, %%eax\n\t"
                     "syscall"
                     : "=a"(ret) : : "rcx", "r11", "memory");
    return ret;
}

int main(void)
{
    long first = call_getppid();
    fprintf(stderr, "after one call: %02x\n", FIRST_BYTE);
    long second = call_getppid();
    fprintf(stderr, "after two calls: %02x\n", FIRST_BYTE);
    long third = call_getppid();
    fprintf(stderr, "after three calls: %02x\n", FIRST_BYTE);
    printf("same answer: %d\n", first == second && second == third);
    return 0;
}
