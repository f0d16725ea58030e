/* A hostile sibling (tests/systrap/test_forge.py). The sandbox's first
 * process B does work of its own (a computation, a file it writes and
 * reads back) while its child H attacks: H's threads block in long
 * sentry calls (read of an empty pipe, nanosleep), spin, take signals,
 * make and end threads, fork and exec, and H's main thread scribbles
 * over their slots in the control memfd (CTL_VA + k * SLOT_SIZE): random
 * words in the message and the saved frames, then forged posts, replies,
 * exits, thread ops, tids and frame pointers. After the attack B kills H
 * (SIGKILL from its parent) and reports how H ended, whether its own
 * work is right and whether its host CPU affinity is what it was (H
 * forges tids 1..MAX_TID, which in the sandbox's pid namespace are the
 * sentry's and the other processes' host threads, and asks for its own
 * affinity to change).
 *
 * argv: SEED MODE (random | targeted | vfork) MILLISECONDS; "exit7": the
 * exec'd image of a forked child. vfork: the targeted attack while a
 * vfork child C of H shares H's host process, blocked in a read until B
 * has seen H end; then B lets it go and sees it leave. Natively there
 * are no slots: H runs its threads and is killed the same way.
 *
 * -D: CTL_VA, SLOT_SIZE, OPS_OFF, ALTSTACK_OFF, ALTSTACK_SIZE, ENTRY_UC,
 * STUB_BASE, KICK_SIGNAL, MAX_OPS (the layout). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg {
    uint32_t state, spin;
    uint64_t cmd, nops, again, signo, code, addr, nr, arch, uctx, tid;
    uint64_t set_fs, fs_base, set_gs, gs_base, op_error;
    uint32_t stub_cpu, sentry_cpu;
    uint64_t entry, entry_rsp, entry_rip, self, kick_pending, gs_pending;
};
struct op { uint64_t nr, a[6], result; };
enum { RUNNING, POSTED, REPLIED, DEAD };
enum { VICTIM_SLOTS = 24, MAX_TID = 600, SC_RAX = 13, SC_RIP = 16 };
#define AUDIT_ARCH_X86_64 0xc000003eULL

static uint64_t rng;
static int slots_here;                   /* the control memfd is mapped (systrap) */
static int pipe_fds[2], sync_fds[2];
static int vfork_ready[2], vfork_release[2], vfork_left[2];   /* (vfork mode) */
static volatile int stop_work;
static volatile long signals_taken;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct msg *slot(int k) { return (struct msg *)(CTL_VA + (uint64_t)k * SLOT_SIZE); }
static uint64_t *frame_regs(int k) { return (uint64_t *)((char *)slot(k) + ENTRY_UC + 40); }

static void futex_wake(void *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, 1, 0, 0, 0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether CTL_VA is mapped: a load from it is a SIGSEGV natively (the
 * sentry's own copy_in would not tell: the slots are not guest memory). */
static sigjmp_buf probe_jb;
static void on_probe_segv(int sig) { siglongjmp(probe_jb, 1); }

static int probe_slots(void)
{
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = on_probe_segv;
    sigaction(SIGSEGV, &sa, &old);
    int ok = 0;
    if (sigsetjmp(probe_jb, 1) == 0)
        ok = *(volatile uint32_t *)CTL_VA != 0xffffffff;
    sigaction(SIGSEGV, &old, 0);
    return ok;
}

/* --- H's victims ------------------------------------------------------------ */

static void on_usr1(int sig) { signals_taken++; }

static void *reader(void *a)          /* a long sentry call: read of an empty pipe */
{
    char c;
    while (!stop_work)
        if (read(pipe_fds[0], &c, 1) < 0 && errno != EINTR)
            break;
    return 0;
}

static void *sleeper(void *a)         /* nanosleep */
{
    while (!stop_work) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, 0);
    }
    return 0;
}

static void *spinner(void *a)         /* program code and quick syscalls */
{
    volatile uint64_t x = 1;
    while (!stop_work) {
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005ULL + 1;
        getppid();
    }
    return 0;
}

/* A `syscall; ud2` in the stub's code, as escape_stub_calls.c finds it:
 * a host call the stub's filter lets through (here rt_sigprocmask). */
static uint64_t stub_site(void)
{
    static const unsigned char pat[] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b };
    for (uint64_t p = STUB_BASE + 0x1000; p < STUB_BASE + 0x3000; p++)
        if (memcmp((void *)p, pat, sizeof(pat)) == 0)
            return p + 5;
    return 0;
}

/* The kick's host signal blocked on this host thread, through the stub's
 * own call (its ud2's SIGILL brings the thread back), then spin: no
 * syscall, no fault, nothing the sentry sees until the process dies. */
