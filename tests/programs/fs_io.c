/* File I/O in an empty scratch directory (argv[1]), one group of checks
 * per run (argv[2]): offsets and holes, O_APPEND and O_TRUNC, unlinked
 * open files, truncate, fallocate, sendfile, copy_file_range, pipes,
 * fcntl, dup2/dup3 and close_range. */
#include "fs_common.h"

#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC 4
#endif

static char buf[1 << 17];

static void show_size(const char *name)
{
    struct stat st;
    if (stat(name, &st))
        SAY("size of %-36s : %s\n", name, errname(errno));
    else
        SAY("size of %-36s : %lld\n", name, (long long)st.st_size);
}

static void show_fd_offset(const char *label, int fd)
{
    SAY("%-44s @ %lld\n", label, (long long)lseek(fd, 0, SEEK_CUR));
}

static void g_dup(void)
{
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    TRY(dup2(fd, fd));
    TRY(dup2(99, 99));
    TRY(dup2(-1, 5));
    TRY(dup2(fd, -1));
    TRY(dup3(fd, fd, 0));
    TRY(dup3(fd, 7, 12345));
    TRY(dup3(fd, 7, O_CLOEXEC));
    TRY(fcntl(7, F_GETFD));
    TRY(dup2(fd, 7));
    TRY(fcntl(7, F_GETFD));
    /* Duplicates share the offset and the status flags. */
    TRY(write(fd, "hello", 5));
    show_fd_offset("offset of the dup", 7);
    TRY(fcntl(7, F_SETFL, O_APPEND));
    TRY(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND));
    TRY(dup2(fd, 1023));
    TRY(dup2(fd, 1024 * 1024 * 1024));
    TRY(dup(1023));
    TRY(close(1023));
    TRY(close(1023));
}

static void g_seek(void)
{
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    TRY(write(fd, "head", 4));
    TRY(lseek(fd, 0, SEEK_END));
    TRY(lseek(fd, 1 << 20, SEEK_SET));
    TRY(write(fd, "tail", 4));
    show_size("f");
    TRY(lseek(fd, -4, SEEK_END));
    TRY(lseek(fd, -1, SEEK_SET));
    TRY(lseek(fd, 0, 42));
    TRY(lseek(fd, 100, SEEK_CUR));
    TRY(lseek(fd, -200, SEEK_CUR));
    TRY(lseek(fd, 1LL << 40, SEEK_SET));
    TRY(lseek(fd, 10, SEEK_SET));
    TRY(pread(fd, buf, 8, 0));
    int zeros = 1, n = 0;
    for (off_t off = 4; off < (1 << 20); off += n) {
        n = pread(fd, buf, sizeof(buf), off);
        if (n <= 0) {
            zeros = 0;
            break;
        }
        for (int i = 0; i < n && off + i < (1 << 20); i++)
            zeros &= buf[i] == 0;
    }
    SAY("hole reads back as zeros: %d\n", zeros);
    TRY(pread(fd, buf, 16, (1 << 20) - 2));
    SAY("around the end of the hole: %02x %02x %.4s\n", buf[0], buf[1], buf + 2);
    TRY(pread(fd, buf, 16, 1 << 21));
    TRY(pread(fd, buf, 16, -1));
    TRY(pwrite(fd, "x", 1, -1));
    TRY(lseek(fd, 10, SEEK_SET));
    TRY(read(fd, buf, 0));
    show_fd_offset("offset after read of 0", fd);
    /* Seeking a directory is allowed; a pipe is not. */
    int d = open(".", O_RDONLY | O_DIRECTORY);
    TRY(lseek(d, 0, SEEK_SET));
    int p[2];
    TRY(pipe(p));
    TRY(lseek(p[0], 0, SEEK_SET));
    TRY(pread(p[0], buf, 1, 0));
}

