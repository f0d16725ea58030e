/* PR_SET_PDEATHSIG: a child is signalled when its parent process ends. */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int fds[2]; pipe(fds);
    pid_t p = fork();
    if (p == 0) {   /* middle: forks a grandchild that wants SIGTERM when middle dies */
        pid_t g = fork();
        if (g == 0) {
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            close(fds[0]);
            write(fds[1], "r", 1);
            pause();
            _exit(9);
        }
        char c; read(fds[0], &c, 1);
        _exit(0);
    }
    close(fds[1]);
    waitpid(p, 0, 0);
    char c; int n = read(fds[0], &c, 1);   /* EOF once the grandchild died */
    printf("grandchild gone: %d\n", n == 0);
    return 0;
}
