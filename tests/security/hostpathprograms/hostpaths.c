/* Tries to reach host files outside the sandbox's view, for
 * tests/security/test_host_paths.py. Usage: hostpaths SCENARIO OUTSIDE
 * [SECONDS], where OUTSIDE is the host path of a canary directory that
 * must stay out of reach. Each attempt prints one line "what: result"
 * (an errno name, or what was read). The same binary run natively, in a
 * twin tree made the root of a private mount namespace, is the oracle;
 * the "race" scenarios print counts instead.
 *
 * The tree it expects (the test builds it): /data a read-write volume
 * with file, dir/ and the symlinks abs_dir -> OUTSIDE, rel_dir ->
 * ../outside (the host's neighbour of the volume), abs_canary ->
 * OUTSIDE/canary.txt, dangling -> OUTSIDE/new.txt; /ro a read-only
 * volume with file.txt, other.txt and dir/; /etc/hl and /etc/hl2 host
 * hardlinks of files outside; /etc/sl a symlink -> OUTSIDE/canary.txt.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const char *O;                   /* the outside directory's host path */
static char rel_up[PATH_MAX];           /* "../../.." enough to reach / from anywhere */

static const char *res(long r)
{
    static char buf[32];
    if (r >= 0)
        return "ok";
    snprintf(buf, sizeof buf, "%s", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    return buf;
}

#define SHOW(what, call) do { long r_ = (call); printf("%s: %s\n", what, res(r_)); } while (0)

static char *cat(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *cat(const char *fmt, ...)
{
    static char bufs[8][PATH_MAX * 2];
    static int next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, PATH_MAX * 2, fmt, ap);
    va_end(ap);
    return b;
}

static void read_show(const char *what, int fd)
{
    char buf[81];
    if (fd < 0) {
        printf("%s: %s\n", what, res(-1));
        return;
    }
    ssize_t n = read(fd, buf, 80);
    if (n < 0) {
        printf("%s: read %s\n", what, res(-1));
    } else {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] < 32 || buf[i] > 126)
                buf[i] = '.';
        buf[n] = 0;
        printf("%s: \"%s\"\n", what, buf);
    }
    close(fd);
}

