/* Pipe transfers through the read/write fast paths, one line per check:
 * readv/writev order across iovecs (empty ones too), buffers that cross a
 * page, a read of 0, EOF, EAGAIN, EFAULT leaving the data in place, never
 * written memory written as zeros, and a write larger than the pipe
 * drained by a reader in odd-sized pieces (checksums compared). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned sum(const unsigned char *p, size_t n, unsigned s) {
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

int main(void) {
    int p[2], avail;
    char a[8], b[8], c[128];
    long page = sysconf(_SC_PAGESIZE);
    char *volatile bad = (char *)16;

    if (pipe(p)) return 1;
    write(p[1], "0123456789", 10);
    struct iovec riov[] = {{a, 3}, {b, 0}, {b, 4}, {c, sizeof c}};
    ssize_t n = readv(p[0], riov, 4);
    printf("readv %zd [%.3s][%.4s][%.3s]\n", n, a, b, c);

    struct iovec wiov[] = {{"hello", 5}, {"", 0}, {" world!", 7}};
    n = writev(p[1], wiov, 3);
    memset(c, 0, sizeof c);
    ssize_t m = read(p[0], c, sizeof c);
    printf("writev %zd read %zd [%s]\n", n, m, c);

    unsigned char *two = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 100; i++) two[page - 50 + i] = 'a' + i % 26;
    n = write(p[1], two + page - 50, 100);
    memset(two + page - 50, 0, 100);
    m = read(p[0], two + page - 30, 100);
    printf("across a page: wrote %zd read %zd [%.10s..%.10s]\n", n, m,
           (char *)two + page - 30, (char *)two + page + 60);

    n = write(p[1], two + 2 * page, 64);     /* never written: zeros */
    memset(c, 'x', sizeof c);
    m = read(p[0], c, sizeof c);
    printf("untouched memory: wrote %zd read %zd sum %u\n", n, m, sum((unsigned char *)c, m, 0));

    write(p[1], "abc", 3);
    n = read(p[0], c, 0);
    ioctl(p[0], FIONREAD, &avail);
    printf("read of 0: %zd, %d left\n", n, avail);
    n = read(p[0], bad, 3);
    int e = errno;
    ioctl(p[0], FIONREAD, &avail);
    printf("read to a bad address: %zd %s, %d left\n", n, strerror(e), avail);
    n = write(p[1], bad, 3);
    e = errno;
    ioctl(p[0], FIONREAD, &avail);
    printf("write from a bad address: %zd %s, %d in the pipe\n", n, strerror(e), avail);
    n = read(p[0], c, sizeof c);
    printf("then read %zd [%.3s]\n", n, c);

    fcntl(p[0], F_SETFL, O_NONBLOCK);
    n = read(p[0], c, sizeof c);
    printf("empty, nonblocking: %zd %s\n", n, strerror(errno));
    fcntl(p[0], F_SETFL, 0);

    /* 300000 bytes in one write, read back in 7777-byte pieces. */
    static unsigned char big[300000], back[300000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (i * 7 + i / 251) & 0xff;
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        _exit(write(p[1], big, sizeof big) == (ssize_t)sizeof big ? 0 : 1);
    }
    close(p[1]);
    size_t got = 0;
    while ((n = read(p[0], back + got, got + 7777 <= sizeof back ? 7777 : sizeof back - got)) > 0)
        got += n;
    int st;
    waitpid(child, &st, 0);
    printf("big: got %zu, same %d, writer status %d\n", got, memcmp(big, back, got) == 0,
           WEXITSTATUS(st));
    printf("EOF: %zd\n", read(p[0], c, sizeof c));
    return 0;
}