static sigjmp_buf ill_jb;
static void on_ill(int sig) { siglongjmp(ill_jb, 1); }

static void *deaf_spinner(void *a)
{
    uint64_t site = slots_here ? stub_site() : 0;
    if (site && sigsetjmp(ill_jb, 1) == 0) {
        static uint64_t mask = 1ULL << (KICK_SIGNAL - 1);
        register long r10 __asm__("r10") = 8;
        __asm__ volatile("jmp *%[site]" : : [site] "r"(site), "a"(14L), "D"(0L), "S"(&mask),
                         "d"(0L), "r"(r10) : "memory");
        __builtin_unreachable();
    }
    volatile uint64_t x = 1;
    for (;;)
        x = x * 6364136223846793005ULL + 1;
    return 0;
}

static void *short_lived(void *a) { return a; }

/* Threads that end; fork + execve. (Not vfork: a vfork child shares
 * H's host process until it execs, and one H broke there may never exec
 * nor end; the vfork mode has a child H leaves alone: vforker.) */
static void *churner(void *self_path)
{
    while (!stop_work) {
        pthread_t t;
        if (pthread_create(&t, 0, short_lived, 0) == 0)
            pthread_join(t, 0);
        pid_t p = fork();
        if (p == 0) {
            execl((char *)self_path, (char *)self_path, "exit7", (char *)0);
            _exit(99);
        }
        if (p > 0)
            waitpid(p, 0, 0);
    }
    return 0;
}

/* A vfork child that stays in H's memory (and host process) until B,
 * having seen H end, releases it: only raw calls, on the parent's stack. */
static void *vforker(void *a)
{
    pid_t c = vfork();
    if (c == 0) {
        char ch;
        syscall(SYS_write, vfork_ready[1], "v", 1);
        syscall(SYS_read, vfork_release[0], &ch, 1);
        syscall(SYS_write, vfork_left[1], "l", 1);
        syscall(SYS_exit, 0);
    }
    return 0;
}

static void *signaler(void *a)        /* signals to the whole process */
{
    while (!stop_work) {
        kill(getpid(), SIGUSR1);
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, 0);
    }
    return 0;
}

/* --- H's attacks -------------------------------------------------------------- */

/* Forged syscalls: none that reaches another process by its own right
 * (kill, sched_setaffinity of a pid...), which H could make itself. */