static void g_append(void)
{
    int fd = open("f", O_WRONLY | O_CREAT | O_APPEND, 0644);
    TRY(write(fd, "abc", 3));
    TRY(lseek(fd, 0, SEEK_SET));
    TRY(write(fd, "def", 3));
    show_fd_offset("offset after append", fd);
    TRY(write(fd, "ghi", 3));
    show_file("f", "f");
    int fd2 = open("f", O_RDWR);
    TRY(write(fd2, "XY", 2));
    TRY(write(fd, "jk", 2));
    show_file("f with two writers", "f");
    TRY(fcntl(fd, F_SETFL, 0));
    TRY(lseek(fd, 0, SEEK_SET));
    TRY(write(fd, "Z", 1));
    show_file("f after O_APPEND cleared", "f");
    TRY(fcntl(fd2, F_SETFL, O_APPEND));
    TRY(write(fd2, "!", 1));
    show_file("f after O_APPEND set", "f");
}

static void g_trunc(void)
{
    put_file("f", "0123456789", 0644);
    TRY(close(open("f", O_WRONLY | O_TRUNC)));
    show_size("f");
    put_file("f", "0123456789", 0644);
    TRY(close(open("f", O_RDONLY)));
    show_size("f");
    TRY(close(open("f", O_RDONLY | O_TRUNC)));
    show_size("f");
    put_file("f", "0123456789", 0644);
    int fd = open("f", O_RDWR);
    TRY(ftruncate(fd, 4));
    show_size("f");
    show_fd_offset("offset unchanged by ftruncate", fd);
    TRY(ftruncate(fd, 8));
    TRY(pread(fd, buf, 20, 0));
    SAY("grown: %.4s %02x%02x%02x%02x\n", buf, buf[4], buf[5], buf[6], buf[7]);
    TRY(truncate("f", 2));
    show_file("f", "f");
    TRY(truncate("f", -1));
    TRY(ftruncate(fd, -1));
    TRY(truncate(".", 0));
    TRY(truncate("nonexistent", 0));
    TRY(truncate("f/", 0));
    int p[2];
    pipe(p);
    TRY(ftruncate(p[1], 0));
    TRY(ftruncate(99, 0));
    /* Shrinking under an open fd: reads at the old offset see EOF. */
    put_file("g", "abcdefgh", 0644);
    int g = open("g", O_RDWR);
    TRY(lseek(g, 6, SEEK_SET));
    TRY(truncate("g", 3));
    TRY(read(g, buf, 10));
    TRY(write(g, "Z", 1));
    TRY(pread(g, buf, 10, 0));
    SAY("g: %02x %02x %02x %02x %02x %02x %02x\n", buf[0], buf[1], buf[2], buf[3],
        buf[4], buf[5], buf[6]);
    /* O_CREAT|O_TRUNC on an existing file keeps its mode. */
    put_file("m", "data", 0600);
    TRY(close(open("m", O_WRONLY | O_CREAT | O_TRUNC, 0777)));
    show_stat("m", 0);
}

static void g_unlinked(void)
{
    put_file("f", "still here\n", 0644);
    int fd = open("f", O_RDWR);
    TRY(unlink("f"));
    struct stat st;
    TRY(fstat(fd, &st));
    SAY("nlink=%lu size=%lld\n", (unsigned long)st.st_nlink, (long long)st.st_size);
    TRY(read(fd, buf, sizeof(buf)));
    SAY("read: %.11s", buf);
    TRY(write(fd, "more\n", 5));
    TRY(pread(fd, buf, sizeof(buf), 0));
    TRY(access("f", F_OK));
    TRY(ftruncate(fd, 3));
    TRY(fstat(fd, &st));
    SAY("size after ftruncate=%lld\n", (long long)st.st_size);
    TRY(fchmod(fd, 0600));
    TRY(fstat(fd, &st));
    SAY("mode=%04o\n", st.st_mode & 07777);
    /* A new file of the same name is a different file. */
    put_file("f", "new", 0644);
    TRY(pread(fd, buf, sizeof(buf), 0));
    show_file("f", "f");
    /* Renaming over an open file. */
    put_file("a", "AAAA", 0644);
    put_file("b", "BB", 0644);
    int b = open("b", O_RDONLY);
    TRY(rename("a", "b"));
    TRY(pread(b, buf, sizeof(buf), 0));
    SAY("old b through its fd: %.2s\n", buf);
    show_file("b", "b");
    /* Unlinking a directory that is someone's cwd. */
    mkdir("d", 0755);
    int here = open(".", O_RDONLY);
    TRY(chdir("d"));
    TRY(rmdir("../d"));
    TRY(open("new", O_CREAT | O_WRONLY, 0644));
    TRY(mkdir("sub", 0755));
    TRY(fchdir(here));
    show_stat("d", 0);
}

