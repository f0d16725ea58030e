/* getdents/getdents64 buffers as Linux's filldir treats them (gVisor
 * getdents_test PartialBuffer, TooLargeSize): records go in while the
 * buffer is writable, the count is an int; and lseek(SEEK_END) on
 * directories (lseek_test SeekCurrentDir, ProcDir); removing the root
 * (unlink_test CannotRemoveRoot*). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

static int count_all(int nr, int fd, char *buf, unsigned size)
{
    int found = 0;
    long n;
    lseek(fd, 0, SEEK_SET);
    while ((n = syscall(nr, fd, buf, size)) > 0) {
        for (long pos = 0; pos < n;) {
            unsigned short reclen = *(unsigned short *)(buf + pos + 16);
            pos += reclen;
            found++;
        }
    }
    return n < 0 ? -errno : found;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    mkdir("d", 0755);
    mkdir("empty", 0755);
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "d/file-with-a-longish-name-%03d", i);
        close(open(name, O_CREAT | O_WRONLY, 0644));
    }
    int fd = open("d", O_RDONLY | O_DIRECTORY);
    char *page = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(page + 4096, 4096, PROT_NONE);
    int nrs[2] = {SYS_getdents64, SYS_getdents};
    for (int i = 0; i < 2; i++) {
        printf("--- %s\n", i ? "getdents" : "getdents64");
        /* 256 writable bytes claimed as a page: every entry still comes. */
        printf("entries through 256 bytes claimed as 4096: %d\n",
               count_all(nrs[i], fd, page + 4096 - 256, 4096));
        lseek(fd, 0, SEEK_SET);
        SHOW("count INT_MAX + 1", syscall(nrs[i], fd, page, 0x80000000u));
        SHOW("count UINT_MAX", syscall(nrs[i], fd, page, 0xFFFFFFFFu));
        SHOW("count 0", syscall(nrs[i], fd, page, 0));
        SHOW("count 8 (less than a record)", syscall(nrs[i], fd, page, 8));
        SHOW("buffer at the guard page", syscall(nrs[i], fd, page + 4096, 4096));
        SHOW("buffer 8 bytes before it", syscall(nrs[i], fd, page + 4096 - 8, 4096));
        SHOW("bad pointer, count 0", syscall(nrs[i], fd, (void *)8, 0));
        int e = open("empty", O_RDONLY | O_DIRECTORY);
        syscall(nrs[i], e, page, 4096);
        SHOW("at the end, count INT_MAX + 1", syscall(nrs[i], e, page, 0x80000000u));
        close(e);
    }
    /* SEEK_END: procfs directories allow it, tmpfs's do not. */
    int proc = open("/proc/self", O_RDONLY | O_DIRECTORY);
    SHOW("SEEK_END on /proc/self", lseek(proc, 0, SEEK_END));
    SHOW("getdents64 after it", syscall(SYS_getdents64, proc, page, 4096) >= 0);
    mkdir("t", 0755);
    SHOW("mount a tmpfs", mount("none", "t", "tmpfs", 0, NULL));
    mkdir("t/sub", 0755);
    int t = open("t", O_RDONLY | O_DIRECTORY);
    SHOW("SEEK_END on a tmpfs directory", lseek(t, 0, SEEK_END));
    SHOW("SEEK_CUR on it", lseek(t, 0, SEEK_CUR));
    umount("t");
    int root = open("/", O_RDONLY | O_DIRECTORY);
    SHOW("rmdir /", rmdir("/"));
    SHOW("unlinkat(AT_REMOVEDIR) //", unlinkat(AT_FDCWD, "//", AT_REMOVEDIR));
    SHOW("unlinkat(dirfd, /, AT_REMOVEDIR)", unlinkat(root, "/", AT_REMOVEDIR));
    SHOW("unlink /", unlink("/"));
    SHOW("rmdir .", rmdir("."));
    SHOW("rmdir ..", rmdir(".."));
    return 0;
}
