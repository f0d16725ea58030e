/* Metadata and directories in an empty group_dir directory (argv[1]), one
 * group of checks per run (argv[2]): getdents64, chmod and stat,
 * utimensat, umask, statfs, getcwd/chdir/fchdir. */
#include "fs_common.h"

#include <limits.h>
#include <stdint.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static char buf[PATH_MAX + 64];

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a whole directory with getdents64(bufsize) and print the entries
 * sorted (the order is the file system's business). */
static void listing(const char *path, int bufsize)
{
    static char names[512][80];
    static char *sorted[512];
    char *dbuf = malloc(bufsize);
    int fd = open(path, O_RDONLY | O_DIRECTORY), n = 0, calls = 0, bad = 0;
    long r;
    while ((r = syscall(SYS_getdents64, fd, dbuf, bufsize)) > 0) {
        calls++;
        bad |= r > bufsize;
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(dbuf + off);
            bad |= d->d_reclen % 8 != 0 || d->d_reclen < 20 || off + d->d_reclen > r;
            if (n < 512) {
                snprintf(names[n], sizeof(names[n]), "%s:%d", d->d_name, d->d_type);
                sorted[n] = names[n];
                n++;
            }
            off += d->d_reclen;
        }
    }
    SAY("getdents64(%s, %d): last=%ld%s entries=%d %s\n", path, bufsize, r,
        r < 0 ? errname(errno) : "", n, bad ? "MALFORMED" : "ok");
    SAY("  more than one call: %d\n", calls > 1);
    qsort(sorted, n, sizeof(sorted[0]), cmp);
    for (int i = 0; i < n && bufsize >= 4096; i++)
        SAY("  %s\n", sorted[i]);
    close(fd);
    free(dbuf);
}

static void g_getdents(void)
{
    char name[32];
    mkdir("many", 0755);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "many/entry-%03d%s", i, i % 7 ? "" : "-longer-name");
        if (i % 10 == 3)
            mkdir(name, 0755);
        else if (i % 10 == 5)
            symlink("target", name);
        else
            close(open(name, O_CREAT | O_WRONLY, 0644));
    }
    mkfifo("many/fifo", 0644);
    listing("many", 32768);
    listing("many", 64);
    listing("many", 200);
    listing(".", 4096);

    char small[64];
    int fd = open("many", O_RDONLY | O_DIRECTORY);
    TRY(syscall(SYS_getdents64, fd, small, 10));
    TRY(syscall(SYS_getdents64, fd, small, 0));
    TRY(syscall(SYS_getdents64, fd, NULL, 64));
    TRY(syscall(SYS_getdents64, 99, small, 64));
    int f = open("many/entry-001", O_RDONLY);
    TRY(syscall(SYS_getdents64, f, small, 64));
    /* Rewinding starts the listing again; entries created meanwhile show. */
    static char big[65536];
    long first = syscall(SYS_getdents64, fd, big, sizeof(big));
    SAY("rest of the listing nonempty: %d\n", first > 0);
    while (syscall(SYS_getdents64, fd, big, sizeof(big)) > 0)
        ;
    TRY(syscall(SYS_getdents64, fd, big, sizeof(big)));
    close(open("many/late", O_CREAT | O_WRONLY, 0644));
    TRY(lseek(fd, 0, SEEK_SET));
    listing("many", 65536);
    /* An empty directory lists . and .. only. */
    mkdir("empty", 0755);
    listing("empty", 4096);
}

/* Entries of the directory open at fd, from offset 0: sorted names, and
 * whether every d_ino is the inode number stat gives for that name. */
