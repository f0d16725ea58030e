"""A task's thread in its child process: run it until the next syscall,
fault or kick.

The thread is always either running program code or stopped in the stub's
signal handler, its registers in the kernel's signal frame on the slot's
signal stack, which the sentry maps too: `regs` is a view of that frame,
so the syscall arguments are read and the result written in place, and
the handler's rt_sigreturn loads whatever the sentry left there (a
result, a signal handler's entry, a new program). Before its first stop
(birth) a context keeps its registers, FPU image and fs base in this
object and writes them into the birth frame.
"""
import _signal as signal      # (signal.py adds only enums, and imports enum)

from kvmsentry._systrap import ffi, lib
from kvmsentry.arch.cpu import RFLAGS_USER_INIT
from kvmsentry.arch.signal_frame import initial_xsave
from kvmsentry.platform.context import GPRS, KVM_XSAVE_SIZE, MASK64, USER_FLAGS, Context
from kvmsentry.platform.events import INTERRUPTED, SYSCALL, Fault
from kvmsentry.platform.systrap import layout, patching

USER_CS = 0x33
SW_RESERVED = (464, 512)       # the kernel's own words in the frame's FXSAVE area
PF_VECTOR = 14
POSTED_SYSCALL = layout.POSTED_SYSCALL
ENDED = (layout.DEAD, layout.ABANDONED)     # (a wait's answers with nothing posted)
AUDIT_ARCH_X86_64 = 0xC000003E
# struct systrap_regs from r8 to rflags: the user registers a birth copies
_GPR_BYTES = ffi.offsetof("struct systrap_regs", "cs")
_ZERO_GPRS = bytes(_GPR_BYTES)
_INITIAL_FPU = {}              # xsave size -> the initial image (_initial_xsave)
# (a lookup on lib costs every syscall)
_syscall_reply, _syscall_reply_wake = lib.systrap_syscall_reply, lib.systrap_syscall_reply_wake
NULL = ffi.NULL
SI_KERNEL = 0x80                # si_code of an int3's SIGTRAP
# The faults the stub has handlers for (stub.c, install_handlers); the
# program can post any number in its slot.
FAULT_SIGNALS = frozenset((signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                           signal.SIGTRAP))


