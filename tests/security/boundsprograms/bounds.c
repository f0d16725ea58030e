/* Crash inputs 5-8 of issue 13 and the offset/length/id limits around
 * them. Run in a scratch directory (argv[1]); every line is a call and
 * Linux's answer, compared with a native run on the same kind of
 * filesystem. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_LFS 0x7fffffffffffffffLL

static void show(const char *what, long r)
{
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static void show_stat(const char *path)
{
    struct stat s;
    if (lstat(path, &s) < 0) {
        show(path, -1);
        return;
    }
    printf("%s: uid=%u gid=%u size=%lld blocks=%lld\n", path, s.st_uid, s.st_gid,
           (long long)s.st_size, (long long)s.st_blocks);
}

static int fresh(const char *name)
{
    unlink(name);
    return open(name, O_RDWR | O_CREAT, 0644);
}

static void ids(void)
{
    int fd = fresh("owned");
    show("chown 2^31", chown("owned", 0x80000000u, -1));
    show_stat("owned");
    show("fchown 2^32-2", fchown(fd, 0xfffffffeu, 0x80000001u));
    show_stat("owned");
    show("chown -1 -1", chown("owned", -1, -1));
    show_stat("owned");
    show("lchown gid 4000000000", lchown("owned", -1, 4000000000u));
    show_stat("owned");
    show("raw chown 64-bit -1", syscall(SYS_chown, "owned", 0xffffffffffffffffULL, 7ULL));
    show_stat("owned");
    show("raw chown high bits", syscall(SYS_chown, "owned", 0x100000005ULL, 0x100000006ULL));
    show_stat("owned");
    close(fd);

    /* Group lists and fs ids past 2^31, in a child so the test's own
     * credentials stay as they were. */
    if (fork() == 0) {
        gid_t bad[] = {5, (gid_t)-1}, good[] = {0x80000001u, 5, 0xfffffffeu, 3};
        gid_t back[8];
        show("setgroups with -1", setgroups(2, bad));
        show("setgroups high", setgroups(4, good));
        int n = getgroups(8, back);
        for (int i = 0; i < n; i++)
            printf("  group %u\n", back[i]);
        show("setfsuid 2^31", setfsuid(0x80000000u));
        show("setfsgid 2^32-2", setfsgid(0xfffffffeu));
        show("creat as fsuid 2^31", open("fsowned", O_RDWR | O_CREAT, 0644));
        show_stat("fsowned");
        _exit(0);
    }
    wait(NULL);
}

static void offsets(void)
{
    char buf[16] = "0123456789abcdef";
    int fd = fresh("big");
    show("pwrite 2^63-2", pwrite(fd, buf, 1, MAX_LFS - 1));
    show("pwrite 2^63-5 x10", pwrite(fd, buf, 10, MAX_LFS - 4));
    show("pwrite 2^63-1", pwrite(fd, buf, 1, MAX_LFS));
    show("pwrite -1", pwrite(fd, buf, 1, -1));
    show_stat("big");
    show("pread 2^63-3", pread(fd, buf, 10, MAX_LFS - 2));
    show("lseek end", lseek(fd, 0, SEEK_END));
    show("lseek end+1", lseek(fd, 1, SEEK_END));
    show("write at end", write(fd, buf, 1));
    show("lseek cur 2^63-3", lseek(fd, MAX_LFS - 3, SEEK_SET));
    show("write x10 near end", write(fd, buf, 10));
    show("ftruncate -1", ftruncate(fd, -1));
    show("ftruncate 2^62", ftruncate(fd, 1LL << 62));
    show_stat("big");
    show("ftruncate 0", ftruncate(fd, 0));
    show("preadv -1", preadv(fd, &(struct iovec){buf, 4}, 1, -1));
    show("pwritev 2^63-1", pwritev(fd, &(struct iovec){buf, 4}, 1, MAX_LFS));
    show("readv iovcnt -1", readv(fd, &(struct iovec){buf, 4}, -1));
    show("readv iovcnt 1025", readv(fd, &(struct iovec){buf, 4}, 1025));
    struct iovec huge[2] = {{buf, 4}, {buf, 1ULL << 63}};
    show("writev len 2^63", writev(fd, huge, 2));
    close(fd);
}

