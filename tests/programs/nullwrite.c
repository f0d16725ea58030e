/* Output written before a crash reaches the parent; then a write to NULL
 * kills the program with SIGSEGV (exit status 139 from a shell). */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("before the crash\n");
    fflush(stdout);
    write(2, "on stderr\n", 10);
    *(volatile int *)0 = 1;
    printf("not reached\n");
    return 0;
}
