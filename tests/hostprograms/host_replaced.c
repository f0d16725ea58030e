/* Names the host replaces while this program runs (tests/guest/
 * test_host_replaced.py): one step per line read from stdin, between
 * which the host renames, removes and remakes files in DIR (argv[1]).
 * Each step reads DIR/data and DIR/sub/file by name, reads the first
 * data through an fd kept open since step 1, and runs DIR/prog. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;

static void show_named(const char *name)
{
    char path[4096], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("  %s: open: %s\n", name, strerror(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    printf("  %s: %.*s\n", name, n > 0 ? (int)n : 0, buf);
    close(fd);
}

static void show_kept(int fd)
{
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    printf("  kept fd: %.*s\n", n > 0 ? (int)n : 0, buf);
}

static void run_prog(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/prog", dir);
    printf("  prog: ");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(path, "prog", (char *)0);
        printf("exec: %s\n", strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
}

int main(int argc, char **argv)
{
    char line[64];
    int kept = -1;
    dir = argv[1];
    for (int step = 1; fgets(line, sizeof line, stdin); step++) {
        printf("step %d\n", step);
        show_named("data");
        show_named("sub/file");
        if (kept < 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/data", dir);
            kept = open(path, O_RDONLY);
        }
        show_kept(kept);
        run_prog();
        fflush(stdout);
    }
    return 0;
}
