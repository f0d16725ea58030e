/* C side of the cffi module: thin accessors and syscall wrappers only. */
#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

struct kvm_run_io {
    uint8_t direction;
    uint8_t size;
    uint16_t port;
    uint32_t count;
    uint64_t data_offset;
};

static struct kvm_run_io *kvmsentry_run_io(struct kvm_run *run)
{
    return (struct kvm_run_io *)&run->io;
}

static uint64_t *kvmsentry_run_hw(struct kvm_run *run)
{
    return (uint64_t *)&run->hw.hardware_exit_reason;
}

static uint64_t *kvmsentry_run_fail_entry(struct kvm_run *run)
{
    return (uint64_t *)&run->fail_entry.hardware_entry_failure_reason;
}

static uint32_t *kvmsentry_run_internal(struct kvm_run *run)
{
    return (uint32_t *)&run->internal;
}

static struct kvm_sync_regs *kvmsentry_run_sync(struct kvm_run *run)
{
    return &run->s.regs;
}

static int kvmsentry_ioctl_ptr(int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

static int kvmsentry_ioctl_int(int fd, unsigned long request, unsigned long arg)
{
    return ioctl(fd, request, arg);
}

static int kvmsentry_tgkill(int tgid, int tid, int sig)
{
    return (int)syscall(SYS_tgkill, tgid, tid, sig);
}

static int kvmsentry_gettid(void)
{
    return (int)syscall(SYS_gettid);
}

/* The hot path in one call: optionally load registers, enter the guest,
 * and return a compact exit code so Python touches no struct on the way:
 *   >= 0: exit_reason | port << 8 | direction << 24 | size << 26 for I/O,
 *         plain exit_reason otherwise;  < 0: -errno of KVM_RUN. */
static long kvmsentry_exit_code(struct kvm_run *run)
{
    run->kvm_dirty_regs = 0;
    if (run->exit_reason == KVM_EXIT_IO)
        return KVM_EXIT_IO | ((long)run->io.port << 8)
            | ((long)run->io.direction << 24) | ((long)run->io.size << 26);
    return run->exit_reason;
}

static long kvmsentry_run(int fd, struct kvm_run *run)
{
    if (ioctl(fd, KVM_RUN, 0) < 0)
        return -errno;
    return kvmsentry_exit_code(run);
}

/* Finish a syscall the way SYSCALL/SYSRET leave registers (rax = result,
 * rcx = return rip, r11 = rflags), resume at rip with rflags, and run. */
static long kvmsentry_return_and_run(int fd, struct kvm_run *run, uint64_t rax,
                                     uint64_t ret_rip, uint64_t ret_flags,
                                     uint64_t rip, uint64_t rflags)
{
    struct kvm_regs *r = &run->s.regs.regs;
    r->rax = rax;
    r->rcx = ret_rip;
    r->r11 = ret_flags;
    r->rip = rip;
    r->rflags = rflags;
    run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    return kvmsentry_run(fd, run);
}

/* Every syscall's round trip from a patched site (`out PORT, %al` at CPL 3)
 * back to the next one, in one call: one per task context, holding the
 * vCPU it runs on and where the current syscall returns. */
struct kvmsentry_syscall_path {
    struct kvm_run *run;
    int fd;
    uint16_t port;              /* the syscall port */
    uint64_t io_advance;        /* rip past the `out` minus its start at an I/O exit */
    uint64_t ret_rip, ret_flags;
};

/* The encoding of kvmsentry_syscall_round's other outcomes (< 0). */
#define KVMSENTRY_CODE_BASE 4096

/* Return rax from the current syscall as SYSCALL/SYSRET leave registers,
 * run the guest, and decode the exit. The next `out` on the syscall port
 * returns the site it came from (>= 0: a user address) and sets
 * ret_rip/ret_flags for it; any other exit returns
 * -(KVMSENTRY_CODE_BASE + kvmsentry_exit_code()), a failed KVM_RUN -errno. */
static long kvmsentry_syscall_round(struct kvmsentry_syscall_path *p, uint64_t rax)
{
    struct kvm_run *run = p->run;
    struct kvm_regs *r = &run->s.regs.regs;
    r->rax = rax;
    r->rcx = p->ret_rip;
    r->r11 = p->ret_flags;
    r->rip = p->ret_rip;
    r->rflags = p->ret_flags | 0x2;
    run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    if (ioctl(p->fd, KVM_RUN, 0) < 0)
        return -errno;
    run->kvm_dirty_regs = 0;
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == p->port
            && run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1) {
        uint64_t site = r->rip - p->io_advance;
        if (site < (1ULL << 63)) {
            p->ret_rip = site + 2;
            p->ret_flags = r->rflags;
            return (long)site;
        }
    }
    return -(KVMSENTRY_CODE_BASE + kvmsentry_exit_code(run));
}

static uint64_t kvmsentry_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}

/* CLOCK_MONOTONIC in ns; *tsc gets the TSC at that instant (the middle of
 * two readings around the clock read). */
static uint64_t kvmsentry_tsc_monotonic(uint64_t *tsc)
{
    struct timespec ts;
    uint64_t before = kvmsentry_rdtsc();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t after = kvmsentry_rdtsc();
    *tsc = before + (after - before) / 2;
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Compare-and-exchange of a 32-bit word of guest memory, atomic against
 * the guest's own threads running on other vCPUs (PI futexes): returns
 * the value found, which equals `expected` when `desired` was stored. */
static uint32_t kvmsentry_cmpxchg32(uint32_t *word, uint32_t expected, uint32_t desired)
{
    __atomic_compare_exchange_n(word, &expected, desired, 0,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