static void g_fallocate(void)
{
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    TRY(fallocate(fd, 0, 0, 10000));
    show_size("f");
    TRY(fallocate(fd, 1 /* KEEP_SIZE */, 0, 50000));
    show_size("f");
    TRY(fallocate(fd, 0, 20000, 100));
    show_size("f");
    TRY(fallocate(fd, 0, 0, 0));
    TRY(fallocate(fd, 0, -1, 10));
    TRY(fallocate(fd, 0, 0, -10));
    TRY(fallocate(fd, 0x80, 0, 10));
    TRY(pread(fd, buf, 16, 19990));
    int nonzero = 0;
    for (int i = 0; i < 16; i++)
        nonzero |= buf[i];
    SAY("allocated bytes are zero: %d\n", !nonzero);
    int ro = open("f", O_RDONLY);
    TRY(fallocate(ro, 0, 0, 100));
    int d = open(".", O_RDONLY);
    TRY(fallocate(d, 0, 0, 100));
    int p[2];
    pipe(p);
    TRY(fallocate(p[1], 0, 0, 100));
    TRY(posix_fallocate(fd, 30000, 10));
    show_size("f");
}

static void g_sendfile(void)
{
    put_file("src", "0123456789abcdefghij", 0644);
    int in = open("src", O_RDONLY);
    int out = open("dst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    TRY(sendfile(out, in, NULL, 5));
    show_fd_offset("in offset", in);
    off_t off = 10;
    TRY(sendfile(out, in, &off, 100));
    SAY("off after sendfile = %lld\n", (long long)off);
    show_fd_offset("in offset unchanged", in);
    show_file("dst", "dst");
    TRY(sendfile(out, in, NULL, 0));
    off = 100;
    TRY(sendfile(out, in, &off, 10));
    off = -1;
    TRY(sendfile(out, in, &off, 10));
    TRY(sendfile(in, in, NULL, 10));
    TRY(sendfile(out, out, NULL, 10));
    TRY(sendfile(99, in, NULL, 10));
    /* Into a pipe and out of a pipe. */
    int p[2];
    pipe(p);
    off = 0;
    TRY(sendfile(p[1], in, &off, 7));
    TRY(read(p[0], buf, sizeof(buf)));
    SAY("through the pipe: %.7s\n", buf);
    int app = open("dst", O_WRONLY | O_APPEND);
    off = 0;
    TRY(sendfile(app, in, &off, 3));
    show_file("dst after append", "dst");
}

static void g_copy_file_range(void)
{
    put_file("src", "0123456789abcdefghij", 0644);
    int in = open("src", O_RDONLY);
    int out = open("dst", O_RDWR | O_CREAT | O_TRUNC, 0644);
    TRY(syscall(SYS_copy_file_range, in, NULL, out, NULL, 4, 0));
    show_fd_offset("in", in);
    show_fd_offset("out", out);
    loff_t oi = 10, oo = 20;
    TRY(syscall(SYS_copy_file_range, in, &oi, out, &oo, 5, 0));
    SAY("offsets %lld %lld\n", (long long)oi, (long long)oo);
    show_fd_offset("in unchanged", in);
    TRY(pread(out, buf, 32, 0));
    SAY("dst: %.4s %02x %.5s\n", buf, buf[4], buf + 20);
    oi = 18;
    TRY(syscall(SYS_copy_file_range, in, &oi, out, NULL, 100, 0));
    oi = 100;
    TRY(syscall(SYS_copy_file_range, in, &oi, out, NULL, 10, 0));
    TRY(syscall(SYS_copy_file_range, in, NULL, out, NULL, 10, 1));
    /* Ranges of one file that do not overlap. */
    oi = 0, oo = 10;
    TRY(syscall(SYS_copy_file_range, out, &oi, out, &oo, 4, 0));
    show_file("dst", "dst");
    int wo = open("dst", O_WRONLY);
    TRY(syscall(SYS_copy_file_range, wo, NULL, out, NULL, 4, 0));
    TRY(syscall(SYS_copy_file_range, in, NULL, in, NULL, 4, 0));
    int d = open(".", O_RDONLY);
    TRY(syscall(SYS_copy_file_range, d, NULL, out, NULL, 4, 0));
    TRY(syscall(SYS_copy_file_range, in, NULL, 99, NULL, 4, 0));
    int app = open("dst", O_WRONLY | O_APPEND);
    TRY(syscall(SYS_copy_file_range, in, NULL, app, NULL, 4, 0));
    TRY(syscall(SYS_copy_file_range, in, NULL, out, NULL, 0, 0));
}

static void g_pipe(void)
{
    int p[2];
    TRY(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    TRY(fcntl(p[0], F_GETFD));
    TRY(fcntl(p[0], F_GETFL));
    TRY(fcntl(p[1], F_GETFL));
    TRY(pipe2(p, 0x1234));
    TRY(pipe2(p, O_NONBLOCK));
    TRY(fcntl(p[0], F_GETPIPE_SZ));
    long total = 0, r;
    memset(buf, 'p', sizeof(buf));
    while ((r = write(p[1], buf, 4096)) > 0)
        total += r;
    SAY("filled with %ld bytes, then %s\n", total, errname(errno));
    TRY(write(p[1], buf, 1));
    TRY(read(p[0], buf, sizeof(buf)));
    TRY(read(p[0], buf, sizeof(buf)));
    /* Up to PIPE_BUF bytes go in whole; more may be split. */
    TRY(write(p[1], buf, PIPE_BUF + 1));
    TRY(read(p[0], buf, sizeof(buf)));
    TRY(write(p[1], buf, 70000));
    TRY(read(p[0], buf, sizeof(buf)));
    TRY(read(p[0], buf, sizeof(buf)));
    TRY(write(p[0], buf, 1));
    TRY(read(p[1], buf, 1));
    TRY(close(p[0]));
    signal(SIGPIPE, SIG_IGN);
    TRY(write(p[1], buf, 1));
    struct stat st;
    TRY(fstat(p[1], &st));
    SAY("pipe is a fifo: %d, mode %04o\n", S_ISFIFO(st.st_mode), st.st_mode & 0777);
    int q[2];
    TRY(pipe(q));
    TRY(fcntl(q[0], F_GETFL));
    TRY(write(q[1], "x", 1));
    TRY(close(q[1]));
    TRY(read(q[0], buf, 10));
    TRY(read(q[0], buf, 10));
    /* A FIFO in the file system. */
    TRY(mkfifo("fifo", 0640));
    show_stat("fifo", 0);
    TRY(mkfifo("fifo", 0640));
}

static void g_fcntl(void)
{
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    TRY(fcntl(fd, F_GETFL) & ~0100000);
    TRY(fcntl(fd, F_GETFD));
    TRY(fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND | O_RDONLY | O_CREAT | O_TRUNC));
    TRY(fcntl(fd, F_GETFL) & ~0100000);
    TRY(fcntl(fd, F_SETFL, 0));
    TRY(fcntl(fd, F_GETFL) & ~0100000);
    TRY(fcntl(fd, F_SETFD, FD_CLOEXEC));
    TRY(fcntl(fd, F_GETFD));
    TRY(fcntl(fd, F_SETFD, 0));
    TRY(fcntl(fd, F_GETFD));
    TRY(fcntl(fd, F_DUPFD_CLOEXEC, 10));
    TRY(fcntl(10, F_GETFD));
    TRY(fcntl(fd, F_DUPFD, 10));
    TRY(fcntl(11, F_GETFD));
    TRY(fcntl(fd, F_DUPFD, 0));
    TRY(fcntl(fd, F_DUPFD, -1));
    TRY(fcntl(fd, F_DUPFD, 1 << 30));
    TRY(fcntl(99, F_GETFD));
    TRY(fcntl(fd, 12345));
    int ro = open("f", O_RDONLY);
    TRY(fcntl(ro, F_GETFL) & ~0100000);
    int wo = open("f", O_WRONLY | O_SYNC);
    TRY(fcntl(wo, F_GETFL) & ~0100000);
    int d = open(".", O_RDONLY | O_DIRECTORY);
    TRY(fcntl(d, F_GETFL) & ~0100000);
    int pa = open("f", O_PATH);
    TRY(fcntl(pa, F_GETFL));
    TRY(read(pa, buf, 1));
    TRY(fcntl(pa, F_DUPFD, 20));
    struct stat st;
    TRY(fstat(pa, &st));
}

static void g_close_range(void)
{
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    for (int i = 10; i <= 15; i++)
        dup2(fd, i);
    TRY(syscall(SYS_close_range, 11, 13, 0));
    for (int i = 10; i <= 15; i++)
        SAY("fd %d: %s\n", i, fcntl(i, F_GETFD) < 0 ? errname(errno) : "open");
    TRY(syscall(SYS_close_range, 14, ~0U, CLOSE_RANGE_CLOEXEC));
    for (int i = 10; i <= 15; i++) {
        int r = fcntl(i, F_GETFD);
        SAY("fd %d: %s %d\n", i, r < 0 ? errname(errno) : "open", r);
    }
    TRY(syscall(SYS_close_range, 5, 3, 0));
    TRY(syscall(SYS_close_range, 3, 5, 0x40));
    TRY(syscall(SYS_close_range, 100, 200, 0));
    TRY(syscall(SYS_close_range, 14, ~0U, 0));
    TRY(fcntl(14, F_GETFD));
    TRY(fcntl(10, F_GETFD));
    TRY(syscall(SYS_close_range, 3, ~0U, 0));
    TRY(fcntl(fd, F_GETFD));
    TRY(fcntl(10, F_GETFD));
    TRY(open("f", O_RDONLY));
}

/* The groups below each hold one check the sandbox is known to get wrong
 * (see the xfail reasons in tests/guest/test_fs_syscalls.py). */
static void g_seek_overflow(void)
{
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    TRY(lseek(fd, 1LL << 40, SEEK_SET));
    TRY(lseek(fd, 0x7fffffffffffffffLL, SEEK_CUR));
    TRY(lseek(fd, 0, SEEK_CUR));
    TRY(lseek(fd, 0x7fffffffffffffffLL, SEEK_END));
}

static void g_pwrite_append(void)
{
    /* Linux appends even with pwrite on an O_APPEND file (pwrite(2), BUGS). */
    int fd = open("f", O_WRONLY | O_CREAT | O_APPEND, 0644);
    TRY(write(fd, "abc", 3));
    TRY(pwrite(fd, "ghi", 3, 0));
    show_fd_offset("offset after pwrite", fd);
    show_file("f", "f");
}

static void g_ftruncate_readonly(void)
{
    put_file("f", "0123456789", 0644);
    int ro = open("f", O_RDONLY);
    TRY(ftruncate(ro, 0));
    int d = open(".", O_RDONLY | O_DIRECTORY);
    TRY(ftruncate(d, 0));
    show_size("f");
}

static void g_getcwd_removed(void)
{
    mkdir("d", 0755);
    int here = open(".", O_RDONLY);
    TRY(chdir("d"));
    TRY(rmdir("../d"));
    TRY(getcwd(buf, sizeof(buf)) == NULL ? -1 : 0);
    TRY(syscall(SYS_getcwd, buf, sizeof(buf)));
    TRY(fchdir(here));
}

static void g_sendfile_from_pipe(void)
{
    int p[2];
    pipe(p);
    int out = open("dst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(p[1], "piped", 5);
    TRY(sendfile(out, p[0], NULL, 5));
    show_file("dst after pipe", "dst");
}

static void g_copy_range_overlap(void)
{
    put_file("f", "0123456789", 0644);
    int fd = open("f", O_RDWR);
    loff_t oi = 0, oo = 2;
    TRY(syscall(SYS_copy_file_range, fd, &oi, fd, &oo, 4, 0));
    show_file("f", "f");
}

static void g_getfl_largefile(void)
{
    /* The raw call: musl's open() passes O_LARGEFILE itself, glibc's not. */
    int fd = syscall(SYS_openat, AT_FDCWD, "f", O_RDWR | O_CREAT, 0644);
    TRY(fcntl(fd, F_GETFL));
    int d = syscall(SYS_openat, AT_FDCWD, ".", O_RDONLY | O_DIRECTORY);
    TRY(fcntl(d, F_GETFL));
}

static void g_fifo(void)
{
    TRY(mkfifo("fifo", 0640));
    TRY(open("fifo", O_WRONLY | O_NONBLOCK));
    int rfd = TRY(open("fifo", O_RDONLY | O_NONBLOCK));
    int wfd = TRY(open("fifo", O_WRONLY | O_NONBLOCK));
    TRY(write(wfd, "through fifo", 12));
    TRY(read(rfd, buf, sizeof(buf)));
    TRY(read(rfd, buf, sizeof(buf)));
}

static void g_record_locks(void)
{
    /* One process never conflicts with itself: F_GETLK answers F_UNLCK. */
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20};
    TRY(fcntl(fd, F_SETLK, &fl));
    fl = (struct flock){.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    TRY(fcntl(fd, F_GETLK, &fl));
    SAY("F_GETLK: type=%d whence=%d start=%lld len=%lld\n", fl.l_type, fl.l_whence,
        (long long)fl.l_start, (long long)fl.l_len);
    fl.l_type = F_UNLCK;
    TRY(fcntl(fd, F_SETLKW, &fl));
    fl.l_type = 42;
    TRY(fcntl(fd, F_SETLK, &fl));
    int ro = open("f", O_RDONLY);
    fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
    TRY(fcntl(ro, F_SETLK, &fl));
    TRY(flock(fd, LOCK_EX));
    TRY(flock(fd, LOCK_UN));
}

static void g_accmode3(void)
{
    /* O_WRONLY|O_RDWR (Linux's access mode 3): permission to read and
     * write is checked, and the file can do neither. */
    char c;
    put_file("f", "data", 0644);
    int fd = open("f", O_WRONLY | O_RDWR);
    SAY("open mode 3 ok: %d\n", fd >= 0);
    TRY(read(fd, &c, 1));
    TRY(write(fd, "x", 1));
    TRY(open("nonexistent", O_WRONLY | O_RDWR));
}

/* A copy of /bin/sleep as `name`, its writing fd left open. */
static int copy_sleep(const char *name)
{
    char buf[65536];
    int in = open("/bin/sleep", O_RDONLY);
    int out = open(name, O_RDWR | O_CREAT | O_TRUNC, 0755);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n)
            break;
    close(in);
    return out;
}

/* A child running `./name SECONDS`: its pid once the exec is done, or
 * -errno of a failed exec (told through a close-on-exec pipe). */
static pid_t spawn(const char *name, const char *seconds)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -errno;
    pid_t pid = fork();
    if (pid == 0) {
        char path[64];
        snprintf(path, sizeof path, "./%s", name);
        char *av[] = {(char *)name, (char *)seconds, NULL};
        execv(path, av);
        int e = errno;
        if (write(p[1], &e, sizeof e) != sizeof e)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int e = 0;
    ssize_t n = read(p[0], &e, sizeof e);
    close(p[0]);
    if (n == sizeof e) {
        waitpid(pid, NULL, 0);
        return -e;
    }
    return pid;
}

static void show_spawn(const char *label, pid_t pid)
{
    if (pid < 0)
        printf("%-44s = -1 %s\n", label, errname(-pid));
    else
        printf("%-44s = ok\n", label);
}

/* `./name 0` run to its end: whether its exec worked. */
static void show_run(const char *label, const char *name)
{
    pid_t pid = spawn(name, "0");
    show_spawn(label, pid);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void g_etxtbsy(void)
{
    /* A file being executed is not opened for writing nor truncated
     * (ETXTBSY), and one open for writing is not executed. */
    struct stat st;
    stat("/proc/self/exe", &st);
    TRY(open("/proc/self/exe", O_RDWR));
    TRY(open("/proc/self/exe", O_WRONLY));
    TRY(truncate("/proc/self/exe", st.st_size));   /* (its size: harmless if allowed) */
    TRY(open("/proc/self/exe", O_RDONLY) >= 0);
    int w = copy_sleep("sl");
    show_run("exec while open for writing", "sl");
    close(w);
    pid_t child = spawn("sl", "1000");
    show_spawn("exec once closed", child);
    TRY(open("sl", O_RDWR));
    TRY(open("sl", O_WRONLY | O_APPEND));
    TRY(open("sl", O_RDONLY | O_TRUNC));
    TRY(truncate("sl", 0));
    TRY(open("sl", O_RDONLY) >= 0);
    TRY(open("sl", O_PATH) >= 0);
    TRY(open("sl", O_WRONLY | O_RDWR) >= 0);       /* access mode 3: no write access */
    char exe[64];
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)child);
    TRY(open(exe, O_RDWR));
    show_run("exec it again", "sl");
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    TRY(open("sl", O_RDWR) >= 0);                  /* the exit let writers in */
    /* A fork's exit leaves its parent's program kept from writers. */
    pid_t forked = fork();
    if (forked == 0)
        _exit(0);
    waitpid(forked, NULL, 0);
    TRY(open("/proc/self/exe", O_RDWR));
}

