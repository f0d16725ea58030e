"""Timers that send signals: a process's interval timers (setitimer,
alarm) and its POSIX timers (timer_create).

Every armed deadline is kept on CLOCK_MONOTONIC in one TimerThread per
kernel: a host thread that sleeps until the earliest deadline, then takes
the kernel lock and fires what is due (queues the signal with
signal_delivery.send and reloads periodic timers). Syscall handlers arm
and disarm timers with the kernel lock held; the thread's own lock is
only ever taken inside the kernel lock or alone, never the other way
round, so the two cannot deadlock.

A timer on CLOCK_REALTIME with an absolute deadline is converted to
CLOCK_MONOTONIC when it is armed: later changes of the wall clock do not
move it (the sandbox cannot set the clock). ITIMER_VIRTUAL, ITIMER_PROF
and timers on CPU-time clocks count CPU time (kernel/cputime.py): their
deadlines are on that clock, and since the sentry does not see CPU time
pass, the timer thread looks at it again no sooner than the time left
could be used with a thread on every host CPU.

Timers belong to a process (ThreadGroup): fork starts without any,
execve keeps the interval timers and deletes the POSIX ones, and all die
with the process. The kernel calls cancel_process_timers(group) when a
group exits and cancel_posix_timers(group) at execve; a timer that finds
its process gone when it fires cancels itself too.
"""
import errno
import heapq
import itertools
import os
import threading
import time
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import cputime
from kvmsentry.kernel import signal_delivery as sd
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.process_tree import RUNNING

NSEC = 1_000_000_000
RLIMIT_CPU, RLIM_INFINITY = 0, (1 << 64) - 1
MAX_WAIT_S = 86400.0
# A periodic timer is not fired more often than this (a 1 ns period
# would keep the timer thread spinning); the expirations in between
# count as overruns, as they would while its signal is pending.
MIN_PERIOD_NS = 100_000

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
ITIMER_SIGNALS = {ITIMER_REAL: sg.SIGALRM, ITIMER_VIRTUAL: sg.SIGVTALRM,
                  ITIMER_PROF: sg.SIGPROF}

SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4

CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 2, 3
CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 7, 8, 9, 11
# Guest clock -> the host clock its absolute times are read on (the
# CPU-time clocks' timers read theirs through Timer.now()).
TIMER_CLOCKS = {
    CLOCK_REALTIME: time.CLOCK_REALTIME,
    CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
    CLOCK_PROCESS_CPUTIME_ID: None,
    CLOCK_THREAD_CPUTIME_ID: None,
    CLOCK_BOOTTIME: time.CLOCK_BOOTTIME,
    CLOCK_REALTIME_ALARM: time.CLOCK_REALTIME,
    CLOCK_BOOTTIME_ALARM: time.CLOCK_BOOTTIME,
    CLOCK_TAI: time.CLOCK_TAI,
}


def monotonic_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# --- arithmetic (pure) ----------------------------------------------------------
def advance(deadline, interval, now):
    """Reload a periodic timer that expired at `deadline`, seen at `now`:
    (next deadline after now, expirations skipped in between)."""
    if now < deadline:
        return deadline, 0
    missed = (now - deadline) // interval
    return deadline + (missed + 1) * interval, missed


def remaining(deadline, interval, now, expired_value=1):
    """Time left until the next expiry (0: disarmed). A one-shot timer
    that has expired but not yet fired reports expired_value (Linux says
    1 ns for a timer whose signal is on its way)."""
    if deadline is None:
        return 0
    if now < deadline:
        return deadline - now
    if interval:
        return advance(deadline, interval, now)[0] - now
    return expired_value


def alarm_seconds(ns):
    """What alarm(2) returns for a previous alarm with ns left: whole
    seconds rounded to nearest, never 0 for an alarm still pending."""
    if ns <= 0:
        return 0
    sec, rest = divmod(ns, NSEC)
    if rest >= NSEC // 2:
        sec += 1
    return max(sec, 1)


# --- CPU-time clocks of timers --------------------------------------------------
CPU_CHECK_NS = 2_000_000             # a CPU-time deadline is looked at no more often
HOST_CPUS = os.cpu_count() or 1


