/* ptrace(2) as strace and gdb use it, one check per subcommand; prints
 * only what must match between native Linux and the sandbox (no pids,
 * no addresses). Usage: ptrace_basics CHECK */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <elf.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d %s (errno %s)\n", __func__, __LINE__, #c, strerror(errno)); exit(1); } } while (0)

static int wait_stop(pid_t pid)
{
    int status;
    pid_t got = waitpid(pid, &status, __WALL);
    CHECK(got == pid);
    return status;
}

static const char *describe(int status)
{
    static char buf[64];
    if (WIFEXITED(status)) snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, sizeof buf, "killed %s", strsignal(WTERMSIG(status)));
    else if (WIFSTOPPED(status)) snprintf(buf, sizeof buf, "stopped sig=%d event=%d", WSTOPSIG(status), status >> 16);
    else snprintf(buf, sizeof buf, "status %#x", status);
    return buf;
}

/* A child stopped under PTRACE_TRACEME, ready to be stepped through. */
static pid_t traceme_child(void (*body)(void))
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        body();
        _exit(0);
    }
    int status = wait_stop(pid);
    printf("first stop: %s\n", describe(status));
    return pid;
}

static void five_getppids(void)
{
    for (int i = 0; i < 5; i++)
        syscall(SYS_getppid);
    syscall(SYS_exit_group, 7);
}

/* Count syscall stops (TRACESYSGOOD) and the getppid calls among them. */
static void count_syscalls(void)
{
    pid_t pid = traceme_child(five_getppids);
    CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
    int stops = 0, getppid_entries = 0, getppid_exits_ok = 0, entry = 1, status;
    for (;;) {
        CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
        status = wait_stop(pid);
        if (!WIFSTOPPED(status))
            break;
        CHECK(WSTOPSIG(status) == (SIGTRAP | 0x80));
        stops++;
        struct user_regs_struct regs;
        CHECK(ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0);
        if (regs.orig_rax == SYS_getppid) {
            if (entry) {
                getppid_entries++;
                if ((long)regs.rax != -ENOSYS) printf("entry rax %ld\n", (long)regs.rax);
            } else if ((pid_t)regs.rax == getpid()) {
                getppid_exits_ok++;
            }
        }
        entry = !entry;
    }
    printf("syscall stops: %d getppid entries %d exits returning our pid %d; %s\n",
           stops, getppid_entries, getppid_exits_ok, describe(status));
}

static long shared_word = 0x1122334455667788L;
static void read_word_and_exit(void)
{
    /* The tracer changes shared_word while we are stopped. */
    raise(SIGSTOP);
    syscall(SYS_exit_group, shared_word == 0x0102030405060708L ? 3 : 4);
}

static void peek_poke(void)
{
    pid_t pid = traceme_child(read_word_and_exit);
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, pid, &shared_word, 0);
    printf("peek: %lx errno %d\n", word, errno);
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    printf("second stop: %s\n", describe(wait_stop(pid)));
    CHECK(ptrace(PTRACE_POKEDATA, pid, &shared_word, 0x0102030405060708L) == 0);
    /* PEEKTEXT of code, POKETEXT into a read-only page and back. */
    long code = ptrace(PTRACE_PEEKTEXT, pid, (void *)five_getppids, 0);
    printf("peektext matches our code: %d\n", memcmp(&code, (void *)five_getppids, 8) == 0);
    CHECK(ptrace(PTRACE_POKETEXT, pid, (void *)five_getppids, code ^ 0xff) == 0);
    printf("poketext reads back: %d\n",
           ptrace(PTRACE_PEEKTEXT, pid, (void *)five_getppids, 0) == (code ^ 0xff));
    CHECK(ptrace(PTRACE_POKETEXT, pid, (void *)five_getppids, code) == 0);
    errno = 0;
    ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0);
    printf("peek of page 0: errno %s\n", strerrorname_np(errno));
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    printf("end: %s\n", describe(wait_stop(pid)));
}

/* The tracer makes getppid return 4242 at its syscall-exit stop, and
 * turns a getuid into a skipped call at entry (orig_rax = -1). */
