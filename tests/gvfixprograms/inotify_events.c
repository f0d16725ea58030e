/* inotify events gVisor's inotify_test found missing or out of order:
 * IN_ACCESS for reads and directory listings, IN_OPEN before the
 * IN_MODIFY of an O_TRUNC open, IN_MODIFY for ftruncate and fallocate,
 * utimensat's mask by which times it sets, IN_ATTRIB on a file given a
 * new link or an extended attribute set or removed (not read); a watched
 * directory's own IN_MOVE_SELF and IN_DELETE_SELF carry no IN_ISDIR. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int ino, dir_wd, file_wd, sub_wd = -2;

static void drain(const char *label)
{
    char buf[4096];
    printf("%-28s", label);
    ssize_t n = read(ino, buf, sizeof(buf));
    for (ssize_t pos = 0; pos > -1 && pos < n;) {
        struct inotify_event *e = (struct inotify_event *)(buf + pos);
        printf(" [%s %#x%s%s]", e->wd == dir_wd ? "dir" : e->wd == file_wd ? "file" :
               e->wd == sub_wd ? "sub" : "?",
               e->mask, e->len ? " " : "", e->len ? e->name : "");
        pos += sizeof(*e) + e->len;
    }
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    mkdir("w", 0755);
    int fd = open("w/f", O_CREAT | O_RDWR, 0644);
    write(fd, "some content", 12);
    close(fd);
    ino = inotify_init1(IN_NONBLOCK);
    dir_wd = inotify_add_watch(ino, "w", IN_ALL_EVENTS);
    file_wd = inotify_add_watch(ino, "w/f", IN_ALL_EVENTS);

    fd = open("w/f", O_RDONLY);
    char c[4];
    read(fd, c, 4);
    read(fd, c, 0);
    close(fd);
    drain("open, read, close");
    DIR *d = opendir("w");
    while (readdir(d))
        ;
    closedir(d);
    drain("list the directory");
    fd = open("w/f", O_WRONLY | O_TRUNC);
    drain("open O_TRUNC");
    ftruncate(fd, 100);
    drain("ftruncate");
    fallocate(fd, 0, 0, 200);
    drain("fallocate");
    close(fd);
    drain("close");
    struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    utimensat(AT_FDCWD, "w/f", ts, 0);
    drain("utimensat atime");
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_NOW;
    utimensat(AT_FDCWD, "w/f", ts, 0);
    drain("utimensat mtime");
    ts[0].tv_nsec = UTIME_NOW;
    utimensat(AT_FDCWD, "w/f", ts, 0);
    drain("utimensat both");
    link("w/f", "w/g");
    drain("link");
    truncate("w/g", 10);
    drain("truncate by the other name");
    char v[8];
    setxattr("w/f", "user.t", "1", 1, 0);
    drain("setxattr");
    getxattr("w/f", "user.t", v, sizeof v);
    listxattr("w/f", v, sizeof v);
    drain("getxattr, listxattr");
    removexattr("w/f", "user.t");
    drain("removexattr");
    mkdir("w/sub", 0755);
    sub_wd = inotify_add_watch(ino, "w/sub", IN_ALL_EVENTS);
    drain("mkdir");
    rename("w/sub", "w/sub2");
    drain("rename a watched directory");
    rmdir("w/sub2");
    drain("rmdir a watched directory");
    return 0;
}