static void cat_path(const char *what, const char *path)
{
    read_show(what, open(path, O_RDONLY));
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_fd(const char *what, int fd)
{
    static char *names[512];
    int n = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        printf("%s: %s\n", what, res(-1));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%s:", what);
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
}

static void list(const char *what, const char *path)
{
    list_fd(what, open(path, O_RDONLY | O_DIRECTORY));
}

/* Every mutation through a path that names something outside. */
static void mutations(const char *base_arg)
{
    char base[PATH_MAX], c[PATH_MAX + 16];
    snprintf(base, sizeof base, "%s", base_arg);
    snprintf(c, sizeof c, "%s/canary.txt", base);
    cat_path(cat("read %s", c), c);
    list(cat("list %s", base), base);
    SHOW(cat("creat %s/new", base), open(cat("%s/new", base), O_CREAT | O_WRONLY, 0644));
    SHOW(cat("mkdir %s/newdir", base), mkdir(cat("%s/newdir", base), 0755));
    SHOW(cat("open-trunc %s", c), open(c, O_WRONLY | O_TRUNC));
    SHOW(cat("truncate %s", c), truncate(c, 0));
    SHOW(cat("chmod %s", c), chmod(c, 0777));
    SHOW(cat("chown %s", c), chown(c, 1234, 1234));
    SHOW(cat("utimensat %s", c), utimensat(AT_FDCWD, c, NULL, 0));
    SHOW(cat("setxattr %s", c), setxattr(c, "user.pwned", "1", 1, 0));
    SHOW(cat("rename-in %s", base), rename("/data/file", cat("%s/moved", base)));
    SHOW(cat("rename-out %s", c), rename(c, "/data/stolen"));
    SHOW(cat("link-in %s", base), link("/data/file", cat("%s/hard", base)));
    SHOW(cat("link-out %s", c), link(c, "/data/stolen_hard"));
    SHOW(cat("symlink %s/sl", base), symlink("/", cat("%s/sl", base)));
    SHOW(cat("unlink %s", c), unlink(c));
    SHOW(cat("rmdir %s/canary_dir", base), rmdir(cat("%s/canary_dir", base)));
    SHOW(cat("bind-src %s", base), mount(base, "/tmp/bound", NULL, MS_BIND, NULL));
    list("list /tmp/bound", "/tmp/bound");
    umount2("/tmp/bound", MNT_DETACH);
}

static void scenario_follow(void)
{
    mkdir("/tmp/bound", 0755);
    mutations("/data/abs_dir");
    mutations("/data/rel_dir");
    mutations(cat("/data/%s%s", rel_up, O + 1));
    mutations(cat("/data/dir/../..%s", O));
    const char *links[] = {"/data/abs_canary", "/etc/sl", NULL};
    for (int i = 0; links[i]; i++) {
        char l[PATH_MAX];
        snprintf(l, sizeof l, "%s", links[i]);
        cat_path(cat("read %s", l), l);
        SHOW(cat("open-rw %s", l), open(l, O_RDWR));
        SHOW(cat("creat %s", l), open(l, O_CREAT | O_WRONLY | O_TRUNC, 0644));
        SHOW(cat("truncate %s", l), truncate(l, 0));
        SHOW(cat("chmod %s", l), chmod(l, 0777));
        SHOW(cat("chown %s", l), chown(l, 1234, 1234));
        SHOW(cat("lchown %s", l), lchown(l, 1234, 1234));
        SHOW(cat("utimensat %s", l), utimensat(AT_FDCWD, l, NULL, 0));
        SHOW(cat("utimensat-nofollow %s", l), utimensat(AT_FDCWD, l, NULL, AT_SYMLINK_NOFOLLOW));
        SHOW(cat("setxattr %s", l), setxattr(l, "user.pwned", "1", 1, 0));
        SHOW(cat("lsetxattr %s", l), lsetxattr(l, "user.pwned", "1", 1, 0));
        SHOW(cat("lgetxattr %s", l), lgetxattr(l, "user.canary", NULL, 0));
    }
    SHOW("creat /data/dangling", open("/data/dangling", O_CREAT | O_WRONLY, 0644));
    SHOW("mkdir /data/dangling", mkdir("/data/dangling", 0755));
    SHOW("creat-excl /data/dangling", open("/data/dangling", O_CREAT | O_EXCL | O_WRONLY, 0644));
    list("list /data", "/data");
}

/* The outside path made inside the sandbox: links now reach the
 * sandbox's own copy of that path, never the host's. */
static void scenario_plant(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", O);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    SHOW(cat("mkdir %s", O), mkdir(O, 0755));
    int fd = open(cat("%s/canary.txt", O), O_CREAT | O_WRONLY, 0644);
    SHOW("write planted canary", fd >= 0 ? write(fd, "planted\n", 8) : -1);
    close(fd);
    mkdir(cat("%s/canary_dir", O), 0755);
    mkdir("/tmp/bound", 0755);
    mutations("/data/abs_dir");
    SHOW("write /data/abs_canary", open("/data/abs_canary", O_WRONLY | O_APPEND));
    fd = open("/data/abs_canary", O_WRONLY | O_APPEND);
    SHOW("append /data/abs_canary", fd >= 0 ? write(fd, "appended\n", 9) : -1);
    close(fd);
    SHOW("creat /data/dangling", open("/data/dangling", O_CREAT | O_WRONLY, 0644));
    list(cat("list %s", O), O);
    cat_path("read /data/abs_canary", "/data/abs_canary");
}

static void scenario_dotdot(void)
{
    char cwd[PATH_MAX];
    cat_path("read /data/../../../outside", cat("/data/../../../..%s/canary.txt", O));
    list("list /data/..", "/data/..");
    list("list /data/../../..", "/data/../../..");
    list("list /ro/..", "/ro/..");
    int dfd = open("/data", O_RDONLY | O_DIRECTORY);
    list_fd("openat(/data, ../../..)", openat(dfd, "../../..", O_RDONLY | O_DIRECTORY));
    read_show("openat(/data, ..outside)", openat(dfd, cat("%s%s/canary.txt", rel_up, O + 1),
                                                   O_RDONLY));
    SHOW("openat(/data, ..new, O_CREAT)", openat(dfd, "../../../new_at_root", O_CREAT | O_WRONLY, 0644));
    SHOW("mkdirat(/data, ../../x)", mkdirat(dfd, "../../mkdirat_root", 0755));
    SHOW("chdir /data", chdir("/data"));
    SHOW("chdir ../../../..", chdir("../../../.."));
    printf("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : res(-1));
    list("list .", ".");
    /* The classic chroot escape: a directory fd from before chroot, fchdir
     * and `..` climb back to the root this process started in, which is
     * the sandbox's root (or the native chroot's), never the host's. */
    mkdir("/tmp/jail", 0755);
    int root_fd = open("/", O_RDONLY | O_DIRECTORY);
    SHOW("chroot /tmp/jail", chroot("/tmp/jail"));
    cat_path("read /data/file in jail", "/data/file");
    SHOW("fchdir old root", fchdir(root_fd));
    for (int i = 0; i < 8; i++)
        chdir("..");
    printf("getcwd after climb: %s\n", getcwd(cwd, sizeof cwd) ? cwd : res(-1));
    SHOW("chroot .", chroot("."));
    list("list / after escape", "/");
    cat_path("read outside after escape", cat("%s/canary.txt", O));
    list_fd("openat(dfd, ../../..) after escape", openat(dfd, "../../../..", O_RDONLY | O_DIRECTORY));
    chdir("/");
    /* chroot into a volume, then `..` at its root. */
    SHOW("chroot /data", chroot("/data"));
    chdir("/");
    list("list / in /data jail", "/");
    list("list /../.. in /data jail", "/../..");
    read_show("open /../outside in jail", open(cat("/../../..%s/canary.txt", O), O_RDONLY));
    list("list /proc/self/root in jail", "/proc/self/root");
}

static void scenario_proc(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/root", buf, sizeof buf - 1);
    printf("readlink /proc/self/root: %s\n", n >= 0 ? (buf[n] = 0, buf) : res(-1));
    cat_path("read /proc/self/root/../outside", cat("/proc/self/root/../../..%s/canary.txt", O));
    list("list /proc/self/root/..", "/proc/self/root/..");
    list("list /proc/1/root/../..", "/proc/1/root/../..");
    int dfd = open("/data", O_RDONLY | O_DIRECTORY);
    list("list /proc/self/fd/N/../..", cat("/proc/self/fd/%d/../..", dfd));
    SHOW("creat /proc/self/fd/N/made", open(cat("/proc/self/fd/%d/made", dfd), O_CREAT | O_WRONLY, 0644));
    SHOW("creat /proc/self/fd/N/../../../x", open(cat("/proc/self/fd/%d/../../../x_at_root", dfd), O_CREAT | O_WRONLY, 0644));
    chdir("/data/dir");
    list("list /proc/self/cwd/../../..", "/proc/self/cwd/../../..");
    chdir("/");
    int fd = open("/data/victim", O_CREAT | O_RDWR, 0644);
    write(fd, "v1\n", 3);
    SHOW("rename victim", rename("/data/victim", "/data/victim2"));
    int fd2 = open(cat("/proc/self/fd/%d", fd), O_RDWR | O_CREAT, 0644);
    SHOW("reopen renamed via /proc O_CREAT", fd2);
    SHOW("write through reopen", fd2 >= 0 ? write(fd2, "v2\n", 3) : -1);
    close(fd2);
    cat_path("read /data/victim2", "/data/victim2");
    SHOW("unlink victim2", unlink("/data/victim2"));
    n = readlink(cat("/proc/self/fd/%d", fd), buf, sizeof buf - 1);
    printf("readlink deleted fd: %s\n", n >= 0 ? (buf[n] = 0, buf) : res(-1));
    fd2 = open(cat("/proc/self/fd/%d", fd), O_RDWR | O_CREAT, 0644);
    SHOW("reopen deleted via /proc O_CREAT", fd2);
    close(fd2);
    list("list /data", "/data");
    int ro = open("/ro/file.txt", O_RDONLY);
    SHOW("reopen /ro fd O_RDWR", open(cat("/proc/self/fd/%d", ro), O_RDWR));
    SHOW("reopen /ro fd O_TRUNC", open(cat("/proc/self/fd/%d", ro), O_WRONLY | O_TRUNC));
    SHOW("chmod /proc/self/fd/ro", chmod(cat("/proc/self/fd/%d", ro), 0777));
    int exe = open("/proc/self/exe", O_RDONLY);
    SHOW("open /proc/self/exe", exe);
    /* An O_PATH fd of a symlink to outside: the magic link reaches the
     * symlink itself, whose text is never followed after the jump. */
    int lfd = open("/data/abs_canary", O_PATH | O_NOFOLLOW);
    const char *m = cat("/proc/self/fd/%d", lfd);
    char mp[64];
    snprintf(mp, sizeof mp, "%s", m);
    SHOW("open O_PATH symlink fd via /proc", open(mp, O_RDONLY));
    SHOW("creat O_PATH symlink fd via /proc", open(mp, O_CREAT | O_WRONLY, 0644));
    SHOW("truncate O_PATH symlink fd via /proc", truncate(mp, 0));
    SHOW("chmod O_PATH symlink fd via /proc", chmod(mp, 0777));
    SHOW("opendir O_PATH symlink fd via /proc/.", open(cat("%s/.", mp), O_RDONLY));
    struct stat sb;
    SHOW("stat O_PATH symlink fd via /proc", stat(mp, &sb));
    printf("  is a symlink: %d\n", S_ISLNK(sb.st_mode));
    SHOW("readlinkat(fd, \"\")", readlinkat(lfd, "", buf, sizeof buf));
    struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_NO_MAGICLINKS};
    SHOW("openat2 /proc/self/root/etc/passwd NO_MAGICLINKS",
         syscall(SYS_openat2, AT_FDCWD, "/proc/self/root/etc/passwd", &how, sizeof how));
    SHOW("openat2 /proc/self/fd/N NO_MAGICLINKS",
         syscall(SYS_openat2, AT_FDCWD, cat("/proc/self/fd/%d", dfd), &how, sizeof how));
}

static void scenario_readonly(void)
{
    const char *f = "/ro/file.txt";
    SHOW("open O_RDWR", open(f, O_RDWR));
    SHOW("open O_WRONLY|O_TRUNC", open(f, O_WRONLY | O_TRUNC));
    SHOW("open O_RDONLY|O_TRUNC", open(f, O_RDONLY | O_TRUNC));
    SHOW("creat", creat("/ro/new", 0644));
    SHOW("creat over", creat(f, 0644));
    int fd = open(f, O_RDONLY);
    SHOW("write ro fd", write(fd, "x", 1));
    SHOW("ftruncate", ftruncate(fd, 0));
    SHOW("fallocate", fallocate(fd, 0, 0, 4096));
    SHOW("fallocate keep", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20));
    SHOW("fchmod", fchmod(fd, 0777));
    SHOW("fchown", fchown(fd, 1234, 1234));
    SHOW("futimens", futimens(fd, NULL));
    SHOW("fsetxattr", fsetxattr(fd, "user.pwned", "1", 1, 0));
    SHOW("fremovexattr", fremovexattr(fd, "user.keep"));
    SHOW("truncate", truncate(f, 0));
    SHOW("chmod", chmod(f, 0777));
    SHOW("chown", chown(f, 1234, 1234));
    SHOW("utimensat", utimensat(AT_FDCWD, f, NULL, 0));
    SHOW("utimes", utimes(f, NULL));
    SHOW("setxattr", setxattr(f, "user.pwned", "1", 1, 0));
    SHOW("removexattr", removexattr(f, "user.keep"));
    SHOW("unlink", unlink(f));
    SHOW("rmdir", rmdir("/ro/dir"));
    SHOW("mkdir", mkdir("/ro/d", 0755));
    SHOW("symlink", symlink("x", "/ro/l"));
    SHOW("link", link(f, "/ro/l2"));
    SHOW("mkfifo", mkfifo("/ro/fifo", 0644));
    SHOW("rename within", rename(f, "/ro/renamed"));
    SHOW("rename over", rename("/ro/other.txt", f));
    SHOW("rename from /tmp over", (close(creat("/tmp/t", 0644)), rename("/tmp/t", f)));
    SHOW("rename out", rename(f, "/tmp/stolen"));
    SHOW("renameat2 exchange", syscall(SYS_renameat2, AT_FDCWD, f, AT_FDCWD, "/ro/other.txt", 2));
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    SHOW("mmap shared rw", m == MAP_FAILED ? -1 : 0);
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    SHOW("mmap shared ro", m == MAP_FAILED ? -1 : 0);
    SHOW("mprotect to rw", m == MAP_FAILED ? -1 : mprotect(m, 4096, PROT_READ | PROT_WRITE));
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    SHOW("mmap private rw", m == MAP_FAILED ? -1 : 0);
    if (m != MAP_FAILED) {
        memcpy(m, "PRIVATE", 7);
        SHOW("msync private", msync(m, 4096, MS_SYNC));
        munmap(m, 4096);
    }
    int out = open("/tmp/src", O_CREAT | O_RDWR, 0644);
    write(out, "copied", 6);
    loff_t off = 0;
    SHOW("copy_file_range into ro", copy_file_range(out, &off, fd, NULL, 6, 0));
    SHOW("linkat AT_EMPTY_PATH ro fd -> /data", linkat(fd, "", AT_FDCWD, "/data/ro_link", AT_EMPTY_PATH));
    SHOW("link /ro -> /data", link(f, "/data/ro_link2"));
    SHOW("link /etc/passwd -> /data", link("/etc/passwd", "/data/root_link"));
    SHOW("link /data -> /ro", link("/data/file", "/ro/data_link"));
    SHOW("rename /data -> /ro", rename("/data/file", "/ro/data_file"));
    cat_path("read back", f);
}