static void changed_results_body(void)
{
    long a = syscall(SYS_getppid);
    long b = syscall(SYS_getuid);
    syscall(SYS_exit_group, (a == 4242 ? 1 : 0) | (b == -ENOSYS ? 2 : 0) |
            (b == 99 ? 4 : 0));
}

static void setregs_result(void)
{
    pid_t pid = traceme_child(changed_results_body);
    int status, entry = 1;
    for (;;) {
        CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
        status = wait_stop(pid);
        if (!WIFSTOPPED(status))
            break;
        struct user_regs_struct regs;
        CHECK(ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0);
        if (regs.orig_rax == SYS_getppid && !entry) {
            regs.rax = 4242;
            CHECK(ptrace(PTRACE_SETREGS, pid, 0, &regs) == 0);
        }
        if (regs.orig_rax == SYS_getuid && entry) {
            regs.orig_rax = -1;
            regs.rax = 99;
            CHECK(ptrace(PTRACE_SETREGS, pid, 0, &regs) == 0);
        }
        if (regs.orig_rax == (unsigned long)-1 && !entry) {
            printf("skipped call's exit: rax %ld\n", (long)regs.rax);
        }
        entry = !entry;
    }
    printf("child saw: %s\n", describe(status));
}

/* TRACEME + exec: the legacy SIGTRAP after exec, then with
 * PTRACE_O_TRACEEXEC the PTRACE_EVENT_EXEC stop. */
static void exec_stops(const char *self)
{
    for (int opt = 0; opt < 2; opt++) {
        pid_t pid = fork();
        if (pid == 0) {
            ptrace(PTRACE_TRACEME, 0, 0, 0);
            raise(SIGSTOP);
            execl(self, self, "exit5", (char *)0);
            _exit(99);
        }
        wait_stop(pid);
        if (opt)
            CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXEC) == 0);
        CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
        int status = wait_stop(pid);
        printf("after exec (option %d): %s\n", opt, describe(status));
        siginfo_t si;
        CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
        printf("  siginfo signo %d code %#x\n", si.si_signo, si.si_code);
        unsigned long msg = 0;
        if (opt) {
            CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0);
            printf("  eventmsg is the pid: %d\n", (pid_t)msg == pid);
        }
        CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
        printf("  end: %s\n", describe(wait_stop(pid)));
    }
}

static int tracer_pid(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int tracer = -1;
    while (fgets(line, sizeof line, f))
        sscanf(line, "TracerPid: %d", &tracer);
    fclose(f);
    return tracer;
}

static void spin_forever(void)
{
    for (;;)
        pause();
}

/* SEIZE does not stop; INTERRUPT gives PTRACE_EVENT_STOP; a signal gives
 * a signal-delivery-stop where the tracer suppresses it; KILL ends it. */
static void seize_interrupt(void)
{
    pid_t pid = fork();
    if (pid == 0)
        spin_forever();
    CHECK(ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
    int status;
    printf("after seize, waitpid WNOHANG: %d\n", waitpid(pid, &status, WNOHANG | __WALL));
    CHECK(ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0);
    status = wait_stop(pid);
    printf("interrupt: %s\n", describe(status));
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    kill(pid, SIGUSR1);
    status = wait_stop(pid);
    printf("signal: %s\n", describe(status));
    siginfo_t si;
    CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
    printf("  siginfo signo %d code %d from us %d\n", si.si_signo, si.si_code, si.si_pid == getpid());
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);     /* suppressed: it lives */
    kill(pid, SIGTERM);
    status = wait_stop(pid);
    printf("signal: %s\n", describe(status));
    CHECK(ptrace(PTRACE_CONT, pid, 0, SIGTERM) == 0);   /* delivered: it dies */
    printf("end: %s\n", describe(wait_stop(pid)));
    pid = fork();
    if (pid == 0)
        spin_forever();
    CHECK(ptrace(PTRACE_SEIZE, pid, 0, 0) == 0);
    CHECK(ptrace(PTRACE_KILL, pid, 0, 0) == 0 || errno == ESRCH);
    printf("ptrace kill: %s\n", describe(wait_stop(pid)));
    errno = 0;
    long r = ptrace(PTRACE_CONT, getppid(), 0, 0);
    printf("ptrace on a non-tracee: %ld %s\n", r, strerrorname_np(errno));
}

