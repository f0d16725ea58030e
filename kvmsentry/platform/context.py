"""What every platform's task context shares: the register names, the
flags a program may set, and a fresh program image's starting state.
A context (platform/kvm/context.py, platform/systrap/context.py) also has
switch(), the user registers, FPU and fs/gs bases, and interrupt()."""
from kvmsentry.arch import cpu

GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10",
        "r11", "r12", "r13", "r14", "r15")
# Flags a program may set (Linux's FIX_EFLAGS): CF PF AF ZF SF TF DF OF NT RF AC ID.
USER_FLAGS = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 \
    | 0x10000 | 0x40000 | 0x200000
MASK64 = (1 << 64) - 1
KVM_XSAVE_SIZE = 4096      # the FPU image both platforms hand the kernel (KVM's layout)


class Context:
    # A blocked task lends its CPU (a vCPU) through release()/reclaim();
    # a context with nothing to lend says False and kernel/locking.py
    # skips both calls on every wait.
    lends_cpu = True

    def resume(self, value, wakes):
        """Leave the kernel for the program: return `value` from its
        syscall (None: the registers are set already), make the wake-ups
        its syscall deferred (`wakes`: kernel/waiter.py's Waiters, or
        None), and run it until its next event (switch()). A platform may
        make the wakes later than here, but before it waits for the event."""
        if wakes:
            for waiter in wakes:
                waiter.wake_now()
        return self.switch() if value is None else self.return_and_switch(value)

    def settle(self):
        """A forked child's context, before its task starts: a platform
        may do now, on the parent's thread (under the kernel lock, the
        parent's program waiting for clone), what the child's first
        switch would do. Nothing to do by default."""

    def abandon(self):
        """The task is killed (after interrupt()): a platform whose guest
        thread could fail to answer the interrupt stops waiting for it.
        Nothing to do where the sentry runs the guest itself (KVM_RUN)."""

    def guest_cpu_ns(self):
        """CPU time the program's code took outside the task's own host
        thread (0 where the guest runs on that thread, as in KVM_RUN)."""
        return 0

    def start(self, rip, rsp):
        """Reset the user registers (and FPU) for a new program image."""
        regs = dict.fromkeys(GPRS, 0)
        regs.update(rip=rip, rsp=rsp, rflags=cpu.RFLAGS_USER_INIT)
        self.set_user_regs(regs)
        self.set_fs_base(0)
        self.set_gs_base(0)
        self.set_fpu(None)
