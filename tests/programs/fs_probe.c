/* Escape probe for tests/guest/test_fs_escape.py: runs the operations
 * given as arguments, in order, in one process, and prints one line each
 * (errno names, never numbers):
 *
 *   cat:PATH            open and print up to 200 bytes
 *   ls:PATH             the sorted names in a directory
 *   stat:PATH           lstat: type and size
 *   readlink:PATH       the link's target
 *   ln:TARGET:NAME      symlink(TARGET, NAME)
 *   write:PATH:DATA     open(O_WRONLY|O_CREAT|O_TRUNC) and write DATA
 *   append:PATH:DATA    open(O_WRONLY|O_APPEND) and write DATA
 *   mkdir:PATH  rmdir:PATH  unlink:PATH  rename:OLD:NEW  link:OLD:NEW
 *   chmod:PATH:OCTAL    truncate:PATH:SIZE
 *   mmap:PATH:DATA      store DATA through a MAP_SHARED mapping, msync, munmap
 *   cd:PATH             chdir, then print getcwd
 *   at:DIR:PATH         open DIR, then openat(dirfd, PATH) and print it
 *
 * It never touches anything it is not told to, so a native run under
 * chroot(8) on a copy of the sandbox root is the oracle.
 */
#include "fs_common.h"

#include <limits.h>
#include <sys/mman.h>

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_fd(const char *what, int fd)
{
    char buf[201];
    ssize_t n = read(fd, buf, 200);
    if (n < 0) {
        printf("%s: read %s\n", what, errname(errno));
        return;
    }
    printf("%s: \"", what);
    for (ssize_t i = 0; i < n; i++)
        printf(buf[i] >= 32 && buf[i] < 127 && buf[i] != '"' ? "%c" : "\\x%02x",
               (unsigned char)buf[i]);
    printf("\"\n");
}

static void op_ls(const char *what, const char *path)
{
    static char *names[1024];
    int n = 0;
    DIR *d = opendir(path);
    if (!d) {
        printf("%s: %s\n", what, errname(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024)
        names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp);
    printf("%s:", what);
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
}

static void op(char *arg)
{
    char *a = strchr(arg, ':');
    if (!a) {
        printf("%s: bad operation\n", arg);
        return;
    }
    *a++ = 0;
    char *b = strchr(a, ':');
    if (b)
        *b++ = 0;
    char what[PATH_MAX * 2 + 16];
    snprintf(what, sizeof(what), "%s %s%s%s", arg, a, b ? " " : "", b ? b : "");
    int fd;
    long r = 0;
    errno = 0;
    if (!strcmp(arg, "cat")) {
        if ((fd = open(a, O_RDONLY)) < 0)
            printf("%s: %s\n", what, errname(errno));
        else
            print_fd(what, fd), close(fd);
        return;
    } else if (!strcmp(arg, "at")) {
        int dfd = open(a, O_RDONLY | O_DIRECTORY);
        if (dfd < 0 || (fd = openat(dfd, b, O_RDONLY)) < 0)
            printf("%s: %s\n", what, errname(errno));
        else
            print_fd(what, fd), close(fd);
        if (dfd >= 0)
            close(dfd);
        return;
    } else if (!strcmp(arg, "ls")) {
        op_ls(what, a);
        return;
    } else if (!strcmp(arg, "stat")) {
        struct stat st;
        if (lstat(a, &st))
            printf("%s: %s\n", what, errname(errno));
        else
            printf("%s: %s %04o %lld\n", what, kind(st.st_mode), st.st_mode & 07777,
                   S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
        return;
    } else if (!strcmp(arg, "readlink")) {
        char buf[PATH_MAX + 1];
        ssize_t n = readlink(a, buf, PATH_MAX);
        if (n < 0)
            printf("%s: %s\n", what, errname(errno));
        else
            printf("%s: %.*s\n", what, (int)n, buf);
        return;
    } else if (!strcmp(arg, "cd")) {
        char buf[PATH_MAX];
        if (chdir(a) || !getcwd(buf, sizeof(buf)))
            printf("%s: %s\n", what, errname(errno));
        else
            printf("%s: %s\n", what, buf);
        return;
    } else if (!strcmp(arg, "write") || !strcmp(arg, "append")) {
        int flags = O_WRONLY | (arg[0] == 'w' ? O_CREAT | O_TRUNC : O_APPEND);
        if ((fd = open(a, flags, 0644)) < 0)
            r = -1;
        else
            r = write(fd, b ? b : "", b ? strlen(b) : 0), close(fd);
    } else if (!strcmp(arg, "mmap")) {
        char *m = MAP_FAILED;
        size_t n = b && *b ? strlen(b) : 1;
        if ((fd = open(a, O_RDWR)) >= 0) {
            m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            close(fd);
        }
        if (m == MAP_FAILED)
            r = -1;
        else
            memcpy(m, b && *b ? b : "", n), r = msync(m, n, MS_SYNC), munmap(m, n);
    } else if (!strcmp(arg, "ln"))
        r = symlink(a, b ? b : "");
    else if (!strcmp(arg, "link"))
        r = link(a, b ? b : "");
    else if (!strcmp(arg, "rename"))
        r = rename(a, b ? b : "");
    else if (!strcmp(arg, "mkdir"))
        r = mkdir(a, 0755);
    else if (!strcmp(arg, "rmdir"))
        r = rmdir(a);
    else if (!strcmp(arg, "unlink"))
        r = unlink(a);
    else if (!strcmp(arg, "chmod"))
        r = chmod(a, strtol(b ? b : "0", NULL, 8));
    else if (!strcmp(arg, "truncate"))
        r = truncate(a, atol(b ? b : "0"));
    else {
        printf("%s: unknown operation\n", what);
        return;
    }
    if (r < 0)
        printf("%s: %s\n", what, errname(errno));
    else
        printf("%s: ok\n", what);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        op(argv[i]);
        fflush(stdout);
    }
    return 0;
}
