"""One child process: the host process a guest address space runs in.

Its threads are the guest threads that share the address space; each has
a slot in the control memfd, mapped both here and in the child at
layout.CTL_VA: the message the stub posts (what trapped, where the signal
frame is) and the sentry answers (threads to make, fs base, exit), the
signal stack the kernel writes the frame to, and the stub's own stack.
Everything in a slot is writable by the program: the sentry reads it as
the program's word, never trusting a pointer it has not checked. The
child's host mappings are made by its mapper thread, from a request page
the child can only read (layout.MAPPER_VA; map_now).
"""
import array
import mmap
import os
import select
import struct
import _signal as signal      # (signal.py adds only enums, and imports enum)

from kvmsentry._systrap import ffi, lib
from kvmsentry.platform.systrap import layout
from kvmsentry.platform.systrap.emit_c import PackedOps

MASK64 = (1 << 64) - 1
FRAME_MIN = 512                       # ucontext and siginfo must fit below the top
SCHEDSTAT_FDS = 4                     # threads whose schedstat file stays open
TID_LIMIT = 1 << 22                   # the host's highest pid_max (PID_MAX_LIMIT)


_VALUES = array.array("Q", range(1, layout.MAPPER_VALUES + 1)).tobytes()
CTL_BYTES = layout.MAPPER_OFF + layout.MAPPER_SIZE
# A mapper request's call: nr and six arguments (struct systrap_op; the
# result word after them is the mapper's). Packed straight into the page:
# a cffi field write per word cost ~3.5 us a call, this ~1.
_OP = struct.Struct("<7Q")
_OPS_AT = layout.MAPPER_OFF + layout.MAPPER_OPS_OFF


