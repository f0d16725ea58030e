/* /proc/PID files of a child opened while it runs, then read while it is
 * a zombie and after it is reaped (Linux answers per file: some work,
 * some are empty, some fail with ESRCH); readlink of its exe and ns/
 * links; getdents of its task/ directory once reaped; task/ link counts
 * and task/TID/children; a thread's /proc/TID/task; comm written from
 * another process; uid_map, gid_map, coredump_filter; /proc/devices. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const FILES[] = {
    "auxv", "cmdline", "comm", "environ", "gid_map", "io", "maps", "smaps", "stat",
    "statm", "status", "uid_map", "oom_score", "oom_score_adj", "coredump_filter",
    "limits", "cgroup", "mem",
};
#define NFILES (sizeof FILES / sizeof FILES[0])
static const char *const LINKS[] = {"exe", "cwd", "root", "ns/net", "ns/pid", "ns/user"};
#define NLINKS (sizeof LINKS / sizeof LINKS[0])

static char secret[] = "hello-world";

static const char *err(int e)
{
    switch (e) {
    case ESRCH: return "ESRCH";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    default: return "other";
    }
}

/* What a read of fd says: an errno, empty, or that there is data. comm's
 * and the status lines a zombie keeps are printed as they are. */
static void report_read(const char *when, const char *name, int fd)
{
    char buf[8192];
    ssize_t n = strcmp(name, "mem") == 0 ? pread(fd, buf, sizeof secret, (off_t)(long)secret)
                                         : pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0) {
        printf("%s %s: %s\n", when, name, err(errno));
        return;
    }
    buf[n] = 0;
    if (strcmp(name, "comm") == 0) {
        printf("%s comm: %s", when, buf);
    } else if (strcmp(name, "mem") == 0) {
        printf("%s mem: %zd bytes, same %d\n", when, n, n > 0 && memcmp(buf, secret, n) == 0);
    } else if (strcmp(name, "status") == 0) {
        printf("%s status:", when);
        if (!strncmp(when, "zombie", 6)) {      /* which lines a zombie keeps */
            char copy[sizeof buf];
            memcpy(copy, buf, n + 1);
            for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n"))
                printf(" %.*s", (int)strcspn(line, ":"), line);
            printf("\n%s status:", when);
        }
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            if (!strncmp(line, "State:", 6))     /* R or S while it runs: a race */
                printf(" [State: %s]", strchr(line, 'Z') ? "zombie" : "alive");
            else if (!strncmp(line, "Name:", 5) || !strncmp(line, "Threads:", 8) ||
                     !strncmp(line, "Uid:", 4))
                printf(" [%s]", line);
        printf("\n");
    } else {
        printf("%s %s: %s\n", when, name, n ? "data" : "empty");
    }
}

static void report_links(const char *when, int dirfd)
{
    for (unsigned i = 0; i < NLINKS; i++) {
        char buf[256];
        ssize_t n = readlinkat(dirfd, LINKS[i], buf, sizeof buf);
        printf("%s readlink %s: %s\n", when, LINKS[i], n < 0 ? err(errno) : "ok");
    }
}

static int nlinks(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)st.st_nlink : -1;
}

static void *blocker(void *arg)
{
    char c;
    read(*(int *)arg, &c, 1);
    return NULL;
}

static void lifecycle(void)
{
    int go[2], ready[2];
    pipe(go);
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        char c;
        prctl(PR_SET_NAME, "lifecycle-kid");
        write(ready[1], "r", 1);
        read(go[0], &c, 1);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    int fds[NFILES];
    char path[128];
    for (unsigned i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "/proc/%d/%s", child, FILES[i]);
        fds[i] = open(path, O_RDONLY);
        if (fds[i] < 0)
            printf("open %s: %s\n", FILES[i], err(errno));
    }
    snprintf(path, sizeof path, "/proc/%d", child);
    int dirfd = open(path, O_RDONLY | O_DIRECTORY);
    snprintf(path, sizeof path, "/proc/%d/task", child);
    int taskfd = open(path, O_RDONLY | O_DIRECTORY);
    for (unsigned i = 0; i < NFILES; i++)
        if (fds[i] >= 0)
            report_read("running", FILES[i], fds[i]);
    report_links("running", dirfd);

    write(go[1], "x", 1);
    siginfo_t si;
    waitid(P_PID, child, &si, WEXITED | WNOWAIT);
    for (unsigned i = 0; i < NFILES; i++)
        if (fds[i] >= 0)
            report_read("zombie", FILES[i], fds[i]);
    report_links("zombie", dirfd);
    /* A file opened once the process is a zombie. */
    snprintf(path, sizeof path, "/proc/%d/status", child);
    int late = open(path, O_RDONLY);
    report_read("zombie, opened late", "status", late);
    close(late);

    int status;
    waitpid(child, &status, 0);
    for (unsigned i = 0; i < NFILES; i++)
        if (fds[i] >= 0)
            report_read("reaped", FILES[i], fds[i]);
    report_links("reaped", dirfd);
    char dents[1024];
    long n = syscall(SYS_getdents64, taskfd, dents, sizeof dents);
    printf("reaped getdents task/: %s\n", n < 0 ? err(errno) : "ok");
    n = syscall(SYS_getdents64, dirfd, dents, sizeof dents);
    printf("reaped getdents pid dir: %s\n", n < 0 ? err(errno) : "ok");
    n = openat(dirfd, "status", O_RDONLY);
    printf("reaped openat status: %s\n", n < 0 ? err(errno) : "ok");
}