static void g_etxtbsy_mmap(void)
{
    /* A shared writable mapping keeps its file open for writing after
     * the fd is closed: exec is ETXTBSY until munmap. */
    int w = copy_sleep("sl");
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);
    close(w);
    show_run("exec while mapped shared writable", "sl");
    munmap(m, 4096);
    show_run("exec after munmap", "sl");
}

static const struct group GROUPS[] = {
    {"dup", g_dup},
    {"seek", g_seek},
    {"append", g_append},
    {"trunc", g_trunc},
    {"unlinked", g_unlinked},
    {"fallocate", g_fallocate},
    {"sendfile", g_sendfile},
    {"copy_file_range", g_copy_file_range},
    {"pipe", g_pipe},
    {"fcntl", g_fcntl},
    {"close_range", g_close_range},
    {"seek_overflow", g_seek_overflow},
    {"pwrite_append", g_pwrite_append},
    {"ftruncate_readonly", g_ftruncate_readonly},
    {"getcwd_removed", g_getcwd_removed},
    {"sendfile_from_pipe", g_sendfile_from_pipe},
    {"copy_range_overlap", g_copy_range_overlap},
    {"getfl_largefile", g_getfl_largefile},
    {"fifo", g_fifo},
    {"record_locks", g_record_locks},
    {"accmode3", g_accmode3},
    {"etxtbsy", g_etxtbsy},
    {"etxtbsy_mmap", g_etxtbsy_mmap},
    {0},
};

int main(int argc, char **argv)
{
    return run_groups(argc, argv, GROUPS);
}
