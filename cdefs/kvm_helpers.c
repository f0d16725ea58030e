/* C side of the cffi module: thin accessors and syscall wrappers only. */
#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
