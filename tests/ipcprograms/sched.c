/* Scheduling attributes, nice and mlock, natively and in the sandbox.
 * Modes: sched, nice, mlock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(label, expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%s = %ld%s%s\n", label, r_, r_ < 0 ? " " : "", r_ < 0 ? strerrorname_np(errno) : ""); \
    fflush(stdout); } while (0)

static void wait_child(void) {
    int st;
    wait(&st);
    printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    fflush(stdout);
}

static void as_nobody(void) {
    if (setgid(65534) || setuid(65534)) _exit(99);
}

/* Fields 18, 19, 40, 41 of /proc/self/stat: priority, nice, rt_priority, policy. */
static void proc_stat(void) {
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strrchr(buf, ')') + 2;           /* field 3 */
    long f[60] = {0};
    int i = 3;
    for (char *tok = strtok(p, " "); tok && i < 60; tok = strtok(NULL, " "))
        f[i++] = strtol(tok, NULL, 10);
    printf("stat: priority=%ld nice=%ld rt_priority=%ld policy=%ld\n", f[18], f[19], f[40],
           f[41]);
}

/* struct sched_attr (linux/sched/types.h clashes with glibc's sched.h). */
struct sched_attr {
    unsigned size, sched_policy;
    unsigned long long sched_flags;
    int sched_nice;
    unsigned sched_priority;
    unsigned long long sched_runtime, sched_deadline, sched_period;
    unsigned sched_util_min, sched_util_max;
};
#define SCHED_DEADLINE 6
#define SCHED_RESET_ON_FORK 0x40000000

static int sched_setattr_(pid_t pid, struct sched_attr *a, unsigned flags) {
    return syscall(SYS_sched_setattr, pid, a, flags);
}

static int sched_getattr_(pid_t pid, struct sched_attr *a, unsigned size, unsigned flags) {
    return syscall(SYS_sched_getattr, pid, a, size, flags);
}

static void show_attr(void) {
    struct sched_attr a;
    memset(&a, 0xff, sizeof a);
    SHOW("getattr", sched_getattr_(0, &a, sizeof a, 0));
    printf("attr: size=%u policy=%u flags=%llu nice=%d prio=%u util_max=%u\n", a.size,
           a.sched_policy, (unsigned long long)a.sched_flags, a.sched_nice, a.sched_priority,
           a.sched_util_max);
}

