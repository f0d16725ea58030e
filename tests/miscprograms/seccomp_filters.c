/* seccomp filters: actions, inheritance across fork and execve, SIGSYS
 * siginfo, strict mode, filter validation. Usage: seccomp_filters MODE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r == -1)
        printf("%s: errno %s\n", what, strerrorname_np(errno));
    else
        printf("%s: = %ld\n", what, r);
    fflush(stdout);
}
#define CALL(what, expr) do { errno = 0; show(what, (long)(expr)); } while (0)

#define NR_IS(nr, action) \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (action))
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static long install(struct sock_filter *f, unsigned short n, unsigned flags) {
    struct sock_fprog prog = {n, f};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void status_line(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Seccomp", 7) || !strncmp(line, "NoNewPrivs", 10))
            printf("  %s", line);
    if (f)
        fclose(f);
}

static void probe(const char *who) {
    struct utsname u;
    printf("%s:\n", who);
    CALL("  uname", uname(&u));
    CALL("  getpid > 0", syscall(SYS_getpid) > 0);
    CALL("  open O_CREAT", open("/nonexistent-dir/x", O_CREAT | O_WRONLY, 0600));
    CALL("  open plain", open("/nonexistent-dir/x", O_RDONLY));
    CALL("  PR_GET_SECCOMP", prctl(PR_GET_SECCOMP));
    status_line();
}

/* uname -> ENOTTY; getppid -> "0" without running; openat with O_CREAT
 * (args[2] bit 6) -> EROFS; arch checked first. */
static void mode_errno(const char *self) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        LOAD_NR,
        NR_IS(SYS_uname, SECCOMP_RET_ERRNO | ENOTTY),
        NR_IS(SYS_getpid, SECCOMP_RET_ERRNO | 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, O_CREAT),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EROFS),
        ALLOW,
    };
    probe("before");
    CALL("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    CALL("install", install(f, sizeof f / sizeof f[0], 0));
    probe("after");
    /* a second filter: the stronger action wins (KILL < TRAP < ERRNO < ALLOW) */
    struct sock_filter g[] = {LOAD_NR, NR_IS(SYS_uname, SECCOMP_RET_ERRNO | EPERM),
                              NR_IS(SYS_getcwd, SECCOMP_RET_ERRNO | 4095), ALLOW};
    CALL("install second", install(g, sizeof g / sizeof g[0], SECCOMP_FILTER_FLAG_LOG));
    struct utsname u;
    CALL("uname (both ERRNO: the newest filter answers)", uname(&u));
    char buf[64];
    CALL("getcwd errno 4095", syscall(SYS_getcwd, buf, sizeof buf) == -1 ? -(long)errno : 0);
    status_line();
    pid_t c = fork();
    if (c == 0) {
        probe("child");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    fflush(stdout);
    execl(self, self, "probe", NULL);
    perror("execl");
}

static volatile int traps;

static void on_sigsys(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    printf("SIGSYS: signo %d code %d errno %d syscall %d arch %#x call_addr_ok %d rax %lld\n",
           si->si_signo, si->si_code, si->si_errno, si->si_syscall, si->si_arch,
           si->si_call_addr != NULL, (long long)uc->uc_mcontext.gregs[REG_RAX]);
    fflush(stdout);
    traps++;
}

static void mode_trap(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    struct sock_filter f[] = {LOAD_NR, NR_IS(SYS_getcwd, SECCOMP_RET_TRAP | 42), ALLOW};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    CALL("prctl PR_SET_SECCOMP", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
    char buf[64];
    CALL("getcwd (trapped)", syscall(SYS_getcwd, buf, sizeof buf));
    printf("traps %d\n", traps);
    /* blocked SIGSYS: the trap is forced, the process dies */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGSYS);
        sigprocmask(SIG_BLOCK, &s, NULL);
        syscall(SYS_getcwd, buf, sizeof buf);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("blocked trap child: signaled %d sig %d\n", WIFSIGNALED(st), WTERMSIG(st));
}

static void child_status(const char *what, int st) {
    if (WIFSIGNALED(st))
        printf("%s: killed by %d\n", what, WTERMSIG(st));
    else
        printf("%s: exit %d\n", what, WEXITSTATUS(st));
    fflush(stdout);
}

static void *idle_thread(void *arg) {
    pause();
    return arg;
}

static void run_killed(const char *what, unsigned action, int threads) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        pthread_t t;
        if (threads)
            pthread_create(&t, NULL, idle_thread, NULL);
        struct sock_filter f[] = {LOAD_NR, NR_IS(SYS_getppid, action), ALLOW};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        install(f, sizeof f / sizeof f[0], 0);
        syscall(SYS_getppid);
        printf("%s: survived\n", what);
        fflush(stdout);
        _exit(7);
    }
    int st;
    waitpid(c, &st, 0);
    child_status(what, st);
}

