/* A ps-style walk of /proc/PID/stat sees this process and its child,
 * with the right parent, states (S while blocked, Z once exited and not
 * yet reaped), and the child's directory is gone once it is reaped. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct seen { int found; char state; int ppid; char comm[64]; };

static void walk(pid_t want, struct seen *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], text[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, text, sizeof text - 1);
        close(fd);
        if (n <= 0)
            continue;
        text[n] = 0;
        int pid;
        struct seen s = {1};
        if (sscanf(text, "%d (%63[^)]) %c %d", &pid, s.comm, &s.state, &s.ppid) == 4 &&
            pid == want && atoi(e->d_name) == pid)
            *out = s;
    }
    closedir(d);
}

int main(void)
{
    int go[2];
    pipe(go);
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(go[1]);
        read(go[0], &c, 1);
        _exit(3);
    }
    close(go[0]);
    usleep(100000);           /* let the child block in read */
    struct seen me, kid;
    walk(getpid(), &me);
    walk(child, &kid);
    printf("self: found %d state %c ppid ok %d comm %s\n", me.found, me.state,
           me.ppid == getppid(), me.comm);
    printf("child: found %d state %c ppid is me %d comm %s\n", kid.found, kid.state,
           kid.ppid == getpid(), kid.comm);
    write(go[1], "x", 1);
    siginfo_t si;
    waitid(P_PID, child, &si, WEXITED | WNOWAIT);
    walk(child, &kid);
    printf("exited child: found %d state %c\n", kid.found, kid.state);
    int status;
    waitpid(child, &status, 0);
    walk(child, &kid);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", child);
    printf("reaped child: found %d, dir exists %d, status %d\n", kid.found,
           access(path, F_OK) == 0, WEXITSTATUS(status));
    return 0;
}