static const long SAFE_NRS[] = {
    SYS_getpid, SYS_gettid, SYS_sched_yield, SYS_nanosleep, SYS_futex, SYS_write,
    SYS_getppid, SYS_read, SYS_close, SYS_dup, SYS_madvise, SYS_rt_sigprocmask, 500, -1,
};
/* ... and in the random mode also those that wreck H itself. */
static const long WRECKING_NRS[] = {
    SYS_exit, SYS_rt_sigreturn, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_clone,
    SYS_sigaltstack, SYS_arch_prctl, SYS_set_tid_address, SYS_exit_group,
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void random_words(void *p, size_t bytes)
{
    uint64_t *w = p;
    for (size_t i = 0; i < bytes / 8; i++)
        w[i] = next();
}

/* A post in slot k's name: the entry frame's registers, then POSTED and
 * a wake; `wild`: any syscall, and now and then a wrong signal, ABI,
 * frame or batch report; `signo`: a signal of our choosing. */
static void forge_post(int k, int wild, uint64_t signo)
{
    struct msg *m = slot(k);
    uint64_t *sc = frame_regs(k);
    uint64_t pick = next() % (COUNT(SAFE_NRS) + (wild ? COUNT(WRECKING_NRS) : 0));
    long nr = pick < COUNT(SAFE_NRS) ? SAFE_NRS[pick] : WRECKING_NRS[pick - COUNT(SAFE_NRS)];
    for (int i = 0; i < 13; i++)
        sc[i] = next() & 0xfff;          /* small numbers: fds, lengths, flags */
    sc[SC_RAX] = (uint64_t)nr;
    m->signo = SIGSYS;
    m->code = 1;
    m->nr = (uint64_t)nr;
    m->arch = AUDIT_ARCH_X86_64;
    m->uctx = CTL_VA + (uint64_t)k * SLOT_SIZE + ENTRY_UC;
    if (signo)
        m->signo = signo;
    if (wild) {
        m->signo = next() % 8 ? SIGSYS : next() % 2 ? next() % 65 : next();
        m->arch = next() % 8 ? AUDIT_ARCH_X86_64 : next();
        m->uctx = next() % 4 ? m->uctx : next();
        m->op_error = next() % 4 == 0;
    }
    __atomic_store_n(&m->state, POSTED, __ATOMIC_SEQ_CST);
    futex_wake(&m->state);
}

static void attack(int k, int kind, int wild, const uint64_t *host_tids)
{
    struct msg *m = slot(k);
    switch (kind) {
    case 0:                              /* random words in every message field */
        random_words(m, OPS_OFF + 2 * sizeof(struct op));
        futex_wake(&m->state);
        break;
    case 1: {                            /* random words in the saved frames */
        uint64_t off = next() % 2 ? ALTSTACK_OFF + next() % (ALTSTACK_SIZE - 512)
                                  : ENTRY_UC + next() % 0x800;
        random_words((char *)m + (off & ~7ULL), 64 + next() % 512);
        break;
    }
    case 2:                              /* a syscall of our choosing, in its name */
        forge_post(k, wild, 0);
        break;
    case 3:                              /* REPLIED while the sentry serves it */
        __atomic_store_n(&m->state, REPLIED, __ATOMIC_SEQ_CST);
        futex_wake(&m->state);
        break;
    case 4:                              /* exit, and a reply that makes it happen */
        m->cmd = 1;
        if (next() % 2) {
            __atomic_store_n(&m->state, REPLIED, __ATOMIC_SEQ_CST);
            futex_wake(&m->state);
        }
        break;
    case 5: {                            /* thread ops: clones onto any stack */
        struct op *ops = (struct op *)((char *)m + OPS_OFF);
        uint64_t n = 1 + next() % 3;
        for (uint64_t i = 0; i < n; i++) {
            ops[i].nr = next() % 2 ? 56 : next();
            ops[i].a[1] = next() % 2 ? CTL_VA + (1 + next() % (VICTIM_SLOTS - 1)) * SLOT_SIZE
                                       + 0x7000
                                     : next();
            ops[i].a[3] = next() % 2 ? (uint64_t)&slot(next() % VICTIM_SLOTS)->tid : next();
        }
        m->nops = next() % 2 ? n : next();
        m->again = next() % 2;
        break;
    }
    case 6:                              /* another thread's tid, or a host one */
        m->tid = next() % 2 ? slot(next() % VICTIM_SLOTS)->tid : host_tids[next() % MAX_TID];
        if (wild && next() % 2)
            m->tid = next();
        break;
    case 7:                              /* frame pointers outside the slot */
        m->uctx = next() % 2 ? CTL_VA + (next() % VICTIM_SLOTS) * SLOT_SIZE + ENTRY_UC
                             : next();
        frame_regs(k)[23] = next();      /* fpstate */
        __atomic_store_n(&m->state, POSTED, __ATOMIC_SEQ_CST);
        futex_wake(&m->state);
        break;
    case 9:                              /* a signal the stub never posts */
        forge_post(k, 0, 1000 + next() % 1000);
        break;
    case 8:                              /* bases, spin, the entry's words */
        m->set_fs = next() % 2;
        m->fs_base = next();
        m->set_gs = next() % 2;
        m->gs_base = next();
        m->spin = (uint32_t)(next() % 100000);
        if (next() % 4 == 0)
            m->entry_rsp = next();
        break;
    }
}

/* Each host tid 1..MAX_TID in turn as this thread's own: the sentry must
 * not pin anyone else's thread when it asks for its affinity. */
static int forge_own_tid(int own, const uint64_t *host_tids)
{
    int answered = 0;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    for (int i = 0; i < MAX_TID; i++) {
        slot(own)->tid = host_tids[i];
        answered += sched_setaffinity(0, sizeof(one), &one) == 0;
    }
    return answered;
}

static void hostile(const char *self_path, int targeted, int with_vfork, double seconds)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, 0);
    signal(SIGILL, on_ill);
    if (pipe(pipe_fds) < 0)
        exit(2);
    static void *(*const kinds[])(void *) = {
        reader, reader, sleeper, sleeper, spinner, churner, signaler, deaf_spinner };
    pthread_t t;
    for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        pthread_create(&t, 0, kinds[i], (void *)self_path);
    struct timespec settle = { 0, 100 * 1000 * 1000 };
    nanosleep(&settle, 0);
    if (with_vfork) {                  /* (its slot after the threads': not attacked) */
        char ch;
        pthread_create(&t, 0, vforker, 0);
        if (read(vfork_ready[0], &ch, 1) != 1)
            exit(2);
    }
    static uint64_t host_tids[MAX_TID];
    for (int i = 0; i < MAX_TID; i++)
        host_tids[i] = (uint64_t)i + 1;
    if (slots_here) {
        /* This thread is slot 0 (the process's first); the others follow. */
        fprintf(stderr, "hostile: attacking\n");
        int pinned = forge_own_tid(0, host_tids);
        if (targeted)
            attack(5, 9, 0, host_tids);      /* (the spinner: the sentry waits for it) */
        double end = now() + seconds;
        int round = 0;
        /* Targeted: the readers', sleepers' and spinner's slots (1-5, made
         * first), with what leaves H alive for B's kill: posts, replies,
         * exits, tids, unknown signals. Random: every slot, anything. */
        static const int targeted_kinds[] = { 2, 3, 4, 6, 9 };
        for (; now() < end; round++) {
            if (targeted)
                attack(1 + round % 5, targeted_kinds[next() % 5], 0, host_tids);
            else
                attack(1 + (int)(next() % (VICTIM_SLOTS - 1)), (int)(next() % 10), 1, host_tids);
            if (round % 64 == 0)
                sched_yield();
        }
        fprintf(stderr, "hostile: %d rounds, %d forged tids answered 0\n", round, pinned);
    }
    /* Tell B the attack is over; then wait for B's SIGKILL. */
    if (write(sync_fds[1], "x", 1) != 1)
        exit(3);
    for (;;)
        pause();
}