static void mode_kill(void) {
    run_killed("KILL_PROCESS", SECCOMP_RET_KILL_PROCESS, 0);
    run_killed("KILL_THREAD single", SECCOMP_RET_KILL_THREAD, 0);
    run_killed("KILL_PROCESS threads", SECCOMP_RET_KILL_PROCESS, 1);
    run_killed("unknown action", 0x12340000, 0);
    run_killed("TRACE without tracer", SECCOMP_RET_TRACE, 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        CALL("strict", prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0));
        write(1, "write allowed\n", 14);
        syscall(SYS_getpid);
        _exit(3);
    }
    int st;
    waitpid(c, &st, 0);
    child_status("strict getpid", st);
}

static int ready;
static void *tsync_thread(void *arg) {
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    struct utsname u;
    errno = 0;
    long r = uname(&u);
    printf("thread uname: %ld %s\n", r, r ? strerrorname_np(errno) : "");
    CALL("thread PR_GET_SECCOMP", prctl(PR_GET_SECCOMP));
    return arg;
}

static void mode_tsync(void) {
    pthread_t t;
    pthread_create(&t, NULL, tsync_thread, NULL);
    struct sock_filter f[] = {LOAD_NR, NR_IS(SYS_uname, SECCOMP_RET_ERRNO | EIO), ALLOW};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    CALL("install TSYNC", install(f, sizeof f / sizeof f[0], SECCOMP_FILTER_FLAG_TSYNC));
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
}

static void mode_errors(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_filter ok[] = {ALLOW};
    CALL("len 0", install(ok, 0, 0));
    struct sock_filter bad_jump[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), ALLOW};
    CALL("jump out", install(bad_jump, 2, 0));
    struct sock_filter no_ret[] = {LOAD_NR};
    CALL("no ret", install(no_ret, 1, 0));
    struct sock_filter byte_load[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ALLOW};
    CALL("byte load", install(byte_load, 2, 0));
    struct sock_filter unaligned[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), ALLOW};
    CALL("unaligned load", install(unaligned, 2, 0));
    struct sock_filter past[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), ALLOW};
    CALL("load past data", install(past, 2, 0));
    struct sock_filter mem[] = {BPF_STMT(BPF_LD | BPF_MEM, 3), ALLOW};
    CALL("scratch read before write", install(mem, 2, 0));
    struct sock_filter mem_ok[] = {BPF_STMT(BPF_ST, 3), BPF_STMT(BPF_LD | BPF_MEM, 3), ALLOW};
    CALL("scratch written first", install(mem_ok, 3, 0));
    struct sock_filter div0[] = {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ALLOW};
    CALL("div by 0", install(div0, 2, 0));
    struct sock_filter mod[] = {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), ALLOW};
    CALL("mod", install(mod, 2, 0));
    struct sock_filter len[] = {BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
                                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 64, 1, 0),
                                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), ALLOW};
    CALL("len load (== 64)", install(len, 4, 0));
    CALL("bad flags", install(ok, 1, 1u << 10));
    CALL("bad op", syscall(SYS_seccomp, 7, 0, NULL));
    CALL("strict with flags", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL));
    CALL("efault", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void *)8));
    unsigned actions[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
                          SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE, SECCOMP_RET_LOG,
                          SECCOMP_RET_ALLOW, 0x12340000};
    for (unsigned i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "action avail %#x", actions[i]);
        CALL(what, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]));
    }
    CALL("action avail flags", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 1, &actions[0]));
    struct seccomp_notif_sizes sz;
    CALL("notif sizes", syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz));
    printf("  %u %u %u\n", sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
    CALL("PR_SET_SECCOMP bad mode", prctl(PR_SET_SECCOMP, 5, 0, 0, 0));
    CALL("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP));
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    if (!strcmp(m, "errno")) mode_errno(argv[0]);
    else if (!strcmp(m, "probe")) probe("after execve");
    else if (!strcmp(m, "trap")) mode_trap();
    else if (!strcmp(m, "kill")) mode_kill();
    else if (!strcmp(m, "tsync")) mode_tsync();
    else if (!strcmp(m, "errors")) mode_errors();
    else return 2;
    return 0;
}
