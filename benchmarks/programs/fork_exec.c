/* fork + execve(argv[2]) + waitpid, argv[1] times (after a few untimed
 * warm-up rounds). Prints one JSON line with the rate and the time per
 * spawn. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int spawn(const char *path) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char *argv[] = {(char *)path, NULL}, *envp[] = {NULL};
        execve(path, argv, envp);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200;
    const char *path = argc > 2 ? argv[2] : "/bin/true";
    for (int i = 0; i < 3; i++)
        if (spawn(path)) { fprintf(stderr, "spawn %s failed\n", path); return 1; }
    double start = now();
    for (int i = 0; i < n; i++)
        if (spawn(path)) { fprintf(stderr, "spawn %s failed\n", path); return 1; }
    double secs = now() - start;
    printf("{\"spawns\": %d, \"seconds\": %.6f, \"per_second\": %.1f, \"us_per_spawn\": %.1f}\n",
           n, secs, n / secs, secs / n * 1e6);
    return 0;
}
