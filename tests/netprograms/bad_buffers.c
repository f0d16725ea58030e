/* Reads and writes on pipes and Unix sockets whose user buffer is partly
 * or wholly unmapped: what the call returns, what reached the buffer's
 * mapped part, and what the peer or the next read then finds. Linux's
 * answer is per kind: a pipe counts whole pipe buffers, a stream socket
 * whole messages (skbs), a datagram is all or EFAULT (and read, it is
 * gone). One kind per mode (argv[1]); prints only what must be identical
 * natively and in the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE 4096
#define CHECK(x) do { if ((x) < 0) { printf("FAIL %s: %s\n", #x, strerror(errno)); exit(1); } } while (0)

static int kind;                 /* 0: a pipe, else a socket type */
static const char *how = "read"; /* read/write, recv/send, recvmsg/sendmsg, readv/writev */
static char *hole;               /* the first byte of an unmapped page, after 64 mapped ones */

static void print_result(const char *what, long r)
{
    printf("%s = %ld %s\n", what, r, r < 0 ? strerrorname_np(errno) : "");
}

/* A fresh pair: fds[0] reads, fds[1] writes; both non-blocking. */
static void make_pair(int fds[2])
{
    if (kind == 0) {
        CHECK(pipe2(fds, O_NONBLOCK));
    } else {
        int sv[2];
        CHECK(socketpair(AF_UNIX, kind | SOCK_NONBLOCK, 0, sv));
        fds[0] = sv[1];
        fds[1] = sv[0];
    }
}

/* A case: its title, and a fresh pair for it. */
static void begin(const char *title, int fds[2])
{
    printf("-- %s\n", title);
    make_pair(fds);
}

/* One transfer of n bytes at buf on fd, the way the mode says. */
static long transfer(int fd, char *buf, size_t n, int writing, int flags)
{
    struct iovec iov[2] = {{buf, n / 2}, {buf + n / 2, n - n / 2}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    errno = 0;
    if (!strcmp(how, "recv") || !strcmp(how, "send"))
        return writing ? send(fd, buf, n, flags) : recv(fd, buf, n, flags);
    if (!strcmp(how, "recvmsg") || !strcmp(how, "sendmsg"))
        return writing ? sendmsg(fd, &mh, flags) : recvmsg(fd, &mh, flags);
    if (!strcmp(how, "readv") || !strcmp(how, "writev"))
        return writing ? writev(fd, iov, 2) : readv(fd, iov, 2);
    return writing ? write(fd, buf, n) : read(fd, buf, n);
}

static void put(int fd, const char *data, size_t n)
{
    if (write(fd, data, n) != (ssize_t)n)
        printf("FAIL short put of %zu: %s\n", n, strerror(errno));
}

static unsigned sum(const char *p, size_t n)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31 + (unsigned char)p[i];
    return s;
}

/* A read of `want` bytes into a buffer whose first `mapped` bytes are
 * mapped (the rest is the hole): the result and what the mapped part got. */
static void read_cut(int fd, size_t mapped, size_t want, int flags)
{
    char *p = hole - mapped;
    memset(p, '.', mapped);
    long r = transfer(fd, p, want, 0, flags);
    char what[64];
    snprintf(what, sizeof what, "%s %zu of %zu mapped", how, mapped, want);
    print_result(what, r);
    size_t shown = mapped < 24 ? mapped : 24;
    printf("  buffer '%.*s' sum %u\n", (int)shown, p, sum(p, mapped));
}

/* Everything still queued, read with a good buffer. */
static void drain(int fd, const char *what)
{
    static char b[1 << 18];
    for (int i = 0; i < 8; i++) {
        errno = 0;
        ssize_t n = read(fd, b, sizeof b);
        if (n < 0) {
            printf("  %s: %zd %s\n", what, n, strerrorname_np(errno));
            return;
        }
        printf("  %s: %zd '%.*s' sum %u\n", what, n, n < 20 ? (int)n : 20, b, sum(b, n));
        if (n == 0)
            return;
    }
}

/* A case's end: what the reader then finds, and the pair closed. */
static void end(int fds[2], const char *what)
{
    drain(fds[0], what);
    close(fds[0]);
    close(fds[1]);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = 'a' + (i * 7 + seed) % 26;
}

/* A message passing a pipe's write end, read by read(2) (which has no
 * room for it): first into a buffer that faults (the message stays, and
 * its file), then whole (the file is closed: the pipe reads EOF). */