static void relist(const char *label, int fd)
{
    static char buf[8192], names[64][80];
    char *sorted[64];
    int n = 0, inos_ok = 1;
    long r;
    lseek(fd, 0, SEEK_SET);
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            struct stat st;
            if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) || st.st_ino != d->d_ino)
                inos_ok = 0;
            if (n < 64) {
                snprintf(names[n], sizeof(names[n]), "%s:%d", d->d_name, d->d_type);
                sorted[n] = names[n];
                n++;
            }
            off += d->d_reclen;
        }
    }
    qsort(sorted, n, sizeof(sorted[0]), cmp);
    SAY("%s: last=%ld entries=%d inos match stat=%d:", label, r, n, inos_ok);
    for (int i = 0; i < n; i++)
        SAY(" %s", sorted[i]);
    SAY("\n");
}

/* A directory listed again and again while it changes, through one fd
 * rewound and through a second one; stat of a file as it is written. */
static void g_relist(void)
{
    mkdir("d", 0755);
    mkdir("other", 0755);
    int a = open("d", O_RDONLY | O_DIRECTORY), b = open("d", O_RDONLY | O_DIRECTORY);
    relist("empty", a);
    relist("empty again", a);
    close(open("d/one", O_CREAT | O_WRONLY, 0644));
    relist("after create (a)", a);
    relist("after create (b)", b);
    mkdir("d/sub", 0700);
    symlink("one", "d/link");
    relist("after mkdir+symlink", a);
    TRY(rename("d/one", "d/two"));
    relist("after rename in place", b);
    TRY(rename("d/two", "other/two"));
    relist("after rename out", a);
    relist("other", open("other", O_RDONLY | O_DIRECTORY));
    TRY(rename("other/two", "d/three"));
    TRY(unlink("d/link"));
    relist("after rename in + unlink", a);
    TRY(rmdir("d/sub"));
    TRY(link("d/three", "d/four"));
    relist("after rmdir + link", b);
    /* Iteration half done when the directory changes: the rest of the
     * listing, then a rewind that shows the change. */
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "d/f%02d", i);
        close(open(name, O_CREAT | O_WRONLY, 0644));
    }
    char small[200];
    lseek(a, 0, SEEK_SET);
    long first = syscall(SYS_getdents64, a, small, sizeof(small));
    SAY("partial read nonempty: %d\n", first > 0);
    TRY(unlink("d/f39"));
    close(open("d/late", O_CREAT | O_WRONLY, 0644));
    relist("after changes mid-listing", a);
    close(b);
    close(a);

    int f = open("sized", O_CREAT | O_RDWR, 0644);
    struct stat st, st2;
    for (int i = 0; i < 3; i++) {
        TRY(write(f, "0123456789", 10));
        stat("sized", &st);
        fstat(f, &st2);
        SAY("after write %d: stat size %ld, fstat size %ld, same ino %d\n", i,
            (long)st.st_size, (long)st2.st_size, st.st_ino == st2.st_ino);
    }
    struct timespec old[2] = {{0, 0}, {1000000000, 0}};
    TRY(futimens(f, old));
    TRY(pwrite(f, "x", 1, 100));
    stat("sized", &st);
    SAY("after pwrite: size %ld, mtime moved on %d\n", (long)st.st_size, st.st_mtime > 1000000000);
    close(f);
}

static long is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : S_ISDIR(st.st_mode);
}

static long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* The same paths walked again after what changes their answer: renames
 * of a file and of the directories above it, unlink and re-create,
 * symlinks replaced, the working directory, /proc/self in two processes. */