static void test_sched(void) {
    int pols[] = {SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE, 4, 7};
    for (unsigned i = 0; i < sizeof pols / sizeof *pols; i++) {
        errno = 0;
        int mx = sched_get_priority_max(pols[i]), mn = sched_get_priority_min(pols[i]);
        printf("policy %d: max %d min %d %s\n", pols[i], mx, mn, mx < 0 ? strerrorname_np(errno) : "");
    }
    SHOW("getscheduler", sched_getscheduler(0));
    struct sched_param sp = {.sched_priority = 10};
    SHOW("FIFO 10", sched_setscheduler(0, SCHED_FIFO, &sp));
    SHOW("getscheduler", sched_getscheduler(0));
    sp.sched_priority = -1;
    SHOW("getparam", sched_getparam(0, &sp));
    printf("param %d\n", sp.sched_priority);
    proc_stat();
    show_attr();
    sp.sched_priority = 20;
    SHOW("setparam 20", sched_setparam(0, &sp));
    sched_getparam(0, &sp);
    printf("param %d\n", sp.sched_priority);
    sp.sched_priority = 100;
    SHOW("setparam 100", sched_setparam(0, &sp));
    sp.sched_priority = 0;
    SHOW("setparam 0 under FIFO", sched_setparam(0, &sp));
    struct timespec ts = {-1, -1};
    SHOW("rr interval FIFO", sched_rr_get_interval(0, &ts));
    printf("interval %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    sp.sched_priority = 5;
    SHOW("RR 5", sched_setscheduler(0, SCHED_RR, &sp));
    SHOW("rr interval RR", sched_rr_get_interval(0, &ts));
    printf("interval %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    sp.sched_priority = 0;
    SHOW("OTHER 0", sched_setscheduler(0, SCHED_OTHER, &sp));
    SHOW("rr interval OTHER", sched_rr_get_interval(0, &ts));
    printf("interval sec %ld\n", (long)ts.tv_sec);
    sp.sched_priority = 3;
    SHOW("OTHER 3", sched_setscheduler(0, SCHED_OTHER, &sp));
    sp.sched_priority = 0;
    SHOW("FIFO 0", sched_setscheduler(0, SCHED_FIFO, &sp));
    SHOW("policy 7", sched_setscheduler(0, 7, &sp));
    SHOW("policy -1", sched_setscheduler(0, -1, &sp));
    SHOW("pid -1", sched_setscheduler(-1, SCHED_OTHER, &sp));
    SHOW("NULL param", sched_setscheduler(0, SCHED_OTHER, NULL));
    SHOW("no such pid", sched_setscheduler(999999, SCHED_OTHER, &sp));
    SHOW("getscheduler no such pid", sched_getscheduler(999999));
    SHOW("getscheduler -1", sched_getscheduler(-1));
    SHOW("DEADLINE via setscheduler", sched_setscheduler(0, SCHED_DEADLINE, &sp));
    SHOW("BATCH", sched_setscheduler(0, SCHED_BATCH, &sp));
    SHOW("getscheduler", sched_getscheduler(0));
    SHOW("IDLE", sched_setscheduler(0, SCHED_IDLE, &sp));
    SHOW("getscheduler", sched_getscheduler(0));
    proc_stat();
    /* reset on fork */
    sp.sched_priority = 7;
    SHOW("FIFO|RESET_ON_FORK", sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp));
    SHOW("getscheduler", sched_getscheduler(0));
    show_attr();
    if (fork() == 0) {
        SHOW("child getscheduler", sched_getscheduler(0));
        sched_getparam(0, &sp);
        printf("child param %d\n", sp.sched_priority);
        _exit(0);
    }
    wait_child();
    sp.sched_priority = 0;
    SHOW("back to OTHER", sched_setscheduler(0, SCHED_OTHER, &sp));
    /* inherited without reset */
    sp.sched_priority = 0;
    sched_setscheduler(0, SCHED_BATCH, &sp);
    if (fork() == 0) {
        SHOW("child inherits BATCH", sched_getscheduler(0));
        _exit(0);
    }
    wait_child();
    sched_setscheduler(0, SCHED_OTHER, &sp);
    /* sched_setattr */
    struct sched_attr a = {.size = sizeof a, .sched_policy = SCHED_OTHER, .sched_nice = 5};
    SHOW("setattr nice 5", sched_setattr_(0, &a, 0));
    SHOW("getpriority", getpriority(PRIO_PROCESS, 0));
    show_attr();
    SHOW("setattr flags arg", sched_setattr_(0, &a, 1));
    a.size = 40;
    SHOW("setattr size 40", sched_setattr_(0, &a, 0));
    printf("size written back %u\n", a.size);
    a.size = sizeof a;
    a.sched_flags = 0x1000;
    SHOW("setattr bad sched_flags", sched_setattr_(0, &a, 0));
    a.sched_flags = 0;
    a.sched_nice = -100;
    SHOW("setattr nice clamps", sched_setattr_(0, &a, 0));
    SHOW("getpriority", getpriority(PRIO_PROCESS, 0));
    a.sched_nice = 0;
    a.sched_policy = SCHED_DEADLINE;
    SHOW("DEADLINE no params", sched_setattr_(0, &a, 0));
    a.sched_runtime = 10000000; a.sched_deadline = 5000000; a.sched_period = 30000000;
    SHOW("DEADLINE runtime > deadline", sched_setattr_(0, &a, 0));
    a.sched_policy = SCHED_OTHER;
    sched_setattr_(0, &a, 0);
    struct sched_attr g;
    SHOW("getattr small", sched_getattr_(0, &g, 40, 0));
    SHOW("getattr flags", sched_getattr_(0, &g, sizeof g, 1));
    if (fork() == 0) {
        as_nobody();
        struct sched_param p = {.sched_priority = 1};
        SHOW("nobody FIFO", sched_setscheduler(0, SCHED_FIFO, &p));
        p.sched_priority = 0;
        SHOW("nobody BATCH", sched_setscheduler(0, SCHED_BATCH, &p));
        SHOW("nobody IDLE", sched_setscheduler(0, SCHED_IDLE, &p));
        SHOW("nobody back from IDLE", sched_setscheduler(0, SCHED_OTHER, &p));
        SHOW("nobody on root's pid", sched_setscheduler(getppid(), SCHED_OTHER, &p));
        _exit(0);
    }
    wait_child();
}

static void test_nice(void) {
    setpgid(0, 0);                  /* PRIO_PGRP: only this process and its children */
    SHOW("get", getpriority(PRIO_PROCESS, 0));
    SHOW("set 5", setpriority(PRIO_PROCESS, 0, 5));
    SHOW("get", getpriority(PRIO_PROCESS, 0));
    proc_stat();
    SHOW("set -5 (root)", setpriority(PRIO_PROCESS, 0, -5));
    SHOW("get", getpriority(PRIO_PROCESS, 0));
    SHOW("set 100 clamps", setpriority(PRIO_PROCESS, getpid(), 100));
    SHOW("get", getpriority(PRIO_PROCESS, getpid()));
    SHOW("bad which", setpriority(5, 0, 0));
    SHOW("get bad which", getpriority(5, 0));
    SHOW("no such pid", setpriority(PRIO_PROCESS, 999999, 0));
    SHOW("get no such pid", getpriority(PRIO_PROCESS, 999999));
    setpriority(PRIO_PROCESS, 0, 3);
    if (fork() == 0) {
        SHOW("child inherits", getpriority(PRIO_PROCESS, 0));
        setpriority(PRIO_PROCESS, 0, 8);
        SHOW("pgrp best", getpriority(PRIO_PGRP, 0));
        _exit(0);
    }
    wait_child();
    SHOW("PRIO_PGRP set", setpriority(PRIO_PGRP, 0, 2));
    SHOW("PRIO_PGRP get", getpriority(PRIO_PGRP, 0));
    SHOW("PRIO_USER get", getpriority(PRIO_USER, 0) <= 20);
    struct rlimit rl = {0, 0};      /* (raising it needs CAP_SYS_RESOURCE, which CI's root may lack) */
    setrlimit(RLIMIT_NICE, &rl);
    if (fork() == 0) {
        as_nobody();
        SHOW("nobody set 10", setpriority(PRIO_PROCESS, 0, 10));
        SHOW("nobody lower to 5", setpriority(PRIO_PROCESS, 0, 5));
        SHOW("nobody raise to 12", setpriority(PRIO_PROCESS, 0, 12));
        SHOW("nobody on root's pid", setpriority(PRIO_PROCESS, getppid(), 19));
        SHOW("get", getpriority(PRIO_PROCESS, 0));
        proc_stat();
        _exit(0);
    }
    wait_child();
}

/* VmLck from /proc/self/status, read without stdio (no allocations that
 * MCL_FUTURE would lock). */
static long vmlck(void) {
    static char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "VmLck:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

static int resident(char *p, int pages) {
    unsigned char vec[64];
    mincore(p, pages * 4096, vec);
    int n = 0;
    for (int i = 0; i < pages; i++) n += vec[i] & 1;
    return n;
}

static void test_mlock(void) {
    char *p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    char *big = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("VmLck before %ld\n", vmlck());
    SHOW("mlock 3 pages", mlock(big + 4096, 3 * 4096));
    printf("VmLck %ld resident %d\n", vmlck(), resident(big, 8));
    SHOW("mlock unaligned", mlock(big + 4096 * 10 + 100, 4096));
    printf("VmLck %ld\n", vmlck());
    SHOW("munlock all", munlock(big, 4 << 20));
    printf("VmLck %ld\n", vmlck());
    SHOW("mlock2 ONFAULT", mlock2(big + 20 * 4096, 2 * 4096, MLOCK_ONFAULT));
    printf("VmLck %ld resident %d\n", vmlck(), resident(big + 20 * 4096, 2));
    SHOW("mlock2 bad flags", mlock2(big, 4096, 2));
    munlock(big, 4 << 20);
    munmap(p + 4 * 4096, 4096);
    SHOW("mlock over a hole", mlock(p, 8 * 4096));
    printf("VmLck %ld\n", vmlck());
    SHOW("munlock over a hole", munlock(p, 8 * 4096));
    printf("VmLck %ld\n", vmlck());
    SHOW("mlock len 0", mlock(p, 0));
    SHOW("mlock wraps", mlock((void *)-4096L, 8192));
    SHOW("mlockall 0", mlockall(0));
    SHOW("mlockall ONFAULT alone", mlockall(MCL_ONFAULT));
    SHOW("mlockall bad", mlockall(8 | MCL_CURRENT));
    SHOW("mlockall FUTURE", mlockall(MCL_FUTURE));
    char *f = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("VmLck %ld resident %d\n", vmlck(), resident(f, 3));
    SHOW("sbrk under MCL_FUTURE", sbrk(3 * 4096) == (void *)-1 ? -1 : 0);
    printf("VmLck %ld\n", vmlck());
    SHOW("munlockall", munlockall());
    printf("VmLck %ld\n", vmlck());
    char *g = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    printf("MAP_LOCKED: VmLck %ld resident %d\n", vmlck(), resident(g, 2));
    munmap(g, 2 * 4096);
    mlock(big, 5 * 4096);
    if (fork() == 0) {
        printf("child VmLck %ld\n", vmlck());
        _exit(0);
    }
    wait_child();
    munlock(big, 5 * 4096);
    struct rlimit rl = {16 * 4096, 16 * 4096};
    setrlimit(RLIMIT_MEMLOCK, &rl);
    if (fork() == 0) {
        as_nobody();
        SHOW("nobody mlock 8 pages", mlock(big, 8 * 4096));
        SHOW("nobody relock same", mlock(big, 8 * 4096));
        SHOW("nobody 9 more", mlock(big + 8 * 4096, 9 * 4096));
        SHOW("nobody 8 more", mlock(big + 8 * 4096, 8 * 4096));
        printf("VmLck %ld\n", vmlck());
        SHOW("nobody mlockall CURRENT", mlockall(MCL_CURRENT));
        SHOW("nobody mlockall FUTURE", mlockall(MCL_FUTURE));
        SHOW("nobody mmap past limit", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0);
        munlockall();
        SHOW("nobody MAP_LOCKED past limit", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0) == MAP_FAILED ? -1 : 0);
        munlock(big, 16 * 4096);
        struct rlimit zero = {0, 0};
        setrlimit(RLIMIT_MEMLOCK, &zero);
        SHOW("nobody mlock, limit 0", mlock(big, 4096));
        SHOW("nobody mlockall, limit 0", mlockall(MCL_FUTURE));
        SHOW("nobody munlock, limit 0", munlock(big, 4096));
        _exit(0);
    }
    wait_child();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "sched")) test_sched();
    else if (!strcmp(argv[1], "nice")) test_nice();
    else if (!strcmp(argv[1], "mlock")) test_mlock();
    else return 2;
    return 0;
}