static void passed_files(void)
{
    int fds[2], p[2];
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {"xy", 2};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    begin("passed files, read by read(2)", fds);
    CHECK(pipe2(p, O_NONBLOCK));
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    CHECK(sendmsg(fds[1], &mh, 0));
    close(p[1]);
    read_cut(fds[0], 1, 2, 0);
    drain(fds[0], "then");
    char b[4];
    errno = 0;
    long r = read(p[0], b, sizeof b);
    print_result("the passed pipe", r);
    close(p[0]);
    end(fds, "then");
}

static void reads(void)
{
    static char big[3 * PAGE];
    int fds[2];
    int dgram = kind == SOCK_DGRAM || kind == SOCK_SEQPACKET;

    begin("one message, buffer unmapped then straddling", fds);
    put(fds[1], "hello world", 11);
    read_cut(fds[0], 0, 5, 0);
    read_cut(fds[0], 3, 8, 0);
    end(fds, "then");

    begin("nothing queued, buffer unmapped; then no writer", fds);
    read_cut(fds[0], 0, 5, 0);
    close(fds[1]);
    fds[1] = dup(fds[0]);
    read_cut(fds[0], 0, 5, 0);
    end(fds, "then");

    begin("a buffer at a kernel address, or on a bad fd", fds);
    put(fds[1], "kept", 4);
    print_result("at a kernel address", transfer(fds[0], (char *)0xffff800000000000ul, 4, 0, 0));
    print_result("bad fd too", transfer(-1, (char *)0xffff800000000000ul, 4, 0, 0));
    end(fds, "then");

    begin("two messages, the second straddling", fds);
    put(fds[1], "first", 5);
    put(fds[1], "second", 6);
    read_cut(fds[0], 7, 11, 0);
    end(fds, "then");

    begin("peeking", fds);
    put(fds[1], "hello world", 11);
    if (kind && strcmp(how, "read") && strcmp(how, "readv"))
        read_cut(fds[0], 3, 8, MSG_PEEK);
    end(fds, "then");

    begin("two pages in one write, a page and more mapped", fds);
    fill(big, 2 * PAGE, 1);
    put(fds[1], big, 2 * PAGE);
    read_cut(fds[0], 5000, 2 * PAGE, 0);
    end(fds, "then");

    begin("a partly read page in front", fds);
    put(fds[1], big, 2 * PAGE);
    if (!dgram) {
        char small[100];
        CHECK(read(fds[0], small, sizeof small));
    }
    read_cut(fds[0], 4000, 2 * PAGE - 100, 0);
    end(fds, "then");

    begin("small writes that share a pipe page, and ones that do not", fds);
    fill(big, 3 * PAGE, 2);
    put(fds[1], big, 1000);
    put(fds[1], big + 1000, 1000);
    read_cut(fds[0], 1500, 2000, 0);
    put(fds[1], big + 2000, 3000);
    read_cut(fds[0], 2500, 5000, 0);
    end(fds, "then");

    if (kind == SOCK_STREAM && !strcmp(how, "read"))
        passed_files();
    if (kind)
        return;
    /* Pages a splice or vmsplice put in a pipe take no later write. */
    begin("a write after a splice, and after a vmsplice", fds);
    int file = memfd_create("ten", 0);
    CHECK(write(file, "0123456789", 10));
    CHECK(lseek(file, 0, SEEK_SET));
    printf("splice %zd\n", splice(file, NULL, fds[1], NULL, 10, 0));
    close(file);
    put(fds[1], "abc", 3);
    read_cut(fds[0], 11, 13, 0);
    drain(fds[0], "then");
    struct iovec v = {"vmsplice", 8};
    printf("vmsplice %zd\n", vmsplice(fds[1], &v, 1, 0));
    put(fds[1], "abc", 3);
    read_cut(fds[0], 9, 11, 0);
    end(fds, "then");
}

/* A write of `want` bytes from a buffer whose first `mapped` bytes are
 * mapped, then what the reader finds. */
static void write_cut(int fds[2], size_t mapped, size_t want, unsigned seed)
{
    char *p = hole - mapped;
    fill(p, mapped, seed);
    long r = transfer(fds[1], p, want, 1, 0);
    char what[64];
    snprintf(what, sizeof what, "%s %zu of %zu mapped", how, mapped, want);
    print_result(what, r);
}

