/* fork + exec + wait status encodings, vfork, CoW isolation after fork. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int global = 1;

static void show(const char *what, int status) {
    printf("%s: exited=%d code=%d signaled=%d sig=%d\n", what, WIFEXITED(status),
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status),
           WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

int main(void) {
    int status;
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t p = fork();
    if (p == 0) { global = 2; _exit(7); }
    if (waitpid(p, &status, 0) != p) return 90;
    show("exit 7", status);
    printf("global after child wrote: %d\n", global);

    p = fork();
    if (p == 0) { *(volatile int *)0 = 1; _exit(0); }
    waitpid(p, &status, 0);
    show("segv", status);

    p = fork();
    if (p == 0) { abort(); }
    waitpid(p, &status, 0);
    show("abort", status);

    p = fork();
    if (p == 0) { execl("/bin/sh", "sh", "-c", "exit 5", (char *)0); _exit(99); }
    waitpid(p, &status, 0);
    show("exec sh exit 5", status);

    p = vfork();
    if (p == 0) { execl("/bin/true", "true", (char *)0); _exit(98); }
    waitpid(p, &status, 0);
    show("vfork true", status);

    p = fork();
    if (p == 0) { execl("/nonexistent", "x", (char *)0); _exit(errno == ENOENT ? 3 : 4); }
    waitpid(p, &status, 0);
    show("exec missing", status);

    printf("wait no child: %d %s\n", wait(&status), strerror(errno));
    int pipefd[2];
    pipe(pipefd);
    p = fork();
    if (p == 0) { close(pipefd[0]); write(pipefd[1], "through the pipe", 16); _exit(0); }
    close(pipefd[1]);
    char buf[64] = {0};
    int n = read(pipefd[0], buf, sizeof buf - 1);
    printf("read %d: %s\n", n, buf);
    waitpid(p, &status, 0);
    printf("getppid in parent is not 0: %d\n", getppid() != 0 || getpid() == 1);
    return 0;
}
