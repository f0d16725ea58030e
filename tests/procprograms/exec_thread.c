/* execve from a thread that is not the leader: the other threads die, the
 * caller takes over the process's pid as its tid, and everything keyed by
 * that tid (tgkill, /proc/self/status, /proc/self/task) finds it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char *self;

static void *do_exec(void *arg) {
    char pid[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    char *argv[] = {self, "after", pid, NULL};
    execv(self, argv);
    perror("execv");
    return NULL;
}

static void *idle(void *arg) {
    for (;;)
        pause();
}

static void after(int old_pid) {
    printf("pid kept %d, tid is pid %d\n", old_pid == getpid(),
           (int)syscall(SYS_gettid) == getpid());
    printf("tgkill self 0: %ld\n", syscall(SYS_tgkill, getpid(), getpid(), 0));
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8) || !strncmp(line, "State:", 6) ||
            !strncmp(line, "Name:", 5))
            fputs(line, stdout);
    int tasks = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            tasks += atoi(e->d_name) == getpid();
    printf("task dir names the pid: %d\n", tasks);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 2) {
        after(atoi(argv[2]));
        return 0;
    }
    self = argv[0];
    pid_t c = fork();
    if (c == 0) {
        pthread_t t1, t2;
        pthread_create(&t1, NULL, idle, NULL);
        pthread_create(&t2, NULL, do_exec, NULL);
        for (;;)
            pause();
    }
    int st;
    pid_t r = waitpid(c, &st, 0);
    printf("parent reaped the same pid %d, exited %d status %d\n", r == c, WIFEXITED(st),
           WEXITSTATUS(st));
    return 0;
}
