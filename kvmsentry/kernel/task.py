"""A Task is one guest thread. Its registers live in a platform context
(which borrows a vCPU while it runs guest code), its memory in an
AddressSpace that threads share, and its host thread runs a loop of switch() into the guest and servicing
whatever brought it back, holding the kernel lock only while servicing.
"""
import os
import threading
import time

from kvmsentry._kvm import lib
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.exit import ExitGroup, ExitThread
from kvmsentry.kernel.locking import set_current
from kvmsentry.kernel.sched import SchedState
from kvmsentry.kernel.waiter import Queue, Waiter
from kvmsentry.platform.events import INTERRUPTED, SYSCALL
from kvmsentry.platform.events import KICK_SIGNAL  # noqa: F401  (kernel installs it)

BUS_ADRERR = 2
SEGV_ACCERR = 2
EINTR = 4
NEG_EINTR = -EINTR             # what an interrupted syscall returns
# Host stack of a task's thread: Python 3.11 raises RecursionError before
# 2 MiB even through C-level recursion (measured), and 2,000 tasks then
# reserve 4 GiB of address space, not the 16 GiB of the 8 MiB default.
TASK_STACK_BYTES = 2 << 20


class Interrupt:
    """A task's "leave the guest / the wait" flag. Nothing waits on it (a
    Waiter wakes the task), so it is a plain attribute the task loop reads
    on every syscall, not a threading.Event and a call to is_set()."""

    __slots__ = ("pending",)

    def __init__(self):
        self.pending = False

    def set(self):
        self.pending = True

    def clear(self):
        self.pending = False

    def is_set(self):
        return self.pending


class Task:
    def __init__(self, kernel, tid, group, mm, ctx, fds, fs, creds, rlimits, comm):
        self.kernel = kernel
        self.strace = kernel.strace
        self.tid = tid
        self.group = group            # the thread group (process) record
        self.mm = mm
        self.ctx = ctx
        self.fds = fds
        self.fs = fs
        self.creds = creds
        self.rlimits = rlimits        # per process; threads share the dict
        self.comm = comm
        self.sighand = sg.SignalHandlers()     # shared between CLONE_SIGHAND tasks
        self.sigmask = 0
        self.pending = sg.PendingSignals()     # signals sent to this thread
        self.saved_sigmask = None              # the mask sigsuspend replaced
        self.altstack = sg.SignalStack()
        self.interrupted_syscall = None        # (nr, name) of a call that got EINTR
        self.last_fault = (0, 0, 0)            # trapno, error code, cr2
        self.clear_child_tid = 0
        self.ioac = [0, 0, 0, 0]      # rchar, wchar, syscr, syscw: /proc/[pid]/task/[tid]/io
        self.robust_list = 0
        self.personality = 0          # personality(2); kept across fork and execve
        self.ioprio = 0               # ioprio_set(2); inherited by children
        self.seccomp = None           # kernel/seccomp_filter state, inherited
        self.uts = None               # sysctl.UtsNamespace after unshare(CLONE_NEWUTS)
        self.rseq = None
        self.sched = SchedState()              # policy, priority, nice
        self.interrupt = Interrupt()  # set: leave the guest / a wait
        self.waiter = Waiter()        # what this task sleeps on when it blocks
        # Notified with a signal's bit whenever one is queued for this
        # thread, blocked or not (sigtimedwait, signalfd).
        self.signal_queue = Queue()
        self.kill_status = None       # set by another thread: exit with this
        self.vfork_done = None        # Event a vfork parent waits on
        self.ptrace = None            # kernel/ptrace.Tracee while traced
        self.host_tid = None
        self.thread = None

    @property
    def tgid(self):
        return self.group.tgid

    @property
    def ppid(self):
        parent = self.group.parent
        return parent.tgid if parent is not None else 0

    # --- host thread ---------------------------------------------------------
    def start(self):
        """Run this task on a host thread of its own (RuntimeError if the
        host cannot start one): a parked one whose task ended, else a new
        one."""
        if _parked.hand_over(self):
            return
        threading.stack_size(TASK_STACK_BYTES)
        self.thread = threading.Thread(target=_host_thread_main, args=(self,),
                                       name="task-%d" % self.tid, daemon=True)
        self.thread.start()

    def _thread_main(self):
        set_current(self)
        self.host_tid = lib.kvmsentry_gettid()
        self.cpu_base_ns = time.thread_time_ns()   # (the thread may have run others)
        lock = self.kernel.lock
        lock.acquire()
        try:
            status, whole_group = self.run()
            self.kernel.task_exited(self, status, whole_group)
        except BaseException as e:        # a sentry bug: the sandbox dies
            self.kernel.sentry_bug(self, e)
        finally:
            if lock.held_here():
                lock.release()

    cpu_base_ns = 0

    def kick(self):
        """Make the task notice interrupt (a signal, an exit) promptly,
        even if it is running guest code."""
        self.interrupt.set()
        self.waiter.wake()
        self.ctx.interrupt()
        if self.kill_status is not None:
            self.ctx.abandon()

    # --- the loop ------------------------------------------------------------
    def run(self):
        """Run until this thread ends; return (wait status, whether the
        whole thread group ends with it). Called with the kernel lock held."""
        # Imported here: the syscall table imports the modules that create tasks.
        from kvmsentry.kernel import signal_delivery
        from kvmsentry.kernel.waiter import this_thread
        from kvmsentry.syscalls.dispatch import dispatch, syscall_name
        ctx, lock = self.ctx, self.kernel.lock
        resume = ctx.resume
        release, acquire = lock.raw.release, lock.raw.acquire
        interrupt, deferral = self.interrupt, this_thread()
        result = None                        # a syscall result to return with
        try:
            while True:
                if interrupt.pending:
                    if result is not None:
                        ctx.set_syscall_return(result)
                        result = None
                    self.kernel.handle_interrupt(self)
                # The raw lock, not KernelLock's methods: this is every
                # syscall's path, and this thread's "held" mark may stay set
                # while it runs guest code.
                release()
                # The wakes the syscall deferred (kernel/waiter.py) go to
                # the platform, which makes them once the reply is out.
                wakes = deferral.waiters
                deferral.waiters = None
                try:
                    event = resume(result, wakes)
                finally:
                    acquire()
                result = None
                if event is SYSCALL:
                    deferral.waiters = []
                    result = dispatch(self)          # None: execve/sigreturn set the registers
                    if result == NEG_EINTR:
                        nr = ctx.regs.rax
                        self.interrupted_syscall = (nr, syscall_name(nr))
                elif event is INTERRUPTED:
                    continue
                else:
                    if event.is_page_fault:
                        signo = self.mm.handle_fault(event.addr, event.write, event.execute)
                        if signo is None:
                            continue
                        if signo != event.signo:
                            event = event._replace(signo=signo, code=BUS_ADRERR)
                        elif self.mm.vmas.find(event.addr) is not None:
                            # Mapped but not allowed: an access error.
                            event = event._replace(code=SEGV_ACCERR)
                    if self.ptrace is not None and not event.fatal:
                        from kvmsentry.kernel import ptrace
                        event = ptrace.fault_stop(self, event)
                        if event is None:
                            continue          # the tracer suppressed it
                    if signal_delivery.deliver_fault(self, event):
                        continue
                    self.kernel.report_fault(self, event)
                    signal_delivery.kill_group(self, event.signo)
                    return event.signo, True
        except ExitGroup as e:
            return e.status, True
        except ExitThread as e:
            return e.status, False

    @staticmethod
    def exit_code(status):
        """Shell-style exit code for a wait status (128 + signal)."""
        if status & 0x7F:
            return 128 + (status & 0x7F)
        return (status >> 8) & 0xFF


