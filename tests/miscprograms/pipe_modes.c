/* Pipes' less common modes, by the mode in argv[1]:
 *   packets  pipe2(O_DIRECT): each write a packet, a read takes at most
 *            one (a shorter read drops the rest), writes over PIPE_BUF
 *            split, one packet per pipe buffer; F_SETFL toggling
 *            O_DIRECT; splice, tee and vmsplice with packets.
 *   flags    pipe2 with each flag bit, pipe(2) itself.
 *   sizes    F_GETPIPE_SZ / F_SETPIPE_SZ: rounding, the smallest and
 *            largest sizes, shrinking below what the pipe holds (EBUSY,
 *            counted in pipe buffers), pipe-max-size for uid 1000 (root
 *            drops to it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

/* A pipe the rest depends on: without it, stop (never block on junk fds). */
#define MUST(expr) do { if ((expr) < 0) { printf("%s: %s\n", #expr, strerror(errno)); \
    exit(1); } } while (0)

static void flags_of(const char *label, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int acc = fl & O_ACCMODE;
    printf("%-44s %s%s%s\n", label,
           acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR",
           fl & O_NONBLOCK ? "|O_NONBLOCK" : "", fl & O_DIRECT ? "|O_DIRECT" : "");
}

/* Every read until EAGAIN, each of `len` bytes: their counts and text. */
static void drain(const char *label, int fd, size_t len)
{
    static char buf[1 << 16];
    printf("%s:", label);
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n < 0) {
            printf(" [%s]\n", strerror(errno));
            return;
        }
        if (n == 0) {
            printf(" [eof]\n");
            return;
        }
        if (n <= 16)
            printf(" %zd'%.*s'", n, (int)n, buf);
        else
            printf(" %zd", n);
    }
}

static void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        printf("short write of '%s': %s\n", s, strerror(errno));
}

