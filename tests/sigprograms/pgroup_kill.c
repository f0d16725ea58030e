/* kill(0, sig) reaches every process in the caller's process group (and
 * kill(-pgid, sig) the same); a process in another group is not hit. The
 * program first makes its own process group so a native run cannot signal
 * the test runner. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hit;
static void handler(int sig) { (void)sig; hit++; }

/* A child that waits for SIGUSR1 (or a timeout) and exits 10 + hits. */
static pid_t spawn(int own_group, int ready_fd) {
    pid_t pid = fork();
    if (pid == 0) {
        if (own_group) setpgid(0, 0);
        write(ready_fd, "r", 1);
        for (int i = 0; i < 40 && !hit; i++) usleep(25000);
        _exit(10 + hit);
    }
    return pid;
}

int main(void) {
    setpgid(0, 0);
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    int ready[2];
    pipe(ready);
    fflush(stdout);
    pid_t a = spawn(0, ready[1]), b = spawn(0, ready[1]), other = spawn(1, ready[1]);
    char c;
    for (int i = 0; i < 3; i++) read(ready[0], &c, 1);
    usleep(20000);                         /* the outsider has done setpgid */
    printf("same group: a=%d b=%d other=%d\n", getpgid(a) == getpgrp(),
           getpgid(b) == getpgrp(), getpgid(other) == getpgrp());
    kill(0, SIGUSR1);
    printf("parent hit=%d\n", (int)hit);
    int st;
    waitpid(a, &st, 0);
    printf("a exit %d\n", WEXITSTATUS(st));
    waitpid(b, &st, 0);
    printf("b exit %d\n", WEXITSTATUS(st));
    waitpid(other, &st, 0);
    printf("other exit %d\n", WEXITSTATUS(st));

    /* kill(-pgid) reaches the other group only. */
    fflush(stdout);
    hit = 0;
    other = spawn(1, ready[1]);
    read(ready[0], &c, 1);
    usleep(20000);
    kill(-other, SIGUSR1);
    waitpid(other, &st, 0);
    printf("kill(-pgid): other exit %d parent hit=%d\n", WEXITSTATUS(st), (int)hit);
    return 0;
}