static void g_rewalk(void)
{
    mkdir("a", 0755);
    mkdir("a/b", 0755);
    close(open("a/b/f", O_CREAT | O_WRONLY, 0644));
    for (int i = 0; i < 2; i++)
        TRY(size_of("a/b/f"));
    TRY(rename("a/b", "a/c"));
    TRY(size_of("a/b/f"));
    TRY(size_of("a/c/f"));
    TRY(rename("a", "x"));
    TRY(size_of("x/c/f"));
    TRY(size_of("a/c/f"));
    TRY(unlink("x/c/f"));
    TRY(size_of("x/c/f"));
    int fd = open("x/c/f", O_CREAT | O_WRONLY, 0644);
    TRY(write(fd, "12345", 5));
    close(fd);
    TRY(size_of("x/c/f"));
    TRY(size_of("x/c/../c/./f"));
    TRY(symlink("x", "lnk"));
    TRY(size_of("lnk/c/f"));
    TRY(unlink("lnk"));
    TRY(symlink("nothing", "lnk"));
    TRY(size_of("lnk/c/f"));
    TRY(unlink("lnk"));
    TRY(mkdir("lnk", 0755));
    TRY(is_dir("lnk"));
    TRY(rmdir("lnk"));
    TRY(is_dir("lnk"));
    TRY(chdir("x"));
    TRY(size_of("c/f"));
    TRY(chdir(".."));
    TRY(size_of("c/f"));
    char buf[64], want[64];
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
            buf[n > 0 ? n : 0] = 0;
            snprintf(want, sizeof(want), "%d", (int)getpid());
            _exit(strcmp(buf, want) == 0 ? 0 : 1);
        }
        int status;
        waitpid(pid, &status, 0);
        SAY("child's /proc/self is its own pid: %d\n", status == 0);
    }
}

static void g_chmod(void)
{
    struct stat st;
    put_file("f", "data", 0644);
    mkdir("d", 0755);
    symlink("f", "l");
    TRY(chmod("f", 0600));
    show_stat("f", 0);
    TRY(chmod("f", 07777));
    show_stat("f", 0);
    TRY(chmod("f", 0170644));
    show_stat("f", 0);
    TRY(chmod("l", 0640));
    show_stat("f", 0);
    show_stat("l", 0);
    TRY(chmod("d", 01777));
    show_stat("d", 0);
    TRY(chmod("d", 02755));
    show_stat("d", 0);
    TRY(chmod("nonexistent", 0644));
    TRY(chmod("f/", 0644));
    int fd = open("f", O_RDONLY);
    TRY(fchmod(fd, 0444));
    show_stat("f", 0);
    TRY(fchmod(99, 0444));
    TRY(fchmodat(AT_FDCWD, "f", 0640, 0));
    show_stat("f", 0);
    TRY(fchmodat(AT_FDCWD, "l", 0640, AT_SYMLINK_NOFOLLOW));
    TRY(fchmodat(AT_FDCWD, "f", 0640, 0x4000));
    /* Modes of new objects as asked (umask 0). */
    umask(0);
    TRY(close(open("new", O_CREAT | O_WRONLY, 04751)));
    show_stat("new", 0);
    TRY(mkdir("newdir", 01777));
    show_stat("newdir", 0);
    TRY(mkdir("newdir2", 0));
    show_stat("newdir2", 0);
    /* Link counts of directories follow their subdirectories. */
    chmod("d", 0755);
    mkdir("d/a", 0755);
    mkdir("d/b", 0755);
    show_stat("d", 0);
    rmdir("d/a");
    show_stat("d", 0);
    /* fstat, stat and lstat agree; stat of a dangling link fails. */
    symlink("missing", "dangling");
    show_stat("dangling", 0);
    show_stat("dangling", 1);
    show_stat("l", 1);
    TRY(fstatat(AT_FDCWD, "l", &st, AT_SYMLINK_NOFOLLOW));
    TRY(fstatat(AT_FDCWD, "", &st, 0));
    TRY(fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH));
    TRY(fstatat(fd, "", &st, AT_EMPTY_PATH));
    SAY("fstatat(fd, \"\", AT_EMPTY_PATH): %s %04o size=%lld\n", kind(st.st_mode),
        st.st_mode & 07777, (long long)st.st_size);
    TRY(fstatat(AT_FDCWD, "f", &st, 0x12345));
    SAY("st_blksize > 0: %d\n", st.st_blksize > 0);
}