/* Beyond what native Linux does for a ro bind mount: a remount or a new
 * bind of a read-only volume must not make it writable (sandbox only). */
static void scenario_remount(void)
{
    const char *f = "/ro/file.txt";
    SHOW("remount rw", mount(NULL, "/ro", NULL, MS_REMOUNT | MS_BIND, NULL));
    SHOW("remount rw (fs)", mount(NULL, "/ro", NULL, MS_REMOUNT, NULL));
    SHOW("open O_RDWR after remount", open(f, O_RDWR));
    SHOW("creat after remount", creat("/ro/new", 0644));
    SHOW("unlink after remount", unlink(f));
    SHOW("chmod after remount", chmod(f, 0777));
    mkdir("/tmp/rebound", 0755);
    SHOW("bind /ro rw", mount("/ro", "/tmp/rebound", NULL, MS_BIND, NULL));
    SHOW("open rebound O_RDWR", open("/tmp/rebound/file.txt", O_RDWR));
    SHOW("truncate rebound", truncate("/tmp/rebound/file.txt", 0));
    SHOW("mkdir rebound", mkdir("/tmp/rebound/d", 0755));
    cat_path("read back", f);
}

/* The rootfs's own hardlink and symlink to outside files: every change
 * is a copy-up in memory. */
static void scenario_copyup(void)
{
    cat_path("read /etc/hl", "/etc/hl");
    int fd = open("/etc/hl", O_WRONLY | O_APPEND);
    SHOW("append /etc/hl", fd >= 0 ? write(fd, "PWNED\n", 6) : -1);
    close(fd);
    SHOW("chmod /etc/hl", chmod("/etc/hl", 0600));
    SHOW("chown /etc/hl", chown("/etc/hl", 1234, 1234));
    SHOW("utimensat /etc/hl", utimensat(AT_FDCWD, "/etc/hl", NULL, 0));
    SHOW("setxattr /etc/hl", setxattr("/etc/hl", "user.pwned", "1", 1, 0));
    SHOW("truncate /etc/hl2", truncate("/etc/hl2", 1));
    SHOW("rename /etc/hl2", rename("/etc/hl2", "/etc/hl3"));
    SHOW("unlink /etc/hl3", unlink("/etc/hl3"));
    cat_path("read /etc/hl", "/etc/hl");
    SHOW("lchown /etc/sl", lchown("/etc/sl", 1234, 1234));
    SHOW("utimensat-nofollow /etc/sl", utimensat(AT_FDCWD, "/etc/sl", NULL, AT_SYMLINK_NOFOLLOW));
    SHOW("rename /etc/sl", rename("/etc/sl", "/etc/sl2"));
    SHOW("creat /etc/sl2", open("/etc/sl2", O_CREAT | O_WRONLY, 0644));
    SHOW("link /etc/hl /etc/hl4", link("/etc/hl", "/etc/hl4"));
    fd = open("/etc/hl4", O_WRONLY | O_APPEND);
    SHOW("append /etc/hl4", fd >= 0 ? write(fd, "AGAIN\n", 6) : -1);
    close(fd);
    cat_path("read /etc/hl", "/etc/hl");
}

