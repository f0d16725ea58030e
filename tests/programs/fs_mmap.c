/* File mappings in an empty scratch directory (argv[1]), one group of
 * checks per run (argv[2]): MAP_PRIVATE copies, MAP_SHARED coherence with
 * read()/write(), msync, mappings across truncate, bad protections. */
#include "fs_common.h"

#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define PAGE 4096

static char buf[4 * PAGE];

#define MAP(prot, flags, f) \
    (m = mmap(NULL, PAGE, prot, flags, f, 0), \
     SAY("%-60s : %s\n", #prot ", " #flags ", " #f, m == MAP_FAILED ? errname(errno) : "ok"))

static int make(const char *name, size_t size)
{
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (size_t i = 0; i < size; i++)
        buf[i % sizeof(buf)] = 'a' + i % 26;
    for (size_t done = 0; done < size; done += sizeof(buf))
        write(fd, buf, size - done < sizeof(buf) ? size - done : sizeof(buf));
    return fd;
}

static void show_bytes(const char *label, const char *p, int n)
{
    SAY("%-44s : ", label);
    for (int i = 0; i < n; i++)
        SAY(p[i] >= 32 && p[i] < 127 ? "%c" : "\\x%02x", (unsigned char)p[i]);
    SAY("\n");
}

static void g_private(void)
{
    int fd = make("f", 2 * PAGE);
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    SAY("mmap private: %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    show_bytes("mapping", m, 8);
    memcpy(m, "PRIVATE", 7);
    show_bytes("mapping after store", m, 8);
    TRY(pread(fd, buf, 8, 0));
    show_bytes("file after store", buf, 8);
    TRY(pwrite(fd, "AGAIN", 5, 0));
    show_bytes("touched private page", m, 8);
    TRY(msync(m, 2 * PAGE, MS_SYNC));
    TRY(munmap(m, 2 * PAGE));
    TRY(pread(fd, buf, 8, 0));
    show_bytes("file after munmap", buf, 8);
    /* A read-only fd maps private read/write. */
    int ro = open("f", O_RDONLY);
    m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    SAY("private rw map of O_RDONLY fd: %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    m[0] = 'Z';
    show_bytes("mapping", m, 4);
    /* Offset mappings, and an offset that is not page aligned. */
    char *o = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, ro, PAGE);
    show_bytes("offset PAGE", o, 7);
    TRY((long)mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, ro, 100));
    TRY(close(ro));
    show_bytes("mapping outlives its fd", m, 4);
}

static void g_shared(void)
{
    int fd = make("f", 3 * PAGE);
    char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    SAY("mmap shared: %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    memcpy(m + 10, "SHARED", 6);
    TRY(pread(fd, buf, 20, 0));
    show_bytes("read() sees the store", buf, 20);
    TRY(msync(m, 3 * PAGE, MS_SYNC));
    TRY(msync(m + 1, PAGE, MS_SYNC));
    TRY(msync(m, PAGE, MS_SYNC | MS_ASYNC));
    TRY(pwrite(fd, "FROMWRITE", 9, PAGE + 5));
    show_bytes("mapping sees write()", m + PAGE, 16);
    /* A second shared mapping of the same file sees both. */
    char *m2 = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    show_bytes("second mapping", m2 + 8, 10);
    memcpy(m + 2 * PAGE, "LAST", 4);
    show_bytes("second mapping, page 3", m2 + 2 * PAGE, 6);
    TRY(munmap(m, 3 * PAGE));
    TRY(close(fd));
    int fd2 = open("f", O_RDONLY);
    TRY(pread(fd2, buf, 6, 2 * PAGE));
    show_bytes("after munmap and close", buf, 6);
    /* Data stored through a mapping of a file that is then unlinked. */
    int u = make("u", PAGE);
    char *mu = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, u, 0);
    TRY(unlink("u"));
    memcpy(mu, "GONE", 4);
    TRY(pread(u, buf, 4, 0));
    show_bytes("unlinked", buf, 4);
    /* Extending the file makes more of a mapping usable. */
    int g = open("grow", O_RDWR | O_CREAT | O_TRUNC, 0644);
    TRY(ftruncate(g, 10));
    char *mg = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);
    memcpy(mg, "0123456789", 10);
    TRY(ftruncate(g, PAGE + 10));
    memcpy(mg + PAGE, "second", 6);
    TRY(pread(g, buf, 30, 0));
    show_bytes("grow page 1", buf, 22);
    TRY(pread(g, buf, 10, PAGE));
    show_bytes("grow page 2", buf, 10);
    struct stat st;
    TRY(fstat(g, &st));
    SAY("grow size = %lld\n", (long long)st.st_size);
    /* Shrinking and growing again zeroes the tail of the page. */
    TRY(ftruncate(g, 4));
    TRY(ftruncate(g, 12));
    show_bytes("grow after shrink+grow", mg, 12);
}

static void g_prot(void)
{
    int fd = make("f", PAGE);
    int ro = open("f", O_RDONLY);
    int wo = open("f", O_WRONLY);
    int ap = open("f", O_RDWR | O_APPEND);
    void *m;
    MAP(PROT_READ, MAP_SHARED, ro);
    MAP(PROT_READ | PROT_WRITE, MAP_SHARED, ro);
    MAP(PROT_READ, MAP_PRIVATE, wo);
    MAP(PROT_WRITE, MAP_SHARED, wo);
    MAP(PROT_READ | PROT_WRITE, MAP_SHARED, ap);
    MAP(PROT_READ, MAP_SHARED, fd);
    TRY(mprotect(m, PAGE, PROT_READ | PROT_WRITE));
    m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
    TRY(mprotect(m, PAGE, PROT_READ | PROT_EXEC));
    m = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, ro, 0);
    TRY(mprotect(m, PAGE, PROT_READ | PROT_WRITE));
    int d = open(".", O_RDONLY);
    MAP(PROT_READ, MAP_PRIVATE, d);
    int p[2];
    pipe(p);
    MAP(PROT_READ, MAP_PRIVATE, p[0]);
    MAP(PROT_READ, MAP_PRIVATE, 99);
    MAP(PROT_READ, MAP_SHARED | MAP_PRIVATE, fd);
    MAP(PROT_READ, 0, fd);
    int e = open("empty", O_RDWR | O_CREAT, 0644);
    MAP(PROT_READ, MAP_SHARED, e);
    m = mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0);
    SAY("zero length: %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    /* Mapped far past EOF is allowed; touching it would be SIGBUS. */
    m = mmap(NULL, 16 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    SAY("map past EOF: %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 1L << 40);
    SAY("map at huge offset: %s\n", m == MAP_FAILED ? errname(errno) : "ok");
}

/* The groups below each hold one check the sandbox is known to get wrong
 * (see the xfail reasons in tests/guest/test_fs_syscalls.py). */
static void g_private_untouched(void)
{
    /* The file changes under a private page not yet written: Linux shares
     * the page-cache page until the first store, so the change shows. */
    int fd = make("f", 2 * PAGE);
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    TRY(pwrite(fd, "WRITTEN", 7, PAGE));
    show_bytes("untouched private page", m + PAGE, 8);
}

static void g_mprotect_shared_ro(void)
{
    make("f", PAGE);
    int ro = open("f", O_RDONLY);
    char *m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
    TRY(mprotect(m, PAGE, PROT_READ | PROT_WRITE));
}

static void g_mmap_opath(void)
{
    void *m;
    make("f", PAGE);
    int pa = open("f", O_PATH);
    MAP(PROT_READ, MAP_PRIVATE, pa);
}

/* read/write between files and every kind of guest memory (the sentry
 * moves host-file bytes straight to and from guest frames): never-written
 * anonymous memory, a buffer running into a hole, a bad iovec, a shared
 * mapping of the same file, copy-on-write pages after fork. */
static void g_io_memory(void)
{
    int fd = make("z", 3 * PAGE);
    char *anon = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TRY(pwrite(fd, anon + 10, 2 * PAGE, 3 * PAGE));    /* zeros, no page touched */
    TRY(pread(fd, buf, 8, 3 * PAGE - 4));
    show_bytes("file after writing untouched memory", buf, 8);
    TRY(mprotect(anon + (1 << 20), PAGE, PROT_NONE));
    memcpy(anon + (1 << 20) - 4, "HOLE", 4);
    TRY(pwrite(fd, anon + (1 << 20) - 4, 16, 0));       /* short: stops at the hole */
    TRY(pwrite(fd, anon + (1 << 20), 4, 0));
    TRY(pread(fd, anon + (1 << 20) - 4, 16, 200));
    show_bytes("read before the hole", anon + (1 << 20) - 4, 4);
    struct iovec iov[2] = {{anon + 64, 4}, {(void *)8, 4}};
    TRY(preadv(fd, iov, 2, 1000));
    show_bytes("preadv with a bad second iovec", anon + 64, 4);
    TRY(pwritev(fd, iov, 2, 2000));
    char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    TRY(pread(fd, m + PAGE - 3, 10, 2 * PAGE));          /* into its own mapping */
    show_bytes("shared mapping after pread", m + PAGE - 3, 10);
    TRY(pwrite(fd, m + 2 * PAGE, 8, 0));                  /* from its own mapping */
    show_bytes("shared mapping after pwrite", m, 12);
    TRY(munmap(m, 3 * PAGE));
    memcpy(anon + (2 << 20), "PARENT", 6);
    pid_t pid = fork();
    if (pid == 0) {
        pread(fd, anon + (2 << 20), 6, 3);
        int out = open("child", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        write(out, anon + (2 << 20), 6);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    show_bytes("parent's copy after the child's read", anon + (2 << 20), 6);
    show_file("what the child read", "child");
    char *priv = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    struct iovec three[3] = {{priv + 1, 3}, {anon + 5, 2}, {"xyz", 3}};
    TRY(pwritev(fd, three, 3, 4000));
    TRY(pread(fd, buf, 8, 4000));
    show_bytes("pwritev of file, zero and data", buf, 8);
    munmap(priv, PAGE);
    munmap(anon, 4 << 20);
    close(fd);
}

static void g_past_eof_syscall(void)
{
    /* A system call reaching a mapped page past the end of the file gets
     * EFAULT (a load or store there would be SIGBUS). The sentry once died
     * of it (gVisor's MMapFileTest.InternalSigBus). */
    int fd = make("f", PAGE);
    char *priv = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *shared = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int p[2], zero = open("/dev/zero", O_RDONLY);
    pipe(p);
    TRY(write(p[1], priv + PAGE, PAGE));
    TRY(read(zero, shared + PAGE, PAGE));
    TRY(read(zero, priv + PAGE, 16));
    TRY(write(p[1], priv, 16));                  /* the page inside the file is fine */
}

static void g_dev_zero(void)
{
    /* /dev/zero maps as anonymous memory; MAP_SHARED is shared with a
     * fork child. /dev/full does not map. */
    int zero = open("/dev/zero", O_RDWR), full = open("/dev/full", O_RDWR);
    char *m;
    MAP(PROT_READ | PROT_WRITE, MAP_PRIVATE, zero);
    m[0] = 'p';
    char *sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, zero, 0);
    SAY("shared mapped: %d zero: %d\n", sh != MAP_FAILED, sh != MAP_FAILED && !sh[5]);
    fflush(stdout);
    if (fork() == 0) {
        sh[0] = 'c';
        _exit(0);
    }
    wait(NULL);
    SAY("child's store seen: %c private kept: %c\n", sh[0], m[0]);
    MAP(PROT_READ, MAP_PRIVATE, full);
}

/* A host file's pages stay cached after its last mapping goes (the
 * sentry keeps them for the next mmap or exec): every later mapping must
 * still see what write() and truncate() did meanwhile, and an exec of a
 * program rewritten in place must run the new bytes. */
static const char MARK[] = "kept-cache-marker-0";

static void run_copy(const char *label)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"./prog", "--print-mark", NULL}, *envp[] = {NULL};
        execve("./prog", argv, envp);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    SAY("%-44s : status %#x\n", label, st);
}

static void g_kept_cache(void)
{
    int fd = make("k", 3 * PAGE);
    char *m = mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    show_bytes("first mapping", m + PAGE, 8);
    TRY(munmap(m, 3 * PAGE));
    TRY(pwrite(fd, "CHANGED", 7, PAGE + 2));
    m = mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    show_bytes("after write, mapped again", m + PAGE, 12);
    TRY(munmap(m, 3 * PAGE));
    TRY(ftruncate(fd, PAGE + 5));
    TRY(ftruncate(fd, 3 * PAGE));
    TRY(pwrite(fd, "GROWN", 5, 2 * PAGE));
    m = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    show_bytes("after truncate and growth", m + PAGE, 12);
    show_bytes("page 2", m + 2 * PAGE, 8);
    TRY(munmap(m, 3 * PAGE));
    close(fd);

    /* This program, copied with its mark changed, run, changed again in
     * place (same size, same inode) and run again. */
    int self = open("/proc/self/exe", O_RDONLY), out = open("prog", O_RDWR | O_CREAT, 0755);
    static char chunk[1 << 16];
    long n, at = 0, mark = -1;
    while ((n = read(self, chunk, sizeof(chunk))) > 0) {
        for (long i = 0; i + (long)sizeof(MARK) <= n && mark < 0; i++)
            if (!memcmp(chunk + i, MARK, sizeof(MARK)))
                mark = at + i;
        write(out, chunk, n);
        at += n;
    }
    SAY("mark found: %d\n", mark >= 0);
    TRY(pwrite(out, "1", 1, mark + sizeof(MARK) - 2));
    close(out);                                   /* (or exec is ETXTBSY) */
    run_copy("first copy");
    out = open("prog", O_WRONLY);
    TRY(pwrite(out, "2", 1, mark + sizeof(MARK) - 2));
    close(out);
    run_copy("rewritten in place");
    close(self);
    unlink("prog");
    unlink("k");
}

/* What apache2 does for each file it sends: map it shared read-only,
 * hand the mapping to a write, unmap. The sentry reads such pages without
 * giving them to the program; they must still be the file's bytes, follow
 * write(), and be there when the program (or a fork child) touches them. */
static void g_send_from_shared_ro(void)
{
    int fd = make("s", 2 * PAGE), out = open("out", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char *m;
    for (int round = 0; round < 3; round++) {
        int f = open("s", O_RDONLY);
        m = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, f, 0);
        struct iovec v[2] = {{m + PAGE - 4, 8}, {m + 2 * PAGE - 4, 4}};
        TRY(pwritev(out, v, 2, 0));
        TRY(pread(out, buf, 12, 0));
        show_bytes("sent from the mapping", buf, 12);
        TRY(munmap(m, 2 * PAGE));
        close(f);
    }
    m = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    TRY(pwrite(out, m + 10, 6, 0));                     /* the sentry takes page 0 */
    TRY(pwrite(fd, "NEWER", 5, 8));                      /* write(2) after that */
    show_bytes("touched after write(2)", m + 6, 10);    /* the program's first touch */
    TRY(pwrite(out, m + PAGE, 4, 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        show_bytes("fork child touches page 1", m + PAGE, 4);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    TRY(mprotect(m, 2 * PAGE, PROT_NONE));
    TRY(mprotect(m, 2 * PAGE, PROT_READ));
    show_bytes("after mprotect", m + PAGE, 4);
    TRY(munmap(m, 2 * PAGE));

    /* A shared writable mapping too large to be filled when made: a read
     * into a page of it, then the program's store there and write(2). */
    int big = make("big", 4 << 20);
    char *w = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, big, 0);
    TRY(pread(fd, w + (3 << 20) + 100, 5, 8));
    memcpy(w + (3 << 20) + 103, "!!", 2);
    show_bytes("store after the sentry's read", w + (3 << 20) + 98, 9);
    TRY(pwrite(out, w + (3 << 20) + 16 * PAGE, 4, 0));
    w[(3 << 20) + 16 * PAGE] = '#';
    TRY(msync(w, 4 << 20, MS_SYNC));
    TRY(pread(big, buf, 9, (3 << 20) + 98));
    show_bytes("the file after msync", buf, 9);
    TRY(pread(big, buf, 2, (3 << 20) + 16 * PAGE));
    show_bytes("the other page", buf, 2);
    TRY(munmap(w, 4 << 20));
    close(big);
    close(out);
    close(fd);
}

static const struct group GROUPS[] = {
    {"private", g_private},
    {"shared", g_shared},
    {"prot", g_prot},
    {"private_untouched", g_private_untouched},
    {"mprotect_shared_ro", g_mprotect_shared_ro},
    {"mmap_opath", g_mmap_opath},
    {"io_memory", g_io_memory},
    {"past_eof_syscall", g_past_eof_syscall},
    {"dev_zero", g_dev_zero},
    {"kept_cache", g_kept_cache},
    {"send_from_shared_ro", g_send_from_shared_ro},
    {0},
};

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--print-mark")) {
        printf("%-44s : %s\n", "the copy's mark", MARK);
        return 0;
    }
    return run_groups(argc, argv, GROUPS);
}