/* --- B ------------------------------------------------------------------------------ */

static int affinity_count(void)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    if (sched_getaffinity(0, sizeof(s), &s) < 0)
        return -1;
    return CPU_COUNT(&s);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "exit7") == 0)
        return 7;
    if (argc != 4)
        return 2;
    rng = strtoull(argv[1], 0, 0) | 1;
    int with_vfork = strcmp(argv[2], "vfork") == 0;
    int targeted = with_vfork || strcmp(argv[2], "targeted") == 0;
    double seconds = atoi(argv[3]) / 1000.0;
    slots_here = probe_slots();
    int cpus_before = affinity_count();
    if (pipe(sync_fds) < 0 || pipe(vfork_ready) < 0 || pipe(vfork_release) < 0
        || pipe(vfork_left) < 0)
        return 2;
    pid_t h = fork();
    if (h == 0) {
        close(sync_fds[0]);
        hostile(argv[0], targeted, with_vfork, seconds);
    }
    close(sync_fds[1]);

    /* B's own work, while H attacks: a running sum over a file it writes. */
    char path[] = "/tmp/forge-benign-XXXXXX";
    int fd = mkstemp(path);
    uint64_t sum = 0, x = 12345;
    int lines = 0;
    double end = now() + seconds;
    do {
        for (int i = 0; i < 200; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            char line[32];
            int n = snprintf(line, sizeof(line), "%016llx\n", (unsigned long long)x);
            if (write(fd, line, n) != n)
                return 4;
            sum += x >> 3;
            lines++;
        }
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, 0);
    } while (now() < end);
    /* H's attack is over, or H is gone; or H is stuck, which its SIGKILL
     * must end all the same. */
    struct pollfd pf = { sync_fds[0], POLLIN, 0 };
    int got_sync = poll(&pf, 1, 10000 + (int)(seconds * 1000));
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    waitid(P_PID, h, &si, WEXITED | WNOHANG | WNOWAIT);
    if (si.si_pid == 0)
        fprintf(stderr, "hostile: alive at the kill\n");
    kill(h, SIGKILL);
    int st;
    pid_t w = waitpid(h, &st, 0);
    if (w == h && WIFSIGNALED(st))
        fprintf(stderr, "hostile: signal %d (sync %d)\n", WTERMSIG(st), got_sync);
    else if (w == h)
        fprintf(stderr, "hostile: exit %d (sync %d)\n", WEXITSTATUS(st), got_sync);
    printf("hostile: %s\n", w == h ? "ended" : "not waited for");
    if (with_vfork) {                  /* H's vfork child goes on, and leaves */
        char ch;
        if (write(vfork_release[1], "r", 1) != 1)
            return 5;
        printf("vfork child: %s\n", read(vfork_left[0], &ch, 1) == 1 ? "left" : "lost");
    }

    /* The file read back: every line, and the same sum. */
    uint64_t again = 0;
    int read_lines = 0;
    FILE *f = fopen(path, "r");
    unsigned long long v;
    while (f && fscanf(f, "%llx", &v) == 1) {
        again += v >> 3;
        read_lines++;
    }
    printf("benign: file %s, sum %s\n", read_lines == lines ? "ok" : "short",
           again == sum ? "ok" : "wrong");
    unlink(path);
    int cpus_after = affinity_count();
    printf("benign: affinity %s\n", cpus_after == cpus_before ? "same" : "changed");
    if (cpus_after != cpus_before)
        fprintf(stderr, "affinity %d -> %d cpus\n", cpus_before, cpus_after);
    fflush(stdout);
    return 0;
}