def wall_time_to_look(clock, deadline, wall_now):
    """When to look again at a CPU-time deadline: not before the CPU time
    left could have been used with a thread on every host CPU."""
    return wall_now + max((deadline - clock()) // HOST_CPUS, CPU_CHECK_NS)


# --- timers ------------------------------------------------------------------------
class Timer:
    """One armed-or-not timer of a process. deadline is ns on its clock
    (None: disarmed): CLOCK_MONOTONIC, or for a CPU-time timer (`cpu`
    set) that process's or thread's CPU time; generation invalidates the
    thread's old entries."""

    cpu = None                    # a CPU-time timer's clock: () -> ns

    def __init__(self, procs):
        self.procs = procs            # the ProcessTimers it belongs to
        self.deadline = None
        self.interval = 0
        self.generation = 0

    def now(self):
        """Now on the timer's clock."""
        return monotonic_ns() if self.cpu is None else self.cpu()

    def get(self, now=None):
        """(value, interval) in ns, as getitimer/timer_gettime report."""
        now = self.now() if now is None else now
        return remaining(self.deadline, self.interval, now), self.interval

    def set(self, deadline, interval):
        """Arm at deadline (ns on the timer's clock; None disarms)."""
        self.generation += 1
        self.deadline, self.interval = deadline, interval
        if deadline is not None and self.queued():
            self._arm(deadline, monotonic_ns())

    def _arm(self, deadline, wall_now):
        at = deadline if self.cpu is None else wall_time_to_look(self.cpu, deadline, wall_now)
        self.procs.thread.arm(self, at)

    def cancel(self):
        self.set(None, 0)

    def queued(self):
        """Whether the timer thread must fire this timer."""
        return True

    def expire(self, now):
        """Called by the timer thread, kernel lock held, at the wall time
        (CLOCK_MONOTONIC `now`) it asked for: fire if the deadline passed
        on the timer's clock, else look again later."""
        target = self.target()
        if target is None:
            self.procs.cancel_all()
            return
        clock_now = now if self.cpu is None else self.cpu()
        if clock_now < self.deadline:
            self._arm(self.deadline, now)
            return
        if self.interval:
            self.deadline, missed = advance(self.deadline, self.interval, clock_now)
        else:
            self.deadline, missed = None, 0
        if target is not False:
            self.notify(target, missed)
        if self.deadline is not None:
            # A period shorter than MIN_PERIOD_NS fires less often; the
            # expirations in between count as missed at the next firing.
            self._arm(max(self.deadline, clock_now + MIN_PERIOD_NS), now)

    def target(self):
        """A live task of the process to signal (None once the process is
        gone; False: no one to signal now, the timer carries on)."""
        group = self.procs.group
        if group.state is not RUNNING:
            return None
        return next((t for t in self.procs.thread.kernel.tasks.values()
                     if t.group is group), None)

    def notify(self, target, missed):
        raise NotImplementedError


class IntervalTimer(Timer):
    """ITIMER_REAL, ITIMER_VIRTUAL or ITIMER_PROF: SI_KERNEL signal to the
    process; overruns are not counted (standard signals coalesce)."""

    def __init__(self, procs, which):
        super().__init__(procs)
        self.signo = ITIMER_SIGNALS[which]
        if which != ITIMER_REAL:          # all CPU time counts as user time here
            self.cpu = cputime.ProcessClock(procs.thread.kernel, procs.group)

    def notify(self, target, missed):
        sd.send(target.kernel, target, sg.SigInfo.kernel(self.signo))


class PosixTimer(Timer):
    """A timer_create(2) timer.

    Overruns: while the signal of the last expiry is still queued, a new
    expiry adds to that SigInfo's overrun instead of queueing another
    (Linux's preallocated sigqueue). Linux computes si_overrun when the
    signal is dequeued; here it grows in the queued SigInfo, which is
    serialised at delivery, so the handler sees the same number. An
    expiry whose standard signal cannot be queued because another one of
    the same number is pending (a kill) counts as an overrun of the next
    expiry that is queued.
    """

    def __init__(self, procs, timer_id, clockid, notify, signo, value, tid, cpu=None):
        super().__init__(procs)
        self.id = timer_id
        self.clockid = clockid
        self.cpu = cpu                      # a CPU-time clock's (cputime.clock_of)
        self.notify_kind = notify
        self.signo = signo
        self.value = value
        self.tid = tid                      # SIGEV_THREAD_ID target
        self.info = None                    # SigInfo of the last expiry
        self.overrun_last = 0               # timer_getoverrun's answer
        self.carried = 0                    # expiries no signal could be queued for
        self.charge = None                  # the UserSignalCount it counts in (timer_create)

    def release(self):
        """Deleted: stop, and stop counting against RLIMIT_SIGPENDING."""
        self.cancel()
        if self.charge is not None:
            self.charge.release()
            self.charge = None

    def queued(self):
        return self.notify_kind != SIGEV_NONE

    def get(self, now=None):
        now = self.now() if now is None else now
        expired = 0 if self.notify_kind == SIGEV_NONE else 1
        return remaining(self.deadline, self.interval, now, expired), self.interval

    def target(self):
        task = super().target()
        if task is None or self.notify_kind & SIGEV_THREAD_ID == 0:
            return task
        thread = task.kernel.tasks.get(self.tid)
        if thread is None or thread.group is not self.procs.group:
            return False                      # its thread is gone: no signal
        return thread

    def _pending_queue(self, target):
        thread = self.notify_kind & SIGEV_THREAD_ID
        return target.pending if thread else target.group.shared_pending

    def _still_queued(self, target):
        if self.info is None:
            return False
        # PendingSignals has no membership query: look for this very object.
        queue = self._pending_queue(target)._queues.get(self.signo, ())
        return any(q is self.info for q in queue)

    def notify(self, target, missed):
        if self._still_queued(target):
            self.info.overrun = min(self.info.overrun + 1 + missed, 0x7FFFFFFF)
            return
        if self.signo < sg.SIGRTMIN and \
                self._pending_queue(target).bits & sg.sigbit(self.signo):
            self.carried += 1 + missed
            return
        if self.info is not None:
            self.overrun_last = self.info.overrun
        overrun, self.carried = min(missed + self.carried, 0x7FFFFFFF), 0
        self.info = sg.SigInfo.timer(self.signo, self.id, overrun, self.value)
        sd.send(target.kernel, target, self.info,
                thread=bool(self.notify_kind & SIGEV_THREAD_ID), preallocated=True)

    def overrun(self):
        """timer_getoverrun(2): the overrun of the last delivered expiry."""
        if self.info is None:
            return self.overrun_last
        target = super().target()
        if target is not None and self._still_queued(target):
            return self.overrun_last
        return self.info.overrun


class CpuLimit(Timer):
    """RLIMIT_CPU, as Linux's check_process_timers: a timer on the
    process's CPU clock at the lower limit. SIGXCPU at the soft limit,
    which then moves up a second (so the signal comes every CPU second),
    SIGKILL at the hard limit."""

    def __init__(self, procs):
        super().__init__(procs)
        self.cpu = cputime.ProcessClock(procs.thread.kernel, procs.group)

    @staticmethod
    def _deadline(rlimits):
        limits = [limit * NSEC for limit in rlimits[RLIMIT_CPU] if limit != RLIM_INFINITY]
        return min(limits) if limits else None

    def watch(self, rlimits):
        """(Re)arm at the process's limit (kernel lock held)."""
        self.set(self._deadline(rlimits), 0)

    def notify(self, target, missed):
        soft, hard = target.rlimits[RLIMIT_CPU]
        if hard != RLIM_INFINITY and self.cpu() >= hard * NSEC:
            sd.send(target.kernel, target, sg.SigInfo.kernel(sg.SIGKILL))
            return
        sd.send(target.kernel, target, sg.SigInfo.kernel(sg.SIGXCPU))
        target.rlimits[RLIMIT_CPU] = (min(soft + 1, hard), hard)
        self.deadline = self._deadline(target.rlimits)   # armed by expire()


class ProcessTimers:
    """The timers of one process: three interval timers, the POSIX ones and
    its RLIMIT_CPU watch."""

    def __init__(self, thread, group):
        self.thread = thread
        self.group = group
        self.itimers = {}               # which -> IntervalTimer, made on first use
        self.posix = {}                 # id -> PosixTimer
        self._ids = itertools.count()
        self.cpu_limit = CpuLimit(self)

    def itimer(self, which):
        if which not in ITIMER_SIGNALS:
            raise SyscallError(errno.EINVAL)
        timer = self.itimers.get(which)
        if timer is None:
            timer = self.itimers[which] = IntervalTimer(self, which)
        return timer

    def create(self, clockid, notify, signo, value, tid, cpu=None):
        timer_id = next(self._ids)
        timer = PosixTimer(self, timer_id, clockid, notify, signo, value, tid, cpu)
        self.posix[timer_id] = timer
        return timer

    def lookup(self, timer_id):
        timer = self.posix.get(timer_id)
        if timer is None:
            raise SyscallError(errno.EINVAL)
        return timer

    def delete(self, timer_id):
        self.lookup(timer_id).release()
        del self.posix[timer_id]

    def cancel_posix(self):
        for timer in self.posix.values():
            timer.release()
        self.posix.clear()

    def cancel_all(self):
        self.cancel_posix()
        for timer in self.itimers.values():
            timer.cancel()
        self.cpu_limit.cancel()
        _BY_GROUP.pop(self.group, None)


class TimerThread:
    """The host thread that fires a kernel's timers."""

    IDLE_EXIT = 5.0               # seconds with nothing armed before it stops

    def __init__(self, kernel):
        self.kernel = kernel
        self._cond = threading.Condition(threading.Lock())
        self._heap = []           # (deadline, seq, timer, generation)
        self._seq = itertools.count()
        self._thread = None

    def arm(self, timer, at=None):
        """Fire timer at `at` (default: its deadline), CLOCK_MONOTONIC ns."""
        with self._cond:
            heapq.heappush(self._heap, (timer.deadline if at is None else at,
                                        next(self._seq), timer, timer.generation))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="timers",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self):
        while True:
            due = self._wait_for_due()
            if due is None:
                return
            now = monotonic_ns()
            with self.kernel.lock:
                for _, _, timer, generation in due:
                    if timer.generation == generation and timer.deadline is not None:
                        timer.expire(now)

    def _wait_for_due(self):
        """Sleep until something is due; pop and return it (None: stop)."""
        with self._cond:
            while True:
                self._drop_stale()
                if not self._heap:
                    if not self._cond.wait(self.IDLE_EXIT) and not self._heap:
                        self._thread = None
                        return None
                    continue
                now = monotonic_ns()
                if self._heap[0][0] <= now:
                    break
                # A guest may arm a timer centuries away; the host's wait
                # takes at most a day at a time (the loop looks again).
                self._cond.wait(min((self._heap[0][0] - now) / NSEC, MAX_WAIT_S))
            due = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap))
            return due

    def _drop_stale(self):
        heap = self._heap
        while heap and heap[0][2].generation != heap[0][3]:
            heapq.heappop(heap)