/* Unix sockets by path (--host-uds=all in the sandbox): a bind or
 * connect through a link to outside reaches the sandbox's namespace. */
static int sock_at(const char *path, int do_bind)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = do_bind ? bind(s, (struct sockaddr *)&a, sizeof a)
                    : connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static void scenario_uds(void)
{
    SHOW("bind /data/abs_dir/sock", sock_at("/data/abs_dir/sock", 1));
    SHOW("bind /data/rel_dir/sock", sock_at("/data/rel_dir/sock", 1));
    SHOW("bind /data/dangling", sock_at("/data/dangling", 1));
    SHOW("bind /data/abs_canary", sock_at("/data/abs_canary", 1));
    SHOW("bind /data/dir/../../../x", sock_at("/data/dir/../../../../sock_at_root", 1));
    SHOW("connect /data/abs_canary", sock_at("/data/abs_canary", 0));
    SHOW("connect /data/abs_dir/canary.txt", sock_at("/data/abs_dir/canary.txt", 0));
    SHOW("bind /data/sock", sock_at("/data/sock", 1));
    SHOW("bind /ro/sock", sock_at("/ro/sock", 1));
    list("list /data", "/data");
    list("list /", "/");
}

/* Sandbox only (natively these would reach the host): device nodes on a
 * volume or in the root are never opened on the host, and file handles
 * (the "shocker" escape) do not exist. */
