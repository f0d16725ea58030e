"""A task's view of a vCPU: run it until the next syscall, fault or signal.

How a syscall reaches the sentry (see DESIGN.md and machine.py):

  * a patched site: `out PORT_SYSCALL, %al` at CPL 3 (2 bytes, like
    `syscall`), one direct exit; the return address is the site + 2.
  * an unpatched `syscall` on a CPL3-SYSCALL host (kvm_pvm): the CPU jumps,
    still at CPL 3, to LSTAR in the supervisor-only stub; the fetch faults
    and the #PF exit, with rip == LSTAR, is the syscall. rcx/r11 hold the
    return rip/rflags; the stub's iretq returns through the fault frame.
  * an unpatched `syscall` on a ring-0-SYSCALL host: the stub's `out` at
    CPL 0, then `sysretq` with rcx/r11.

The last two rewrite the calling site into the first form, in the private
page the program runs from, so each site traps at most once; code in a
writable mapping is left alone (the program could read it back).

After an I/O exit some KVMs report rip at the `out` and skip it on the next
KVM_RUN unless userspace moved rip; kvm_pvm reports it already advanced.
`io_advance` (measured by the machine) says which, and whenever the
sentry writes registers it sets rip explicitly to where the guest must go
(and lets KVM finish the exit first when that is the same rip: a restart).

`sysretq` only ever finishes a syscall (rcx/r11 are the call's); setting a
program's registers otherwise (signals, sigreturn, exec) from the SYSCALL
stop returns through the exception path's `iretq`, which restores them all.
tests/svm/ runs these paths on kvm_amd inside a QEMU TCG guest.

No exit is trusted for what it claims (see "Ring 0" in README.md): the
stub's ports are closed to ring 3 and their exits must come from the
stub's own `out`; any other I/O is the program's #GP; an exception taken
in ring 0 anywhere but where the stub expects one kills the program, as
does an internal error of KVM that is the program's doing.
"""
import _signal as signal      # (signal.py adds only enums, and imports enum)
import struct
import threading

from kvmsentry._kvm import ffi, lib
from kvmsentry.arch import cpu, insn, layout
from kvmsentry.arch.signal_frame import initial_xsave
from kvmsentry.errors import SentryBug
from kvmsentry.kvm import exits
from kvmsentry.platform.context import GPRS, KVM_XSAVE_SIZE, MASK64, USER_FLAGS, Context
from kvmsentry.platform.events import INTERRUPTED, SYSCALL, Fault
from kvmsentry.platform.kvm.vcpu_pool import KICK_SIGNAL, kick_thread  # noqa: F401

ENTRY_PATCHED, ENTRY_SYSRET, ENTRY_TRAP = 0, 1, 2
KVM_INTERNAL_ERROR_EMULATION = 1
# Where the vCPU stopped, which says where the program's rip/rsp/rflags are.
AT_USER, AT_IRET, AT_SYSRET = 0, 1, 2
SYSCALL_INSN = b"\x0f\x05"
PATCHED_INSN = bytes([0xE6, layout.PORT_SYSCALL])

_syscall_round = lib.kvmsentry_syscall_round
CODE_BASE = lib.KVMSENTRY_CODE_BASE

SEGV_MAPERR, SEGV_ACCERR = 1, 2
PF_USER = 0x4                    # #PF error code: the access was made in user mode
ILL_ILLOPN = 2
FPE_INTDIV = 1
BUS_ADRALN = 1
TRAP_TRACE = 2
SI_KERNEL = 0x80

# vector -> (signal, si_code); #PF is decided from the error code.
_VECTOR_SIGNALS = {
    0: (signal.SIGFPE, FPE_INTDIV),
    1: (signal.SIGTRAP, TRAP_TRACE),          # single-step (RFLAGS.TF)
    3: (signal.SIGTRAP, SI_KERNEL),
    4: (signal.SIGSEGV, SI_KERNEL),
    5: (signal.SIGSEGV, SI_KERNEL),
    6: (signal.SIGILL, ILL_ILLOPN),
    7: (signal.SIGFPE, SI_KERNEL),
    11: (signal.SIGBUS, SI_KERNEL),
    12: (signal.SIGBUS, SI_KERNEL),
    13: (signal.SIGSEGV, SI_KERNEL),
    16: (signal.SIGFPE, SI_KERNEL),
    17: (signal.SIGBUS, BUS_ADRALN),
    19: (signal.SIGFPE, SI_KERNEL),
}