static void threads_and_children(void)
{
    char path[128], self_task[64];
    snprintf(self_task, sizeof self_task, "/proc/%d/task", getpid());
    int before = nlinks(self_task);
    int go[2];
    pipe(go);
    pthread_t t;
    pthread_create(&t, NULL, blocker, &go[0]);
    usleep(20000);
    printf("task/ nlink grows by one per thread: %d\n", nlinks(self_task) == before + 1);

    /* The thread's own /proc/TID shows the process, task/ included. */
    DIR *d = opendir(self_task);
    struct dirent *e;
    int tid = 0;
    while ((e = readdir(d)) != NULL)
        if (atoi(e->d_name) > 0 && atoi(e->d_name) != getpid())
            tid = atoi(e->d_name);
    closedir(d);
    snprintf(path, sizeof path, "/proc/%d/task/%d", tid, tid);
    printf("/proc/TID/task/TID exists: %d\n", access(path, F_OK) == 0);
    snprintf(path, sizeof path, "/proc/%d/task/%d/task", getpid(), tid);
    printf("task/TID/task exists: %d\n", access(path, F_OK) == 0);
    write(go[1], "xx", 2);
    pthread_join(t, NULL);

    snprintf(path, sizeof path, "/proc/%d/task/%d/children", getpid(), getpid());
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            pause();
            _exit(0);
        }
    }
    char want[64], got[64] = "";
    snprintf(want, sizeof want, "%d %d ", kids[0], kids[1]);
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, got, sizeof got - 1);
    close(fd);
    got[n > 0 ? n : 0] = 0;
    printf("children lists both: %d\n", strcmp(got, want) == 0);
    snprintf(path, sizeof path, "/proc/%d/children", getpid());
    printf("/proc/PID/children exists: %d\n", access(path, F_OK) == 0);
    for (int i = 0; i < 2; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
}

/* A process whose leader thread has exited while another thread runs:
 * task/ still lists the leader, as a zombie, and counts it in nlink. */
static void *after_leader(void *arg)
{
    char path[96], buf[512];
    pid_t pid = getpid();
    usleep(100000);                         /* let the leader exit */
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    int entries = 0, leader_listed = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        entries += e->d_name[0] != '.';
        leader_listed |= atoi(e->d_name) == pid;
    }
    closedir(d);
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, pid);
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *state = strrchr(buf, ')');
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    printf("leader gone: task/ entries %d, leader listed %d, its state %c, nlink %d\n",
           entries, leader_listed, state ? state[2] : '?', nlinks(path));
    /* /proc/PID itself is the leader's view too (ps shows the process as
     * a zombie with threads): no memory, so no cmdline and no Vm lines. */
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    fd = open(path, O_RDONLY);
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    state = strrchr(buf, ')');
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    fd = open(path, O_RDONLY);
    ssize_t cmdline = read(fd, buf, sizeof buf);
    close(fd);
    printf("leader gone: /proc/PID stat state %c, cmdline %zd bytes\n",
           state ? state[2] : '?', cmdline);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "State:", 6) || !strncmp(buf, "Threads:", 8) || !strncmp(buf, "VmRSS:", 6))
            printf("leader gone: status %s", buf);
    fclose(f);
    exit(0);
    return arg;
}

static void leader_exits_first(void)
{
    pid_t kid = fork();
    if (kid == 0) {
        pthread_t t;
        pthread_create(&t, NULL, after_leader, NULL);
        syscall(SYS_exit, 0);               /* this thread only */
    }
    waitpid(kid, NULL, 0);
}

