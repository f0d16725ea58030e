/* The fd limit a program starts with, and what raising it does. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

int main(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max;
    printf("raise soft to hard: %d\n", setrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = rl.rlim_max = (1 << 20) + 1;
    errno = 0;
    int r = setrlimit(RLIMIT_NOFILE, &rl);
    printf("above nr_open: %d %s\n", r, strerror(errno));
    return 0;
}
