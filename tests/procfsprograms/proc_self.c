/* /proc/self as a program sees it: links, maps, fds, status, stat, mem,
 * comm, cmdline, environ. Prints only what is the same natively and in
 * the sandbox (no addresses, inode numbers or host pids). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[1 << 16];
static volatile long secret = 0x1122334455667788;

static const char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    close(fd);
    buf[n] = 0;
    return buf;
}

static const char *link_of(const char *path)
{
    static char target[4096];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return strerror(errno);
    target[n] = 0;
    return target;
}

static const char *status_field(const char *name)
{
    static char value[256];
    buf[0] = '\n';                /* so the first line matches "\nName:" too */
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = read(fd, buf + 1, sizeof buf - 2);
    close(fd);
    buf[n > 0 ? n + 1 : 1] = 0;
    const char *text = buf;
    char key[64];
    snprintf(key, sizeof key, "\n%s:\t", name);
    const char *p = strstr(text, key);
    if (!p)
        return "(missing)";
    p += strlen(key);
    size_t len = strcspn(p, "\n");
    memcpy(value, p, len);
    value[len] = 0;
    return value;
}

static void *idle_thread(void *arg)
{
    int *fds = arg;
    char c;
    read(fds[0], &c, 1);          /* until main says stop */
    return NULL;
}

static void exe_and_maps(const char *exe_expected)
{
    char exe[4096];
    snprintf(exe, sizeof exe, "%s", link_of("/proc/self/exe"));
    printf("exe is argv[0] resolved: %d\n", strcmp(exe, exe_expected) == 0);
    const char *maps = slurp("/proc/self/maps");
    printf("maps lists the program: %d\n", strstr(maps, exe) != NULL);
    printf("maps lists ld.so: %d\n", strstr(maps, "/ld-linux-x86-64.so.2") != NULL);
    printf("maps lists libc: %d\n", strstr(maps, "/libc.so.6") != NULL);
    printf("maps lists [stack]: %d\n", strstr(maps, "[stack]\n") != NULL);
    /* Each line: start-end perms offset dev inode [name] */
    int lines = 0, good = 0;
    for (const char *p = maps; *p; p = strchr(p, '\n') + 1) {
        unsigned long lo, hi, off, ino;
        char perms[5];
        unsigned major, minor;
        lines++;
        if (sscanf(p, "%lx-%lx %4s %lx %x:%x %lu", &lo, &hi, perms, &off, &major, &minor,
                   &ino) == 7 && lo < hi && (perms[3] == 'p' || perms[3] == 's'))
            good++;
        if (!strchr(p, '\n'))
            break;
    }
    printf("maps lines well formed: %d\n", lines > 3 && lines == good);
    const char *smaps = slurp("/proc/self/smaps");
    printf("smaps has Rss and VmFlags: %d\n",
           strstr(smaps, "\nRss:") != NULL && strstr(smaps, "\nVmFlags:") != NULL);
    const char *rollup = slurp("/proc/self/smaps_rollup");
    printf("smaps_rollup has [rollup] and Pss: %d\n",
           strstr(rollup, "[rollup]\n") != NULL && strstr(rollup, "\nPss:") != NULL);
}

static void fds(void)
{
    int p[2];
    pipe(p);
    int null = open("/dev/null", O_WRONLY);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    dup2(null, 20);
    DIR *d = opendir("/proc/self/fd");
    int own = dirfd(d);
    struct dirent *e;
    int listed[64], n = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && n < 64)
            listed[n++] = atoi(e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (listed[j] < listed[i]) {
                int t = listed[i]; listed[i] = listed[j]; listed[j] = t;
            }
    printf("fd entries:");
    for (int i = 0; i < n; i++) {
        if (listed[i] == own)
            continue;             /* the listing's own fd */
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", listed[i]);
        const char *t = link_of(path);
        int open_now = fcntl(listed[i], F_GETFD) >= 0;
        if (strncmp(t, "pipe:[", 6) == 0)
            t = "pipe:[N]";
        printf(" %d%s->%s", listed[i], open_now ? "" : "(closed?)", t);
    }
    printf("\n");
    /* Reopening a pipe through its magic link gives the same pipe. */
    char path[64], got[8] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    printf("reopen pipe write end: %d\n", w >= 0 && write(w, "hi", 2) == 2);
    read(p[0], got, 2);
    printf("read back through the pipe: %s\n", got);
    snprintf(path, sizeof path, "/dev/fd/%d", dir);
    struct stat a, b;
    stat(path, &a);
    stat("/", &b);
    printf("/dev/fd/N of a directory is that directory: %d\n",
           a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    const char *info = slurp("/proc/self/fdinfo/20");
    printf("fdinfo: %.*s", (int)strcspn(info, "m"), info);   /* pos and flags lines */
    close(w);
    close(p[0]);
    close(p[1]);
    close(null);
    close(dir);
    close(20);
}

static void threads(void)
{
    int p[2];
    pipe(p);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, idle_thread, p);
    printf("Threads with 3 more: %s\n", status_field("Threads"));
    int tasks = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        tasks += e->d_name[0] != '.';
    closedir(d);
    printf("task/ entries: %d\n", tasks);
    char expect[64];
    snprintf(expect, sizeof expect, "%d/task/%ld", getpid(), (long)syscall(SYS_gettid));
    printf("thread-self: %d\n", strcmp(link_of("/proc/thread-self"), expect) == 0);
    write(p[1], "xxx", 3);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    /* pthread_join returns once the kernel clears the thread's tid, which
     * Linux does before the thread leaves its group: Threads may count it
     * a moment longer (in the sentry, under load, long enough to see). */
    for (int tries = 0; tries < 1000 && strcmp(status_field("Threads"), "1") != 0; tries++)
        usleep(1000);
    printf("Threads after join: %s\n", status_field("Threads"));
    close(p[0]);
    close(p[1]);
}

