/* read/write-family calls between files and guest buffers of every shape,
 * in an empty scratch directory (argv[1]), one group of checks per run
 * (argv[2]): odd sizes and offsets, buffers across mapping boundaries,
 * destinations never touched or shared copy-on-write after fork, short
 * reads at EOF, EFAULT part-way through a buffer, reads over 1 MiB, the
 * same buffer read into again after its frames changed. Each check prints
 * the call's result and a checksum of the bytes it moved; the sandbox's
 * host-backed files (a --volume, and /proc/self/exe through the overlay)
 * move them with preadv/pwritev straight into the guest's frames. */
#include "fs_common.h"

#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define P 4096L

static unsigned long sum(const void *p, long n)
{
    const unsigned char *b = p;
    unsigned long h = 1469598103934665603ul;
    for (long i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ul;
    return h;
}

static unsigned char byte_at(long i)
{
    return (unsigned char)(i * 7 + i / 251);
}

static void fill(unsigned char *p, long n, long from)
{
    for (long i = 0; i < n; i++)
        p[i] = byte_at(from + i);
}

static void *map(long pages, int prot)
{
    void *p = mmap(NULL, pages * P, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

/* "label = result sum=..." of the n bytes at p (n = the result, if positive). */
static void moved(const char *label, long r, const void *p)
{
    if (r < 0)
        printf("%-44s = %ld %s\n", label, r, errname(errno));
    else
        printf("%-44s = %ld sum=%lx\n", label, r, sum(p, r));
}

#define MOVED(call, p) (errno = 0, moved(#call, (long)(call), (p)))

/* A file "name" of size bytes of byte_at(), written in odd pieces. */
static int make_file(const char *name, long size)
{
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    unsigned char *src = map(size / P + 2, PROT_READ | PROT_WRITE);
    fill(src + 3, size, 0);
    for (long done = 0, step = 777; done < size; done += step, step = step * 3 + 1) {
        if (step > size - done)
            step = size - done;
        if (pwrite(fd, src + 3 + done, step, done) != step) {
            perror("pwrite");
            exit(1);
        }
    }
    munmap(src, (size / P + 2) * P);
    return fd;
}

static void g_odd(void)
{
    static const long sizes[] = {1, 7, 4095, 4096, 4097, 65537, 131071, 262144};
    int fd = make_file("f", 300001);
    unsigned char *buf = map(80, PROT_READ | PROT_WRITE);
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *at = buf + (i * 1237) % P;
        MOVED(read(fd, at, sizes[i]), at);
        MOVED(pread(fd, at, sizes[i], 4093 * i + 1), at);
    }
    TRY(lseek(fd, 0, SEEK_CUR));
    /* Overwrite odd ranges from odd addresses, then read the file whole. */
    fill(buf + 5, 70000, 99);
    MOVED(pwrite(fd, buf + 5, 70000, 12345), buf + 5);
    TRY(lseek(fd, 3, SEEK_SET));
    MOVED(write(fd, buf + 4099, 8191), buf + 4099);
    MOVED(pread(fd, buf + 1, 300001, 0), buf + 1);
}

/* One buffer over three mappings: anonymous, a private writable file
 * mapping, a shared file mapping (the file then sees the bytes). */
static void g_boundaries(void)
{
    int fd = make_file("f", 200000);
    int m1 = make_file("m1", 3 * P);
    int m2 = make_file("m2", 3 * P);
    unsigned char *r = map(9, PROT_READ | PROT_WRITE);
    if (mmap(r + 3 * P, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, m1, 0) == MAP_FAILED ||
        mmap(r + 6 * P, 3 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, m2, 0) == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    r[1] = 1;                           /* some pages touched, some not */
    MOVED(pread(fd, r + 100, 9 * P - 200, 5), r + 100);
    MOVED(read(fd, r + 3 * P - 10, 20), r + 3 * P - 10);
    unsigned char back[3 * P];
    MOVED(pread(m2, back, 3 * P, 0), back);
    MOVED(pread(m1, back, 3 * P, 0), back);     /* private: the file kept its bytes */
    /* And the other way: write the whole span out, read it back. */
    MOVED(pwrite(fd, r + 7, 9 * P - 14, 1000), r + 7);
    unsigned char *check = map(10, PROT_READ | PROT_WRITE);
    MOVED(pread(fd, check, 9 * P - 14, 1000), check);
}

/* Linux stops a transfer at the first inaccessible byte and returns what
 * it moved; EFAULT only when nothing moved. */
static void g_efault(void)
{
    int fd = make_file("f", 100000);
    unsigned char *r = map(6, PROT_READ | PROT_WRITE);
    mprotect(r + 2 * P, P, PROT_READ);
    munmap(r + 4 * P, P);
    MOVED(read(fd, r + 100, 3 * P), r + 100);           /* stops at the read-only page */
    TRY(lseek(fd, 0, SEEK_CUR));
    MOVED(read(fd, r + 2 * P + 5, 10), r);             /* nothing: EFAULT */
    TRY(lseek(fd, 0, SEEK_CUR));
    MOVED(pread(fd, r + 3 * P + 1, 2 * P, 7), r + 3 * P + 1);   /* stops at the hole */
    MOVED(pread(fd, r + 4 * P, 10, 0), r);
    struct iovec v[3] = {{r + 10, 50}, {r + 2 * P, 10}, {r + 20, 5}};
    MOVED(readv(fd, v, 3), r + 10);
    v[1].iov_base = r + 4 * P;
    MOVED(preadv(fd, v, 3, 3), r + 10);
    /* Writes from a buffer whose tail is unmapped: the accessible bytes,
     * ending on a page of the file. */
    fill(r + 3 * P, P, 5);
    MOVED(pwrite(fd, r + 3 * P, 2 * P, 4 * P), r + 3 * P);
    MOVED(pwrite(fd, r + 4 * P, 10, 0), r);
    v[0] = (struct iovec){r + 3 * P, P};
    v[1] = (struct iovec){r + 4 * P + 8, 8};
    MOVED(pwritev(fd, v, 2, 8 * P), r + 3 * P);
    MOVED(pread(fd, r + 3 * P, P, 8 * P), r + 3 * P);
    TRY(lseek(fd, 0, SEEK_END));
}

/* Destinations shared copy-on-write after fork: a read breaks the share
 * in the reader only. */
static void g_cow(void)
{
    int fd = make_file("f", 300000);
    unsigned char *r = map(40, PROT_READ | PROT_WRITE);
    fill(r, 16 * P, 1000);                  /* 16 pages touched, 24 not */
    int go[2];
    if (pipe(go))
        exit(1);
    pid_t reader = fork();
    if (reader == 0) {
        MOVED(pread(fd, r + 3, 30 * P, 11), r + 3);
        SAY("child sees %lx\n", sum(r, 40 * P));
        exit(0);
    }
    waitpid(reader, NULL, 0);
    SAY("parent after the child's read %lx\n", sum(r, 40 * P));
    pid_t keeper = fork();
    if (keeper == 0) {
        char c;
        read(go[0], &c, 1);
        SAY("child after the parent's read %lx\n", sum(r, 40 * P));
        exit(0);
    }
    MOVED(pread(fd, r + 4 * P - 1, 20 * P, 0), r + 4 * P - 1);
    if (write(go[1], "x", 1) != 1)
        exit(1);
    waitpid(keeper, NULL, 0);
    SAY("parent %lx\n", sum(r, 40 * P));
}

static void g_eof(void)
{
    int fd = make_file("f", 10000);
    unsigned char *r = map(4, PROT_READ | PROT_WRITE);
    MOVED(pread(fd, r, 5000, 8000), r);
    MOVED(pread(fd, r, 5000, 10000), r);
    MOVED(pread(fd, r, 5000, 20000), r);
    for (int i = 0; i < 4; i++)
        MOVED(read(fd, r + 1, P), r + 1);
    struct iovec v[3] = {{r, 3000}, {r + 8000, 0}, {r + 5000, 4000}};
    MOVED(preadv(fd, v, 3, 5000), r);
    MOVED(preadv(fd, v, 3, 7000), r + 5000);
    TRY(lseek(fd, 9990, SEEK_SET));
    MOVED(readv(fd, v, 3), r);
    MOVED(readv(fd, v, 3), r);
}

/* Transfers over 1 MiB, and one buffer read into again and again while
 * its frames change under it: new frames, read-only, shared after fork. */
static void g_big(void)
{
    long size = (3L << 20) + 123;
    int fd = make_file("f", size);
    long pages = (size + P - 1) / P + 1;
    unsigned char *r = map(pages, PROT_READ | PROT_WRITE);
    MOVED(read(fd, r + 9, size + 4096), r + 9);    /* never touched before */
    unsigned char *b = malloc(1 << 20);
    for (int i = 0; i < 4; i++)
        MOVED(pread(fd, b, 1 << 20, (long)i * 1000003), b);
    long len = 300 * P;
    unsigned char *m = map(300, PROT_READ | PROT_WRITE);
    MOVED(pread(fd, m + 1, len - 2, 17), m + 1);
    munmap(m, len);
    if (mmap(m, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != m)
        exit(1);
    MOVED(pwrite(fd, m + 1, len - 2, size), m + 1);   /* new, untouched: zeros */
    MOVED(pread(fd, m + 1, len - 2, 5), m + 1);
    mprotect(m, len, PROT_READ);
    MOVED(pread(fd, m + 1, len - 2, 5), m + 1);
    mprotect(m, len, PROT_READ | PROT_WRITE);
    MOVED(pread(fd, m + 1, len - 2, 6), m + 1);
    pid_t pid = fork();
    if (pid == 0) {
        SAY("child %lx\n", sum(m, len));
        MOVED(pread(fd, m + 1, len - 2, 8), m + 1);
        exit(0);
    }
    waitpid(pid, NULL, 0);
    SAY("parent %lx\n", sum(m, len));
    MOVED(pread(fd, m + 1, len - 2, 7), m + 1);
    MOVED(write(fd, m, len), m);
    TRY(lseek(fd, 0, SEEK_END));
}

/* Vectors of odd pieces, empty ones among them, one in shared memory. */
static void g_vectors(void)
{
    int fd = make_file("f", 100000);
    unsigned char *r = map(8, PROT_READ | PROT_WRITE);
    unsigned char *s = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct iovec v[6] = {{r + 1, 0}, {r + 3, 1}, {r + 10, 4095}, {s + 7, 5000},
                         {r + 3 * P - 1, 8193}, {r + 7 * P, 3}};
    MOVED(readv(fd, v, 6), r);
    MOVED(preadv(fd, v, 6, 333), s + 7);
    SAY("pieces %lx %lx\n", sum(r, 8 * P), sum(s, 2 * P));
    MOVED(pwritev(fd, v, 6, 50000), s + 7);
    MOVED(writev(fd, v, 6), r);
    MOVED(pread(fd, r, 8 * P, 49999), r);
    TRY(lseek(fd, 0, SEEK_CUR));
}

/* A host file through the sandbox's overlay (its lower layer): this
 * program's own binary. */
static void g_host_file(void)
{
    int fd = open("/proc/self/exe", O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    long pages = st.st_size / P + 2 < 32 ? 32 : st.st_size / P + 2;
    unsigned char *r = map(pages, PROT_READ | PROT_WRITE);
    MOVED(pread(fd, r + 3, st.st_size + 100, 0), r + 3);
    MOVED(pread(fd, r + P - 1, 12345, 4093), r + P - 1);
    for (long n; (n = read(fd, r + 11, 65537)) > 0;)
        moved("read(fd, r + 11, 65537)", n, r + 11);
    mprotect(r + 2 * P, P, PROT_NONE);
    MOVED(pread(fd, r + 5, 4 * P, 1), r + 5);
}

/* One file through several open files and mappings: a read-only fd
 * read before and after writes through a read-write one (on a volume the
 * sentry makes its host fd for reads first, then one for writes), a
 * pwrite of several pages on an O_APPEND fd (Linux appends), and reads
 * after stores through a shared mapping that is unmapped and made again. */
static void g_fds_and_maps(void)
{
    close(make_file("f", 5 * P + 99));
    int r = open("f", O_RDONLY);
    unsigned char *b = map(8, PROT_READ | PROT_WRITE);
    MOVED(read(r, b + 1, 3 * P), b + 1);
    int rw = open("f", O_RDWR);
    fill(b, 8 * P, 5000);
    MOVED(pwrite(rw, b + 7, 2 * P + 1, P - 3), b + 7);
    MOVED(pread(r, b, 4 * P, 0), b);
    MOVED(read(r, b + 2, 3 * P), b + 2);       /* on from where read(2) stopped */
    int ap = open("f", O_WRONLY | O_APPEND);
    fill(b, 8 * P, 7000);
    MOVED(pwrite(ap, b + 11, 3 * P, 0), b + 11);
    TRY(lseek(r, 0, SEEK_END));
    MOVED(pread(r, b, 3 * P + 200, 5 * P), b);
    for (int round = 0; round < 2; round++) {
        unsigned char *m = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
        if (m == MAP_FAILED) {
            perror("mmap");
            exit(1);
        }
        memset(m + P - 2 + round, 'A' + round, 5);
        MOVED(pread(r, b, 2 * P, 0), b);
        munmap(m, 2 * P);
        MOVED(pread(r, b + 1, 2 * P, 1), b + 1);
    }
}

static const struct group GROUPS[] = {
    {"odd", g_odd},
    {"boundaries", g_boundaries},
    {"efault", g_efault},
    {"cow", g_cow},
    {"eof", g_eof},
    {"big", g_big},
    {"vectors", g_vectors},
    {"host_file", g_host_file},
    {"fds_and_maps", g_fds_and_maps},
    {0},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    return run_groups(argc, argv, GROUPS);
}
