/* The sentry's side of the systrap handshake (kvmsentry/platform/systrap):
 * a futex word in a page shared with a child process. Called through cffi,
 * which drops the GIL for the wait. Shared (not private) futexes: the
 * waiter and the waker are different processes. */
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <cpuid.h>

enum { RUNNING, POSTED, REPLIED, DEAD };

/* The shared page's message and the kernel's signal-frame registers
 * (struct sigcontext's general registers), as systrap_stub/stub.c uses them. */
struct systrap_msg {
    uint32_t state, pad;
    uint64_t cmd, nops, again, signo, code, addr, nr, arch, uctx, tid;
    uint64_t set_fs, fs_base, set_gs, gs_base, op_error;
};
struct systrap_op { uint64_t nr, a[6], result; };
struct systrap_regs {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
             rsp, rip, rflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2, fpstate;
};

int systrap_wait(uint32_t *state)
{
    for (;;) {
        uint32_t v = __atomic_load_n(state, __ATOMIC_ACQUIRE);
        if (v == POSTED || v == DEAD)
            return (int)v;
        syscall(SYS_futex, state, FUTEX_WAIT, v, NULL, NULL, 0);
    }
}

void systrap_wake(uint32_t *state)
{
    syscall(SYS_futex, state, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Hand the thread its reply (if `reply`), then wait for its next post. */
int systrap_reply_wait(uint32_t *state, int reply)
{
    if (reply) {
        uint32_t expected = POSTED;
        /* Not over DEAD: a death noticed meanwhile must stay visible. */
        if (__atomic_compare_exchange_n(state, &expected, REPLIED, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            syscall(SYS_futex, state, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
    return systrap_wait(state);
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