class ControlRegion:
    """The thread slots' memfd, mapped here, and the mapper's eventfd; the
    memfd's fd goes once the child has its own."""

    def __init__(self):
        self.fd = os.memfd_create("kvmsentry-systrap-slots", os.MFD_CLOEXEC)
        # (the slots, the patched sites' table (patching.py), the mapper's page)
        os.ftruncate(self.fd, CTL_BYTES)
        self.map = mmap.mmap(self.fd, CTL_BYTES, mmap.MAP_SHARED)
        values = layout.MAPPER_OFF + layout.MAPPER_VALUES_OFF
        self.map[values:values + len(_VALUES)] = _VALUES
        self.done_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)

    def close_fd(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ChildProcess:
    def __init__(self, machine, mappings):
        self.machine = machine
        self.mappings = mappings
        self.pid, region = machine.zygote.spawn(machine.pool.fd, ControlRegion)
        self.ctl = region.map
        self.base = ffi.from_buffer(self.ctl)
        self.base_addr = int(ffi.cast("uintptr_t", self.base))
        self.done_fd = region.done_fd
        self._mapper_tid = None       # (map_now)
        self._mapper_cpu = ffi.new("int *", -1)
        self._seq = ffi.cast("uint32_t *", self.base + layout.MAPPER_OFF)
        self._nops = ffi.cast("uint64_t *", self.base + layout.MAPPER_OFF + 8)
        self.used = [False] * layout.MAX_THREADS
        self.nused = 0                # (sum(used), asked on every drain)
        self.thread_ops = []          # clone calls for threads still to make
        self.alive = True
        self.table_owner = None       # the SitePatches whose cells the table holds
        self.table_cells = {}         # cell -> (site, start, bytes) its trampoline is for
        self.table_ok = True          # False once the program mapped over the table
        self.threaded = False         # a second slot was ever claimed
        self.kept = False             # slot 0's thread stayed stopped when its task left
        self.spare = True             # slot 0's thread waits for a task (born or kept)
        self.cpu_mark = 0             # ... and the CPU time it had run by then
        self._schedstat = {}          # tid -> open fd of its /proc schedstat
        self._task_dir = None         # open fd of its /proc task directory (one_program_thread)
        self.killed = {}              # slot -> its task was killed while it ran (abandon)
        # What its host mappings are (a HostRuns) once its address space
        # left it, for the next one's wipe (mirror.py); not known once a
        # mapping call failed.
        self.host_runs = None
        self.mappings_known = True
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self.pidfd = None
            self.alive = False
        machine.watch(self)

    def msg(self, slot):
        return ffi.cast("struct systrap_msg *", self.base + slot * layout.SLOT_SIZE)

    def state_ptr(self, slot):
        return ffi.cast("uint32_t *", self.base + slot * layout.SLOT_SIZE)

    def slot_tid(self, slot):
        """The host tid slot's message names (the stub writes it, and so
        can the program): None unless it could be a tid. Every use is
        scoped to this process by the host (tgkill's tgid, the
        /proc/<pid>/task/ path) or checked by owns_thread."""
        tid = self.msg(slot).tid
        return tid if 0 < tid < TID_LIMIT else None

    def owns_thread(self, tid):
        """True if host thread tid is one of this process's program threads
        (not its mapper): what a tid from a slot must be before the sentry
        makes a host call about it that the host does not scope itself."""
        if tid is None or tid == self._mapper_tid:
            return False
        try:
            os.stat("/proc/%d/task/%d" % (self.pid, tid))
        except OSError:
            return False
        return True

    def claim_slot(self):
        """A free slot, and a thread for it: slot 0's first thread is born
        with the process and waits for its task (as a kept one does); any
        other thread is cloned, into its slot once the last thread there
        has finished exiting (the kernel clears the slot's tid). Slot 0 is
        free without a thread once its task left it otherwise (the leader
        exited while other threads run, a thread's execve replaced it)."""
        for slot, used in enumerate(self.used):
            if used:
                continue
            m = self.msg(slot)
            waiting = slot == 0 and self.spare
            if not waiting and m.tid != 0:
                continue              # its last thread has not finished exiting
            self.used[slot] = True
            self.nused += 1
            if waiting:
                self.spare = False
            else:
                self.threaded = True
                if slot == 0:
                    self.cpu_mark = 0     # (the kept thread's, gone: this one is new)
                ffi.memmove(m, b"\0" * ffi.sizeof("struct systrap_msg"),
                            ffi.sizeof("struct systrap_msg"))
                top = layout.CTL_VA + slot * layout.SLOT_SIZE + layout.STACK_OFF \
                    + layout.STACK_SIZE
                tid_va = layout.CTL_VA + slot * layout.SLOT_SIZE \
                    + ffi.offsetof("struct systrap_msg", "tid")
                self.thread_ops.append((layout.NR_CLONE,
                                        (layout.THREAD_CLONE_FLAGS, top, 0, tid_va)))
            return slot
        return None

    def free_slot(self, slot, stopped=True):
        """slot's task leaves it. `stopped`: its thread was left stopped in
        the stub (told to exit, or kept), or the process is gone. If not,
        the thread may still run the program's code here (its task was
        killed and it did not answer, a sibling made it run on): the slot
        stays taken, as killed while running, so the process is neither
        adopted by an execve nor reused (threads() counts it), and it is
        killed on the host once the last task leaves it."""
        if not stopped:
            self.killed[slot] = True
        else:
            if self.used[slot]:
                self.used[slot] = False
                self.nused -= 1
            self.killed.pop(slot, None)
        self._end_if_all_killed()

    def abandon(self, slot, running):
        """slot's task is killed (SystrapContext.abandon); `running`: its
        thread was not stopped in the stub, so it may never stop again.
        When every used slot's task is killed, one of them running, the
        process is killed on the host: its slots then say DEAD for good
        (died()). Not before: a thread that execs is not killed and keeps
        the process, and a single-threaded process killed in a system call
        stays for reuse (IdleProcesses)."""
        self.killed[slot] = self.killed.get(slot, False) or bool(running)
        self._end_if_all_killed()

    def _end_if_all_killed(self):
        if not any(self.killed.values()) or not self.alive or self.pidfd is None:
            return
        if all(slot in self.killed for slot, used in enumerate(self.used) if used):
            self.kept = False
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass                  # (died() follows from the watcher)

    def keep_thread(self, slot, cpu_ns):
        """The task of slot's thread leaves it (stopped in the stub, at a
        system call): True if the thread stays, stopped, for the process's
        reuse (recyclable()); False: it is to exit. Only the thread of a
        process that never had another is kept."""
        if slot != 0 or self.threaded or self.thread_ops or self.nused != 1:
            return False
        self.kept = self.spare = True
        self.cpu_mark = cpu_ns
        return True

    def thread_cpu_ns(self, tid):
        """The CPU time thread tid has run (the host's schedstat; 0 once
        the thread is gone, its time gone with it). The file stays open
        for the next read (an open is most of the cost, ~20 us)."""
        fd = self._schedstat.get(tid)
        if fd is None:
            try:
                fd = os.open(b"/proc/%d/task/%d/schedstat" % (self.pid, tid),
                             os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return 0
            if len(self._schedstat) < SCHEDSTAT_FDS and self.alive:
                self._schedstat[tid] = fd
        try:
            return int(os.pread(fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            self._schedstat.pop(tid, None)          # (closed below)
            return 0
        finally:
            if self._schedstat.get(tid) != fd:
                os.close(fd)

    def _forget_schedstat(self, tid=None):
        for t in ([tid] if tid is not None else list(self._schedstat)):
            fd = self._schedstat.pop(t, None)
            if fd is not None:
                os.close(fd)

    def recyclable(self):
        """True if this process can run another address space: alive, its
        one thread kept stopped (keep_thread) and no task in it. Its
        mappings are the old program's until the new table's wipe
        (mirror.HostMappings.ensure_process), which runs before any program
        code does. One whose patched sites' table a program mapped over
        is not: the next address space may be a fork of patched code."""
        return self.alive and self.kept and self.table_ok and not self.nused \
            and not self.thread_ops and self.state_ptr(0)[0] & ~layout.WAITING == layout.POSTED \
            and self.one_program_thread()

    def frame_regs(self, slot, uctx):
        """The register part of the signal frame at child address uctx in
        slot's signal stack, or None if the pointer is not in it."""
        lo = layout.CTL_VA + slot * layout.SLOT_SIZE + layout.ALTSTACK_OFF
        hi = lo + layout.ALTSTACK_SIZE - FRAME_MIN
        entry = layout.CTL_VA + slot * layout.SLOT_SIZE + layout.ENTRY_UC   # (stub.c's syscall_entry)
        if uctx != entry and (not lo <= uctx < hi or uctx & 7):
            return None
        return ffi.cast("struct systrap_regs *", self.base + (uctx - layout.CTL_VA) + 40)

    def fpu_view(self, slot, fpstate, size):
        """A buffer of the frame's XSAVE area (child address fpstate), or None."""
        lo = layout.CTL_VA + slot * layout.SLOT_SIZE + layout.ALTSTACK_OFF
        hi = lo + layout.ALTSTACK_SIZE
        entry = layout.CTL_VA + slot * layout.SLOT_SIZE + layout.ENTRY_XSAVE
        if fpstate == entry and size <= layout.ENTRY_XSAVE_MAX:
            return self.ctl, fpstate - layout.CTL_VA
        if not lo <= fpstate <= hi - size - 4 or fpstate & 63:
            return None
        off = fpstate - layout.CTL_VA
        return self.ctl, off

    def drain_threads(self, limit):
        ops = self.thread_ops[:limit]
        del self.thread_ops[:len(ops)]
        return ops

    def map_now(self, ops):
        """Have the mapper make the host calls ops [(nr, args)] (at most
        layout.MAPPER_MAX_OPS) and wait until it has: 0, the errno of the
        first that failed, or -1 if the child is gone. Under the kernel
        lock: one batch at a time, in the order the table changed."""
        if not self.alive or self.done_fd is None:
            return -1
        if len(ops) > layout.MAPPER_MAX_OPS:
            raise ValueError("systrap: %d mapping calls in one batch" % len(ops))
        ctl, pack_into, at, count = self.ctl, _OP.pack_into, _OPS_AT, len(ops)
        if isinstance(ops, PackedOps):         # (written as the records already)
            ffi.memmove(self.base + at, ops.ops, count * layout.OP_SIZE)
            ops = ()
        for nr, args in ops:
            if len(args) < 6:
                args = args + (0,) * (6 - len(args))
            try:
                pack_into(ctl, at, nr, *args)
            except struct.error:            # (a negative word: as the C type takes it)
                pack_into(ctl, at, nr, *[a & MASK64 for a in args])
            at += layout.OP_SIZE
        self._nops[0] = count
        if self._mapper_tid is None:
            self._mapper_tid = self._find_mapper()
        err = lib.systrap_mapper_call(self._seq, self.done_fd,
                                      self.pidfd if self.pidfd is not None else -1,
                                      self._mapper_tid, self._mapper_cpu)
        if err:
            self.mappings_known = False
        return err

    def _find_mapper(self):
        """The mapper thread's tid: the one thread of the process that holds
        the pool memfd in a file table of its own. The host says so, not a
        slot (the program may write any tid there), and the program cannot
        fake it: its threads share one table without that fd, may open
        none, and make only threads that share it (CLONE_FILES, stub.c's
        filter). 0 if it cannot be told (the call then leaves its CPU alone)."""
        pool = os.fstat(self.machine.pool.fd)
        try:
            tids = os.listdir("/proc/%d/task" % self.pid)
        except OSError:
            return 0
        for tid in tids:
            try:
                st = os.stat("/proc/%d/task/%s/fd/%d" % (self.pid, tid, layout.POOL_FD))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (pool.st_dev, pool.st_ino):
                return int(tid)
        return 0

    def threads(self):
        """How many threads the process has (or is about to have)."""
        return self.nused

    def one_program_thread(self):
        """True if the host process has exactly one thread besides the
        mapper, as the host counts them. The sentry's own count (threads())
        is not enough before the process runs another program (an execve
        adopting it, a reuse): a program thread can make a host thread the
        sentry never hears of by jumping to the stub's clone, and that
        thread would then run in, and write, the next program's memory."""
        if not self.alive:
            return False
        if self._task_dir is None:
            try:
                fd = os.open(b"/proc/%d/task" % self.pid,
                             os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                return False
            # Opened by number: ours only if the process had not ended
            # (its pid free for another) before the open.
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            if poller.poll(0):
                os.close(fd)
                return False
            self._task_dir = fd
        # The host gives a task directory 2 + the process's thread count
        # as its link count, and 2 alone once the process has ended (the
        # held directory stays that process's, whatever reuses its pid):
        # one fstat (~1 us) where listing it took five calls (~5.5 us).
        return os.fstat(self._task_dir).st_nlink - 2 == 2   # (the thread and the mapper)

    def has_ops(self):
        return bool(self.thread_ops) or self.mappings.has_dirty()

    def kick(self, tid):
        if self.alive and tid:
            lib.systrap_tgkill(self.pid, tid, layout.KICK_SIGNAL)

    def died(self):
        """The child is gone (killed, or its stub failed): every thread
        waiting on it learns so."""
        self.alive = False
        for slot, used in enumerate(self.used):
            if used:
                state = self.state_ptr(slot)
                state[0] = layout.DEAD
                lib.systrap_wake(state)

    def kill(self):
        self.kept = False
        self._forget_schedstat()
        if self._task_dir is not None:
            os.close(self._task_dir)
            self._task_dir = None
        self.machine.unwatch(self)
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(self.pidfd)
            self.pidfd = None
        self.alive = False
        if self.done_fd is not None:
            os.close(self.done_fd)
            self.done_fd = None
        # The mapping stays until the object goes: a task thread may still
        # read its last frame (a fault report) after the address space ends.


class IdleProcesses:
    """Child processes whose address space ended, kept for the next one.

    A fork + exec + exit costs the host a new process from the zygote (its
    fork, its stub's set-up, its control memfd, a pidfd to watch) and the
    end of one (~0.2-0.3 ms of a spawn here); a process whose program ended
    with its one thread stopped in the stub is as good as a new one once its
    old mappings are gone, as an execve that keeps its process shows. Used
    under the kernel lock (address spaces are made and destroyed under it)."""

    KEEP = 4

    def __init__(self):
        self._procs = []

    def put(self, proc):
        """proc's address space is gone: keep it if it can be reused."""
        if len(self._procs) < self.KEEP and proc.recyclable():
            self._procs.append(proc)
        else:
            proc.kill()

    def take(self):
        """A kept process still alive, or None. put checked the rest and
        none of it can change while the process waits here: its one thread
        stays stopped in the stub (no program code runs to make a thread or
        write its slot) and no address space uses it; only its death can
        come meanwhile, which the machine's watcher records (a listing of
        its threads again cost ~20 us a spawn)."""
        while True:
            try:
                proc = self._procs.pop()
            except IndexError:
                return None
            if proc.alive:
                return proc
            proc.kill()

    def close(self):
        procs, self._procs = self._procs, []
        for proc in procs:
            proc.kill()
