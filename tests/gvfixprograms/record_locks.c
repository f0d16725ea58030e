/* fcntl record locks found different by gVisor's fcntl_test: POSIX locks
 * on pipes and sockets (they have inodes in Linux too), and an open file
 * description lock that goes away with the description's last close (but
 * not with the close of one of its duplicates). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lk(int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, cmd, &fl);
}

static short probe(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_GETLK, &fl))
        return -1;
    return fl.l_type;
}

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-40s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

int main(void)
{
    int p[2], s[2];
    setvbuf(stdout, NULL, _IONBF, 0);
    pipe(p);
    SHOW("read lock on the read end", lk(p[0], F_SETLK, F_RDLCK));
    SHOW("write lock on the read end", lk(p[0], F_SETLK, F_WRLCK));
    SHOW("write lock on the write end", lk(p[1], F_SETLK, F_WRLCK));
    SHOW("read lock on the write end", lk(p[1], F_SETLK, F_RDLCK));
    SHOW("unlock the write end", lk(p[1], F_SETLK, F_UNLCK));
    SHOW("whence SEEK_END on a pipe", ({ struct flock fl = {.l_type = F_RDLCK,
         .l_whence = SEEK_END}; fcntl(p[0], F_SETLK, &fl); }));
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    SHOW("read lock on a socket", lk(s[0], F_SETLK, F_RDLCK));
    SHOW("OFD write lock on a socket", lk(s[1], F_OFD_SETLK, F_WRLCK));
    SHOW("OFD lock of the other socket end", lk(s[0], F_OFD_SETLK, F_WRLCK));

    int fd1 = open("f", O_RDWR | O_CREAT, 0644), fd2 = open("f", O_RDWR);
    SHOW("OFD read lock, first open", lk(fd1, F_OFD_SETLK, F_RDLCK));
    SHOW("OFD read lock, second open", lk(fd2, F_OFD_SETLK, F_RDLCK));
    int dup1 = dup(fd1);
    close(fd1);
    int fd3 = open("f", O_RDWR);
    printf("after closing a dup of the first: %d\n", probe(fd3));
    close(fd2);
    printf("after closing the second: %d\n", probe(fd3));
    close(dup1);
    printf("after the last close of both: %d\n", probe(fd3));
    SHOW("OFD write lock now", lk(fd3, F_OFD_SETLK, F_WRLCK));
    return 0;
}