# --- host threads, kept for the next task ----------------------------------------
# Starting a host thread costs ~100-400 us (its stack, the clone, the
# hand-off until it runs); a fork+exec+exit makes and ends one task per
# spawn. A thread whose task ended waits a while for the next one.
PARK_SECONDS = 2.0
PARK_NS = int(PARK_SECONDS * 1e9)
PARK_MAX = 8


class _Parked:
    def __init__(self):
        self._lock = threading.Lock()
        self._threads = []           # [Waiter, task or None, cpus, host tid, Thread]

    def hand_over(self, task):
        """Give task to a parked thread; False if none is parked. The
        thread's wake-up is a Waiter's, so a syscall that starts a task
        (clone) makes it only once it has let go of the kernel lock and
        the GIL (kernel/waiter.py's deferred wakes): woken at once, the
        thread ran only to block on the GIL, then on the kernel lock,
        each a switch there and back on one CPU."""
        with self._lock:
            if not self._threads:
                return False
            slot = self._threads.pop()
        # Threads inherit their creator's CPU affinity (Linux's fork does).
        cpus = os.sched_getaffinity(0)
        if cpus != slot[2]:
            try:
                os.sched_setaffinity(slot[3], cpus)
            except OSError:
                pass
        task.thread = slot[4]
        slot[1] = task
        slot[0].wake()
        return True

    def wait(self, waiter):
        """The next task for this (idle) thread, or None after PARK_SECONDS;
        waiter: the thread's own, the same each time (no eventfd made and
        closed per spawn): a wake it is given is always read before it
        parks again."""
        slot = [waiter, None, os.sched_getaffinity(0), threading.get_native_id(),
                threading.current_thread()]
        with self._lock:
            if len(self._threads) >= PARK_MAX:
                return None
            self._threads.append(slot)
        waiter.sleep(timeout_ns=PARK_NS)
        if slot[1] is None:
            with self._lock:
                if slot in self._threads:
                    self._threads.remove(slot)
                    return None
            waiter.sleep()           # handed a task just as the wait ended
        return slot[1]


_parked = _Parked()


def _host_thread_main(task):
    waiter = Waiter()
    while task is not None:
        task._thread_main()
        task = _parked.wait(waiter)
