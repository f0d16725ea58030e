/* A blocking pipe read interrupted by SIGUSR1 sent from a child process:
 * without SA_RESTART the read fails with EINTR; with SA_RESTART it is
 * restarted and returns the data the child writes afterwards. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }

static void trial(int restart) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    handled = 0;

    int data[2], go[2];
    pipe(data);
    pipe(go);
    pid_t parent = getpid();
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        close(data[0]);
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);              /* let the parent block in read */
        kill(parent, SIGUSR1);
        nanosleep(&ts, NULL);
        write(data[1], "late", 4);
        _exit(0);
    }
    close(data[1]);
    char buf[16] = {0};
    ssize_t n = read(data[0], buf, sizeof buf - 1);
    int err = errno;
    printf("%s: read=%zd %s handled=%d\n", restart ? "SA_RESTART" : "no SA_RESTART", n,
           n < 0 ? (err == EINTR ? "EINTR" : strerror(err)) : buf, (int)handled);
    if (n < 0) {                          /* the data still arrives */
        n = read(data[0], buf, sizeof buf - 1);
        printf("  second read=%zd %s\n", n, n > 0 ? buf : "");
    }
    int st;
    waitpid(child, &st, 0);
    printf("  child exit %d\n", WEXITSTATUS(st));
    close(data[0]); close(go[0]); close(go[1]);
}

int main(void) {
    trial(0);
    trial(1);
    return 0;
}