static void *thread_body(void *arg)
{
    syscall(SYS_getppid);
    return arg;
}

static void two_threads(void)
{
    pthread_t t;
    pthread_create(&t, 0, thread_body, 0);
    pthread_join(t, 0);
    syscall(SYS_exit_group, 0);
}

/* TRACECLONE follows a new thread: an event stop in the creator, the
 * thread's own first stop, its exit seen by waitpid(__WALL). */
static void trace_clone(void)
{
    pid_t pid = traceme_child(two_threads);
    CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACECLONE) == 0);
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    int events = 0, thread_stops = 0, thread_exits = 0, status;
    pid_t thread = 0;
    for (;;) {
        pid_t got = waitpid(-1, &status, __WALL);
        CHECK(got > 0);
        if (got == pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
            printf("leader: %s\n", describe(status));
            break;
        }
        if (got != pid) {
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                thread_exits += got == thread;
                continue;
            }
            thread_stops++;
            printf("thread stop: %s\n", describe(status));
        } else if (status >> 16 == PTRACE_EVENT_CLONE) {
            unsigned long msg;
            CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0);
            thread = msg;
            events++;
        } else {
            printf("leader stop: %s\n", describe(status));
        }
        CHECK(ptrace(PTRACE_CONT, got, 0, 0) == 0);
    }
    printf("clone events %d, thread stops %d, thread exits %d\n", events, thread_stops, thread_exits);
}

/* PTRACE_ATTACH to a running process: a SIGSTOP stop; DETACH lets it run
 * on untraced (a later SIGTERM kills it as usual). */
static void attach_detach(void)
{
    pid_t pid = fork();
    if (pid == 0)
        spin_forever();
    CHECK(ptrace(PTRACE_ATTACH, pid, 0, 0) == 0);
    printf("attach: %s\n", describe(wait_stop(pid)));
    errno = 0;
    long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
    printf("second attach: %ld %s\n", r, strerrorname_np(errno));
    struct user_regs_struct regs;
    printf("getregs: %ld\n", ptrace(PTRACE_GETREGS, pid, 0, &regs));
    printf("TracerPid is us: %d\n", tracer_pid(pid) == getpid());
    CHECK(ptrace(PTRACE_DETACH, pid, 0, 0) == 0);
    printf("after detach TracerPid: %d\n", tracer_pid(pid));
    errno = 0;
    r = ptrace(PTRACE_GETREGS, pid, 0, &regs);
    printf("getregs after detach: %ld %s\n", r, strerrorname_np(errno));
    kill(pid, SIGTERM);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    printf("end: %s\n", describe(status));
}

static void fork_a_child(void)
{
    pid_t child = fork();
    if (child == 0)
        _exit(9);
    int status;
    waitpid(child, &status, 0);
    _exit(WIFEXITED(status) ? 40 + WEXITSTATUS(status) : 1);
}

/* TRACEFORK follows a fork: the event stop with the new pid, the new
 * child's SIGSTOP, TRACEEXIT's stop before each exit, then the exits. */
static void vfork_a_child(void)
{
    pid_t child = vfork();
    if (child == 0)
        _exit(9);
    int status;
    waitpid(child, &status, 0);
    _exit(WIFEXITED(status) ? 40 + WEXITSTATUS(status) : 1);
}

