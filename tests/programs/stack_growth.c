/* The main thread's stack grows on demand up to RLIMIT_STACK (8 MiB by
 * default): use about 6 MiB of it, in recursion and one big alloca. */
#include <alloca.h>
#include <stdio.h>
#include <string.h>

static unsigned long deep(int n)
{
    volatile char frame[16 * 1024];
    memset((char *)frame, n & 0xff, sizeof(frame));
    if (n == 0)
        return frame[100];
    return deep(n - 1) + frame[n % sizeof(frame)];
}

static unsigned long wide(size_t n)
{
    volatile char *p = alloca(n);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (char)(i >> 12);
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i += 4096)
        sum += p[i];
    return sum;
}

int main(void)
{
    printf("recursion over 4 MiB: %lu\n", deep(256));
    printf("alloca of 6 MiB: %lu\n", wide(6u << 20));
    printf("recursion again: %lu\n", deep(300));
    return 0;
}