static void stat_and_status(void)
{
    const char *s = slurp("/proc/self/stat");
    int pid, ppid, pgrp, session;
    char comm[64], state;
    sscanf(s, "%d (%63[^)]) %c %d %d %d", &pid, comm, &state, &ppid, &pgrp, &session);
    printf("stat: pid ok %d, comm %s, state %c, ppid ok %d, pgrp ok %d, sid ok %d\n",
           pid == getpid(), comm, state, ppid == getppid(), pgrp == getpgrp(),
           session == getsid(0));
    int fields = 1;
    for (const char *p = strchr(s, ')'); *p; p++)
        fields += *p == ' ';
    printf("stat fields: %d\n", fields);
    const char *st = slurp("/proc/self/statm");
    long v[7];
    printf("statm fields: %d\n", sscanf(st, "%ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1],
                                        &v[2], &v[3], &v[4], &v[5], &v[6]));
    printf("status Name: %s\n", status_field("Name"));
    printf("status State: %s\n", status_field("State"));
    char want[32];
    snprintf(want, sizeof want, "%d", getpid());
    printf("status Pid/Tgid ok: %d\n", strcmp(status_field("Pid"), want) == 0 &&
           strcmp(status_field("Tgid"), want) == 0);
    snprintf(want, sizeof want, "%d", getppid());
    printf("status PPid ok: %d\n", strcmp(status_field("PPid"), want) == 0);
    snprintf(want, sizeof want, "%d\t%d\t%d\t%d", getuid(), geteuid(), getuid(), geteuid());
    printf("status Uid ok: %d\n", strcmp(status_field("Uid"), want) == 0);
    printf("status SigBlk: %s\n", status_field("SigBlk"));
    printf("status VmRSS has kB: %d\n", strstr(status_field("VmRSS"), " kB") != NULL);
    const char *lim = slurp("/proc/self/limits");
    printf("limits header: %.*s\n", (int)strcspn(lim, "\n"), lim);
}

static void memory_file(void)
{
    int fd = open("/proc/self/mem", O_RDWR);
    long got = 0;
    printf("mem pread of a variable: %d\n",
           pread(fd, &got, sizeof got, (off_t)(unsigned long)&secret) == sizeof got &&
           got == secret);
    long value = 42;
    pwrite(fd, &value, sizeof value, (off_t)(unsigned long)&secret);
    printf("mem pwrite changed it: %d\n", secret == 42);
    errno = 0;
    ssize_t r = pread(fd, &got, sizeof got, 4096);
    printf("mem pread of an unmapped page: %zd %s\n", r, strerror(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    exe_and_maps(argv[1]);
    fds();
    threads();
    stat_and_status();
    memory_file();
    const char *cmd = slurp("/proc/self/cmdline");
    printf("cmdline argv[2]: %s\n", cmd + strlen(cmd) + 1 + strlen(argv[1]) + 1);
    const char *env = slurp("/proc/self/environ");
    printf("environ starts with: %.*s\n", (int)strcspn(env, "="), env);
    int c = open("/proc/self/comm", O_WRONLY);
    write(c, "renamed\n", 8);
    close(c);
    printf("comm after write: %s", slurp("/proc/self/comm"));
    printf("cwd is getcwd: %d\n", strcmp(link_of("/proc/self/cwd"), getcwd(NULL, 0)) == 0);
    printf("root: %s\n", link_of("/proc/self/root"));
    char self[32];
    snprintf(self, sizeof self, "%d", getpid());
    printf("self is pid: %d\n", strcmp(link_of("/proc/self"), self) == 0);
    struct stat ns_pid, ns_children, ns_mnt;
    stat("/proc/self/ns/pid", &ns_pid);
    stat("/proc/self/ns/pid_for_children", &ns_children);
    stat("/proc/self/ns/mnt", &ns_mnt);
    char ns_text[64];
    snprintf(ns_text, sizeof ns_text, "pid:[%lu]", (unsigned long)ns_pid.st_ino);
    printf("ns: pid = pid_for_children %d, regular 0444 %d, mnt differs %d, link names "
           "inode %d\n", ns_pid.st_ino == ns_children.st_ino,
           S_ISREG(ns_pid.st_mode) && (ns_pid.st_mode & 07777) == 0444,
           ns_mnt.st_ino != ns_pid.st_ino, strcmp(link_of("/proc/self/ns/pid"), ns_text) == 0);
    const char *cg = slurp("/proc/self/cgroup");
    printf("cgroup has a v2 line: %d\n", strncmp(cg, "0::/", 4) == 0 || strstr(cg, "\n0::/"));
    return 0;
}
