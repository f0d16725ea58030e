/* execve in a child that shares its parent's fd table (clone with
 * CLONE_FILES|CLONE_VFORK, gVisor exec_test ExecveatTest.UnshareFiles):
 * the exec unshares the table first, so closing the child's O_CLOEXEC
 * fds leaves the parent's open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
    int plain = open("/bin/true", O_RDONLY);
    pid_t child = syscall(SYS_clone, SIGCHLD | CLONE_VFORK | CLONE_FILES, 0, 0, 0, 0);
    if (child == 0) {
        char *argv[] = {"true", NULL}, *envp[] = {NULL};
        execve("/bin/true", argv, envp);
        _exit(99);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child exited %d\n", WEXITSTATUS(status));
    struct stat st;
    int r = fstat(fd, &st);
    printf("parent's O_CLOEXEC fd after the child's exec: %d %s\n", r, r ? strerror(errno) : "");
    r = fstat(plain, &st);
    printf("parent's plain fd: %d\n", r);
    /* Without CLONE_FILES nothing is shared to begin with. */
    child = fork();
    if (child == 0) {
        char *argv[] = {"true", NULL}, *envp[] = {NULL};
        execve("/bin/true", argv, envp);
        _exit(99);
    }
    waitpid(child, &status, 0);
    printf("forked child exited %d, fd still open %d\n", WEXITSTATUS(status), fstat(fd, &st) == 0);
    return 0;
}