static void comm_from_another_process(void)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/%d/task/%d/comm", getpid(), getpid());
    pid_t kid = fork();
    if (kid == 0) {
        int fd = open(path, O_WRONLY);
        ssize_t n = write(fd, "x", 1);
        printf("comm written by another process: %s\n", n < 0 ? err(errno) : "ok");
        _exit(0);
    }
    waitpid(kid, NULL, 0);
}

static void text(const char *path)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    printf("%s: %s", path, buf);
}

static void coredump_filter_is_inherited(void)
{
    static const char *const values[] = {"0x23\n", "017", "12", "0x", "z1", "-1"};
    for (unsigned i = 0; i < sizeof values / sizeof values[0]; i++) {
        int fd = open("/proc/self/coredump_filter", O_WRONLY);
        ssize_t n = write(fd, values[i], strlen(values[i]));
        close(fd);
        printf("coredump_filter write %u: %s\n", i, n < 0 ? err(errno) : "ok");
        if (n < 0)
            continue;
        pid_t kid = fork();
        if (kid == 0) {
            text("/proc/self/coredump_filter");
            _exit(0);
        }
        waitpid(kid, NULL, 0);
    }
}

/* /proc/PID/io and task/TID/io: a thread's writes count in its own file
 * and in the process's, not in another thread's. */
struct io { long rchar, wchar, syscr, syscw; };

static struct io io_of(const char *path)
{
    char buf[512];
    struct io v = {-1, -1, -1, -1};
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    sscanf(buf, "rchar: %ld\nwchar: %ld\nsyscr: %ld\nsyscw: %ld", &v.rchar, &v.wchar,
           &v.syscr, &v.syscw);
    return v;
}

static void *writer(void *arg)
{
    char path[96];
    int null = open("/dev/null", O_WRONLY);
    snprintf(path, sizeof path, "/proc/%d/task/%ld/io", getpid(), syscall(SYS_gettid));
    struct io before = io_of(path);
    for (int i = 0; i < 50; i++)
        write(null, "abc", 3);
    char c;
    read(null, &c, 1);                               /* EBADF: not counted */
    struct iovec iov = {(void *)"defg", 4};
    writev(null, &iov, 1);
    struct io after = io_of(path);
    printf("writer thread: syscw +%ld wchar +%ld syscr +%ld rchar +%ld\n",
           after.syscw - before.syscw, after.wchar - before.wchar,
           after.syscr - before.syscr, after.rchar - before.rchar);
    close(null);
    return arg;
}

static void io_accounting(void)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/io", getpid(), getpid());
    struct io main_before = io_of(path), proc_before = io_of("/proc/self/io");
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    pthread_join(t, NULL);
    struct io main_after = io_of(path), proc_after = io_of("/proc/self/io");
    printf("main thread: syscw +%ld (its reads of io: syscr +%ld)\n",
           main_after.syscw - main_before.syscw, main_after.syscr - main_before.syscr);
    printf("process: syscw +%ld wchar +%ld\n", proc_after.syscw - proc_before.syscw,
           proc_after.wchar - proc_before.wchar);
}

/* Writes of a number that ends in a NUL (the C string's), in octal, signed. */
static void number_writes(void)
{
    static const struct { const char *file, *data; size_t len; } writes[] = {
        {"/proc/self/coredump_filter", "7", 2}, {"/proc/self/oom_score_adj", "5", 2},
        {"/proc/self/oom_score_adj", " 010\n", 5}, {"/proc/self/oom_score_adj", "1x", 2},
        {"/proc/self/oom_score_adj", "+3", 2},
    };
    for (unsigned i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        int fd = open(writes[i].file, O_WRONLY);
        ssize_t n = write(fd, writes[i].data, writes[i].len);
        close(fd);
        printf("write %u to %s: %s; ", i, writes[i].file, n < 0 ? err(errno) : "ok");
        text(writes[i].file);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    lifecycle();
    threads_and_children();
    comm_from_another_process();
    leader_exits_first();
    io_accounting();
    text("/proc/self/uid_map");
    text("/proc/self/gid_map");
    text("/proc/self/coredump_filter");
    coredump_filter_is_inherited();
    number_writes();
    char buf[4096];
    int fd = open("/proc/devices", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char *mem = strstr(buf, "  1 mem\n"), *blk = strstr(buf, "\n\nBlock devices:\n");
    printf("devices: header first %d, mem before block %d\n",
           strncmp(buf, "Character devices:\n", 19) == 0, mem && blk && mem < blk);
    return 0;
}