static void scenario_devices(void)
{
    SHOW("open /data/zero", open("/data/zero", O_RDONLY));
    SHOW("open /data/zero O_RDWR", open("/data/zero", O_RDWR));
    SHOW("open /etc/zero", open("/etc/zero", O_RDONLY));
    SHOW("mknod /data/made c 1 5", mknod("/data/made", S_IFCHR | 0666, makedev(1, 5)));
    SHOW("mknod /tmp/made c 1 5", mknod("/tmp/made", S_IFCHR | 0666, makedev(1, 5)));
    SHOW("open /tmp/made", open("/tmp/made", O_RDONLY));
    struct {
        struct file_handle h;
        unsigned char bytes[128];
    } fh = {.h = {.handle_bytes = 128}};
    int mount_id;
    SHOW("name_to_handle_at /data/file", syscall(SYS_name_to_handle_at, AT_FDCWD, "/data/file",
                                                   &fh.h, &mount_id, 0));
    /* ext4's handle of the root directory (inode 2, generation 0). */
    fh.h.handle_bytes = 8;
    fh.h.handle_type = 1;
    memset(fh.bytes, 0, sizeof fh.bytes);
    fh.bytes[0] = 2;
    int dfd = open("/data", O_RDONLY | O_DIRECTORY);
    SHOW("open_by_handle_at root inode", syscall(SYS_open_by_handle_at, dfd, &fh.h, O_RDONLY));
}

/* stdin is a host file opened read-only by the caller: the sandbox gets
 * that open file, to read, and nothing more of the file. */
static void scenario_stdio(void)
{
    char buf[PATH_MAX];
    read_show("read stdin", dup(0));
    SHOW("write stdin", write(0, "x", 1));
    SHOW("ftruncate stdin", ftruncate(0, 0));
    SHOW("fallocate stdin", fallocate(0, 0, 0, 4096));
    SHOW("fchmod stdin", fchmod(0, 0777));
    SHOW("fchown stdin", fchown(0, 1234, 1234));
    SHOW("futimens stdin", futimens(0, NULL));
    SHOW("fsetxattr stdin", fsetxattr(0, "user.pwned", "1", 1, 0));
    SHOW("open /proc/self/fd/0 O_WRONLY|O_TRUNC", open("/proc/self/fd/0", O_WRONLY | O_TRUNC));
    int fd = open("/proc/self/fd/0", O_RDWR);
    SHOW("write via /proc/self/fd/0 O_RDWR", fd >= 0 ? write(fd, "PWNED", 5) : -1);
    SHOW("truncate /proc/self/fd/0", truncate("/proc/self/fd/0", 0));
    SHOW("chmod /proc/self/fd/0", chmod("/proc/self/fd/0", 0777));
    SHOW("utimensat /proc/self/fd/0", utimensat(AT_FDCWD, "/proc/self/fd/0", NULL, 0));
    SHOW("linkat stdin -> /data", linkat(0, "", AT_FDCWD, "/data/stdin_link", AT_EMPTY_PATH));
    SHOW("link /proc/self/fd/0 -> /data", linkat(AT_FDCWD, "/proc/self/fd/0", AT_FDCWD,
                                                "/data/stdin_link2", AT_SYMLINK_FOLLOW));
    SHOW("rename /proc/self/fd/0 -> /data", rename("/proc/self/fd/0", "/data/stdin_moved"));
    int dfd = open("/proc/self/fd/0/..", O_RDONLY | O_DIRECTORY);
    SHOW("open /proc/self/fd/0/..", dfd);
    ssize_t n = readlink("/proc/self/fd/0", buf, sizeof buf - 1);
    printf("readlink /proc/self/fd/0: %s\n", n >= 0 ? (buf[n] = 0, buf) : res(-1));
}

/* A directory renamed out from under a bind mount of a subdirectory,
 * with the cwd in it: `..` must not climb out of what the mount shows
 * (Linux: ENOENT), and the sentry must not fall over. */