static void show_times(const char *name)
{
    struct stat st;
    if (lstat(name, &st)) {
        SAY("times of %s: %s\n", name, errname(errno));
        return;
    }
    SAY("times of %-16s atime=%lld.%09ld mtime=%lld.%09ld\n", name,
        (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
        (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void g_utimens(void)
{
    struct stat st;
    put_file("f", "data", 0644);
    symlink("f", "l");
    struct timespec ts[2] = {{1000000000, 500}, {1234567890, 123456789}};
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    ts[0] = (struct timespec){1500000000, 0};
    ts[1].tv_nsec = UTIME_OMIT;
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1] = (struct timespec){1600000000, 999999999};
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    /* Through the link, and on the link itself. */
    ts[0] = (struct timespec){1100000000, 1};
    ts[1] = (struct timespec){1200000000, 2};
    TRY(utimensat(AT_FDCWD, "l", ts, 0));
    show_times("f");
    ts[0] = (struct timespec){1300000000, 3};
    ts[1] = (struct timespec){1400000000, 4};
    TRY(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
    show_times("l");
    show_times("f");
    /* Bad nanoseconds, bad flags, missing files, an fd. */
    ts[1].tv_nsec = 1000000000;
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    ts[1].tv_nsec = -1;
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    ts[1].tv_nsec = 0;
    TRY(utimensat(AT_FDCWD, "f", ts, 0x8000));
    TRY(utimensat(AT_FDCWD, "nonexistent", ts, 0));
    int fd = open("f", O_RDONLY);
    ts[0] = (struct timespec){1700000000, 7};
    ts[1] = (struct timespec){1700000001, 8};
    TRY(futimens(fd, ts));
    show_times("f");
    TRY(syscall(SYS_utimensat, fd, NULL, ts, 0));
    /* UTIME_NOW and NULL set the current time. */
    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    TRY(utimensat(AT_FDCWD, "f", NULL, 0));
    TRY(stat("f", &st));
    SAY("NULL times are now: %d\n", st.st_mtim.tv_sec >= before.tv_sec - 1 &&
                                    st.st_atim.tv_sec >= before.tv_sec - 1);
    ts[0] = (struct timespec){1000, UTIME_NOW};
    ts[1] = (struct timespec){2000, 5};
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    TRY(stat("f", &st));
    SAY("UTIME_NOW atime is now: %d, mtime=%lld.%ld\n", st.st_atim.tv_sec >= before.tv_sec - 1,
        (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    /* Writing a file moves its mtime; negative times are fine. */
    ts[0] = ts[1] = (struct timespec){-100, 0};
    TRY(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    int w = open("f", O_WRONLY);
    TRY(write(w, "x", 1));
    TRY(stat("f", &st));
    SAY("write moved mtime forward: %d\n", st.st_mtim.tv_sec >= before.tv_sec - 1);
    /* Creating an entry moves the directory's mtime. */
    mkdir("d", 0755);
    ts[0] = ts[1] = (struct timespec){5, 0};
    TRY(utimensat(AT_FDCWD, "d", ts, 0));
    close(open("d/new", O_CREAT | O_WRONLY, 0644));
    TRY(stat("d", &st));
    SAY("create moved dir mtime: %d\n", st.st_mtim.tv_sec >= before.tv_sec - 1);
    TRY(utimes("d", (struct timeval[]){{10, 20}, {30, 40}}));
    show_times("d");
}

static void g_umask(void)
{
    TRY(umask(027));
    TRY(umask(027));
    TRY(close(open("f666", O_CREAT | O_WRONLY, 0666)));
    TRY(mkdir("d777", 0777));
    TRY(mkfifo("p666", 0666));
    TRY(mknod("n666", S_IFREG | 0666, 0));
    show_stat("f666", 0);
    show_stat("d777", 0);
    show_stat("p666", 0);
    show_stat("n666", 0);
    TRY(symlink("f666", "s"));
    show_stat("s", 0);
    TRY(umask(0777 | 01000));
    TRY(umask(0));
    TRY(close(open("f777", O_CREAT | O_WRONLY, 0777)));
    show_stat("f777", 0);
    /* chmod ignores the umask. */
    umask(077);
    TRY(chmod("f777", 0777));
    show_stat("f777", 0);
    TRY(close(open("f4777", O_CREAT | O_WRONLY, 04777)));
    show_stat("f4777", 0);
}

static void g_statfs(void)
{
    struct statfs sf;
    TRY(statfs(".", &sf));
    SAY("bsize>0 %d namelen %ld blocks>=bfree>=bavail %d\n", sf.f_bsize > 0,
        (long)sf.f_namelen, sf.f_blocks >= sf.f_bfree && sf.f_bfree >= sf.f_bavail);
    int fd = open(".", O_RDONLY);
    TRY(fstatfs(fd, &sf));
    put_file("f", "", 0644);
    TRY(statfs("f", &sf));
    TRY(statfs("nonexistent", &sf));
    TRY(statfs("f/", &sf));
    TRY(fstatfs(99, &sf));
    TRY(statfs("/dev/null", &sf));
}

static void show_cwd(const char *label)
{
    if (!getcwd(buf, sizeof(buf))) {
        SAY("%-32s getcwd: %s\n", label, errname(errno));
        return;
    }
    size_t n = strlen(group_dir);
    if (!strncmp(buf, group_dir, n) && (buf[n] == '/' || buf[n] == 0))
        SAY("%-32s getcwd: SCRATCH%s\n", label, buf + n);
    else
        SAY("%-32s getcwd: %s\n", label, buf);
}

/* Make a chain of directories deeper than PATH_MAX and enter it; return
 * the depth reached. leave_deep() climbs back out, removing it all (the
 * host's own tools cannot walk such a tree by name). */
static const char *deep_name(void)
{
    static char name[200];
    memset(name, 'x', sizeof(name) - 1);
    return name;
}

static int enter_deep(void)
{
    int depth = 0;
    for (; depth < 25; depth++)
        if (mkdir(deep_name(), 0755) || chdir(deep_name()))
            break;
    return depth;
}

static void leave_deep(int depth)
{
    int ok = 1;
    for (; depth > 0; depth--)
        ok &= chdir("..") == 0 && rmdir(deep_name()) == 0;
    SAY("climbed out, removing the chain: %d\n", ok);
}

static void g_cwd(void)
{
    mkdir("a", 0755);
    mkdir("a/b", 0755);
    symlink("a/b", "lb");
    put_file("f", "", 0644);
    show_cwd("start");
    TRY(chdir("a/b"));
    show_cwd("a/b");
    TRY(chdir(".."));
    show_cwd("..");
    TRY(chdir("../lb"));
    show_cwd("through a link");
    TRY(chdir("../../f"));
    TRY(chdir("nonexistent"));
    TRY(chdir(""));
    show_cwd("after failures");
    int top = open(group_dir, O_RDONLY | O_DIRECTORY);
    int f = open("../../f", O_RDONLY);
    TRY(fchdir(f));
    TRY(fchdir(99));
    int pa = open("..", O_PATH);
    TRY(fchdir(pa));
    show_cwd("fchdir O_PATH ..");
    TRY(fchdir(top));
    show_cwd("fchdir top");
    TRY(syscall(SYS_getcwd, buf, 1));
    TRY(syscall(SYS_getcwd, buf, 0));
    TRY(syscall(SYS_getcwd, buf, strlen(group_dir) + 1) == (long)strlen(group_dir) + 1);
    TRY(syscall(SYS_getcwd, NULL, 100));
    /* A path longer than PATH_MAX, reached one step at a time. */
    int depth = enter_deep();
    SAY("went %d deep\n", depth);
    TRY(close(open("file", O_CREAT | O_WRONLY, 0644)));
    TRY(unlink("file"));
    leave_deep(depth);
    TRY(fchdir(top));
    TRY(chdir("/"));
    show_cwd("/");
    TRY(chdir(group_dir));
    /* cwd of a renamed directory follows it. */
    TRY(chdir("a"));
    TRY(rename("../a", "../renamed"));
    show_cwd("after rename");
    TRY(access("b", F_OK));
}

/* The groups below each hold one check the sandbox is known to get wrong
 * (see the xfail reasons in tests/guest/test_fs_syscalls.py). */
static void g_getdents_removed(void)
{
    static char big[4096];
    mkdir("gone", 0755);
    int g = open("gone", O_RDONLY | O_DIRECTORY);
    TRY(rmdir("gone"));
    TRY(syscall(SYS_getdents64, g, big, sizeof(big)));
}

static void g_fchmod_opath(void)
{
    put_file("f", "data", 0644);
    int pa = open("f", O_PATH);
    /* The raw call: musl's fchmod() retries an EBADF through /proc. */
    TRY(syscall(SYS_fchmod, pa, 0600));
    show_stat("f", 0);
}

static void g_fchmod_pipe(void)
{
    struct stat st;
    int p[2];
    pipe(p);
    TRY(fchmod(p[0], 0644));
    TRY(fstat(p[0], &st));
    SAY("pipe mode after fchmod: %04o\n", st.st_mode & 07777);
}

static void g_mkdir_setgid(void)
{
    umask(0);
    /* mkdir takes only the permission and sticky bits from its mode. */
    TRY(mkdir("newdir", 07777));
    show_stat("newdir", 0);
}

static void g_setgid_inherit(void)
{
    /* A directory made in a set-group-ID directory inherits the bit. */
    mkdir("d", 02755);
    TRY(chmod("d", 02755));
    TRY(mkdir("d/sub", 0755));
    show_stat("d/sub", 0);
    TRY(close(open("d/file", O_CREAT | O_WRONLY, 0644)));
    show_stat("d/file", 0);
}

static void g_fstatfs_pipe(void)
{
    struct statfs sf;
    int p[2];
    pipe(p);
    TRY(fstatfs(p[0], &sf));
}

static void g_getcwd_toolong(void)
{
    int depth = enter_deep();
    SAY("went %d deep\n", depth);
    TRY(syscall(SYS_getcwd, buf, sizeof(buf)));
    leave_deep(depth);
}

/* capget/capset by hand (musl has no <sys/capability.h>). */
struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };

static void change_caps(uint32_t drop, uint32_t add_inheritable)
{
    struct cap_header h = {0x20080522, 0};         /* _LINUX_CAPABILITY_VERSION_3 */
    struct cap_data d[2];
    syscall(SYS_capget, &h, d);
    d[0].effective &= ~drop;
    d[0].permitted &= ~drop;
    d[0].inheritable |= add_inheritable;
    TRY(syscall(SYS_capset, &h, d));
}

static void g_caps_dac(void)
{
    /* Permission checks follow capabilities, not uid 0: a root process
     * without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER and
     * CAP_CHOWN gets the mode bits' answer (in a child: the loss is for
     * good). */
    put_file("ro", "x", 0400);
    put_file("rx", "x", 0500);
    chmod("ro", 0400);
    chmod("rx", 0500);
    mkdir("nosearch", 0700);
    put_file("nosearch/f", "x", 0644);
    chmod("nosearch", 0600);                        /* no x bit: only a capability searches it */
    struct stat st;
    TRY(stat("nosearch/f", &st));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        change_caps(1u << 0 | 1u << 1 | 1u << 2 | 1u << 3, 0);
        TRY(stat("nosearch/f", &st));
        TRY(access("ro", R_OK));
        TRY(access("ro", W_OK));
        TRY(access("rx", X_OK));
        TRY(access("rx", W_OK));
        TRY(open("ro", O_WRONLY));
        setfsuid(1234);                           /* root's files are someone else's */
        TRY(chmod("ro", 0600));
        TRY(chown("ro", -1, -1));
        TRY(chown("ro", 1234, -1));
        setfsuid(0);
        int pa = open("ro", O_PATH);
        TRY(syscall(SYS_fchown, pa, -1, -1));
        /* Ambient capabilities: only what is permitted and inheritable. */
        TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 10, 0, 0));
        change_caps(0, 1u << 10);
        TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 10, 0, 0));
        TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 10, 0, 0));
        TRY(prctl(PR_SET_SECUREBITS, 1UL << 30, 0, 0, 0));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    SAY("child status %#x\n", status);
}