# --- per kernel / per process lookup ---------------------------------------------
_THREADS = weakref.WeakKeyDictionary()        # Kernel -> TimerThread
_BY_GROUP = weakref.WeakKeyDictionary()       # ThreadGroup -> ProcessTimers


def timer_thread(kernel):
    """The kernel's TimerThread (made on first use)."""
    thread = _THREADS.get(kernel)
    if thread is None:
        thread = _THREADS[kernel] = TimerThread(kernel)
    return thread


def process_timers(task):
    """The timers of task's process (made on first use)."""
    group = task.group
    procs = _BY_GROUP.get(group)
    if procs is None:
        procs = _BY_GROUP[group] = ProcessTimers(timer_thread(task.kernel), group)
    return procs


def watch_cpu_limit(task):
    """task's process has a new RLIMIT_CPU (setrlimit, or a fork that
    inherits a finite one): look at it now (kernel lock held)."""
    if _BY_GROUP.get(task.group) is None and CpuLimit._deadline(task.rlimits) is None:
        return                        # nothing to watch, nor to stop watching
    process_timers(task).cpu_limit.watch(task.rlimits)


def cancel_process_timers(group):
    """The process is exiting: every timer of it dies (kernel lock held)."""
    procs = _BY_GROUP.get(group)
    if procs is not None:
        procs.cancel_all()


def cancel_posix_timers(group):
    """execve: the process's POSIX timers are deleted, its interval
    timers (alarm) carry on (kernel lock held)."""
    procs = _BY_GROUP.get(group)
    if procs is not None:
        procs.cancel_posix()


def clock_now(clockid):
    """Now on a timer clock's host clock, and on CLOCK_MONOTONIC."""
    host = TIMER_CLOCKS[clockid]
    return time.clock_gettime_ns(host), monotonic_ns()
