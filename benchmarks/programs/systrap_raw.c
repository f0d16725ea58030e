/* The systrap handshake with nothing behind it: the floor under the
 * sandbox's getpid on --platform systrap (benchmarks/platforms.py).
 *
 * A forked child installs a SIGSYS handler (SA_SIGINFO on an alternate
 * stack, as the stub's) and a seccomp filter that traps getpid, then
 * times argv[1] getpid calls. Each one is what a sandboxed syscall costs
 * before the sentry does anything: the trap, the signal frame, a post on
 * a futex word in a shared page, the wait for the reply, rt_sigreturn.
 * The parent answers every post at once from C (the sentry's thread
 * without Python). Both sides spin for up to 50 us before sleeping on the
 * futex when they are on different CPUs, and go straight to the futex on
 * the same CPU, as systrap_stub/stub.c and cdefs/systrap_helpers.c do.
 * Prints one JSON line: {"calls": N, "ns_per_call": T}.
 *
 * With "patched" after N: the floor under a patched site's syscall
 * (kvmsentry/platform/systrap/patching.py) instead: no trap and no
 * signal, the registers and the XSAVE state stored and loaded again as
 * the stub's syscall_entry does, and the same handshake.
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <x86intrin.h>

enum { RUNNING, POSTED, REPLIED, DONE, WAITING = 0x100 };
struct shared { uint32_t state, stub_cpu, sentry_cpu; };
static struct shared *sh;
static uint64_t spin_cycles;

static long futex(uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* The stub's post_and_wait. */
static void post_and_wait(void)
{
    uint64_t spin = spin_cycles;
    uint32_t cpu = (uint32_t)sched_getcpu();
    sh->stub_cpu = cpu;
    uint32_t old = __atomic_exchange_n(&sh->state, POSTED, __ATOMIC_SEQ_CST);
    if (old & WAITING) {
        futex(&sh->state, FUTEX_WAKE, 1);
        spin = 0;
    } else if (__atomic_load_n(&sh->sentry_cpu, __ATOMIC_RELAXED) == cpu) {
        spin = 0;
    }
    for (uint64_t start = __rdtsc(); spin && __rdtsc() - start < spin; _mm_pause())
        if (__atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) != POSTED)
            return;
    for (;;) {
        uint32_t v = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
        if (v == POSTED) {
            if (!__atomic_compare_exchange_n(&sh->state, &v, POSTED | WAITING, 0,
                                             __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
                continue;
        } else if (v != (POSTED | WAITING)) {
            return;
        }
        futex(&sh->state, FUTEX_WAIT, POSTED | WAITING);
    }
}

static void on_sigsys(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)info;
    post_and_wait();
    ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = 42;
}

/* The sentry's systrap_wait + reply, answering at once. */
static void answer(void)
{
    for (;;) {
        uint64_t spin = spin_cycles;
        uint32_t cpu = (uint32_t)sched_getcpu();
        sh->sentry_cpu = cpu;
        if (__atomic_load_n(&sh->stub_cpu, __ATOMIC_RELAXED) == cpu)
            spin = 0;
        uint32_t v;
        for (uint64_t start = __rdtsc(); spin && __rdtsc() - start < spin; _mm_pause()) {
            v = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) & ~WAITING;
            if (v == POSTED || v == DONE)
                break;
        }
        for (;;) {
            v = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
            uint32_t base = v & ~WAITING;
            if (base == DONE)
                return;
            if (base == POSTED) {
                if (__atomic_compare_exchange_n(&sh->state, &v, REPLIED, 0,
                                                __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
                    if (v & WAITING)
                        futex(&sh->state, FUTEX_WAKE, 1);
                    break;
                }
                continue;
            }
            if (!(v & WAITING) &&
                !__atomic_compare_exchange_n(&sh->state, &v, v | WAITING, 0,
                                             __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
                continue;
            futex(&sh->state, FUTEX_WAIT, v | WAITING);
        }
    }
}

/* What syscall_entry does around the handshake, in C: the general
 * registers to memory and back (a few stores), XSAVE/XRSTOR of all the
 * state XCR0 enables. */
static void entry_round_trip(void)
{
    static unsigned char xsave[16384] __attribute__((aligned(64)));
    static volatile uint64_t regs[24];
    for (int i = 0; i < 18; i++)
        regs[i] = i;
    __asm__ volatile("xsave64 %0" : "+m"(xsave) : "a"(-1), "d"(-1) : "memory");
    post_and_wait();
    __asm__ volatile("xrstor64 %0" : : "m"(xsave), "a"(-1), "d"(-1) : "memory");
    for (int i = 0; i < 18; i++)
        (void)regs[i];
}

static void trap_getpid(void)
{
    static char altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_ONSTACK };
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
    if (sigaltstack(&ss, NULL) || sigaction(SIGSYS, &sa, NULL) ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
        perror("systrap_raw: set-up");
        _exit(1);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    cpu_set_t cpus;
    sched_getaffinity(0, sizeof(cpus), &cpus);
    /* 50 us of TSC at an assumed 3 GHz (the sentry reads the rate from
     * CPUID; a few cycles either way do not matter here). */
    spin_cycles = CPU_COUNT(&cpus) > 1 ? 50 * 3000 : 0;
    sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    sh->stub_cpu = sh->sentry_cpu = ~0u;
    int patched = argc > 2 && !strcmp(argv[2], "patched");
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec a, b;
        if (patched) {
            for (int i = 0; i < 100; i++)
                entry_round_trip();
            clock_gettime(CLOCK_MONOTONIC, &a);
            for (long i = 0; i < n; i++)
                entry_round_trip();
            clock_gettime(CLOCK_MONOTONIC, &b);
        } else {
            trap_getpid();
            for (int i = 0; i < 100; i++)
                syscall(SYS_getpid);
            clock_gettime(CLOCK_MONOTONIC, &a);
            for (long i = 0; i < n; i++)
                syscall(SYS_getpid);
            clock_gettime(CLOCK_MONOTONIC, &b);
        }
        printf("{\"calls\": %ld, \"ns_per_call\": %.1f}\n", n,
               ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
        fflush(stdout);
        if (__atomic_exchange_n(&sh->state, DONE, __ATOMIC_SEQ_CST) & WAITING)
            futex(&sh->state, FUTEX_WAKE, 1);
        _exit(0);
    }
    answer();
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