static void writes(void)
{
    int fds[2];

    begin("small, unmapped then straddling", fds);
    write_cut(fds, 0, 5, 3);
    write_cut(fds, 6, 12, 4);
    end(fds, "peer reads");

    begin("no reader, buffer unmapped", fds);
    close(fds[0]);
    fds[0] = dup(fds[1]);
    write_cut(fds, 0, 5, 3);
    close(fds[0]);
    close(fds[1]);

    begin("a buffer at a kernel address, or on a bad fd", fds);
    print_result("at a kernel address", transfer(fds[1], (char *)0xffff800000000000ul, 4, 1, 0));
    print_result("bad fd too", transfer(-1, (char *)0xffff800000000000ul, 4, 1, 0));
    end(fds, "peer reads");

    begin("two pages and more, a page and more mapped", fds);
    write_cut(fds, 5000, 2 * PAGE + 100, 5);
    end(fds, "peer reads");

    begin("after a short write already queued", fds);
    put(fds[1], "queued", 6);
    write_cut(fds, 5000, 2 * PAGE + 100, 6);
    write_cut(fds, 5000, 2 * PAGE + 5000, 7);
    end(fds, "peer reads");

    begin("large, many pages mapped", fds);
    int size = 1 << 20;
    if (kind)
        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    write_cut(fds, 50000, 100000, 8);
    write_cut(fds, 3 * PAGE, 100000, 9);
    end(fds, "peer reads");
}

/* Which error a datagram send from a buffer that runs 2 bytes into the
 * unmapped page meets first: the checks of the sender alone come before
 * the copy (EFAULT), the receiver's after it. */
static void dgram_errors(void)
{
    int sv[2], lone, other;
    long r;
    struct sockaddr_un missing = {AF_UNIX, "/nonexistent/dir/name"}, named = {AF_UNIX};
    socklen_t named_len = sizeof named;

    printf("-- datagram errors around the copy\n");
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    CHECK(shutdown(sv[0], SHUT_WR));
    errno = 0, r = write(sv[0], hole - 3, 5);
    print_result("write after SHUT_WR", r);
    CHECK(shutdown(sv[1], SHUT_RD));
    errno = 0, r = write(sv[1], hole - 3, 5);
    print_result("write to a peer shut for reading", r);
    CHECK(lone = socket(AF_UNIX, SOCK_DGRAM, 0));
    errno = 0, r = sendto(lone, hole - 3, 5, 0, (struct sockaddr *)&missing, sizeof missing);
    print_result("sendto a name nobody has", r);
    errno = 0, r = sendto(lone, hole - 3, 5, 0, (struct sockaddr *)&missing, 1);
    print_result("sendto a short address", r);
    errno = 0, r = write(lone, hole - 3, 5);
    print_result("write unconnected", r);
    errno = 0, r = write(lone, hole - 3, 300000);
    print_result("write unconnected, too big", r);
    errno = 0, r = write(lone, hole - 250000, 250000);
    print_result("write unconnected, too big, all mapped", r);
    CHECK(other = socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK(bind(other, (struct sockaddr *)&named, sizeof(sa_family_t)));    /* autobind */
    CHECK(getsockname(other, (struct sockaddr *)&named, &named_len));
    errno = 0, r = sendto(sv[1], hole - 3, 5, 0, (struct sockaddr *)&named, named_len);
    print_result("sendto another while paired", r);
    close(sv[0]);
    close(sv[1]);
    close(lone);
    close(other);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        printf("usage: bad_buffers pipe|stream|dgram|seqpacket read|recv|recvmsg|readv|write|...\n");
        return 2;
    }
    kind = !strcmp(argv[1], "stream") ? SOCK_STREAM : !strcmp(argv[1], "dgram") ? SOCK_DGRAM :
           !strcmp(argv[1], "seqpacket") ? SOCK_SEQPACKET : 0;
    how = argv[2];
    char *m = mmap(NULL, 65 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    hole = m + 64 * PAGE;
    CHECK(munmap(hole, PAGE));
    if (!strcmp(how, "read") || !strcmp(how, "recv") || !strcmp(how, "recvmsg") || !strcmp(how, "readv"))
        reads();
    else
        writes();
    if (kind == SOCK_DGRAM && !strcmp(how, "write"))
        dgram_errors();
    return 0;
}