static void copies(void)
{
    char buf[64];
    memset(buf, 'x', sizeof buf);
    int in = fresh("src"), out = fresh("dst");
    write(in, buf, sizeof buf);
    loff_t a = 0, b = 0;
    show("cfr len SIZE_MAX", copy_file_range(in, &a, out, &b, SIZE_MAX, 0));
    printf("  offsets %lld %lld\n", (long long)a, (long long)b);
    a = 0, b = 0;
    show("cfr len 2^63", copy_file_range(in, &a, out, &b, 1ULL << 63, 0));
    a = 0, b = 0;
    show("cfr len 2^63-1", copy_file_range(in, &a, out, &b, MAX_LFS, 0));
    printf("  offsets %lld %lld\n", (long long)a, (long long)b);
    a = 0, b = MAX_LFS - 8;
    show("cfr out near 2^63", copy_file_range(in, &a, out, &b, 64, 0));
    printf("  offsets %lld %lld\n", (long long)a, (long long)b);
    a = 8, b = 0;
    show("cfr in 2^63-1 len", copy_file_range(in, &a, out, &b, MAX_LFS - 4, 0));
    a = -1, b = 0;
    show("cfr in -1", copy_file_range(in, &a, out, &b, 4, 0));
    a = 0, b = 0;
    show("cfr same file overlap", copy_file_range(in, &a, in, &b, 8, 0));
    show_stat("dst");
    lseek(in, 0, SEEK_SET);
    show("sendfile huge", sendfile(out, in, NULL, SIZE_MAX));
    off_t o = -1;
    show("sendfile off -1", sendfile(out, in, &o, 4));
    close(in);
    close(out);
}

static void allocs(void)
{
    int fd = fresh("alloc");
    show("fallocate 2^62", fallocate(fd, 0, 0, 1LL << 62));
    show("fallocate 2^63-1", fallocate(fd, 0, 0, MAX_LFS));
    show("fallocate off 1 len 2^63-1", fallocate(fd, 0, 1, MAX_LFS));
    show("fallocate len 0", fallocate(fd, 0, 0, 0));
    show("fallocate len -1", fallocate(fd, 0, 0, -1));
    show("fallocate keep 2^62", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1LL << 62));
    show("fallocate 8192", fallocate(fd, 0, 0, 8192));
    /* st_blocks differs here: the sandbox's tmpfs does not charge
     * fallocated pages until they are written. */
    show("size", lseek(fd, 0, SEEK_END));
    close(fd);
}

static void sparse(void)
{
    int fd = fresh("sparse");
    show("pwrite 4GiB", pwrite(fd, "x", 1, 4LL << 30));
    show_stat("sparse");
    show("seek data 0", lseek(fd, 0, SEEK_DATA));
    show("seek hole 0", lseek(fd, 0, SEEK_HOLE));
    show("seek hole 4GiB", lseek(fd, 4LL << 30, SEEK_HOLE));
    show("seek data 4GiB+1", lseek(fd, (4LL << 30) + 1, SEEK_DATA));
    show("seek hole -1", lseek(fd, -1, SEEK_HOLE));
    char buf[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    show("pread hole", pread(fd, buf, 8, (4LL << 30) - 4));
    printf("  %d %d %d %d %d\n", buf[0], buf[3], buf[4], buf[5], buf[7]);
    show("ftruncate 2GiB", ftruncate(fd, 2LL << 30));
    show_stat("sparse");
    show("seek data 0", lseek(fd, 0, SEEK_DATA));
    show("pwrite 8191", pwrite(fd, "yz", 2, 8191));
    show("seek data 0", lseek(fd, 0, SEEK_DATA));
    show("seek hole 4096", lseek(fd, 4096, SEEK_HOLE));
    show_stat("sparse");
    close(fd);
}

static void counts(void)
{
    char b[4];
    int d = open(".", O_RDONLY | O_DIRECTORY);
    show("read dir 0", read(d, b, 0));
    show("read dir 4", read(d, b, 4));
    int full = open("/dev/full", O_WRONLY), null = open("/dev/null", O_RDWR);
    show("write full 0", write(full, b, 0));
    show("read null 0", read(null, b, 0));
    show("write null NULL 5", write(null, NULL, 5));
    show("write null 2^63", syscall(SYS_write, null, b, 1ULL << 63));
    show("write null kernel ptr", write(null, (void *)0xffff800000000000ULL, 5));
    int p[2];
    pipe(p);
    show("write pipe 0", write(p[1], b, 0));
    show("read pipe 0", read(p[0], b, 0));
    show("write pipe NULL 5", write(p[1], NULL, 5));
    show("read pipe kernel ptr", read(p[0], (void *)0xffff800000000000ULL, 4));
    show("write pipe 4", write(p[1], "abcd", 4));
    show("read pipe SIZE_MAX", syscall(SYS_read, p[0], b, ~0ULL));
    show("read pipe 1 past top", read(p[0], (void *)0x7ffffffff000ULL, 1));
    show("readv to kernel ptr", readv(p[0], &(struct iovec){(void *)0xffff800000000000ULL, 4}, 1));
    close(d);
    close(full);
    close(null);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 2 ? argv[2] : "all";
    if (!strcmp(what, "all") || !strcmp(what, "ids")) ids();
    if (!strcmp(what, "all") || !strcmp(what, "offsets")) offsets();
    if (!strcmp(what, "all") || !strcmp(what, "copies")) copies();
    if (!strcmp(what, "all") || !strcmp(what, "allocs")) allocs();
    if (!strcmp(what, "all") || !strcmp(what, "sparse")) sparse();
    if (!strcmp(what, "all") || !strcmp(what, "counts")) counts();
    return 0;
}
