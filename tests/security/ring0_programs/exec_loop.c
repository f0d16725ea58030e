/* Fill a 4 KiB stack buffer, then re-execute itself with the counter
 * incremented, up to a limit (default 300): exercises frame reuse across
 * many address spaces (the shadow-paging exec crash of issue 13).
 * Usage: exec_loop [N [LIMIT]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0;
    int limit = argc > 2 ? atoi(argv[2]) : 300;
    char buf[4096];
    char next[16], lim[16];
    memset(buf, n & 0xff, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != (char)(n & 0xff)) {
            printf("corrupt at %d\n", n);
            return 1;
        }
    if (n >= limit) {
        printf("reached %d\n", n);
        return 0;
    }
    snprintf(next, sizeof next, "%d", n + 1);
    snprintf(lim, sizeof lim, "%d", limit);
    execv(argv[0], (char *[]){argv[0], next, lim, NULL});
    perror("execv");
    return 2;
}
