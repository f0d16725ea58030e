/* The sentry's side of the systrap handshake (kvmsentry/platform/systrap):
 * a futex word in a page shared with a child process. Called through cffi,
 * which drops the GIL for the wait. Shared (not private) futexes: the
 * waiter and the waker are different processes. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <cpuid.h>
#include "systrap_spin.h"

enum { RUNNING, POSTED, REPLIED, DEAD, ABANDONED };   /* (ABANDONED: a wait's answer only) */

/* The shared page's message and the kernel's signal-frame registers
 * (struct sigcontext's general registers), as systrap_stub/stub.c uses them. */
struct systrap_msg {
    uint32_t state, spin;
    uint64_t cmd, nops, again, signo, code, addr, nr, arch, uctx, tid;
    uint64_t set_fs, fs_base, set_gs, gs_base, op_error;
    uint32_t stub_cpu, sentry_cpu;
    uint64_t entry, entry_rsp, entry_rip, self, kick_pending, gs_pending, reset;
    struct systrap_spin stub_spin, sentry_spin;
};
struct systrap_op { uint64_t nr, a[6], result; };
struct systrap_regs {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
             rsp, rip, rflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2, fpstate;
};

enum { WAITING = 0x100 };
enum { POSTED_SYSCALL = 0x10, SIGSYS_NO = 31 };   /* (layout.py's POSTED_SYSCALL) */

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* How long a killed task's wait still waits for its thread to stop (the
 * kick was sent before systrap_stop): one that answers within it ends as
 * any other; one that does not is abandoned running. */
#define STOP_GRACE_NS 200000000LL

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* systrap_wait's end for a killed task: the grace, on the slot's word
 * alone, whatever the program writes there meanwhile. Out of line: the
 * wait of every syscall does not carry its frame. */