static void trace_fork(int vfork_too)
{
    /* Each process's stops in order; the two processes' interleaving is
     * up to the scheduler, so they are printed one after the other. */
    static char log[2][1024];
    pid_t pid = traceme_child(vfork_too ? vfork_a_child : fork_a_child);
    CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, vfork_too ?
                 PTRACE_O_TRACEVFORK | PTRACE_O_TRACEVFORKDONE | PTRACE_O_TRACEEXIT :
                 PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXIT) == 0);
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    pid_t grandchild = 0;
    for (;;) {
        int status;
        pid_t got = waitpid(-1, &status, __WALL);
        CHECK(got > 0);
        unsigned long msg = 0;
        if (WIFSTOPPED(status) && (status >> 16 == PTRACE_EVENT_FORK ||
                                   status >> 16 == PTRACE_EVENT_VFORK)) {
            CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0);
            grandchild = msg;
        } else if (WIFSTOPPED(status) && status >> 16 == PTRACE_EVENT_EXIT) {
            CHECK(ptrace(PTRACE_GETEVENTMSG, got, 0, &msg) == 0);
        }
        char *out = log[got != pid];
        snprintf(out + strlen(out), sizeof log[0] - strlen(out), "  %s\n", describe(status));
        if (status >> 16 == PTRACE_EVENT_EXIT)
            snprintf(out + strlen(out), sizeof log[0] - strlen(out), "  eventmsg %#lx\n", msg);
        if (got == pid && !WIFSTOPPED(status))
            break;
        if (WIFSTOPPED(status))
            CHECK(ptrace(PTRACE_CONT, got, 0, 0) == 0);
    }
    printf("child:\n%sgrandchild (traced: %d):\n%s", log[0], grandchild > 0, log[1]);
}

/* A seized tracee's group stop: the stop signal's delivery stop, then
 * PTRACE_EVENT_STOP; LISTEN until SIGCONT, which reports again. */
static void group_stop(void)
{
    pid_t pid = fork();
    if (pid == 0)
        spin_forever();
    CHECK(ptrace(PTRACE_SEIZE, pid, 0, 0) == 0);
    kill(pid, SIGSTOP);
    printf("delivery: %s\n", describe(wait_stop(pid)));
    CHECK(ptrace(PTRACE_CONT, pid, 0, SIGSTOP) == 0);
    printf("group stop: %s\n", describe(wait_stop(pid)));
    CHECK(ptrace(PTRACE_LISTEN, pid, 0, 0) == 0);
    int status;
    printf("listening, WNOHANG: %d\n", waitpid(pid, &status, WNOHANG | __WALL));
    kill(pid, SIGCONT);
    printf("after SIGCONT: %s\n", describe(wait_stop(pid)));
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    printf("delivery: %s\n", describe(wait_stop(pid)));
    CHECK(ptrace(PTRACE_CONT, pid, 0, SIGCONT) == 0);
    kill(pid, SIGKILL);
    printf("end: %s\n", describe(wait_stop(pid)));
}

extern char step_start[], step_end[];
static void step_body(void)
{
    asm volatile(".globl step_start\nstep_start:\n"
                 "nop\n mov $1, %%eax\n add $2, %%eax\n nop\n"
                 "mov $110, %%eax\n syscall\n nop\n"      /* getppid: stepped over */
                 ".globl step_end\nstep_end: nop" ::: "rax", "rcx", "r11", "memory");
    syscall(SYS_exit_group, 0);
}

/* PTRACE_SINGLESTEP through five known instructions. */
static void single_step(void)
{
    pid_t pid = traceme_child(step_body);
    /* Run to step_start with a breakpoint (int3) written over it. */
    long orig = ptrace(PTRACE_PEEKTEXT, pid, step_start, 0);
    CHECK(ptrace(PTRACE_POKETEXT, pid, step_start, (orig & ~0xffL) | 0xcc) == 0);
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    int status = wait_stop(pid);
    struct user_regs_struct regs;
    CHECK(ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0);
    printf("breakpoint: %s at +%ld\n", describe(status), (long)(regs.rip - (unsigned long)step_start));
    siginfo_t si;
    CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
    printf("  si_code %#x\n", si.si_code);
    CHECK(ptrace(PTRACE_POKETEXT, pid, step_start, orig) == 0);
    regs.rip = (unsigned long)step_start;
    CHECK(ptrace(PTRACE_SETREGS, pid, 0, &regs) == 0);
    int steps = 0;
    while (regs.rip != (unsigned long)step_end && steps < 20) {
        CHECK(ptrace(PTRACE_SINGLESTEP, pid, 0, 0) == 0);
        status = wait_stop(pid);
        CHECK(ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0);
        CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
        steps++;
        char eax[32];
        if ((pid_t)regs.rax == getpid())
            strcpy(eax, "our pid");
        else
            snprintf(eax, sizeof eax, "%ld", (long)(regs.rax & 0xffffffff));
        printf("step %d: %s at +%ld eax %s TF %d si_code %d\n", steps, describe(status),
               (long)(regs.rip - (unsigned long)step_start), eax,
               !!(regs.eflags & 0x100), si.si_code);
    }
    CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
    printf("end: %s\n", describe(wait_stop(pid)));
}