static void scenario_bindmove(void)
{
    char cwd[PATH_MAX];
    mkdir("/data/dir/sub", 0755);
    mkdir("/data/dir/sub/deeper", 0755);
    mkdir("/tmp/mnt", 0755);
    SHOW("bind /data/dir /tmp/mnt", mount("/data/dir", "/tmp/mnt", NULL, MS_BIND, NULL));
    int fd = open("/tmp/mnt/sub/deeper", O_RDONLY | O_DIRECTORY);
    SHOW("chdir /tmp/mnt/sub", chdir("/tmp/mnt/sub"));
    SHOW("rename sub out of the bind", rename("/data/dir/sub", "/data/moved"));
    for (int i = 0; i < 3; i++) {
        SHOW("chdir ..", chdir(".."));
        printf("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : res(-1));
        list("list .", ".");
    }
    list("list ../..", "../..");
    list_fd("openat(deeper, ../../..)", openat(fd, "../../..", O_RDONLY | O_DIRECTORY));
    SHOW("mkdirat(deeper, ../../escaped)", mkdirat(fd, "../../escaped", 0755));
    SHOW("fchdir deeper", fchdir(fd));
    SHOW("chdir ../..", chdir("../.."));
    printf("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : res(-1));
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
    printf("readlink /proc/self/cwd: %s\n", n >= 0 ? (buf[n] = 0, buf) : res(-1));
    chdir("/");
    list("list /data", "/data");
}

/* The host's procfs and sysfs mounted below the root (/hostproc,
 * /hostsys) and in a volume (/data/proc): nothing of them shows. */
static void scenario_pseudo(void)
{
    const char *dirs[] = {"/hostproc", "/hostsys", "/data/proc", NULL};
    for (int i = 0; dirs[i]; i++) {
        const char *d = dirs[i];
        list(cat("list %s", d), d);
        cat_path(cat("read %s/1/cmdline", d), cat("%s/1/cmdline", d));
        cat_path(cat("read %s/self/environ", d), cat("%s/self/environ", d));
        cat_path(cat("read %s/kernel/uevent_seqnum", d), cat("%s/kernel/uevent_seqnum", d));
        SHOW(cat("write %s/sys/kernel/hostname", d),
             open(cat("%s/sys/kernel/hostname", d), O_WRONLY));
        SHOW(cat("creat %s/x", d), open(cat("%s/x", d), O_CREAT | O_WRONLY, 0644));
        SHOW(cat("mkdir %s/y", d), mkdir(cat("%s/y", d), 0755));
        SHOW(cat("chmod %s", d), chmod(d, 0700));
        list(cat("list %s/..", d), cat("%s/..", d));
    }
}

/* --- races: a thread swaps a directory and a symlink to outside ----- */
static volatile int stop;

static void *swapper(void *arg)
{
    (void)arg;
    while (!stop) {
        syscall(SYS_renameat2, AT_FDCWD, "/data/race/d", AT_FDCWD, "/data/race/s", 2);
        syscall(SYS_renameat2, AT_FDCWD, "/data/race/d", AT_FDCWD, "/data/race/r", 2);
    }
    return NULL;
}

static void scenario_race(int seconds)
{
    mkdir("/data/race", 0755);
    mkdir("/data/race/d", 0755);
    close(creat("/data/race/d/canary.txt", 0644));
    symlink(O, "/data/race/s");
    symlink(cat("%s%s", rel_up, O + 1), "/data/race/r");
    /* A thread exchanges the names; a second process renames them
     * through a spare name, so that for moments there is only the link. */
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    pid_t child = fork();
    if (child == 0) {
        time_t stop_at = time(NULL) + seconds;
        while (time(NULL) < stop_at)
            if (rename("/data/race/d", "/data/race/spare") == 0) {
                rename("/data/race/s", "/data/race/d");
                rename("/data/race/d", "/data/race/s");
                rename("/data/race/spare", "/data/race/d");
            }
        _exit(0);
    }
    long tries = 0, leaked = 0, changed = 0;
    const char *marker = getenv("MARKER");
    time_t end = time(NULL) + seconds;
    char buf[256];
    while (time(NULL) < end) {
        const char *paths[] = {"/data/race/d/canary.txt", "/data/race/d/../../../../canary.txt",
                               "/data/race/s/canary.txt", "/data/race/r/canary.txt"};
        for (int i = 0; i < 4; i++) {
            int fd = open(paths[i], O_RDONLY);
            tries++;
            if (fd >= 0) {
                ssize_t n = read(fd, buf, sizeof buf - 1);
                buf[n > 0 ? n : 0] = 0;
                if (marker && strstr(buf, marker))
                    leaked++;
                close(fd);
            }
        }
        int fd = open("/data/race/d/new", O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) {
            write(fd, "PWNED", 5);
            close(fd);
        }
        changed += mkdir("/data/race/d/newdir", 0755) == 0;
        changed += chmod("/data/race/d/canary.txt", 0777) == 0;
        changed += truncate("/data/race/d/canary.txt", 0) == 0;
        unlink("/data/race/d/new");
        rmdir("/data/race/d/newdir");
        if (rename("/data/race/d/canary.txt", "/data/race/stolen") == 0)
            rename("/data/race/stolen", "/data/race/d/canary.txt");
        DIR *d = opendir("/data/race/d");
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (!strcmp(e->d_name, "canary_dir"))
                    leaked++;
            closedir(d);
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    waitpid(child, NULL, 0);
    printf("race tries>0: %d\n", tries > 0);
    printf("race leaked: %ld\n", leaked);
}

/* The host swaps (tests/security/test_host_paths.py does it): read
 * /data/swap/d/canary.txt and list /data/swap/d in a loop. */
static void scenario_hostrace(int seconds)
{
    const char *marker = getenv("MARKER");
    long leaked = 0, tries = 0, reads = 0;
    char buf[256];
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        int fd = open("/data/swap/d/canary.txt", O_RDONLY);
        tries++;
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            buf[n > 0 ? n : 0] = 0;
            reads++;
            if (marker && strstr(buf, marker))
                leaked++;
            close(fd);
        }
        fd = open("/data/swap/d/pwned", O_CREAT | O_WRONLY, 0644);
        if (fd >= 0)
            close(fd);
        chmod("/data/swap/d/canary.txt", 0777);
        DIR *d = opendir("/data/swap/d");
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (!strcmp(e->d_name, "canary_dir"))
                    leaked++;
            closedir(d);
        }
    }
    printf("hostrace tries>0: %d\n", tries > 0);
    printf("hostrace leaked: %ld\n", leaked);
}

