/* Syscalls that fail: numbers Linux has never had (ENOSYS; not 335, which
 * is uretprobe since 6.11 and raises SIGILL), and real calls
 * that fail natively with a bad fd, whose errno may differ while the
 * sandbox does not implement them (only the -1 is compared there). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void invalid(long nr)
{
    errno = 0;
    long r = syscall(nr, 1, 2, 3, 4, 5, 6);
    printf("syscall(%ld) = %ld errno=%d (%s)\n", nr, r, errno, strerror(errno));
}

int main(void)
{
    invalid(1000);
    invalid(512);     /* x32 numbers are invalid without __X32_SYSCALL_BIT */
    invalid(100000);
    invalid(-1);
    long r = syscall(SYS_dup, 999);
    printf("dup(999) = %ld\n", r);
    r = syscall(SYS_fcntl, 999, 1 /* F_GETFD */);
    printf("fcntl(999, F_GETFD) = %ld\n", r);
    /* Still answers after the failures. */
    printf("getpid ok: %d\n", getpid() > 0);
    return 0;
}