static __attribute__((noinline)) int wait_killed(uint32_t *state)
{
    int64_t give_up = monotonic_ns() + STOP_GRACE_NS;
    for (;;) {
        uint32_t v = __atomic_load_n(state, __ATOMIC_ACQUIRE), base = v & ~WAITING;
        if (base == POSTED || base == DEAD)
            return (int)base;
        if (!(v & WAITING) &&
            !__atomic_compare_exchange_n(state, &v, v | WAITING, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
            continue;
        int64_t now = monotonic_ns();
        if (now >= give_up)
            return ABANDONED;
        struct timespec left = { (give_up - now) / 1000000000LL,
                                 (give_up - now) % 1000000000LL };
        syscall(SYS_futex, state, FUTEX_WAIT, v | WAITING, &left, NULL, 0);
    }
}

/* Wait for the thread's next post (or its death): spin for up to `spin`
 * TSC cycles while recent posts came within that (systrap_spin.h), then
 * sleep on the futex with WAITING set, which tells the stub's post to
 * wake us. Returns POSTED or DEAD; or ABANDONED once `stop` (the
 * sentry's word, systrap_stop: the task is killed; NULL: none) is set and
 * the thread has not posted within STOP_GRACE_NS, as a thread whose kick
 * is blocked, or which the program made exit or run on, never does. */
int systrap_wait(uint32_t *state, uint64_t spin, uint32_t *stop)
{
    struct systrap_msg *m = (struct systrap_msg *)state;
    uint32_t v, base;
    uint64_t start = 0;
    if (spin) {
        /* As the stub does: no spin for a thread on this CPU. */
        uint32_t cpu = (uint32_t)sched_getcpu();
        __atomic_store_n(&m->sentry_cpu, cpu, __ATOMIC_RELAXED);
        if (__atomic_load_n(&m->stub_cpu, __ATOMIC_RELAXED) == cpu)
            spin = 0;
    }
    if (spin) {
        start = rdtsc();
        if (systrap_spin_next(&m->sentry_spin)) {
            do {
                v = __atomic_load_n(state, __ATOMIC_ACQUIRE) & ~WAITING;
                if (v == POSTED || v == DEAD) {
                    systrap_spin_learn(&m->sentry_spin, start, rdtsc(), spin, 1);
                    return (int)v;
                }
                __builtin_ia32_pause();
            } while (rdtsc() - start < spin);
        }
    }
    for (;;) {
        v = __atomic_load_n(state, __ATOMIC_ACQUIRE);
        base = v & ~WAITING;
        if (base == POSTED || base == DEAD)
            break;
        if (!(v & WAITING) &&
            !__atomic_compare_exchange_n(state, &v, v | WAITING, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
            continue;
        if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
            return wait_killed(state);
        syscall(SYS_futex, state, FUTEX_WAIT, v | WAITING, NULL, NULL, 0);
    }
    if (spin)
        systrap_spin_learn(&m->sentry_spin, start, rdtsc(), spin, 0);
    return (int)base;
}

/* One write of 1 to each eventfd (kernel/waiter.py's Waiter.wake_now);
 * an fd that fails (EBADF: a Waiter closed at its task's end) is skipped,
 * as wake_now skips it. */
void wake_eventfds(const int *fds, int n)
{
    static const uint64_t one = 1;
    for (int i = 0; i < n; i++) {
        ssize_t r = write(fds[i], &one, sizeof(one));
        (void)r;
    }
}

void systrap_wake(uint32_t *state)
{
    syscall(SYS_futex, state, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Every waiter on the slot's word (the stub's too: it checks again). */
void systrap_wake_all(uint32_t *state)
{
    syscall(SYS_futex, state, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The task is killed: set its `stop` word and wake its wait. The wake
 * can come just before the waiter sleeps again, or the program can keep
 * the slot's word at the value the waiter sleeps on, so the sentry
 * repeats the wake until the wait has returned (machine.py, rewake). */
void systrap_stop(uint32_t *stop, uint32_t *state)
{
    __atomic_store_n(stop, 1, __ATOMIC_SEQ_CST);
    systrap_wake_all(state);
}

/* Make the wakes the thread's syscall deferred (one eventfd write each:
 * the sentry threads of the tasks it woke), hand the thread its reply (if
 * `reply`), then wait for its next post. The wakes are made without the
 * GIL (cffi dropped it for this call), so a woken thread runs straight
 * into work instead of blocking on the GIL its waker still held and being
 * woken a second time; and before the reply, so on one CPU the woken task
 * tends to finish first (in a ping-pong the replied-to side's next read
 * then finds its data instead of blocking: measured ~2% per round trip).
 * The caller keeps the fds' owners (the Waiter objects, which close their
 * eventfd only when collected) alive across the call, so no number here
 * can have been closed and reused. */
int systrap_reply_wake_wait(uint32_t *state, int reply, uint64_t spin,
                            const int *wake_fds, int nwake, uint64_t uctx, uint32_t *stop)
{
    wake_eventfds(wake_fds, nwake);
    if (reply) {
        ((struct systrap_msg *)state)->stub_spin.ready_at = rdtsc();
        uint32_t v = __atomic_load_n(state, __ATOMIC_ACQUIRE);
        while ((v & ~WAITING) == POSTED) {
            if (__atomic_compare_exchange_n(state, &v, REPLIED, 0,
                                            __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
                if (v & WAITING)
                    syscall(SYS_futex, state, FUTEX_WAKE, 1, NULL, NULL, 0);
                break;
            }
        }
    }
    int posted = systrap_wait(state, spin, stop);
    /* The common next stop, told apart here rather than by reading the
     * message's fields one by one from Python: the thread's next syscall
     * (SIGSYS), from the frame `uctx` the sentry's register view is bound
     * to, with no host call of the last batch failed. */
    struct systrap_msg *m = (struct systrap_msg *)state;
    if (posted == POSTED && uctx && m->signo == SIGSYS_NO && m->uctx == uctx && !m->op_error)
        return POSTED_SYSCALL;
    return posted;
}

/* What a context's register view is bound to (SystrapContext keeps it
 * current): its slot's futex word, the frame it posted from (its
 * registers in the sentry's mapping and the child's address of its
 * ucontext), the spin and the context's stop word. One argument instead
 * of five: each argument cffi converts costs the Python caller on every
 * syscall. */
struct systrap_view {
    uint32_t *state;
    struct systrap_regs *regs;
    uint64_t uctx, spin;
    uint32_t *stop;
};

/* A syscall's result in rax (the kernel's signed value; the caller takes
 * the rare result at or above 2^63 the long way), the deferred wakes, the
 * reply, the wait for the next stop: every syscall's path in one call. */
int systrap_syscall_reply_wake(struct systrap_view *v, int64_t rax,
                               const int *wake_fds, int nwake)
{
    v->regs->rax = (uint64_t)rax;
    return systrap_reply_wake_wait(v->state, 1, v->spin, wake_fds, nwake, v->uctx, v->stop);
}

/* The same without wakes, most syscalls' path, in two arguments. */
int systrap_syscall_reply(struct systrap_view *v, int64_t rax)
{
    return systrap_syscall_reply_wake(v, rax, NULL, 0);
}

/* Hand the thread its reply (if `reply`), then wait for its next post. */
int systrap_reply_wait(uint32_t *state, int reply, uint64_t spin, uint32_t *stop)
{
    return systrap_reply_wake_wait(state, reply, spin, NULL, 0, 0, stop);
}

int systrap_tgkill(int pid, int tid, int sig)
{
    return (int)syscall(SYS_tgkill, pid, tid, sig);
}

void systrap_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *out)
{
    __cpuid_count(leaf, subleaf, out[0], out[1], out[2], out[3]);
}

uint64_t systrap_xgetbv(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Have the child's mapper thread (stub.c, mapper_loop) make the calls the
 * sentry wrote into its request page: bump the page's seq, wake it, and
 * wait for its eventfd, which only the mapper can write (the program's
 * threads hold no fd and may not write). The mapper is first moved to
 * this thread's CPU (when it is not there already: *mapper_cpu), so that
 * both wake-ups are on one CPU: waking a thread on an idle CPU costs
 * ~20 us on these nested hosts, and this thread sleeps meanwhile anyway.
 * Returns the errno of the first call that failed (0: all made), or -1 if
 * the child died meanwhile (its pidfd became readable). */
int systrap_mapper_call(uint32_t *seq, int done_fd, int pidfd, int mapper_tid,
                        int *mapper_cpu)
{
    int cpu = sched_getcpu();
    if (mapper_tid > 0 && cpu >= 0 && cpu != *mapper_cpu) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(mapper_tid, sizeof(one), &one) == 0)
            *mapper_cpu = cpu;
    }
    __atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, seq, FUTEX_WAKE, 1, NULL, NULL, 0);
    struct pollfd p[2] = { { done_fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
    for (;;) {
        uint64_t value;
        if (read(done_fd, &value, sizeof(value)) == sizeof(value))
            return value ? (int)(value - 1) : -1;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (poll(p, pidfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            return -1;
        if (p[1].revents && !(p[0].revents & POLLIN))
            return -1;
    }
}

/* mirror.HostMappings._emit_past's loop (the reference; the two are held
 * equal by tests/unit/test_drain_c.py): the host calls for n changed pages
 * (vas sorted, ptes theirs) that all lie past the host's last mapping.
 * Runs of neighbours with the next frame and the same rights (or all
 * unmapped) are one call; each mapped run is an mmap, less the parts the
 * old program's host runs (stale: s_n of them, s_runs[3 * i] = start, end,
 * first) map alike. Ops go to ops[nops..] (cap of them, *nops updated),
 * never past `limit`; the host runs the mmaps make go to runs[3 * i],
 * runs[0] continuing the host's last (*ext set) if it may. Returns how
 * many pages were sent, or -1 (nothing written) if a page lies in the
 * reserved ranges or patched sites' table (Python's _emit does those),
 * or -2 on input that breaks the contract (a sentry bug). */
#define DR_PAGE 4096ULL
#define DR_ADDR_MASK 0x000FFFFFFFFFF000ULL
#define DR_P 1ULL
#define DR_W 2ULL
#define DR_SPECULATIVE (1ULL << 9)
#define DR_MMAP 9
#define DR_MUNMAP 11
#define DR_MAP_SHARED_FIXED 0x11ULL
#define DR_MAP_POPULATE 0x8000ULL
#define DR_POPULATE_BYTES (16 * DR_PAGE)

struct systrap_drain_limits {
    uint64_t user_end, table_lo, table_hi, reserved_lo, reserved_hi, pool_fd;
};

static const uint64_t dr_prots[4] = {5, 7, 1, 3};

static int dr_put(struct systrap_op *ops, int64_t cap, int64_t at, uint64_t nr,
                  uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    if (at < 0 || at >= cap)
        return 0;
    ops[at].nr = nr;
    ops[at].a[0] = a0; ops[at].a[1] = a1; ops[at].a[2] = a2;
    ops[at].a[3] = a3; ops[at].a[4] = a4; ops[at].a[5] = a5;
    ops[at].result = 0;
    return 1;
}

int64_t systrap_emit_past(const uint64_t *vas, const uint64_t *ptes, int64_t n,
                          const uint64_t *s_runs, int64_t s_n, int has_stale,
                          const struct systrap_drain_limits *lim,
                          struct systrap_op *ops, int64_t cap, int64_t *nops, int64_t limit,
                          const uint64_t *last, uint64_t *runs, int64_t runs_cap,
                          int64_t *nruns, int *ext)
{
    int64_t i, k, j = 0, at = *nops, nr = 0;
    uint64_t ls = 0, le = 0, lf = 0;
    int have = 0;

    *ext = 0;
    if (n < 0 || s_n < 0 || cap < 0 || at < 0 || at > cap || limit > cap || runs_cap < n + 1)
        return -2;
    for (i = 0; i < n; i++) {
        uint64_t va = vas[i];
        if ((va & (DR_PAGE - 1)) || va >= lim->user_end || (i && va <= vas[i - 1]))
            return -2;
        if ((va >= lim->table_lo && va < lim->table_hi) ||
            (va >= lim->reserved_lo && va < lim->reserved_hi))
            return -1;
    }
    for (i = 0; i < s_n; i++)
        if (s_runs[3 * i] >= s_runs[3 * i + 1] || (i && s_runs[3 * i] < s_runs[3 * i - 2]))
            return -2;
    if (last) {
        ls = last[0]; le = last[1]; lf = last[2];
        have = 1;
        if (n && le > vas[0])
            return -2;
    }
    for (i = 0; i < n; i = k) {
        uint64_t start = vas[i], pte = ptes[i], end, prot, phys, first, flags;
        /* the run: pages that follow, with the next frame and the same
         * flags, or neither mapped */
        for (k = i + 1; k < n && vas[k] == vas[k - 1] + DR_PAGE &&
                (ptes[k] == ptes[k - 1] + DR_PAGE ||
                 (!(ptes[k] & DR_P) && !(ptes[k - 1] & DR_P))); k++)
            ;
        if (at >= limit)
            break;
        end = vas[k - 1] + DR_PAGE;
        if (!(pte & DR_P)) {
            at += dr_put(ops, cap, at, DR_MUNMAP, start, end - start, 0, 0, 0, 0);
            continue;
        }
        prot = dr_prots[(pte & DR_W) >> 1 | ((pte >> 62) & 2)];
        phys = pte & DR_ADDR_MASK;
        first = phys | prot;
        if (have && le == start && lf + (le - ls) == first) {
            le = end;
        } else {
            if (have) {
                if (nr >= runs_cap)
                    return -2;
                runs[3 * nr] = ls; runs[3 * nr + 1] = le; runs[3 * nr + 2] = lf;
                nr++;
            }
            ls = start; le = end; lf = first; have = 1;
        }
        flags = DR_MAP_SHARED_FIXED;
        if (end - start >= DR_POPULATE_BYTES && !(pte & DR_SPECULATIVE))
            flags |= DR_MAP_POPULATE;
        if (!has_stale) {
            at += dr_put(ops, cap, at, DR_MMAP, start, end - start, prot, flags,
                         lim->pool_fd, phys);
            continue;
        }
        while (j < s_n && s_runs[3 * j + 1] <= start)
            j++;
        {
            int64_t m, np = 0;
            uint64_t a = start;
            for (m = j; m < s_n && s_runs[3 * m] < end; m++) {
                uint64_t s = s_runs[3 * m], e = s_runs[3 * m + 1], f = s_runs[3 * m + 2];
                uint64_t lo = s > start ? s : start;
                if (f + (lo - s) == first + (lo - start)) {
                    if (lo > a) {
                        dr_put(ops, cap, at + np, DR_MMAP, a, lo - a, prot, flags,
                               lim->pool_fd, phys + (a - start));
                        np++;
                    }
                    a = e < end ? e : end;
                }
            }
            if (a < end) {
                dr_put(ops, cap, at + np, DR_MMAP, a, end - a, prot, flags,
                       lim->pool_fd, phys + (a - start));
                np++;
            }
            if (at + np > limit) {      /* (one call fits: the caller's margin) */
                dr_put(ops, cap, at, DR_MMAP, start, end - start, prot, flags,
                       lim->pool_fd, phys);
                np = 1;
            }
            at += np;
        }
    }
    if (have && (last == NULL || nr > 0 || ls != last[0] || le != last[1])) {
        if (nr >= runs_cap)
            return -2;
        runs[3 * nr] = ls; runs[3 * nr + 1] = le; runs[3 * nr + 2] = lf;
        nr++;
    }
    if (last && nr > 0 && runs[0] == last[0])
        *ext = 1;
    *nops = at;
    *nruns = nr;
    return i < n ? i : n;
}
