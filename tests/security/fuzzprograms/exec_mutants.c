/* exec_mutants DIR N: execve DIR/m0 .. DIR/m<N-1> (mutated ELF files), one
 * child each, and print how each ended: an execve error, an exit status,
 * a signal, or "stuck" (killed after a few seconds). Any outcome is fine
 * for a mutant; the sandbox itself must survive them all. Sandbox only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_SECONDS 2

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/m%d", argv[1], i);
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
            return 1;
        pid_t child = fork();
        if (child < 0)
            return 1;
        if (child == 0) {
            char *args[] = {path, NULL}, *env[] = {"PATH=/bin", NULL};
            freopen("/dev/null", "w", stdout);
            execve(path, args, env);
            int err = errno;
            write(pipefd[1], &err, sizeof err);
            _exit(127);
        }
        close(pipefd[1]);
        int err = 0, status = 0, waited = 0;
        if (read(pipefd[0], &err, sizeof err) != sizeof err)
            err = 0;
        close(pipefd[0]);
        struct timespec tick = {0, 10 * 1000 * 1000};
        while (waited < CHILD_SECONDS * 100 && waitpid(child, &status, WNOHANG) == 0) {
            nanosleep(&tick, NULL);
            waited++;
        }
        if (waited >= CHILD_SECONDS * 100) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            printf("m%d: stuck, killed\n", i);
        } else if (err) {
            printf("m%d: execve %s\n", i, strerrorname_np(err));
        } else if (WIFSIGNALED(status)) {
            printf("m%d: signal %d\n", i, WTERMSIG(status));
        } else {
            printf("m%d: exit %d\n", i, WEXITSTATUS(status));
        }
    }
    printf("mutants done: %d\n", n);
    return 0;
}
