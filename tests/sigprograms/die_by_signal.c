/* Exit by an unhandled signal named in argv[1] (TERM, USR1, ...), sent
 * with kill() to self, or from a child if argv[2] is "child". */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int sig = !strcmp(argv[1], "TERM") ? SIGTERM : !strcmp(argv[1], "USR1") ? SIGUSR1
            : !strcmp(argv[1], "ALRM") ? SIGALRM : !strcmp(argv[1], "HUP") ? SIGHUP : SIGINT;
    printf("about to die of %s\n", argv[1]);
    fflush(stdout);
    if (argc > 2 && !strcmp(argv[2], "child")) {
        if (fork() == 0) {
            kill(getppid(), sig);
            _exit(0);
        }
        for (;;) pause();
    }
    /* Blocked, then pending, then unblocked: it kills on unblock. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), sig);
    printf("still alive while blocked\n");
    fflush(stdout);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("not reached\n");
    return 0;
}
