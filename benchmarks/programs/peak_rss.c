/* peak_rss CMD [ARGS...]: run CMD, then print its peak RSS in KiB (its
 * ru_maxrss from wait4) on stderr as "peak_rss_kib=N" and exit with its
 * status. A process's ru_maxrss counts the memory it had before exec,
 * which for a child of a big process (the Python driving the benchmark)
 * is the big process's: forking here, from this small program, makes the
 * number the command's own. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return 2;
    fprintf(stderr, "peak_rss_kib=%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
