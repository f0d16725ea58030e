/* Bad user pointers: every call must fail with EFAULT exactly like Linux
 * (raw syscalls: libc wrappers and the vDSO would crash instead). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r)
{
    printf("%-34s = %ld", what, r);
    if (r < 0)
        printf(" errno=%d (%s)", errno, strerror(errno));
    printf("\n");
    fflush(stdout);
}

#define TRY(call) (errno = 0, show(#call, (call)))

int main(void)
{
    char buf[64];
    void *kernel_addr = (void *)0xffffffff81000000ul;
    void *high = (void *)-4096l;
    struct iovec bad_iov[2] = {{(void *)1, 10}, {buf, 10}};

    TRY(syscall(SYS_write, 1, (void *)1, 10));
    TRY(syscall(SYS_write, 1, kernel_addr, 10));
    TRY(syscall(SYS_write, 1, high, 10));
    TRY(syscall(SYS_write, 1, (void *)1, 0));
    /* stdin is a pipe holding data: a failed read must not consume it. */
    TRY(syscall(SYS_read, 0, high, 10));
    TRY(syscall(SYS_read, 0, NULL, 5));
    memset(buf, 0, sizeof(buf));
    TRY(syscall(SYS_read, 0, buf, 12));
    printf("read back: \"%s\"\n", buf);
    TRY(syscall(SYS_writev, 1, (void *)8, 1));
    TRY(syscall(SYS_writev, 1, bad_iov, 2));
    TRY(syscall(SYS_readv, 0, (void *)8, 1));
    TRY(syscall(SYS_pread64, 0, (void *)1, 10, 0));
    TRY(syscall(SYS_uname, (void *)1));
    TRY(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1));
    TRY(syscall(SYS_clock_gettime, CLOCK_REALTIME, high));
    TRY(syscall(SYS_clock_getres, CLOCK_MONOTONIC, (void *)1));
    TRY(syscall(SYS_gettimeofday, (void *)1, NULL));
    TRY(syscall(SYS_time, (void *)1));
    TRY(syscall(SYS_nanosleep, (void *)1, NULL));
    TRY(syscall(SYS_getrandom, (void *)1, 16, 0));
    TRY(syscall(SYS_getcwd, (void *)1, 4096));
    TRY(syscall(SYS_getrlimit, 3, (void *)1));
    TRY(syscall(SYS_prlimit64, 0, 3, (void *)1, NULL));
    TRY(syscall(SYS_sched_getaffinity, 0, 128, (void *)1));
    TRY(syscall(SYS_newfstatat, 1, "", (void *)1, 0x1000));
    TRY(syscall(SYS_newfstatat, 1, (void *)1, buf, 0x1000));
    TRY(syscall(SYS_fstat, 1, (void *)1));
    TRY(syscall(SYS_rt_sigaction, 10, (void *)1, NULL, 8));
    TRY(syscall(SYS_rt_sigprocmask, 0, (void *)1, NULL, 8));
    TRY(syscall(SYS_set_robust_list, (void *)1, 24));
    TRY(syscall(SYS_ioctl, 1, 0x5413 /* TIOCGWINSZ */, (void *)1));

    /* A buffer running from a mapped page into an unmapped one. */
    char *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 'x', 2 * 4096);
    munmap(p + 4096, 4096);
    TRY(syscall(SYS_uname, p + 4096 - 8));
    /* A read-only page is not writable by the kernel either. */
    mprotect(p, 4096, PROT_READ);
    TRY(syscall(SYS_getrandom, p, 16, 0));
    TRY(syscall(SYS_read, 0, p, 4));
    printf("page intact: %d\n", p[0] == 'x' && p[4095] == 'x');
    return 0;
}
