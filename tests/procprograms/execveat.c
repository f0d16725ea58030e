/* execveat with a directory fd, and fexecve (AT_EMPTY_PATH on an fd). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char *argv[] = {"echo", "from execveat", NULL};
    char *envp[] = {NULL};
    int status;
    pid_t p = fork();
    if (p == 0) {
        int dir = open("/bin", O_RDONLY | O_DIRECTORY);
        syscall(SYS_execveat, dir, "echo", argv, envp, 0);
        _exit(90);
    }
    waitpid(p, &status, 0);
    p = fork();
    if (p == 0) {
        char *argv2[] = {"echo", "from fexecve", NULL};
        int fd = open("/bin/echo", O_RDONLY);
        fexecve(fd, argv2, envp);
        _exit(91);
    }
    waitpid(p, &status, 0);
    printf("bad flags: %ld\n", syscall(SYS_execveat, AT_FDCWD, "/bin/echo", argv, envp, 0x4));
    printf("missing: %ld\n", syscall(SYS_execveat, AT_FDCWD, "/nonexistent", argv, envp, 0));
    return 0;
}