/* atime under relatime: set into the past, then read or listed. */
static long long atime_of(const char *name)
{
    struct stat st;
    if (stat(name, &st))
        return -1;
    return st.st_atim.tv_sec;
}

static void set_past(const char *name)
{
    struct timespec ts[2] = {{1000, 0}, {2000, 0}};      /* atime before mtime */
    utimensat(AT_FDCWD, name, ts, 0);
}

static void g_atime(void)
{
    char buf[16];
    put_file("f", "data", 0644);
    mkdir("d", 0755);
    put_file("d/x", "", 0644);
    set_past("f");
    /* Linux's timestamps can be as coarse as a clock tick: the read must
     * come ticks after the change (ctime), the second read after it. */
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int fd = open("f", O_RDONLY);
    SAY("read %zd\n", read(fd, buf, sizeof buf));
    struct stat st;
    stat("f", &st);
    SAY("read updates an atime before mtime: %d\n", st.st_atim.tv_sec > 2000);
    nanosleep(&pause, NULL);
    lseek(fd, 0, SEEK_SET);
    read(fd, buf, sizeof buf);
    struct stat again;
    stat("f", &again);
    SAY("a second read leaves it (relatime): %d\n",
        again.st_atim.tv_sec == st.st_atim.tv_sec && again.st_atim.tv_nsec == st.st_atim.tv_nsec);
    set_past("f");
    SAY("read at the end %zd\n", read(fd, buf, sizeof buf));
    SAY("even a read at the end updates it: %d\n", atime_of("f") > 2000);
    set_past("f");
    SAY("pread %zd\n", pread(fd, buf, 2, 1));
    SAY("pread updates it: %d\n", atime_of("f") > 2000);
    close(fd);
    set_past("d");
    DIR *dir = opendir("d");
    while (readdir(dir))
        ;
    closedir(dir);
    SAY("listing updates a directory's: %d\n", atime_of("d") > 2000);
    set_past("f");
    fd = open("f", O_WRONLY);
    write(fd, "x", 1);
    close(fd);
    SAY("write leaves it: %lld\n", atime_of("f"));
}

