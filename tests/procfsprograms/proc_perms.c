/* Permissions as Linux: a process of another user may read a root
 * process's stat and cmdline but not its environ, mem or magic links;
 * it may read its own. Root may open a read-only proc file for writing
 * (the write fails: EIO, or EINVAL for a /proc/[pid] file); nobody may
 * not. Run as root (the child drops to nobody). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *try_open(const char *fmt, int pid, int flags)
{
    char path[64];
    snprintf(path, sizeof path, fmt, pid);
    int fd = open(path, flags);
    if (fd < 0)
        return strerror(errno);
    close(fd);
    return "ok";
}

static const char *try_write(const char *path)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return strerror(errno);
    const char *r = write(fd, "x", 1) < 0 ? strerror(errno) : "written";
    close(fd);
    return r;
}

static const char *try_readlink(const char *fmt, int pid)
{
    char path[64], target[256];
    snprintf(path, sizeof path, fmt, pid);
    return readlink(path, target, sizeof target) < 0 ? strerror(errno) : "ok";
}

int main(void)
{
    if (geteuid() != 0) {
        printf("needs root\n");
        return 1;
    }
    int parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) || setuid(65534)) {
            perror("setuid");
            _exit(1);
        }
        int me = getpid();
        printf("other's stat: %s\n", try_open("/proc/%d/stat", parent, O_RDONLY));
        printf("other's cmdline: %s\n", try_open("/proc/%d/cmdline", parent, O_RDONLY));
        printf("other's environ: %s\n", try_open("/proc/%d/environ", parent, O_RDONLY));
        printf("other's mem: %s\n", try_open("/proc/%d/mem", parent, O_RDONLY));
        printf("other's exe: %s\n", try_readlink("/proc/%d/exe", parent));
        printf("other's cwd: %s\n", try_readlink("/proc/%d/cwd", parent));
        printf("other's fd/: %s\n", try_open("/proc/%d/fd", parent, O_RDONLY | O_DIRECTORY));
        printf("own environ: %s\n", try_open("/proc/%d/environ", me, O_RDONLY));
        printf("own exe: %s\n", try_readlink("/proc/%d/exe", me));
        printf("write other's comm: %s\n", try_open("/proc/%d/comm", parent, O_WRONLY));
        printf("nobody writes cpuinfo: %s\n", try_write("/proc/cpuinfo"));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
    printf("root writes cpuinfo: %s\n", try_write("/proc/cpuinfo"));
    printf("root writes version: %s\n", try_write("/proc/version"));
    printf("root writes own status: %s\n", try_write("/proc/self/status"));
    return 0;
}
