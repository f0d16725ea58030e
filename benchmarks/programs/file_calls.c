/* Each common file call in a loop, next to getpid: prints one JSON line
 * {"getpid": ns, "openat": ns, ...} of nanoseconds per call. Run in a
 * directory holding the files it makes (a few small files and a
 * subdirectory of 20 entries). Raises its RLIMIT_NOFILE to the hard
 * limit: N descriptors are open at once. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000;
    char buf[4096], name[64];
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (mkdir("d", 0755) && access("d", F_OK)) die("mkdir");
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "d/f%02d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "x", 1) != 1) die("create");
        close(fd);
    }
    int fd = open("small", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, 64) != 64) die("small");
    int dir = open("d", O_RDONLY | O_DIRECTORY);
    if (dir < 0) die("open d");
    struct stat st;
    unsigned char stx[256];         /* struct statx, by size: old musl lacks it */
    double t, r_getpid, r_open, r_close, r_fstatat, r_statx, r_getdents, r_pread, r_pwrite;

#define TIME(var, body) do { \
        for (int w = 0; w < 10; w++) { body; } \
        t = now_ns(); \
        for (long i = 0; i < n; i++) { body; } \
        var = (now_ns() - t) / n; } while (0)

    TIME(r_getpid, syscall(SYS_getpid));
    /* openat n times, then close the n descriptors: each loop timed. */
    {
        int *fds = malloc(sizeof(int) * n);
        if (!fds) die("malloc");
        t = now_ns();
        for (long i = 0; i < n; i++) if ((fds[i] = openat(AT_FDCWD, "small", O_RDONLY)) < 0) die("openat");
        r_open = (now_ns() - t) / n;
        t = now_ns();
        for (long i = 0; i < n; i++) close(fds[i]);
        r_close = (now_ns() - t) / n;
        free(fds);
    }
    TIME(r_fstatat, if (fstatat(AT_FDCWD, "d/f07", &st, 0)) die("newfstatat"));
    TIME(r_statx, if (syscall(SYS_statx, AT_FDCWD, "d/f07", 0, 0x7ffu /* STATX_BASIC_STATS */, stx)) die("statx"));
    TIME(r_getdents, { lseek(dir, 0, SEEK_SET); if (syscall(SYS_getdents64, dir, buf, sizeof buf) <= 0) die("getdents64"); });
    TIME(r_pread, if (pread(fd, buf, 64, 0) != 64) die("pread"));
    TIME(r_pwrite, if (pwrite(fd, buf, 64, 0) != 64) die("pwrite"));
    printf("{\"calls\": %ld, \"getpid\": %.1f, \"openat\": %.1f, \"close\": %.1f, "
           "\"newfstatat\": %.1f, \"statx\": %.1f, \"lseek+getdents64\": %.1f, "
           "\"pread64 64 B\": %.1f, \"pwrite64 64 B\": %.1f}\n",
           n, r_getpid, r_open, r_close, r_fstatat, r_statx, r_getdents,
           r_pread, r_pwrite);
    return 0;
}
