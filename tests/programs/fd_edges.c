/* File descriptor errors on the inherited stdio: wrong direction, bad
 * numbers, seeks on pipes, closed descriptors. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

static char out[8192];
static size_t used;

static void show(const char *what, long r)
{
    used += snprintf(out + used, sizeof(out) - used, "%-48s = %ld", what, r);
    if (r < 0)
        used += snprintf(out + used, sizeof(out) - used, " errno=%d (%s)", errno,
                         strerror(errno));
    used += snprintf(out + used, sizeof(out) - used, "\n");
}

#define TRY(call) (errno = 0, show(#call, (long)(call)))

int main(void)
{
    char buf[16] = "xyz";
    struct stat st;
    struct termios tio;
    struct iovec iov[2] = {{buf, 1}, {buf, 1}};
    static struct iovec many[1025];
    for (int i = 0; i < 1025; i++)
        many[i] = (struct iovec){buf, 0};

    TRY(write(0, buf, 1));
    TRY(read(1, buf, 1));
    TRY(write(99, buf, 1));
    TRY(write(-1, buf, 1));
    TRY(read(1000000, buf, 1));
    TRY(write(1, buf, 0));
    TRY(pread(0, buf, 1, 0));
    TRY(pwrite(1, buf, 1, 0));
    TRY(syscall(SYS_preadv, 0, iov, 1, 0, 0));
    TRY(syscall(SYS_pwritev, 1, iov, 1, 0, 0));
    TRY(syscall(SYS_readv, 0, iov, -1));
    TRY(writev(1, many, 1025));
    TRY(writev(1, many, 1024));
    TRY(writev(1, iov, 0));
    TRY(fstat(99, &st));
    TRY(fstat(0, &st));
    used += snprintf(out + used, sizeof(out) - used, "stdin is a fifo: %d, stdout: %d\n",
                     S_ISFIFO(st.st_mode), fstat(1, &st) == 0 && S_ISFIFO(st.st_mode));
    TRY(tcgetattr(1, &tio));
    TRY(isatty(0));
    TRY(close(-1));
    TRY(close(4242));
    TRY(close(0));
    TRY(close(0));
    TRY(read(0, buf, 1));
    TRY(fstat(0, &st));
    /* Leave stdout open to report everything at the end. */
    TRY(close(2));
    TRY(write(2, "lost\n", 5));
    write(1, out, used);
    return 0;
}
