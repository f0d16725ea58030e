/* POSIX record locks between a parent and its child. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) { setvbuf(stdout, 0, _IONBF, 0);
    int fd = open("lockfile-test", O_RDWR | O_CREAT, 0600);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    printf("parent lock %d\n", fcntl(fd, F_SETLK, &fl));
    pid_t p = fork();
    if (p == 0) {
        struct flock g = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
        int r = fcntl(fd, F_SETLK, &g);
        struct flock q = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        fcntl(fd, F_GETLK, &q);
        printf("child setlk %d getlk type=%d start=%lld len=%lld pid_is_parent=%d\n", r, q.l_type,
               (long long)q.l_start, (long long)q.l_len, q.l_pid == getppid());
        struct flock h = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 5};
        printf("child other range %d\n", fcntl(fd, F_SETLK, &h));
        _exit(0);
    }
    waitpid(p, 0, 0);
    unlink("lockfile-test");
    return 0;
}