static long o2(int dirfd, const char *path, unsigned long long flags, unsigned long long resolve)
{
    struct open_how how = {.flags = flags, .resolve = resolve};
    if (flags & O_CREAT)
        how.mode = 0644;
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* openat2 of a file: what it read, or the errno. */
#define O2(what, dirfd, path, flags, resolve) \
    read_show(cat("%s %s", what, path), (int)o2(dirfd, path, flags, resolve))

/* openat2 whose result is only shown (a directory, a procfs file). */
static void o2_show(const char *what, int dirfd, const char *path, unsigned long long flags,
                    unsigned long long resolve)
{
    long fd = o2(dirfd, path, flags, resolve);
    printf("%s %s: %s\n", what, path, res(fd));
    if (fd >= 0)
        close(fd);
}

static void o2_size(const char *what, const void *how, size_t size)
{
    long fd = syscall(SYS_openat2, AT_FDCWD, "/data/o2/f", how, size);
    printf("size %s: %s\n", what, res(fd));
    if (fd >= 0)
        close(fd);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        printf("write %s: %s\n", path, res(-1));
    close(fd);
}

/* openat2's RESOLVE_* scopes on a tree in the volume /data: `..`,
 * absolute paths, relative and absolute symlinks, a bind mount, the
 * volume's own mount and /proc's magic links; and open_how's checks. */
static void scenario_openat2(void)
{
    mkdir("/data/o2", 0755);
    mkdir("/data/o2/a", 0755);
    mkdir("/data/o2/a/b", 0755);
    mkdir("/data/o2/a/bm", 0755);
    write_file("/data/o2/f", "o2/f");
    write_file("/data/o2/a/f", "a/f");
    write_file("/data/o2/a/b/g", "a/b/g");
    symlink("b/g", "/data/o2/a/rel");
    symlink("../f", "/data/o2/a/b/relup");
    symlink("../f", "/data/o2/a/esc");
    symlink("/data/o2/a/f", "/data/o2/a/abs");
    symlink("/f", "/data/o2/a/absf");
    symlink("../../../../../f", "/data/o2/a/dots");
    symlink("/made", "/data/o2/a/dang_abs");
    symlink("../made", "/data/o2/a/dang_up");
    SHOW("bind a/b on a/bm", mount("/data/o2/a/b", "/data/o2/a/bm", NULL, MS_BIND, NULL));
    int a = open("/data/o2/a", O_RDONLY | O_DIRECTORY);
    int bm = open("/data/o2/a/bm", O_RDONLY | O_DIRECTORY);
    int data = open("/data", O_RDONLY | O_DIRECTORY);
    int root = open("/", O_RDONLY | O_DIRECTORY);
    int proc = open("/proc", O_RDONLY | O_DIRECTORY);
    int file = open("/data/o2/a/f", O_RDONLY);
    int pfile = open("/proc/self/status", O_RDONLY);
    char fdl[32], pfdl[32], pidfd[64];
    snprintf(fdl, sizeof fdl, "self/fd/%d", file);
    snprintf(pfdl, sizeof pfdl, "self/fd/%d", pfile);
    snprintf(pidfd, sizeof pidfd, "/proc/%d/fd/%d", getpid(), file);

    static const char *walks[] = {"f", "b/g", "b/../f", "../a/f", "b/../../a/f",
                                  "/data/o2/a/f", "/f", "rel", "b/relup", "esc", "abs",
                                  "absf", "dots", "bm/g", "bm/../f", "missing", NULL};
    static const struct { const char *name; unsigned long long resolve; } modes[] = {
        {"BENEATH", RESOLVE_BENEATH}, {"IN_ROOT", RESOLVE_IN_ROOT},
        {"NO_XDEV", RESOLVE_NO_XDEV}, {"NO_SYMLINKS", RESOLVE_NO_SYMLINKS}};
    for (unsigned m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        for (int i = 0; walks[i]; i++)
            O2(cat("%s a", modes[m].name), a, walks[i], O_RDONLY, modes[m].resolve);
        o2_show(cat("%s a", modes[m].name), a, "..", O_RDONLY, modes[m].resolve);
        o2_show(cat("%s a", modes[m].name), a, ".", O_RDONLY, modes[m].resolve);
        o2_show(cat("%s a", modes[m].name), a, "/", O_RDONLY, modes[m].resolve);
        o2_show(cat("%s proc", modes[m].name), proc, fdl, O_RDONLY, modes[m].resolve);
        o2_show(cat("%s proc", modes[m].name), proc, pfdl, O_RDONLY, modes[m].resolve);
        o2_show(cat("%s proc", modes[m].name), proc, "self/cwd", O_RDONLY, modes[m].resolve);
        o2_show(cat("%s proc", modes[m].name), proc, "self/status", O_RDONLY,
                modes[m].resolve);
        o2_show(cat("%s cwd", modes[m].name), AT_FDCWD, pidfd, O_RDONLY, modes[m].resolve);
        o2_show(cat("%s a O_PATH|O_NOFOLLOW", modes[m].name), a, "rel",
                O_PATH | O_NOFOLLOW, modes[m].resolve);
    }
    /* Mounts: the volume's and the bind mount's, down and up. */
    O2("NO_XDEV /", root, "data/o2/a/f", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV /", root, "etc/passwd", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV /data", data, "o2/a/f", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV /data", data, "o2/a/abs", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV /data", data, "/etc/passwd", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV /data", data, "../etc/passwd", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV bm", bm, "g", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV bm", bm, "../f", O_RDONLY, RESOLVE_NO_XDEV);
    O2("NO_XDEV bm", bm, "relup", O_RDONLY, RESOLVE_NO_XDEV);
    O2("BENEATH bm", bm, "relup", O_RDONLY, RESOLVE_BENEATH);
    O2("IN_ROOT bm", bm, "relup", O_RDONLY, RESOLVE_IN_ROOT);
    O2("BENEATH /data", data, "o2/a/b/relup", O_RDONLY, RESOLVE_BENEATH);
    O2("IN_ROOT /data", data, "o2/a/abs", O_RDONLY, RESOLVE_IN_ROOT);
    O2("IN_ROOT /", root, "data/o2/a/abs", O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_XDEV);
    /* Magic links: NO_MAGICLINKS is checked first. */
    o2_show("BENEATH|NO_MAGICLINKS proc", proc, fdl, O_RDONLY,
            RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    o2_show("NO_XDEV|NO_MAGICLINKS proc", proc, fdl, O_RDONLY,
            RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
    /* Creating through a dangling symlink. */
    o2_show("BENEATH a O_CREAT", a, "dang_up", O_RDWR | O_CREAT, RESOLVE_BENEATH);
    o2_show("BENEATH a O_CREAT", a, "dang_abs", O_RDWR | O_CREAT, RESOLVE_BENEATH);
    o2_show("NO_SYMLINKS a O_CREAT", a, "dang_abs", O_RDWR | O_CREAT, RESOLVE_NO_SYMLINKS);
    o2_show("IN_ROOT a O_CREAT", a, "dang_abs", O_RDWR | O_CREAT, RESOLVE_IN_ROOT);
    o2_show("IN_ROOT a O_CREAT", a, "/new", O_RDWR | O_CREAT, RESOLVE_IN_ROOT);
    o2_show("BENEATH a O_CREAT", a, "/new2", O_RDWR | O_CREAT, RESOLVE_BENEATH);
    o2_show("IN_ROOT a O_CREAT", a, "../../new3", O_RDWR | O_CREAT, RESOLVE_IN_ROOT);
    list("list a", "/data/o2/a");
    list("list o2", "/data/o2");
    /* RESOLVE_CACHED: what was just looked up is cached; what would
     * write, or was never looked up, is EAGAIN. */
    struct stat sb;
    stat("/data/o2/a/f", &sb);
    O2("CACHED", AT_FDCWD, "/data/o2/a/f", O_RDONLY, RESOLVE_CACHED);
    O2("CACHED a", a, "b/../f", O_RDONLY, RESOLVE_CACHED);
    O2("CACHED a", a, "never_looked_up", O_RDONLY, RESOLVE_CACHED);
    O2("CACHED a O_CREAT", a, "f", O_RDWR | O_CREAT, RESOLVE_CACHED);
    O2("CACHED a O_TRUNC", a, "f", O_RDWR | O_TRUNC, RESOLVE_CACHED);
    /* Linux's RCU walk leaves a refusal at a mount or at the scope's
     * top, and every magic link, to a ref-walk: EAGAIN. */
    O2("CACHED|BENEATH a", a, "../f", O_RDONLY, RESOLVE_CACHED | RESOLVE_BENEATH);
    O2("CACHED|BENEATH a", a, "/data/o2/a/f", O_RDONLY, RESOLVE_CACHED | RESOLVE_BENEATH);
    O2("CACHED|IN_ROOT a", a, "../f", O_RDONLY, RESOLVE_CACHED | RESOLVE_IN_ROOT);
    O2("CACHED|NO_XDEV /data", data, "../etc/passwd", O_RDONLY,
       RESOLVE_CACHED | RESOLVE_NO_XDEV);
    O2("CACHED|NO_XDEV /", root, "data/o2/a/f", O_RDONLY, RESOLVE_CACHED | RESOLVE_NO_XDEV);
    O2("CACHED|NO_SYMLINKS a", a, "rel", O_RDONLY, RESOLVE_CACHED | RESOLVE_NO_SYMLINKS);
    O2("CACHED proc", proc, fdl, O_RDONLY, RESOLVE_CACHED);
    O2("CACHED|NO_MAGICLINKS proc", proc, fdl, O_RDONLY,
       RESOLVE_CACHED | RESOLVE_NO_MAGICLINKS);
    /* open_how's checks, in Linux's order. */
    struct { struct open_how how; unsigned long long tail[4]; } big = {{.flags = O_RDONLY}, {0}};
    o2_size("16", &big, 16);
    o2_size("24", &big, 24);
    o2_size("56 zero tail", &big, sizeof big);
    o2_size("8192", &big, 8192);
    big.tail[2] = 1;
    o2_size("56 non-zero tail", &big, sizeof big);
    big.how.flags = 1ULL << 40;
    o2_size("56 non-zero tail, bad flags", &big, sizeof big);
    static const struct { const char *what; struct open_how how; } bad[] = {
        {"flags bit 40", {.flags = 1ULL << 40}},
        {"flags 0100000000", {.flags = 0100000000}},
        {"resolve 0x40", {.resolve = 0x40}},
        {"BENEATH|IN_ROOT", {.resolve = RESOLVE_BENEATH | RESOLVE_IN_ROOT}},
        {"mode without O_CREAT", {.mode = 0644}},
        {"O_CREAT mode 010644", {.flags = O_CREAT | O_RDWR, .mode = 010644}},
        {"O_PATH|O_RDWR", {.flags = O_PATH | O_RDWR}},
        {"O_PATH|O_NOFOLLOW|O_CLOEXEC", {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC}},
        {"CACHED O_CREAT bad mode", {.flags = O_CREAT, .mode = 010000,
                                     .resolve = RESOLVE_CACHED}},
        {"CACHED O_TRUNC mode", {.flags = O_TRUNC, .mode = 0644, .resolve = RESOLVE_CACHED}},
        {"CACHED O_TRUNC", {.flags = O_TRUNC, .resolve = RESOLVE_CACHED}},
        {"O_RDONLY", {.flags = O_RDONLY}},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        o2_size(bad[i].what, &bad[i].how, sizeof bad[i].how);
    close(bm);
    SHOW("umount a/bm", umount("/data/o2/a/bm"));
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: hostpaths SCENARIO OUTSIDE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    O = argv[2];
    rel_up[0] = 0;
    for (int i = 0; i < 24; i++)
        strcat(rel_up, "../");
    const char *s = argv[1];
    if (!strcmp(s, "follow"))
        scenario_follow();
    else if (!strcmp(s, "plant"))
        scenario_plant();
    else if (!strcmp(s, "dotdot"))
        scenario_dotdot();
    else if (!strcmp(s, "proc"))
        scenario_proc();
    else if (!strcmp(s, "readonly"))
        scenario_readonly();
    else if (!strcmp(s, "remount"))
        scenario_remount();
    else if (!strcmp(s, "copyup"))
        scenario_copyup();
    else if (!strcmp(s, "uds"))
        scenario_uds();
    else if (!strcmp(s, "devices"))
        scenario_devices();
    else if (!strcmp(s, "stdio"))
        scenario_stdio();
    else if (!strcmp(s, "bindmove"))
        scenario_bindmove();
    else if (!strcmp(s, "pseudo"))
        scenario_pseudo();
    else if (!strcmp(s, "openat2"))
        scenario_openat2();
    else if (!strcmp(s, "race"))
        scenario_race(argc > 3 ? atoi(argv[3]) : 3);
    else if (!strcmp(s, "hostrace"))
        scenario_hostrace(argc > 3 ? atoi(argv[3]) : 3);
    else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    return 0;
}
