/* A removed file's IN_DELETE_SELF waits for its last open file to close
 * (the inode lives until then), and IN_EXCL_UNLINK watches hear nothing
 * more of a file once its name is gone (gVisor inotify_test
 * ExcludeUnlink*, RmdirWithOpenDirFdDefersDeleteSelfUntilClose). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static int ino, dir_wd, file_wd;

static void drain(const char *label)
{
    char buf[4096];
    ssize_t n = read(ino, buf, sizeof buf);
    printf("%-26s", label);
    for (ssize_t pos = 0; pos > -1 && pos < n;) {
        struct inotify_event *e = (struct inotify_event *)(buf + pos);
        printf(" [%s %#x%s%s]", e->wd == dir_wd ? "dir" : e->wd == file_wd ? "file" : "?",
               e->mask, e->len ? " " : "", e->len ? e->name : "");
        pos += sizeof(*e) + e->len;
    }
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int val = 0;
    mkdir("d", 0755);
    int f = open("d/f", O_CREAT | O_RDWR, 0644);
    ino = inotify_init1(IN_NONBLOCK);
    dir_wd = inotify_add_watch(ino, "d", IN_ALL_EVENTS | IN_EXCL_UNLINK);
    file_wd = inotify_add_watch(ino, "d/f", IN_ALL_EVENTS | IN_EXCL_UNLINK);
    unlink("d/f");
    write(f, &val, 4);
    pread(f, &val, 4, 0);
    drain("excl: unlink, write, read");
    close(f);
    drain("excl: close");
    f = open("d/g", O_CREAT | O_RDWR, 0644);
    dir_wd = inotify_add_watch(ino, "d", IN_ALL_EVENTS);
    file_wd = inotify_add_watch(ino, "d/g", IN_ALL_EVENTS);
    drain("watch");
    unlink("d/g");
    write(f, &val, 4);
    drain("unlink, write");
    close(f);
    drain("close");
    mkdir("d/s", 0755);
    int s = open("d/s", O_RDONLY | O_DIRECTORY);
    file_wd = inotify_add_watch(ino, "d/s", IN_ALL_EVENTS);
    drain("mkdir");
    rmdir("d/s");
    drain("rmdir with an open fd");
    close(s);
    drain("close it");
    return 0;
}