static void packets(void)
{
    int p[2], q[2];
    static char big[10000];
    MUST(pipe2(p, O_DIRECT | O_NONBLOCK));
    flags_of("read end", p[0]);
    flags_of("write end", p[1]);

    put(p[1], "hello");
    put(p[1], "world!");
    drain("two packets, reads of 100 then 3 bytes", p[0], 100);
    put(p[1], "hello");
    put(p[1], "world!");
    drain("two packets, reads of 3 bytes", p[0], 3);

    memset(big, 'b', sizeof big);
    SHOW("write of 10000 bytes", write(p[1], big, sizeof big));
    int n = -1;
    ioctl(p[0], FIONREAD, &n);
    printf("FIONREAD %d\n", n);
    drain("reads of 8192", p[0], 8192);

    int count = 0;
    while (write(p[1], "x", 1) == 1)
        count++;
    printf("one-byte packets until full: %d (%s)\n", count, strerror(errno));
    struct pollfd pf = {p[1], POLLOUT, 0};
    SHOW("poll for POLLOUT on the full pipe", poll(&pf, 1, 0));
    printf("revents %#x\n", pf.revents);
    SHOW("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));
    SHOW("write of 2 bytes when full", write(p[1], "yy", 2));
    drain("reads of 1", p[0], 1);
    close(p[0]);
    close(p[1]);

    /* F_SETFL: a plain pipe's writer turns packets on and off. */
    MUST(pipe2(p, O_NONBLOCK));
    put(p[1], "xy");
    SHOW("F_SETFL O_DIRECT on the write end", fcntl(p[1], F_SETFL, O_DIRECT));
    flags_of("write end", p[1]);
    put(p[1], "PKT");
    put(p[1], "PKTLONG");
    SHOW("F_SETFL 0 on the write end", fcntl(p[1], F_SETFL, 0));
    flags_of("write end", p[1]);
    put(p[1], "abc");
    put(p[1], "def");
    drain("bytes, packets, bytes: reads of 100", p[0], 100);
    put(p[1], "xy");
    fcntl(p[1], F_SETFL, O_DIRECT);
    put(p[1], "PKTLONG");
    put(p[1], "Q");
    drain("bytes then packets: reads of 4", p[0], 4);
    /* Into an empty pipe (nothing to merge into) they are packets. */
    put(p[1], "PKT");
    put(p[1], "PKTLONG");
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    put(p[1], "abc");
    put(p[1], "def");
    drain("packets, then bytes: reads of 100", p[0], 100);
    memset(big, 'f', 4096);
    SHOW("a full page of bytes", write(p[1], big, 4096));
    fcntl(p[1], F_SETFL, O_DIRECT | O_NONBLOCK);
    put(p[1], "PKTLONG");
    put(p[1], "Q");
    drain("page, packets: reads of 4100", p[0], 4100);
    put(p[1], "ab");
    memset(big, 'm', 5000);
    SHOW("a packet write of 5000 after a packet", write(p[1], big, 5000));
    drain("reads of 100", p[0], 100);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    put(p[1], "ab");
    fcntl(p[1], F_SETFL, O_DIRECT | O_NONBLOCK);
    SHOW("a packet write of 5000 after 2 bytes", write(p[1], big, 5000));
    drain("reads of 1000", p[0], 1000);
    SHOW("F_SETFL O_DIRECT on the read end", fcntl(p[0], F_SETFL, O_DIRECT | O_NONBLOCK));
    flags_of("read end", p[0]);
    put(p[1], "after");
    drain("reads of 2", p[0], 2);
    close(p[0]);
    close(p[1]);

    /* splice and tee between pipes keep packets; to a file and vmsplice
     * to memory take bytes; vmsplice into a packet pipe makes no packets. */
    MUST(pipe2(p, O_DIRECT | O_NONBLOCK));
    MUST(pipe2(q, O_NONBLOCK));
    put(p[1], "aaa");
    put(p[1], "bbbb");
    SHOW("splice packets to a plain pipe", splice(p[0], NULL, q[1], NULL, 100, 0));
    drain("the plain pipe: reads of 100", q[0], 100);
    put(p[1], "ccc");
    put(p[1], "dd");
    SHOW("tee 4 bytes of packets", tee(p[0], q[1], 4, 0));
    drain("the copy: reads of 100", q[0], 100);
    drain("the original: reads of 100", p[0], 100);
    put(p[1], "zzz");
    SHOW("splice 1 byte of a packet to a pipe", splice(p[0], NULL, q[1], NULL, 1, 0));
    drain("what is left: reads of 100", p[0], 100);
    drain("what moved: reads of 100", q[0], 100);

    char name[] = "pipe_modes_fileXXXXXX";
    int f = mkstemp(name);
    unlink(name);
    put(p[1], "xx");
    put(p[1], "yyy");
    SHOW("splice packets to a file", splice(p[0], NULL, f, NULL, 100, 0));
    char fbuf[16] = {0};
    SHOW("the file holds", pread(f, fbuf, sizeof fbuf, 0));
    printf("'%s'\n", fbuf);
    drain("the pipe after it", p[0], 100);

    char v1[] = "vm1", v2[] = "vm2";
    struct iovec iov[2] = {{v1, 3}, {v2, 3}};
    SHOW("vmsplice into the packet pipe", vmsplice(p[1], iov, 2, 0));
    drain("reads of 100", p[0], 100);
    put(p[1], "p1");
    put(p[1], "p22");
    char out[100] = {0};
    struct iovec o = {out, sizeof out};
    SHOW("vmsplice packets to memory", vmsplice(p[0], &o, 1, 0));
    printf("'%s'\n", out);
    close(f);

    /* A FIFO opened with O_DIRECT: EINVAL (no FMODE_CAN_ODIRECT), after
     * the open's wait; F_SETFL may still set it. */
    SHOW("mkfifo", mkfifo("pipe_modes_fifo", 0600));
    SHOW("open it O_RDWR|O_DIRECT", open("pipe_modes_fifo", O_RDWR | O_DIRECT));
    int ff = open("pipe_modes_fifo", O_RDWR | O_NONBLOCK);
    SHOW("F_SETFL O_DIRECT on it", fcntl(ff, F_SETFL, O_DIRECT | O_NONBLOCK));
    flags_of("it", ff);
    put(ff, "fifo");
    put(ff, "packets");
    drain("reads of 3", ff, 3);
    close(ff);
    unlink("pipe_modes_fifo");
}

static void flag_bits(void)
{
    int p[2];
    for (int bit = 0; bit < 32; bit++) {
        char label[32];
        snprintf(label, sizeof label, "pipe2 flag bit %d", bit);
        long r = pipe2(p, 1u << bit);
        SHOW(label, r);
        if (r == 0) {
            flags_of("  read end", p[0]);
            flags_of("  write end", p[1]);
            close(p[0]);
            close(p[1]);
        }
    }
    SHOW("pipe2 all of O_CLOEXEC|O_NONBLOCK|O_DIRECT",
         pipe2(p, O_CLOEXEC | O_NONBLOCK | O_DIRECT));
    SHOW("F_GETFD of the read end", fcntl(p[0], F_GETFD));
    close(p[0]);
    close(p[1]);
    SHOW("pipe", pipe(p));
    flags_of("  read end", p[0]);
    flags_of("  write end", p[1]);
    int *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SHOW("pipe2 into read-only memory", pipe2(ro, 0));
    SHOW("  then pipe, the same fds", pipe(p));
    printf("  fds %d %d\n", p[0], p[1]);
    SHOW("pipe2 at address 8", syscall(SYS_pipe2, 8L, 0L));
}

static void sizes_as(const char *who, long max)
{
    int p[2];
    printf("%s:\n", who);
    MUST(pipe(p));
    SHOW("  F_SETPIPE_SZ pipe-max-size", fcntl(p[1], F_SETPIPE_SZ, max));
    SHOW("  F_SETPIPE_SZ pipe-max-size + 1", fcntl(p[1], F_SETPIPE_SZ, max + 1));
    SHOW("  F_SETPIPE_SZ 2 * pipe-max-size", fcntl(p[1], F_SETPIPE_SZ, 2 * max));
    SHOW("  F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));
    SHOW("  F_SETPIPE_SZ 4096 (shrink)", fcntl(p[1], F_SETPIPE_SZ, 4096));
    close(p[0]);
    close(p[1]);
}

static void sizes(void)
{
    int p[2];
    char buf[8192];
    long max = 0;
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    if (!f || fscanf(f, "%ld", &max) != 1)
        printf("no pipe-max-size\n");
    if (f)
        fclose(f);
    MUST(pipe2(p, O_NONBLOCK));
    SHOW("F_GETPIPE_SZ of a new pipe", fcntl(p[0], F_GETPIPE_SZ));
    static const unsigned long asks[] = {
        0, 1, 4095, 4096, 4097, 12288, 65536, 65537, 100000, (1ul << 32) + 8192,
        (1ul << 31) + 1, 0xffffffffu, 0x80000001ul << 32};
    for (unsigned i = 0; i < sizeof asks / sizeof *asks; i++) {
        char label[64];
        snprintf(label, sizeof label, "F_SETPIPE_SZ %#lx", asks[i]);
        SHOW(label, fcntl(p[1], F_SETPIPE_SZ, asks[i]));
        SHOW("  F_GETPIPE_SZ (read end)", fcntl(p[0], F_GETPIPE_SZ));
    }
    int file = open("/proc/self/status", O_RDONLY);
    SHOW("F_GETPIPE_SZ of a file", fcntl(file, F_GETPIPE_SZ));
    SHOW("F_SETPIPE_SZ of a file", fcntl(file, F_SETPIPE_SZ, 4096));
    close(file);

    /* Shrinking: what the pipe holds, in pipe buffers, must fit. */
    fcntl(p[1], F_SETPIPE_SZ, 65536);
    memset(buf, 's', sizeof buf);
    SHOW("write 5000 bytes (two buffers)", write(p[1], buf, 5000));
    SHOW("  shrink to one page", fcntl(p[1], F_SETPIPE_SZ, 4096));
    SHOW("  shrink to two pages", fcntl(p[1], F_SETPIPE_SZ, 8192));
    SHOW("  write 4096 more", write(p[1], buf, 4096));
    SHOW("  read all", read(p[0], buf, sizeof buf));
    fcntl(p[1], F_SETPIPE_SZ, 65536);
    for (int i = 0; i < 3; i++)
        write(p[1], buf, 100);
    SHOW("three writes of 100 (one buffer): shrink to one page",
         fcntl(p[1], F_SETPIPE_SZ, 4096));
    SHOW("  read all", read(p[0], buf, sizeof buf));
    fcntl(p[1], F_SETPIPE_SZ, 65536);
    fcntl(p[1], F_SETFL, O_DIRECT | O_NONBLOCK);
    for (int i = 0; i < 3; i++)
        write(p[1], buf, 1);
    SHOW("three packets: shrink to two pages", fcntl(p[1], F_SETPIPE_SZ, 8192));
    SHOW("  to four pages", fcntl(p[1], F_SETPIPE_SZ, 16384));
    SHOW("  one more packet", write(p[1], buf, 1));
    SHOW("  and another", write(p[1], buf, 1));
    SHOW("  read", read(p[0], buf, sizeof buf));
    SHOW("  packets again", write(p[1], buf, 1));
    close(p[0]);
    close(p[1]);

    /* (Root's CAP_SYS_RESOURCE lifts pipe-max-size: no native root of
     * a test has it, see test_root_without_cap_sys_resource.) */
    if (getuid() == 0 && (setgroups(0, NULL) || setgid(1000) || setuid(1000)))
        perror("setuid");
    sizes_as("uid 1000", max);
    MUST(pipe(p));
    SHOW("uid 1000: F_SETPIPE_SZ 1 << 31", fcntl(p[1], F_SETPIPE_SZ, 1ul << 31));
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "packets"))
        packets();
    else if (argc > 1 && !strcmp(argv[1], "flags"))
        flag_bits();
    else if (argc > 1 && !strcmp(argv[1], "sizes"))
        sizes();
    else
        return 2;
    return 0;
}