class KvmContext(Context):
    """One task's program state and, while it runs, the vCPU it borrowed.

    The state is in one of three places: on a vCPU this context holds
    (`held`), parked on a vCPU it let go of (it blocks; the pool may give
    it back untouched), or in this object (`regs` points at a private
    kvm_regs, FPU state in `_xsave`), always as a plain ring-3 state.
    Only the task's own thread touches its state, and only while the
    state is held or in this object: release() and reclaim() bracket the
    waits in which it may be parked.
    """

    def __init__(self, machine, patch_syscalls=True):
        self.machine = machine
        self.pool = machine.vcpu_pool
        self.vcpu = None               # where the state is, if on a vCPU
        self.held = False              # ... and that vCPU is ours to run
        self.kicked = False            # interrupt(): leave switch() soon
        self.preempt = False           # the pool wants our vCPU back
        self.wakeup = None             # the pool's Condition while we wait
        self.host_tid = None
        self._own_regs = ffi.new("struct kvm_regs *")
        self.regs = self._own_regs[0]
        self._xsave = None             # FPU state while unloaded; None: initial
        self.patch_syscalls = patch_syscalls
        self.mm = None
        self._entry = ENTRY_PATCHED    # how the current syscall came in
        self._where = AT_USER
        self._returning = False        # a syscall result waits to be loaded
        self._return_regs = None
        # Where the current syscall returns (_ret_rip, _ret_flags) and the
        # vCPU this context last acquired: kvmsentry_syscall_round's state.
        self._path = ffi.new("struct kvmsentry_syscall_path *")
        self._path.port = layout.PORT_SYSCALL
        self._path.io_advance = machine.io_advance
        self._exit_syscall = exits.io_out(layout.PORT_SYSCALL, 1)
        self._exit_syscall_r0 = exits.io_out(layout.PORT_SYSCALL_R0, 1)
        self._exit_exception = exits.io_out(layout.PORT_EXCEPTION, 1)
        self.io_advance = machine.io_advance
        self.patched_sites = 0
        self.fs_base = self.gs_base = 0
        self._resumed_at_lstar = False  # the sentry itself sent the program to LSTAR

    @property
    def _ret_rip(self):
        return self._path.ret_rip

    @_ret_rip.setter
    def _ret_rip(self, value):
        self._path.ret_rip = value

    @property
    def _ret_flags(self):
        return self._path.ret_flags

    @_ret_flags.setter
    def _ret_flags(self, value):
        self._path.ret_flags = value

    # --- setup -------------------------------------------------------------
    def set_address_space(self, mm):
        """Run in mm from now on."""
        self.mm = mm
        if self.held and self.vcpu.current_root != mm.root:
            self.machine.set_address_space(self.vcpu, mm.root)

    # --- the program's registers, wherever the vCPU stopped --------------------
    def user_regs(self):
        """The program's registers as it would see them on resuming now
        (a dict of kvm_regs names), including a pending syscall result."""
        r = self.regs
        d = {n: getattr(r, n) for n in GPRS}
        d.update(rip=r.rip, rsp=r.rsp, rflags=r.rflags)
        if self._where == AT_IRET:
            _, _, rip, _, rflags, rsp, _ = self._frame()
            d.update(rip=rip, rsp=rsp, rflags=rflags)
        elif self._where == AT_SYSRET:
            d.update(rip=r.rcx, rflags=r.r11)
        if self._returning:
            rax, ret_rip, ret_flags, _, _ = self._return_regs
            d.update(rax=rax, rcx=ret_rip, r11=ret_flags, rip=ret_rip, rflags=ret_flags | 0x2)
        return d

    def set_user_regs(self, d):
        """Resume the program with exactly these registers (any pending
        syscall result is dropped)."""
        self._returning = False
        # (a sigreturn may ask for it: the fault there is then not a syscall)
        self._resumed_at_lstar = d["rip"] == layout.SYSCALL_R0_VA
        r = self.regs
        for n in GPRS:
            setattr(r, n, d[n] & MASK64)
        flags = (d["rflags"] & USER_FLAGS) | 0x202
        if self._where == AT_IRET:
            # In the stub, about to iretq: the user context is the frame.
            # The selectors too: the program resumes in 64-bit ring 3
            # whatever CS it faulted with.
            frame = self.vcpu.exception_frame_phys
            self.machine.pool.write(frame + 16, struct.pack(
                "<5Q", d["rip"], layout.USER_CS, flags, d["rsp"], layout.USER_DS))
            r.rip = max(r.rip, layout.EXC_COMMON_VA + 2)
        elif self._where == AT_SYSRET:
            # sysretq would take rip from rcx and rflags from r11, so the
            # program's own rcx/r11 (a sigreturn to code interrupted
            # asynchronously, a restart's frame) could not survive: leave
            # through the exception path's iretq instead, as Linux returns
            # with iret unless rcx == rip and r11 == rflags. The vCPU is at
            # CPL 0 after the stub's `out`; it builds the iret frame on its
            # own stack and continues at exc_common's `add $16, %rsp; iretq`.
            frame = self.vcpu.exception_frame_phys
            self.machine.pool.write(frame + 16, struct.pack(
                "<5Q", d["rip"], layout.USER_CS, flags, d["rsp"], layout.USER_DS))
            r.rsp = layout.kva(frame)
            r.rip = layout.EXC_COMMON_VA + 2
            self._where = AT_IRET
            self._entry = ENTRY_TRAP        # a syscall result goes into the frame too
        else:
            if d["rip"] == r.rip and self.io_advance == 0:
                # VMX/SVM leave rip on an `out` at its exit and skip it on
                # the next KVM_RUN unless userspace moved rip, so a restart
                # that puts rip back on the patched site it stopped at
                # would be skipped. An immediate-exit KVM_RUN (no guest
                # code runs) lets KVM finish that exit first.
                self.vcpu.request_exit()
                self.vcpu.run()
            r.rip, r.rsp, r.rflags = d["rip"], d["rsp"], flags
        if self.held:
            self.vcpu.mark_regs_dirty()

    def syscall_exit_regs(self, value):
        """The program's registers as they will be once the current
        syscall returns `value` (what a clone child starts from)."""
        d = self.user_regs()
        flags = self._ret_flags | 0x2
        d.update(rax=value & MASK64, rcx=self._ret_rip, r11=self._ret_flags,
                 rip=self._ret_rip, rflags=flags)
        return d

    def clone_from(self, parent, regs):
        """Give this (fresh) context parent's program state with the user
        registers `regs`: FPU/vector state and TLS bases (fork, clone)."""
        self._where = AT_USER
        self.set_user_regs(regs)
        self.set_fpu(parent.get_fpu())
        self.set_fs_base(parent.fs_base)
        self.set_gs_base(parent.gs_base)

    def set_fs_base(self, value):
        if self.held:
            self.vcpu.set_msrs([(cpu.MSR_FS_BASE, value)])
        self.fs_base = value

    def set_gs_base(self, value):
        if self.held:
            self.vcpu.set_msrs([(cpu.MSR_GS_BASE, value)])
        self.gs_base = value

    def get_fpu(self):
        """The FPU/SSE/AVX state as a kvm_xsave image."""
        if self.held:
            return self.vcpu.get_xsave()
        return self._xsave if self._xsave is not None else self._initial_xsave()

    def set_fpu(self, image):
        """Load a kvm_xsave image (None: the initial FPU state)."""
        if self.held:
            self.vcpu.set_xsave(image if image is not None else self._initial_xsave())
        else:
            self._xsave = image

    def _initial_xsave(self):
        return initial_xsave(self.machine.xsave_size).ljust(KVM_XSAVE_SIZE, b"\0")

    @property
    def cpu_index(self):
        """Which vCPU the task runs (or last ran) on."""
        v = self.vcpu
        return v.index if v is not None else 0

    # --- borrowing a vCPU --------------------------------------------------------
    def release(self):
        """The task is about to block: its vCPU may serve others."""
        if self.held:
            self.pool.release(self)

    def reclaim(self):
        """The task's wait is over: take back its vCPU if nobody took it
        (no ioctl). Never waits."""
        if not self.held and self.vcpu is not None:
            self.pool.reclaim(self)

    def close(self):
        """The task is gone: its vCPU is free and holds nothing of it."""
        self.pool.forget(self)

    def interrupt(self):
        """Make the current or next switch() return INTERRUPTED promptly,
        wherever the task is: in KVM_RUN, waiting for a vCPU, or between."""
        self.kicked = True
        tid = self.pool.kick(self)
        if tid is not None and tid != threading.get_native_id():
            kick_thread(tid)

    def _acquire(self):
        """Get a vCPU with this context's state on it; False if
        interrupted while waiting for one."""
        if self.host_tid is None:
            self.host_tid = threading.get_native_id()
        if not self.pool.acquire(self):
            self.kicked = False
            self.reclaim()
            return False
        v = self.vcpu
        self._path.fd, self._path.run = v.fd, v.run_struct
        if v.loaded is not self:
            self._load(v)
        if self.kicked:
            v.request_exit()
        return True

    def _load(self, v):
        """Put this context's (unloaded) state on v, a vCPU we hold."""
        self.machine.reset_to_user(v, self.mm.root)
        v.set_msrs([(cpu.MSR_FS_BASE, self.fs_base), (cpu.MSR_GS_BASE, self.gs_base)])
        v.set_xsave(self._xsave if self._xsave is not None else self._initial_xsave())
        self._xsave = None
        ffi.memmove(ffi.addressof(v.regs), ffi.addressof(self.regs), ffi.sizeof("struct kvm_regs"))
        v.mark_regs_dirty()
        v.run_struct.immediate_exit = 0
        v.loaded = self
        self.regs = v.regs

    def unload(self):
        """Move this context's state off its vCPU into this object, as a
        plain ring-3 state (a pending syscall result folded in). Called by
        the pool, under its mutex, with the vCPU not running."""
        v = self.vcpu
        d = self.user_regs()
        self._xsave = v.get_xsave()
        own = self._own_regs[0]
        for name in GPRS:
            setattr(own, name, d[name])
        own.rip, own.rsp, own.rflags = d["rip"], d["rsp"], d["rflags"]
        self.regs = own
        self._where = AT_USER
        self._returning = False
        self._entry = ENTRY_PATCHED       # a later return sets rip directly
        v.loaded = None
        self.vcpu = None
        self.pool.moves += 1

    # --- the loop ------------------------------------------------------------
    def switch(self):
        """Run the guest until it needs the kernel; return an event."""
        while True:
            if not self.held and not self._acquire():
                return INTERRUPTED
            if self.mm._revoke:
                self.mm.flush()
            if self._returning:
                self._returning = False
                ex = self.vcpu.return_and_run(*self._return_regs)
            else:
                ex = self.vcpu.run()
            event = self._after_exit(ex)
            if event is not INTERRUPTED or self._settle():
                return event

    def _settle(self):
        """After an INTERRUPTED exit: True to report it, False when it was
        only the pool taking the vCPU back (switch() then waits for one)."""
        if self.kicked:
            self.kicked = False
            return True
        if self.preempt and self._where == AT_USER:
            self.pool.release(self)     # queue behind those who waited
            return False
        return True

    def return_and_switch(self, value):
        """set_syscall_return(value), then switch(): every syscall's path,
        so the common case (a patched site, our own vCPU, nothing to
        flush) is short."""
        if self._entry != ENTRY_PATCHED or not self.held or self.mm._revoke:
            self.set_syscall_return(value)
            return self.switch()
        # One C call returns the value, runs the guest and, when the next
        # exit is the syscall port's, gives its site (ret_rip/ret_flags
        # already set): what is left here is whether the site is patched.
        site = _syscall_round(self._path, value & MASK64)
        if site >= 0:
            if site in self.mm.patched_sites:
                self._where = AT_USER
                return SYSCALL
            ex = self._exit_syscall
        else:
            ex = self.vcpu.decode(-site - CODE_BASE if site < -CODE_BASE else site)
        event = self._after_exit(ex)
        if event is not INTERRUPTED or self._settle():
            return event
        return self.switch()

    def _after_exit(self, ex):
        if ex is self._exit_syscall:
            regs = self.regs
            site = regs.rip - self.io_advance
            if site not in self.mm.patched_sites:
                return self._stray_io()
            self._ret_rip = site + 2
            self._ret_flags = regs.rflags
            self._entry = ENTRY_PATCHED
            self._where = AT_USER
            return SYSCALL
        if ex is self._exit_exception:
            self._check_stub_exit(ex, layout.EXC_COMMON_VA)
            self._where = AT_IRET
            return self._fault()
        if ex is self._exit_syscall_r0:
            self._check_stub_exit(ex, layout.SYSCALL_R0_VA)
            self._where = AT_SYSRET
            return self._trapped_syscall(ENTRY_SYSRET)
        if ex is exits.INTERRUPTED:
            return self._interrupted()
        if isinstance(ex, (exits.IoIn, exits.IoOut)):
            return self._stray_io()
        if isinstance(ex, exits.InternalError):
            return self._internal_error(ex)
        raise SentryBug("unexpected VM exit %r at rip %#x" % (ex, self.regs.rip))

    def _check_stub_exit(self, ex, out_va):
        """A ring-0 port's exit must come from the stub's `out` at out_va
        (ring 3 cannot use those ports; this is the proof, not the hope)."""
        if self.regs.rip not in (out_va, out_va + 2):
            raise SentryBug("%r from rip %#x, not from the stub" % (ex, self.regs.rip))

    def _patch(self, site):
        """Rewrite the `syscall` at site, unless the program could see it:
        code in a writable mapping (a JIT) keeps its bytes and takes the
        slow path every time."""
        mm = self.mm
        if mm.read_code(site, 2) == SYSCALL_INSN and not mm.is_writable(site) \
                and mm.write_code(site, PATCHED_INSN):
            mm.patched_sites.add(site)
            self.patched_sites += 1

    def _interrupted(self):
        """A host signal stopped KVM_RUN. If the vCPU is inside the stub's
        exception or syscall entry (before its exit), finish that first:
        the state there is neither the program's nor a reported exit."""
        rip = self.regs.rip
        stub = layout.STUB_VA
        if stub + layout.VECTORS_OFF <= rip < stub + layout.VECTORS_OFF + 32 * layout.VECTOR_STRIDE \
                or rip in (layout.EXC_COMMON_VA, layout.SYSCALL_R0_VA):
            return self._after_exit(self.vcpu.run())
        if rip == layout.SYSCALL_R0_VA:
            # SYSCALL entered ring 0 (or jumped here at CPL 3) but the stub
            # has not reported it yet: let it, or the call would be lost.
            return self._after_exit(self.vcpu.run())
        if layout.EXC_COMMON_VA < rip < layout.EXC_COMMON_VA + 0x10:
            self._where = AT_IRET
        elif layout.SYSCALL_R0_VA < rip < layout.SYSCALL_R0_VA + 0x10:
            self._where = AT_SYSRET
        else:
            self._where = AT_USER
        return INTERRUPTED

    def _after_syscall_insn(self, rcx):
        """Did a SYSCALL instruction bring the program to LSTAR? It leaves
        rcx just past itself; a jmp/call there (a #PF on the stub page
        like any other) leaves rcx as the program set it."""
        site = (rcx - 2) & MASK64
        code = self.mm.read_code(site, 2)
        if len(code) == 1:                       # the instruction crosses a page
            code += self.mm.read_code(site + 1, 1)
        return code == SYSCALL_INSN or site in self.mm.patched_sites

    def _trapped_syscall(self, entry):
        regs = self.regs
        # r11 is the program's to forge (a jmp to LSTAR with any r11 looks
        # like a syscall here): never let it return with IOPL or VM set.
        self._ret_rip, self._ret_flags = regs.rcx, (regs.r11 & USER_FLAGS) | 0x202
        self._entry = entry
        if self.patch_syscalls:
            self._patch(self._ret_rip - 2)
        return SYSCALL

    def _stray_io(self):
        """The program itself executed in/out/ins/outs on the syscall port
        (the only one the I/O bitmap opens, for both directions): on Linux
        that is a #GP like any other port access from ring 3. The fault's
        rip is the instruction's start."""
        regs = self.regs
        site = regs.rip
        # kvm_pvm leaves rip past an `out` but on an `in` (whose result
        # it still waits for); other KVMs leave it on the instruction.
        if not insn.is_io(self.mm.read_code(site, 15)):
            start = max(site - 15, 0)
            site = insn.io_start(self.mm.read_code(start, site - start), site) or \
                site - self.io_advance
        self._returning = False
        regs.rip = site
        self.vcpu.mark_regs_dirty()
        return Fault(signal.SIGSEGV, SI_KERNEL, 0, 13, 0, site, regs.rsp)

    def _internal_error(self, ex):
        """KVM could not run an instruction. At CPL 3 that is either a
        store to a frame KVM still write-tracks as a page table (move the
        program's pages off such frames and run it again) or the program's
        `int N` (its #GP); anything else is a sentry bug."""
        regs = self.regs
        if self.vcpu.get_sregs().cs.selector & 3 != 3:
            raise SentryBug("KVM internal error %r in guest ring 0 at %#x" % (ex, regs.rip))
        if ex.suberror == KVM_INTERNAL_ERROR_EMULATION and self.mm.retire_tainted():
            return self.switch()
        if insn.ud_is_gp(self.mm.read_code(regs.rip, 15)):
            self._returning = False
            return Fault(signal.SIGSEGV, SI_KERNEL, 0, 13, 0, regs.rip, regs.rsp)
        raise SentryBug("unexpected VM exit %r at rip %#x" % (ex, regs.rip))

    def set_syscall_return(self, value):
        """Finish the current syscall: rax = value, resume after the call
        with rcx/r11 set as SYSCALL leaves them. Applied by the next switch()."""
        entry = self._entry
        if entry == ENTRY_PATCHED:
            rip, rflags = self._ret_rip, self._ret_flags | 0x2
        elif entry == ENTRY_SYSRET:
            rip, rflags = layout.SYSCALL_R0_VA + 2, self.regs.rflags   # stub's sysretq
        else:
            # Through the fault frame: the stub's iretq returns to the caller.
            self.machine.pool.write(self.vcpu.exception_frame_phys + 16,
                                    struct.pack("<Q", self._ret_rip))
            self.machine.pool.write(self.vcpu.exception_frame_phys + 32,
                                    struct.pack("<Q", (self._ret_flags | 0x2) & ~0x10100))
            rip, rflags = layout.EXC_COMMON_VA + 2, self.regs.rflags
        self._return_regs = (value & MASK64, self._ret_rip, self._ret_flags, rip, rflags)
        self._returning = True

    @property
    def syscall_return_rip(self):
        return self._ret_rip

    @property
    def syscall_return_flags(self):
        return self._ret_flags

    # --- faults --------------------------------------------------------------
    def _frame(self):
        return struct.unpack("<7Q", self.machine.pool.read(
            self.vcpu.exception_frame_phys, 56))

    def _ring0_fault(self, vector, error, rip):
        """An exception in guest ring 0 anywhere but the syscall trap: only
        a program that reached ring 0 (or broke the stub's iretq/sysretq
        with a bad frame) gets here. Put the vCPU back in ring 3 and kill
        the program with SIGSEGV: its user context is gone."""
        self.machine.reset_to_user(self.vcpu, self.mm.root)
        self.set_fs_base(self.fs_base)
        self.set_gs_base(self.gs_base)
        self._where = AT_USER
        self._returning = False
        return Fault(signal.SIGSEGV, SI_KERNEL, 0, vector, error, rip, self.regs.rsp,
                     fatal=True)

    def _fault(self):
        vector, error, rip, cs, rflags, rsp, ss = self._frame()
        resumed_here, self._resumed_at_lstar = self._resumed_at_lstar, False
        if vector == 14 and rip == layout.SYSCALL_R0_VA and cs & 3 == 3 \
                and not resumed_here and self._after_syscall_insn(self.regs.rcx):
            return self._trapped_syscall(ENTRY_TRAP)
        if cs & 3 != 3:
            return self._ring0_fault(vector, error, rip)
        if cs != layout.USER_CS or vector == 6 and insn.ud_is_gp(self.mm.read_code(rip, 15)):
            # Where the CPU would have raised #GP: kvm_pvm lets iretq load a
            # data descriptor as CS (the program then runs on it until its
            # next exception) and gives #UD for `int N` and far jmp/call
            # through system descriptors.
            return Fault(signal.SIGSEGV, SI_KERNEL, 0, 13, 0, rip, rsp)
        if vector == 14 and not error & PF_USER:
            # A supervisor-mode access although the program ran in ring 3:
            # none of its own accesses is one, and a present user page
            # cannot explain it, so resolving it as a stale translation
            # would retry it forever. Seen under QEMU's TCG (up to 9.0,
            # QEMU issue #249), whose lretq pops the stack with supervisor
            # accesses that SMAP refuses.
            cr2 = self.vcpu.get_sregs().cr2
            return Fault(signal.SIGSEGV, SEGV_ACCERR, cr2, vector, error, rip, rsp)
        if vector == 14:
            cr2 = self.vcpu.get_sregs().cr2
            present = bool(error & 1)
            return Fault(signal.SIGSEGV, SEGV_ACCERR if present else SEGV_MAPERR,
                         cr2, vector, error, rip, rsp, is_page_fault=True,
                         write=bool(error & 2), execute=bool(error & 0x10),
                         present=present)
        signo, code = _VECTOR_SIGNALS.get(vector, (signal.SIGSEGV, SI_KERNEL))
        # A single-step trap's si_addr is where the program stopped, as Linux's.
        addr = rip if signo in (signal.SIGILL, signal.SIGFPE) or vector == 1 else 0
        return Fault(signo, code, addr, vector, error, rip, rsp)
