/* execve in a child that shares its parent's fd table (clone with
 * CLONE_FILES|CLONE_VFORK, gVisor exec_test ExecveatTest.UnshareFiles):
 * the exec unshares the table first, so closing the child's O_CLOEXEC
 * fds leaves the parent's open. And a script run by execveat through an
 * O_CLOEXEC fd is ENOENT: its interpreter could not open /dev/fd/N
 * (ExecveatTest.InterpreterScriptWithCloexec*). A #! line's argument ends
 * at a NUL, and a script's AT_EXECFN is the name it was run by
 * (ExecTest.InterpreterScriptArgNUL, ExecFn). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "show") == 0) {     /* run as an interpreter */
        for (int i = 1; i < argc; i++)
            printf("interpreter argv[%d]: %s\n", i, argv[i]);
        printf("AT_EXECFN: %s\n", (char *)getauxval(AT_EXECFN));
        return 0;
    }
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

    int sfd = open("script.sh", O_CREAT | O_WRONLY, 0755);
    write(sfd, "#!/bin/sh\nexit 3\n", 18);
    close(sfd);
    const char *how[4] = {"its fd", "its O_CLOEXEC fd", "a dirfd", "an O_CLOEXEC dirfd"};
    for (int i = 0; i < 4; i++) {
        int cloexec = i & 1 ? O_CLOEXEC : 0;
        int target = i < 2 ? open("script.sh", O_RDONLY | cloexec)
                           : open(".", O_RDONLY | O_DIRECTORY | cloexec);
        child = fork();
        if (child == 0) {
            char *argv[] = {"script.sh", NULL}, *envp[] = {NULL};
            syscall(SYS_execveat, target, i < 2 ? "" : "script.sh", argv, envp,
                    i < 2 ? AT_EMPTY_PATH : 0);
            _exit(100 + errno);
        }
        waitpid(child, &status, 0);
        printf("script through %s: exit %d\n", how[i], WEXITSTATUS(status));
        close(target);
    }

    char self[4096] = {0}, line[8192];
    readlink("/proc/self/exe", self, sizeof(self) - 1);
    int n = snprintf(line, sizeof(line), "#!%s show", self);
    memcpy(line + n, "\0junk after a NUL", 18);
    sfd = open("nul.sh", O_CREAT | O_WRONLY, 0755);
    write(sfd, line, n + 18);
    close(sfd);
    child = fork();
    if (child == 0) {
        char *av[] = {"./nul.sh", NULL}, *envp[] = {NULL};
        execve("./nul.sh", av, envp);
        _exit(100 + errno);
    }
    waitpid(child, &status, 0);
    printf("script with a NUL in its #! line: exit %d\n", WEXITSTATUS(status));
    return 0;
}
