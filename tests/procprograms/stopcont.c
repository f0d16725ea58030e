/* Job control: SIGSTOP/SIGCONT with WUNTRACED/WCONTINUED reports. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t p = fork();
    if (p == 0) { for (int i = 0; i < 200; i++) usleep(10000); _exit(5); }
    usleep(50000);
    kill(p, SIGSTOP);
    int st; pid_t r = waitpid(p, &st, WUNTRACED);
    printf("stopped=%d sig=%d\n", r == p && WIFSTOPPED(st), WSTOPSIG(st));
    kill(p, SIGCONT);
    r = waitpid(p, &st, WCONTINUED);
    printf("continued=%d\n", r == p && WIFCONTINUED(st));
    kill(p, SIGTERM);
    waitpid(p, &st, 0);
    printf("term=%d\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    return 0;
}
