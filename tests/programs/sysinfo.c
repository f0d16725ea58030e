/* Identity and limits a program can ask about: uname, ids, rlimits,
 * affinity, cwd, getrandom. Both runs share the parent's limits and cwd. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static void limit(const char *name, int which)
{
    struct rlimit rl;
    int r = getrlimit(which, &rl);
    printf("%s: r=%d cur=%lld max=%lld\n", name, r,
           rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur,
           rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
}

int main(void)
{
    struct utsname u;
    printf("uname = %d\n", uname(&u));
    printf("sysname=%s machine=%s\n", u.sysname, u.machine);
    printf("release nonempty=%d\n", u.release[0] != 0);

    printf("uid=%d euid=%d gid=%d egid=%d\n", getuid(), geteuid(), getgid(), getegid());
    printf("pid positive=%d ppid nonnegative=%d\n", getpid() > 0, getppid() >= 0);
    printf("gettid==getpid: %d\n", (long)syscall(SYS_gettid) == getpid());

    limit("RLIMIT_STACK", RLIMIT_STACK);
    /* RLIMIT_NOFILE: the sandbox's is its own (tests/guest/test_many_threads.py). */
    limit("RLIMIT_AS", RLIMIT_AS);
    limit("RLIMIT_CORE", RLIMIT_CORE);
    limit("RLIMIT_DATA", RLIMIT_DATA);
    limit("RLIMIT_CPU", RLIMIT_CPU);
    errno = 0;
    struct rlimit rl;
    int r = getrlimit(1000, &rl);
    printf("getrlimit(1000) = %d errno=%s\n", r, strerror(errno));
    /* Lowering a soft limit is allowed and is read back. */
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = 64;
    printf("setrlimit(NOFILE, 64) = %d\n", setrlimit(RLIMIT_NOFILE, &rl));
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("RLIMIT_NOFILE now: cur=%lld\n", (long long)rl.rlim_cur);
    rl.rlim_cur = old;
    setrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : rl.rlim_max + 1;
    errno = 0;
    r = setrlimit(RLIMIT_NOFILE, &rl);
    printf("setrlimit(cur > max) = %d errno=%s\n", r, strerror(errno));

    cpu_set_t set;
    CPU_ZERO(&set);
    r = sched_getaffinity(0, sizeof(set), &set);
    printf("sched_getaffinity = %d, cpus=%d\n", r, CPU_COUNT(&set));
    errno = 0;
    long k = syscall(SYS_sched_getaffinity, 0, 3, &set);
    printf("sched_getaffinity(size 3) = %ld errno=%s\n", k, strerror(errno));
    k = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set);
    printf("sched_getaffinity raw returns size>0: %d\n", k > 0 && k <= (long)sizeof(set));

    char cwd[4096];
    printf("getcwd: %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "(failed)");
    errno = 0;
    char *c = getcwd(cwd, 2);
    printf("getcwd(size 2) = %s errno=%s\n", c ? c : "NULL", strerror(errno));

    unsigned char buf[4096];
    printf("getrandom(16) = %zd\n", getrandom(buf, 16, 0));
    printf("getrandom(4096) = %zd\n", getrandom(buf, sizeof(buf), GRND_NONBLOCK));
    printf("getrandom(0) = %zd\n", getrandom(buf, 0, 0));
    errno = 0;
    ssize_t n = getrandom(buf, 16, 0x1000);
    printf("getrandom(bad flags) = %zd errno=%s\n", n, strerror(errno));
    int zeros = 0;
    getrandom(buf, 64, 0);
    for (int i = 0; i < 64; i++)
        zeros += buf[i] == 0;
    printf("random bytes mostly nonzero: %d\n", zeros < 16);
    printf("sysconf pagesize=%ld clk_tck=%ld\n", sysconf(_SC_PAGESIZE), sysconf(_SC_CLK_TCK));
    return 0;
}