class SystrapContext(Context):
    held = False               # (ptrace's register writes ask; nothing to mark)
    vcpu = None
    cpu_index = 0
    patched_sites = 0
    _abandoned = False         # (abandon: the task is killed)
    _loose = False             # (_dead: its thread may still run, whatever the slot says)
    _settle_err = 0            # (settle: a mapping error for the child's first switch)

    def __init__(self, machine, patch_syscalls=True):
        self.machine = machine
        # Sites are patched (patching.py) where the entry's frame fits the
        # host's XSAVE state.
        self.patch_syscalls = patch_syscalls and \
            machine.xsave_size <= layout.ENTRY_XSAVE_MAX
        self._entry_uctx = None        # the slot's syscall_entry frame
        # What resume's C call needs, kept current by set_address_space and
        # _rebind: the slot's futex word, the frame's registers and address.
        self._view = ffi.new("struct systrap_view *")
        self._view.spin = machine.spin_cycles
        # Set once the task is killed (abandon): the sentry's own word, which
        # every wait for the thread checks whenever it wakes.
        self._stop = self._view.stop = ffi.new("uint32_t *")
        self.process = None
        self.slot = None
        self.msg = None
        self._state = None
        self.born = False
        self.kicked = False
        self.host_tid = None
        self.mm = None
        self._own = ffi.new("struct systrap_regs *")
        self.regs = self._own[0]
        self._fpu = None           # before birth: the image to load (None: initial)
        self.fs_base = self.gs_base = 0
        self._frame_uctx = None
        self._cpu_left_ns = 0      # guest CPU time of the host threads it has left
        self._cpu_base_ns = 0      # the thread's CPU time before this context had it

    # --- setup -------------------------------------------------------------
    def set_address_space(self, mm):
        """Run in mm (its child process) from now on: a thread of another
        process is left (it exits), a slot in mm's is taken."""
        if self.mm is mm:
            return
        if self.process is not None and mm.pt.process is self.process:
            self.mm = mm                   # (an exec that kept the process: same slot)
            return
        # The registers go to the context's own struct, as its bytes (a
        # fresh context's are there already), before the old thread may go.
        own = self._own
        regs = ffi.addressof(self.regs)
        if regs != own:
            ffi.memmove(own, regs, _GPR_BYTES)
        fpu = self.get_fpu() if self.born else self._fpu
        self._leave()
        self.mm = mm
        proc = mm.pt.ensure_process()
        slot = proc.claim_slot()
        if slot is None:
            raise OSError(11, "systrap: too many threads in one process")
        self.process, self.slot = proc, slot
        self._entry_uctx = layout.CTL_VA + slot * layout.SLOT_SIZE + layout.ENTRY_UC
        if mm.syscall_patches is not None:
            patching.sync_table(proc, mm.syscall_patches)   # (a forked address space's)
        self.msg, self._state = proc.msg(slot), proc.state_ptr(slot)
        self._view.state = self._state
        self._cpu_base_ns = proc.cpu_mark if slot == 0 else 0    # (a recycled process)
        self.msg.spin = self.machine.spin_cycles
        self.regs = r = own[0]
        r.rflags = (r.rflags & USER_FLAGS) | 0x202
        r.cs = USER_CS
        self.born = False
        self._fpu = fpu
        self.msg.set_fs, self.msg.fs_base = 1, self.fs_base
        self.msg.set_gs, self.msg.gs_base = 1, self.gs_base
        self.msg.reset = 1             # (a reused process's thread: the stub's signal state)

    def clone_from(self, parent, regs):
        """Give this (fresh) context parent's program state with the user
        registers `regs`; a new thread of parent's own process is made now,
        by parent's thread, which is stopped in its clone call."""
        self.set_user_regs(regs)
        self.set_fpu(parent.get_fpu())
        self.set_fs_base(parent.fs_base)
        self.set_gs_base(parent.gs_base)
        if parent.process is self.process and parent.born:
            parent.run_ops_now()

    # --- registers -----------------------------------------------------------
    def user_regs(self):
        r = self.regs
        d = {n: getattr(r, n) for n in GPRS}
        d.update(rip=r.rip, rsp=r.rsp, rflags=r.rflags)
        return d

    def set_user_regs(self, d):
        r = self.regs
        for n in GPRS:
            setattr(r, n, d[n] & MASK64)
        r.rip, r.rsp = d["rip"] & MASK64, d["rsp"] & MASK64
        r.rflags = (d["rflags"] & USER_FLAGS) | 0x202
        r.cs = USER_CS             # 64-bit, whatever the program ran in before

    def syscall_exit_regs(self, value):
        d = self.user_regs()
        d["rax"] = value & MASK64
        return d

    def set_syscall_return(self, value):
        self.regs.rax = value & MASK64

    @property
    def syscall_return_rip(self):
        return self.regs.rip       # the frame's rip is past the syscall already

    @property
    def syscall_return_flags(self):
        return self.regs.rflags

    def set_fs_base(self, value):
        self.fs_base = value
        if self.msg is not None:
            self.msg.fs_base, self.msg.set_fs = value & MASK64, 1

    def set_gs_base(self, value):
        if value and self.mm is not None:
            self._patching_off()        # the trampolines reach the slot through %gs
        self.gs_base = value
        if self.msg is not None:
            self.msg.gs_base, self.msg.set_gs = value & MASK64, 1

    def _fpu_area(self):
        size = self.machine.xsave_size
        view = self.process.fpu_view(self.slot, self.regs.fpstate, size)
        if view is None:
            return None, 0, size
        buf, off = view
        return buf, off, size

    def get_fpu(self):
        """The FPU/SSE/AVX state as a kvm_xsave image."""
        if not self.born:
            return self._fpu if self._fpu is not None else self._initial_xsave()
        buf, off, size = self._fpu_area()
        if buf is None:
            return self._initial_xsave()
        return bytes(buf[off:off + size]).ljust(KVM_XSAVE_SIZE, b"\0")

    def set_fpu(self, image):
        if not self.born:
            self._fpu = image
            return
        buf, off, size = self._fpu_area()
        if buf is None:
            return
        image = image if image is not None else self._initial_xsave()
        lo, hi = SW_RESERVED
        buf[off:off + lo] = image[:lo]
        buf[off + hi:off + size] = image[hi:size]

    def _initial_xsave(self):
        size = self.machine.xsave_size
        image = _INITIAL_FPU.get(size)
        if image is None:
            image = _INITIAL_FPU[size] = initial_xsave(size).ljust(KVM_XSAVE_SIZE, b"\0")
        return image

    def start(self, rip, rsp):
        """Context.start (every execve): the registers zeroed as the
        struct's bytes, not a dict of them built and set one by one."""
        r = self.regs
        ffi.memmove(ffi.addressof(r), _ZERO_GPRS, _GPR_BYTES)
        r.rip, r.rsp = rip & MASK64, rsp & MASK64
        r.rflags = RFLAGS_USER_INIT
        r.cs = USER_CS
        self.set_fs_base(0)
        self.set_gs_base(0)
        self.set_fpu(None)

    @property
    def guest_tid(self):
        """The host thread that runs the program's code (None before birth),
        as its slot names it: a thread of this context's child process, so
        that a tid the program wrote there can only make the sentry's host
        calls (sched_setaffinity) reach its own process."""
        tid = self._slot_tid()
        return tid if tid is not None and self.process.owns_thread(tid) else None

    def _slot_tid(self):
        if self.born and self.process is not None and self.process.alive:
            return self.process.slot_tid(self.slot)
        return None

    # --- blocking (nothing to lend: the host schedules the child's thread) ----
    def release(self):
        """The task's call is about to sleep in the sentry: its thread,
        spinning for the reply, sleeps at once (cdefs/systrap_spin.h)."""
        msg = self.msg
        if msg is not None:
            msg.stub_spin.stop = 1

    def reclaim(self):
        pass

    def close(self):
        """The task is gone: its thread leaves the child."""
        self._leave()
        self.mm = None

    def guest_cpu_ns(self):
        """The program's CPU time: its host threads' in the children, read
        from the host's schedstat (a thread's sum_exec_runtime, which
        Linux's CPU clocks give only to the thread's own process)."""
        return self._cpu_left_ns + max(0, self._thread_cpu_ns() - self._cpu_base_ns)

    def _thread_cpu_ns(self):
        tid = self._slot_tid()                 # (the /proc/<pid>/task/ path scopes it)
        return 0 if tid is None else self.process.thread_cpu_ns(tid)

    def _leave(self):
        proc, slot = self.process, self.slot
        if proc is None:
            return
        now = self._thread_cpu_ns()
        self._cpu_left_ns += max(0, now - self._cpu_base_ns)
        stopped = proc.alive and not self._loose \
            and self._state[0] & ~layout.WAITING == layout.POSTED
        self._loose = False
        if self.born and stopped and not proc.keep_thread(slot, now):
            self.msg.cmd = layout.CMD_EXIT
            self.msg.nops = 0
            self._state[0] = layout.REPLIED
            lib.systrap_wake(self._state)
        proc.free_slot(slot, stopped or not proc.alive)
        self.process = self.slot = self.msg = self._state = None
        self._frame_uctx = None
        self.born = False

    def interrupt(self):
        """Make the current or next switch() return INTERRUPTED promptly."""
        self.kicked = True
        tid = self._slot_tid()                 # (tgkill scopes it to the process)
        if tid is not None:
            self.process.kick(tid)

    def abandon(self):
        """The task is killed. Its thread may never answer the kick (a
        program can block it on its own threads, or make a sibling's thread
        exit behind the sentry's back through its slot), and the program
        can write the slot's state back, so a wake through the slot is no
        answer either. Once every task of the child process is killed, one
        of them while its thread ran program code, the process is killed on
        the host (ChildProcess.abandon) and died() ends every wait on it for
        good. Before that (a vfork child, not killed, shares the process)
        the wait ends on the context's own stop word, which the program
        cannot write, a short grace after the kick (systrap_wait in
        cdefs/systrap_helpers.c; machine.rewake wakes it until it has
        returned): the thread is left running, its slot taken until the
        process ends (free_slot).
        Either way the task then ends with the status it was killed with
        (_dead)."""
        state = self._state
        if state is not None and self.process.alive:
            self._abandoned = True
            self.process.abandon(self.slot, state[0] & ~layout.WAITING != layout.POSTED)
            lib.systrap_stop(self._stop, state)
            self.machine.rewake(self, self.process, self.slot)

    # --- the loop ------------------------------------------------------------
    def switch(self):
        if self.kicked:
            self.kicked = False
            return INTERRUPTED
        if not self.born:
            event = self._birth()
            if event is not None:
                return event
            err = self._settle_err
            if err:
                self._settle_err = 0
                return self._dead() if err < 0 else self._mapping_failed(err)
        return self._resume()

    def return_and_switch(self, value):
        self.regs.rax = value & MASK64
        return self.switch()

    def resume(self, value, wakes):
        """Context.resume, every syscall's path: one C call writes the
        result, makes the deferred wakes (their eventfd writes, without
        the GIL), posts the reply and waits for the thread's next stop,
        which is most often its next syscall from the same frame."""
        proc = self.process
        if self.kicked or not self.born or proc.thread_ops:
            return self._resume_slowly(value, wakes)
        mappings = proc.mappings
        if mappings.dirty or mappings.dirty_huge or mappings.wipe:   # (has_dirty, inline)
            return self._resume_slowly(value, wakes)
        if value is None:                    # (execve, rt_sigreturn: registers set)
            posted = self._reply_as_set(wakes)
        else:
            try:
                if wakes:
                    # (the list: the Waiters stay referenced, their fds open, meanwhile)
                    posted = _syscall_reply_wake(self._view, value, [w.fd for w in wakes],
                                                 len(wakes))
                else:
                    posted = _syscall_reply(self._view, value)
            except OverflowError:            # a result at or above 2^63
                self.regs.rax = value & MASK64
                posted = self._reply_as_set(wakes)
        if posted == POSTED_SYSCALL:
            if self._frame_uctx != self._entry_uctx and self.patch_syscalls:
                self._trapped_syscall()
            return SYSCALL
        return self._resume(posted)

    def _reply_as_set(self, wakes):
        """resume's C call for registers the sentry has set itself."""
        fds = [w.fd for w in wakes] if wakes else NULL
        return lib.systrap_reply_wake_wait(self._state, 1, self._view.spin, fds,
                                           len(wakes) if wakes else 0, self._frame_uctx,
                                           self._view.stop)

    def _resume_slowly(self, value, wakes):
        if value is not None:
            self.regs.rax = value & MASK64
        if wakes:
            for waiter in wakes:
                waiter.wake_now()
        return self.switch()

    # --- syscall-site patching (patching.py) ---------------------------------
    def _trapped_syscall(self):
        """A syscall came by SIGSYS: patch its site if it can be."""
        patches = self.mm.syscall_patches
        site = self.regs.rip - 2
        if patches is not None and (patches.off or site in patches.refused):
            return
        msg = self.msg
        if self.gs_base or msg.arch != AUDIT_ARCH_X86_64 or msg.nr >= 1024:
            return                      # (x32 and other ABIs stay trapped)
        if patches is not None and site not in patches.trapped and site not in patches.sites:
            # A site's first trap is only noted (try_patch patches at the
            # second; most sites of a fork+exec'd child run once): a set's
            # add, whole under the GIL, without the kernel lock (its take
            # and release here, and the task loop's again, per trap).
            patches.trapped.add(site)
            return
        with self.machine.kernel_lock:
            if patching.try_patch(self.mm, self.process, site, msg.nr,
                                  self.process.threads()):
                self.patched_sites += 1

    def _patching_off(self):
        patches = self.mm.syscall_patches
        if patches is not None and patches.off:
            return
        proc = self.process
        lock = self.machine.kernel_lock
        held = not lock.acquire(blocking=False)    # (a syscall's path holds it)
        try:
            patching.unpatch_all(self.mm, proc.threads() if proc is not None else 1)
        finally:
            if not held:
                lock.release()

    def _patched_site_fault(self, signo, msg):
        """A fault that belongs to a patched site: a jump to its old
        `syscall` (SIGILL there: the syscall, as the program meant it; a
        restarted call comes this way) or to one of its moved instructions
        (on at that instruction in the trampoline), the int3 of a site
        being rewritten (back to its start), or a single step into a
        trampoline (the site gets its bytes back and the step is taken
        again there). An event, or None for an ordinary fault."""
        patches = self.mm.syscall_patches if self.mm is not None else None
        if patches is None or not (patches.sites or patches.retired):
            return None
        r = self.regs
        rip = r.rip
        with self.machine.kernel_lock:
            if signo == signal.SIGILL:
                entry = patches.entry(rip)
                if entry is None:
                    resume = patches.resume_at(rip)
                    if resume is None:
                        return None
                    r.rip = resume
                    return INTERRUPTED
                start, orig, cell = entry
                if orig[0] == 0xB8 and len(orig) == 7:
                    # (a thread that read the mov while it was rewritten)
                    nr = int.from_bytes(orig[1:5], "little")
                    if r.rax not in (nr, patching.NR_RESTART_SYSCALL):
                        r.rax = nr
                r.rip = r.rcx = rip + 2
                r.r11 = r.rflags
                return SYSCALL
            if msg.code & 0xFFFFFFFF == SI_KERNEL:
                if rip - 1 in patches.starts and self.mm.read_code(rip - 1, 1) != patching.INT3:
                    r.rip = rip - 1
                    return INTERRUPTED
                return None
            cell = patching.tramp_cell(rip)
            site = patches.cells.get(cell) if cell is not None else None
            if site is not None and site in patches.sites:
                # Back to the site, which runs its own bytes from now on,
                # with TF still set: the step ends after its instruction.
                r.rip = patches.sites[site][0]
                patching.unpatch(self.mm, site, self.process.threads())
                return INTERRUPTED
        return None

    def run_ops_now(self):
        """While this thread is stopped in the stub: have it make the
        threads queued for its process before going on (the mappings are
        made before any thread of the process next runs program code)."""
        self._make_threads()

    def _drain_ops(self):
        """Bring the process up to date before this thread goes on: its
        host mappings (the mapper's calls) and the threads queued for it
        (made by this thread, which posts back). Taken under the kernel
        lock, which the address space changes under (this runs in
        switch(), without it). Returns an event if the child died or a
        mapping failed meanwhile."""
        with self.machine.kernel_lock:
            err = self._map_dirty()
            if err:
                return self._dead() if err < 0 else self._mapping_failed(err)
            return self._make_threads()

    def _map_dirty(self):
        """Have the mapper make the host calls the table's changes need
        (under the kernel lock: one batch at a time, in the order the
        table changed): 0, or map_now's error."""
        proc = self.process
        mappings = proc.mappings
        while mappings.has_dirty():
            # (one less: a run around the stub's range is two calls)
            ops = mappings.drain(layout.MAPPER_MAX_OPS - 1)
            if mappings.table_hit:
                # The program maps over the patched sites' table (before
                # these calls replace it): its sites get their own bytes
                # back now.
                mappings.table_hit = False
                proc.table_ok = False
                patching.unpatch_all(self.mm, proc.threads())
            err = proc.map_now(ops)
            if err:
                return err
        mappings.release_held()                # the host munmaps ran
        return 0

    def settle(self):
        """A forked child's context, before its task starts (its parent's
        clone, under the kernel lock): the child's host mappings are made
        now, by the parent's thread while the parent's program waits for
        clone's answer, not by the child's at its first resume. There the
        mapper's round trip was a wait under the kernel lock just as the
        parent's program, answered, came back with its next syscall: the
        parent's thread then blocked on the lock, and the GIL and lock
        went back and forth between the two threads (six process switches
        a spawn on one CPU). An error is the child's first event. If the
        child's thread is stopped already, it is born now too (_bear)."""
        proc = self.process
        if proc is None or self.born or not proc.alive or proc.thread_ops:
            return
        self._settle_err = err = self._map_dirty()
        if not err and self._state[0] & ~layout.WAITING == layout.POSTED:
            # Its thread is stopped already (a kept process's, a zygote's
            # that has announced itself): the child's registers go into its
            # frame now, and the child's task starts with the reply.
            self._bear()

    def _make_threads(self):
        """Have this thread make the threads its process is due (clone
        calls, made by the stub's run_ops); an event if the child died."""
        proc, msg = self.process, self.msg
        while proc.thread_ops:
            ops = proc.drain_threads(layout.MAX_OPS)
            base = ffi.cast("struct systrap_op *", ffi.cast("char *", msg) + layout.OPS_OFF)
            for i, (nr, args) in enumerate(ops):
                op = base[i]
                op.nr = nr
                op.a[0:len(args)] = [a & MASK64 for a in args]
            msg.nops = len(ops)
            msg.again = 1
            if lib.systrap_reply_wait(self._state, 1, 0, self._stop) in ENDED:
                return self._dead()
            if not self._rebind():
                return self._dead()
            if msg.op_error:
                msg.op_error = 0
                self._failed_threads(ops)
        return None

    def _failed_threads(self, ops):
        """A thread the host would not make (a clone op failed): its
        context learns so at birth, as if its process had died."""
        base = ffi.cast("struct systrap_op *", ffi.cast("char *", self.msg) + layout.OPS_OFF)
        for i, (nr, args) in enumerate(ops):
            if nr == layout.NR_CLONE and base[i].result >= (1 << 63):
                slot = (args[1] - 1 - layout.CTL_VA) // layout.SLOT_SIZE
                state = self.process.state_ptr(slot)
                state[0] = layout.DEAD
                lib.systrap_wake(state)

    def _birth(self):
        """Wait for the thread's first stop and give its frame this
        context's state; an event if it died instead."""
        if self.host_tid is None:
            import threading
            self.host_tid = threading.get_native_id()
        if lib.systrap_wait(self._state, self.machine.spin_cycles, self._stop) in ENDED:
            return self._dead()
        if not self._bear():
            return self._dead()
        return None

    def _bear(self):
        """The thread's first stop is posted: give its frame this
        context's registers (copied as they are, a struct's bytes: they
        were set through set_user_regs), FPU image and fs/gs bases. False
        if the message's frame pointer is not in its signal stack."""
        own = ffi.addressof(self.regs)
        if not self._rebind():
            return False
        self.born = True
        ffi.memmove(self._view.regs, own, _GPR_BYTES)
        r = self.regs
        r.rflags = (r.rflags & USER_FLAGS) | 0x202
        r.cs = USER_CS
        fpu, self._fpu = self._fpu, None
        self.set_fpu(fpu)
        self.msg.fs_base, self.msg.set_fs = self.fs_base & MASK64, 1
        self.msg.gs_base, self.msg.set_gs = self.gs_base & MASK64, 1
        return True

    def _rebind(self):
        """Point `regs` at the frame the thread just posted; False if the
        message's frame pointer is not in the thread's signal stack."""
        uctx = self.msg.uctx
        if uctx != self._frame_uctx:
            regs = self.process.frame_regs(self.slot, uctx)
            if regs is None:
                return False
            self._frame_uctx = self._view.uctx = uctx
            self._view.regs = regs
            self.regs = regs[0]
        return True

    def _resume(self, posted=None):
        """Reply and wait until the thread's next event; `posted`: the
        reply is made and this is what the wait returned."""
        state, spin = self._state, self.machine.spin_cycles
        while True:
            if posted is None:
                if self.process.has_ops():
                    event = self._drain_ops()
                    if event is not None:
                        return event
                posted = lib.systrap_reply_wait(state, 1, spin, self._stop)
            if posted in ENDED:
                return self._dead()
            posted = None
            if not self._rebind():
                return self._dead()
            msg = self.msg
            signo = msg.signo
            if signo == signal.SIGSYS:
                if self._frame_uctx != self._entry_uctx and self.patch_syscalls:
                    self._trapped_syscall()
                return SYSCALL
            if signo == 0:
                continue                     # (the threads asked for are made)
            if signo == layout.KICK_SIGNAL:
                self.kicked = False
                self._leave_trampoline()
                return INTERRUPTED
            if signo not in FAULT_SIGNALS:
                continue                     # (no stub posts it: a forgery, answered as nothing)
            return self._fault(signo, msg)

    def _leave_trampoline(self):
        """A thread stopped in a trampoline's moved code is at the
        program's own instruction (patching.SitePatches.origin)."""
        r = self.regs
        if layout.TRAMP_VA <= r.rip < layout.TABLE_VA + layout.TABLE_SIZE:
            with self.machine.kernel_lock:
                patches = self.mm.syscall_patches
                origin = patches.origin(r.rip) if patches is not None else None
            if origin is not None:
                r.rip = origin

    def _fault(self, signo, msg):
        if signo in (signal.SIGILL, signal.SIGTRAP):
            event = self._patched_site_fault(signo, msg)
            if event is not None:
                return event
        self._leave_trampoline()
        r = self.regs
        vector, error = r.trapno, r.err
        is_pf = signo in (signal.SIGSEGV, signal.SIGBUS) and vector == PF_VECTOR
        if layout.RESERVED_LO <= msg.addr < layout.RESERVED_HI:
            # The stub's range: nothing the sentry maps there reaches the
            # child (mirror.py), so a fault there is final, not a page to
            # populate (which would fault again forever).
            is_pf = False
        return Fault(signo, msg.code & 0xFFFFFFFF, msg.addr, vector, error, r.rip, r.rsp,
                     is_page_fault=is_pf, write=bool(error & 2), execute=bool(error & 16),
                     present=bool(error & 1))

    def _mapping_failed(self, err):
        """A host mapping the sentry asked for failed (ENOMEM: the host's
        vm.max_map_count, when frames are too scattered to merge): the
        child's memory no longer matches the address space, and a touch
        would fault forever. The process dies of SIGBUS, as of an
        out-of-memory fault."""
        self.machine.note("systrap: a host mapping failed (errno %d) in pid %d"
                          % (err, self.process.pid))
        return Fault(signal.SIGBUS, 0, 0, 0, 0, self.regs.rip, self.regs.rsp, fatal=True)

    def _dead(self):
        """The child process is gone under the task: it dies of SIGKILL.
        A killed task's (abandon) is interrupted instead, once: the
        kernel ends it with the status it was killed with. A process still
        alive means the wait ended without the thread (given up after the
        grace, or a DEAD the program wrote), which may still run."""
        self.born = False
        self.regs = self._own[0]
        self._loose = self.process is not None and self.process.alive
        if self._abandoned:
            self._abandoned = False
            return INTERRUPTED
        return Fault(signal.SIGKILL, 0, 0, 0, 0, 0, 0, fatal=True)
