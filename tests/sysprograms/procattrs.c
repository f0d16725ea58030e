/* Process attributes: getrusage/times, prctl, getcpu, credentials.
 * Usage: procattrs MODE
 *   rusage     own CPU time after a busy loop; RUSAGE_THREAD; times(2)
 *   children   RUSAGE_CHILDREN after waiting for a busy child
 *   prctl      PR_SET_NAME/GET_NAME and the flag options, also after fork
 *   getcpu     getcpu(2) answers a CPU we may run on
 *   creds      set*id as root, dropping privileges step by step
 *   groups     getgroups/setgroups */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

/* Print a call's result and, if it failed, its errno (read after the call). */
#define TRY(what, call) do { errno = 0; long r_ = (call); int e_ = errno; \
        printf("%s: %ld %s\n", what, r_, r_ < 0 ? strerror(e_) : "ok"); } while (0)

static volatile unsigned long sink;

/* Burn ms of this thread's CPU time (not wall time: on a loaded machine
   wall time says nothing about how much CPU the thread got). */
static void burn(long ms) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++)
            sink += i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static long us(struct timeval tv) { return tv.tv_sec * 1000000L + tv.tv_usec; }

static long clock_us(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static void spin(long n) {
    for (long i = 0; i < n; i++)
        sink += i;
}

/* The CPU clocks count the program's own code, not only its syscalls: a
   loop of 45M volatile stores without a syscall takes milliseconds of CPU
   (a clock that only counted syscalls shows microseconds). Not a ratio:
   on these VMs a loaded host's steal time lands in CPU clocks. */
static void cpu_follows_work(clockid_t id, const char *name) {
    long a = clock_us(id);
    spin(45000000);
    long b = clock_us(id);
    printf("%s: a loop without syscalls takes 2 ms of CPU or more: %d\n", name, b - a >= 2000);
}

static int mode_rusage(void) {
    cpu_follows_work(CLOCK_THREAD_CPUTIME_ID, "thread clock");
    cpu_follows_work(CLOCK_PROCESS_CPUTIME_ID, "process clock");
    clockid_t own;
    clock_getcpuclockid(getpid(), &own);
    cpu_follows_work(own, "clock_getcpuclockid(getpid())");
    burn(200);
    struct rusage ru;
    printf("self: %d\n", getrusage(RUSAGE_SELF, &ru));
    printf("self utime+stime >= 100ms: %d, non-negative: %d\n",
           us(ru.ru_utime) + us(ru.ru_stime) >= 100000, us(ru.ru_utime) >= 0 && us(ru.ru_stime) >= 0);
    printf("self maxrss > 0: %d\n", ru.ru_maxrss > 0);
    printf("thread: %d\n", getrusage(RUSAGE_THREAD, &ru));
    printf("thread utime+stime >= 100ms: %d\n", us(ru.ru_utime) + us(ru.ru_stime) >= 100000);
    printf("children: %d, zero before any child: %d\n", getrusage(RUSAGE_CHILDREN, &ru),
           us(ru.ru_utime) + us(ru.ru_stime) == 0);
    TRY("who=5", getrusage(5, &ru));
    struct tms t;
    clock_t now = times(&t);
    printf("times: positive=%d utime+stime>=10 ticks: %d children 0: %d\n", now > 0,
           t.tms_utime + t.tms_stime >= 10, t.tms_cutime + t.tms_cstime == 0);
    return 0;
}

static int mode_children(void) {
    long a = clock_us(CLOCK_THREAD_CPUTIME_ID);
    spin(60000000);
    long here = clock_us(CLOCK_THREAD_CPUTIME_ID) - a;
    pid_t pid = fork();
    if (pid == 0) {
        spin(60000000);             /* no syscall: only its own code's time */
        burn(300);
        _exit(0);
    }
    struct rusage ru, child;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("before wait: zero=%d\n", us(ru.ru_utime) + us(ru.ru_stime) == 0);
    int status;
    wait4(pid, &status, 0, &child);
    printf("wait4 rusage >= 150ms: %d\n", us(child.ru_utime) + us(child.ru_stime) >= 150000);
    printf("wait4 rusage counts the child's loop: %d\n",
           us(child.ru_utime) + us(child.ru_stime) >= 150000 + here / 2);
    printf("wait4 maxrss > 0: %d\n", child.ru_maxrss > 0);
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("after wait >= 150ms: %d\n", us(ru.ru_utime) + us(ru.ru_stime) >= 150000);
    struct tms t;
    times(&t);
    printf("times children >= 15 ticks: %d\n", t.tms_cutime + t.tms_cstime >= 15);
    return 0;
}

static void show(const char *what, long r) {
    printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
    errno = 0;
}

static int mode_prctl(void) {
    char name[32];
    memset(name, 'X', sizeof name);
    show("set name", prctl(PR_SET_NAME, "a-rather-long-thread-name"));
    show("get name", prctl(PR_GET_NAME, name));
    printf("name=[%s] byte15=%d\n", name, name[15]);
    show("set short", prctl(PR_SET_NAME, "tiny"));
    memset(name, 'X', sizeof name);
    prctl(PR_GET_NAME, name);
    printf("name=[%s] tail zero=%d\n", name, name[5] == 0 && name[15] == 0 && name[16] == 'X');
    int sig = -1;
    show("pdeathsig get", prctl(PR_GET_PDEATHSIG, &sig));
    printf("pdeathsig=%d\n", sig);
    show("pdeathsig set", prctl(PR_SET_PDEATHSIG, SIGTERM));
    prctl(PR_GET_PDEATHSIG, &sig);
    printf("pdeathsig=%d\n", sig);
    show("pdeathsig 65", prctl(PR_SET_PDEATHSIG, 65));
    show("dumpable", prctl(PR_GET_DUMPABLE));
    show("set dumpable 0", prctl(PR_SET_DUMPABLE, 0));
    show("dumpable", prctl(PR_GET_DUMPABLE));
    show("set dumpable 2", prctl(PR_SET_DUMPABLE, 2));
    show("set dumpable 1", prctl(PR_SET_DUMPABLE, 1));
    show("keepcaps", prctl(PR_GET_KEEPCAPS));
    show("set keepcaps", prctl(PR_SET_KEEPCAPS, 1));
    show("keepcaps", prctl(PR_GET_KEEPCAPS));
    show("set keepcaps 3", prctl(PR_SET_KEEPCAPS, 3));
    show("set keepcaps 0", prctl(PR_SET_KEEPCAPS, 0));
    show("no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    show("no_new_privs bad arg", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0));
    show("set no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    show("no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    int sub = -1;
    show("subreaper get", prctl(PR_GET_CHILD_SUBREAPER, &sub));
    printf("subreaper=%d\n", sub);
    show("subreaper set", prctl(PR_SET_CHILD_SUBREAPER, 1));
    prctl(PR_GET_CHILD_SUBREAPER, &sub);
    printf("subreaper=%d\n", sub);
    show("capbset_read chown", prctl(PR_CAPBSET_READ, CAP_CHOWN));
    show("capbset_read 1000", prctl(PR_CAPBSET_READ, 1000));
    unsigned long *tidaddr = NULL;
    show("tid address", prctl(PR_GET_TID_ADDRESS, &tidaddr));
    printf("tid address set: %d\n", tidaddr != NULL);
    show("timerslack", prctl(PR_GET_TIMERSLACK));
    show("unknown 9999", prctl(9999, 0, 0, 0, 0));
    pid_t pid = fork();
    if (pid == 0) {
        memset(name, 0, sizeof name);
        prctl(PR_GET_NAME, name);
        prctl(PR_GET_PDEATHSIG, &sig);
        printf("child: name=[%s] pdeathsig=%d no_new_privs=%d\n", name, sig,
               prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

static int mode_getcpu(void) {
    unsigned cpu = 12345, node = 12345;
    int r = syscall(SYS_getcpu, &cpu, &node, NULL);
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    printf("getcpu: %d cpu allowed: %d node: %u\n", r, CPU_ISSET(cpu, &set), node);
    printf("sched_getcpu in range: %d\n", sched_getcpu() >= 0);
    return 0;
}

static void ids(const char *when) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &hdr, data);
    printf("%-28s uid %u %u %u gid %u %u %u euid=%u egid=%u eff_caps=%s prm_caps=%s\n", when,
           r, e, s, gr, ge, gs, geteuid(), getegid(),
           data[0].effective || data[1].effective ? "some" : "none",
           data[0].permitted || data[1].permitted ? "some" : "none");
}

/* The raw syscalls: glibc's wrappers would signal every thread (setxid). */
#define SC(name, ...) (errno = 0, show(#name "(" #__VA_ARGS__ ")", syscall(SYS_##name, __VA_ARGS__)))

static int mode_creds(void) {
    ids("start");
    SC(setresgid, 1, 2, 3);
    ids("after setresgid(1,2,3)");
    SC(setregid, -1, 5);
    ids("after setregid(-1,5)");
    SC(setgid, 0);
    SC(setresuid, 1000, 1001, 0);
    ids("after setresuid(1000,1001,0)");
    SC(setuid, 5);
    SC(setreuid, -1, 0);
    ids("after setreuid(-1,0)");
    SC(setfsuid, 77);
    SC(setfsuid, -1);
    SC(setreuid, 1001, 1000);
    ids("after setreuid(1001,1000)");
    SC(setresuid, 1000, 1000, 1000);
    ids("after setresuid(1000 x3)");
    SC(setuid, 0);
    SC(setresuid, -1, -1, -1);
    SC(setresuid, 1000, -1, 1000);
    SC(setresgid, 7, 7, 7);
    SC(setgroups, 0, NULL);
    SC(setfsuid, 0);
    SC(setfsuid, -1);
    SC(setuid, -1);
    pid_t pid = fork();
    if (pid == 0) {
        ids("child");
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

static int mode_groups(void) {
    gid_t list[8];
    int n = getgroups(0, NULL);
    printf("initial count matches list: %d\n", getgroups(8, list) == n);
    gid_t set[3] = {50, 30, 70};
    show("setgroups", setgroups(3, set));
    show("getgroups(0)", getgroups(0, NULL));
    show("getgroups(2)", getgroups(2, list));
    show("getgroups(8)", getgroups(8, list));
    printf("groups: %u %u %u\n", list[0], list[1], list[2]);
    show("setgroups(-1)", syscall(SYS_setgroups, -1, set));
    show("getgroups(-1)", syscall(SYS_getgroups, -1, list));
    show("setgroups(0)", setgroups(0, NULL));
    show("getgroups(0)", getgroups(0, NULL));
    return 0;
}

/* RLIMIT_CPU: SIGXCPU at the soft limit (which then moves up a second),
   SIGKILL at the hard one; SIGXCPU's default action kills. */
static volatile int xcpu_pipe;

static void on_xcpu(int sig) {
    struct rlimit r;
    getrlimit(RLIMIT_CPU, &r);
    char c = '0' + (char)r.rlim_cur;            /* the soft limit, moved up */
    write(xcpu_pipe, &c, 1);
}

static void spin_forever(void) {
    for (;;)
        sink++;
}

static int mode_cpulimit(void) {
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        xcpu_pipe = p[1];
        signal(SIGXCPU, on_xcpu);
        struct rlimit r = {1, 2};
        setrlimit(RLIMIT_CPU, &r);
        spin_forever();
    }
    close(p[1]);
    int status;
    waitpid(pid, &status, 0);
    char seen[16] = "";
    ssize_t n = read(p[0], seen, sizeof seen - 1);
    seen[n > 0 ? n : 0] = 0;
    printf("handled: SIGXCPU seen with soft limits [%s], then killed by %s\n", seen,
           WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "nothing");
    pid = fork();
    if (pid == 0) {
        struct rlimit r = {1, 100};
        setrlimit(RLIMIT_CPU, &r);
        spin_forever();
    }
    waitpid(pid, &status, 0);
    printf("default action: killed by %s\n",
           WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "nothing");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "rusage")) return mode_rusage();
    if (!strcmp(mode, "children")) return mode_children();
    if (!strcmp(mode, "prctl")) return mode_prctl();
    if (!strcmp(mode, "getcpu")) return mode_getcpu();
    if (!strcmp(mode, "cpulimit")) return mode_cpulimit();
    if (!strcmp(mode, "creds")) return mode_creds();
    if (!strcmp(mode, "groups")) return mode_groups();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
