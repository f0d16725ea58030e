/* Copy stdin to stdout in uneven chunks, then one large write: reads and
 * writes on the inherited pipes, short reads, and EOF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static char buf[1 << 20];

int main(void)
{
    static const size_t sizes[] = {1, 7, 4096, 65536, 100, 300000, 3};
    size_t total = 0;
    unsigned long sum = 0;
    for (int i = 0;; i++) {
        ssize_t n = read(0, buf, sizes[i % 7]);
        if (n < 0) { perror("read"); return 1; }
        if (n == 0)
            break;
        for (ssize_t k = 0; k < n; k++)
            sum = sum * 31 + (unsigned char)buf[k];
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, n - off);
            if (w <= 0) { perror("write"); return 1; }
            off += w;
        }
        total += n;
    }
    printf("read after EOF: %zd\n", read(0, buf, 10));
    fflush(stdout);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = 'a' + i % 26;
    ssize_t w = write(1, buf, sizeof(buf));
    char head[] = "\n<head>", tail[] = "<tail>\n";
    struct iovec iov[3] = {{head, 7}, {buf, 1000}, {tail, 7}};
    ssize_t wv = writev(1, iov, 3);
    fprintf(stderr, "copied %zu bytes, sum %lx, big write %zd, writev %zd\n", total, sum, w, wv);
    return 0;
}