static void g_noatime(void)
{
    char buf[16];
    put_file("f", "data", 0644);
    set_past("f");
    int fd = open("f", O_RDONLY | O_NOATIME);
    SAY("read %zd\n", read(fd, buf, sizeof buf));
    SAY("O_NOATIME read leaves it: %lld\n", atime_of("f"));
    close(fd);
}

static const struct group GROUPS[] = {
    {"getdents", g_getdents},
    {"relist", g_relist},
    {"rewalk", g_rewalk},
    {"chmod", g_chmod},
    {"utimens", g_utimens},
    {"umask", g_umask},
    {"statfs", g_statfs},
    {"cwd", g_cwd},
    {"getdents_removed", g_getdents_removed},
    {"fchmod_opath", g_fchmod_opath},
    {"fchmod_pipe", g_fchmod_pipe},
    {"mkdir_setgid", g_mkdir_setgid},
    {"setgid_inherit", g_setgid_inherit},
    {"fstatfs_pipe", g_fstatfs_pipe},
    {"getcwd_toolong", g_getcwd_toolong},
    {"caps_dac", g_caps_dac},
    {"atime", g_atime},
    {"noatime", g_noatime},
    {0},
};

int main(int argc, char **argv)
{
    return run_groups(argc, argv, GROUPS);
}
