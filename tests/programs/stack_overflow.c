/* Unbounded recursion runs off the end of the stack: SIGSEGV. */
#include <stdio.h>

#pragma GCC diagnostic ignored "-Winfinite-recursion"

static int down(volatile int n)
{
    volatile char frame[4096];
    frame[0] = (char)n;
    return down(n + 1) + frame[0];
}

int main(void)
{
    printf("recursing\n");
    fflush(stdout);
    return down(0);
}
