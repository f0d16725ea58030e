/* Shared helpers for the tests/programs/fs_*.c programs.
 *
 * Each program gets an EMPTY scratch directory as argv[1], changes into it
 * and works only with relative names there (it refuses anything else, so a
 * native run can never touch the rest of the machine). Output is one line
 * per check, with errno NAMES rather than numbers and nothing that
 * legitimately differs between filesystems (inode and device numbers,
 * atimes unless set explicitly, directory sizes, st_blocks).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline const char *errname(int e)
{
    switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC)
    E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY)
    E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
    E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS)
    E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY)
    E(ELOOP) E(ENODATA) E(EOPNOTSUPP) E(EOVERFLOW) E(EBADFD)
#undef E
    default: return "E?";
    }
}

/* One check: "label = value" or "label = -1 ENAME". */
static inline long show(const char *label, long r)
{
    if (r < 0)
        printf("%-44s = %ld %s\n", label, r, errname(errno));
    else
        printf("%-44s = %ld\n", label, r);
    return r;
}

#define TRY(call) (errno = 0, show(#call, (long)(call)))
#define SAY(...) printf(__VA_ARGS__)

/* Change into argv[1], which must be an existing, empty directory. */
static inline void enter_scratch(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: %s /EMPTY/SCRATCH/DIR\n", argv[0]);
        exit(2);
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        exit(2);
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            fprintf(stderr, "%s: scratch directory is not empty\n", argv[1]);
            exit(2);
        }
    closedir(d);
    if (chdir(argv[1])) {
        perror("chdir");
        exit(2);
    }
}

static inline void put_file(const char *name, const char *data, mode_t mode)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
        perror(name);
        exit(3);
    }
    fchmod(fd, mode);
    close(fd);
}

/* The contents of a file (at most 255 bytes), printed with escapes. */
static inline void show_file(const char *label, const char *name)
{
    char buf[256];
    int fd = open(name, O_RDONLY);
    if (fd < 0) {
        printf("%-44s : open %s\n", label, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    printf("%-44s : %zd \"", label, n);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] >= 32 && buf[i] < 127)
            putchar(buf[i]);
        else
            printf("\\x%02x", (unsigned char)buf[i]);
    printf("\"\n");
}

static inline const char *kind(mode_t m)
{
    return S_ISREG(m) ? "reg" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "lnk"
         : S_ISFIFO(m) ? "fifo" : S_ISCHR(m) ? "chr" : S_ISBLK(m) ? "blk"
         : S_ISSOCK(m) ? "sock" : "?";
}

/* lstat (follow=0) or stat of a name: type, permission bits, links, size
 * (not for directories: their size is the filesystem's business), owner. */
static inline void show_stat(const char *name, int follow)
{
    struct stat st;
    int r = follow ? stat(name, &st) : lstat(name, &st);
    if (r) {
        printf("%sstat %-38s : %s\n", follow ? "" : "l", name, errname(errno));
        return;
    }
    printf("%sstat %-38s : %s %04o nlink=%lu", follow ? "" : "l", name,
           kind(st.st_mode), st.st_mode & 07777, (unsigned long)st.st_nlink);
    if (!S_ISDIR(st.st_mode))
        printf(" size=%lld", (long long)st.st_size);
    printf(" uid=%u gid=%u\n", st.st_uid, st.st_gid);
}

/* Programs are split into groups of checks. Each group runs in its own
 * new subdirectory of the scratch directory, with umask 022 and no file
 * descriptors but 0-2, so that one wrong answer cannot cascade into the
 * checks of another group; its output starts with "== NAME".
 * tests/guest/test_fs_syscalls.py compares native and sandboxed runs group
 * by group, and finds the groups by reading the GROUPS table of each
 * program's source. argv[2...] picks groups (default: all). */
struct group {
    const char *name;
    void (*run)(void);
};

static char group_dir[4096];      /* absolute path of the running group's directory */

static inline void close_extra_fds(void)
{
    for (int fd = 3; fd < 64; fd++)
        close(fd);
    close(1023);
}

static inline int run_groups(int argc, char **argv, const struct group *groups)
{
    enter_scratch(argc, argv);
    for (const struct group *g = groups; g->name; g++) {
        int wanted = argc <= 2;
        for (int i = 2; i < argc; i++)
            wanted |= !strcmp(argv[i], g->name);
        if (!wanted)
            continue;
        snprintf(group_dir, sizeof(group_dir), "%s/%s", argv[1], g->name);
        if (chdir(argv[1]) || mkdir(g->name, 0755) || chdir(g->name)) {
            perror(group_dir);
            return 3;
        }
        umask(022);
        SAY("== %s\n", g->name);
        g->run();
        fflush(stdout);
        close_extra_fds();
    }
    return 0;
}