/* GET_SYSCALL_INFO at entry and exit, GETREGSET, FPREGS, PEEKUSER. */
static void syscall_info(void)
{
    pid_t pid = traceme_child(five_getppids);
    CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
    struct __ptrace_syscall_info info;
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
    printf("at signal stop: size %ld op %d arch %#x\n", n, info.op, info.arch);
    CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
    wait_stop(pid);
    n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
    printf("entry: size %ld op %d nr %llu\n", n, info.op, (unsigned long long)info.entry.nr);
    unsigned long msg;
    CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0);
    printf("  eventmsg %lu\n", msg);
    CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
    wait_stop(pid);
    n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
    printf("exit: size %ld op %d rval is our pid %d is_error %d\n", n, info.op,
           info.exit.rval == getpid(), info.exit.is_error);
    struct user_regs_struct regs, regs2;
    struct iovec iov = {&regs2, sizeof regs2};
    CHECK(ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0);
    CHECK(ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &iov) == 0);
    printf("regset size %zu same as getregs %d\n", iov.iov_len, memcmp(&regs, &regs2, sizeof regs) == 0);
    long rip = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, rip), 0);
    long dr7 = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user, u_debugreg[7]), 0);
    printf("peekuser rip ok %d dr7 %ld cs %#llx ss %#llx\n", rip == (long)regs.rip, dr7, regs.cs, regs.ss);
    struct user_fpregs_struct fp;
    CHECK(ptrace(PTRACE_GETFPREGS, pid, 0, &fp) == 0);
    printf("fpregs mxcsr %#x cwd %#x\n", fp.mxcsr, fp.cwd);
    printf("TracerPid is us: %d\n", tracer_pid(pid) == getpid());
    CHECK(ptrace(PTRACE_KILL, pid, 0, 0) == 0);
    printf("end: %s\n", describe(wait_stop(pid)));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "exit5")) return 5;
    if (!strcmp(argv[1], "all")) {
        const char *checks[] = {"count", "peekpoke", "setregs", "exec", "seize", "clone",
                                "step", "info", "attach", "fork", "vfork", "groupstop"};
        for (unsigned i = 0; i < sizeof checks / sizeof *checks; i++) {
            printf("== %s\n", checks[i]);
            pid_t pid = fork();
            if (pid == 0) {
                execl(argv[0], argv[0], checks[i], (char *)0);
                _exit(127);
            }
            int status;
            waitpid(pid, &status, 0);
            printf("-> %s\n", describe(status));
        }
        return 0;
    }
    if (!strcmp(argv[1], "count")) count_syscalls();
    else if (!strcmp(argv[1], "peekpoke")) peek_poke();
    else if (!strcmp(argv[1], "setregs")) setregs_result();
    else if (!strcmp(argv[1], "exec")) exec_stops(argv[0]);
    else if (!strcmp(argv[1], "seize")) seize_interrupt();
    else if (!strcmp(argv[1], "clone")) trace_clone();
    else if (!strcmp(argv[1], "step")) single_step();
    else if (!strcmp(argv[1], "info")) syscall_info();
    else if (!strcmp(argv[1], "attach")) attach_detach();
    else if (!strcmp(argv[1], "fork")) trace_fork(0);
    else if (!strcmp(argv[1], "vfork")) trace_fork(1);
    else if (!strcmp(argv[1], "groupstop")) group_stop();
    else return 2;
    return 0;
}
