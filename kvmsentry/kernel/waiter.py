"""Wait queues and waiters: the one way a task blocks in the sentry.

Every waitable object (pipe end, socket, eventfd, timerfd, signalfd, epoll
instance, futex key, a process's children, tty) owns a `Queue`. Whoever
changes the object's state calls `queue.notify(mask)` with the events that
became true (POLLIN, POLLOUT, POLLHUP...); exactly the entries whose mask
matches get their callback run.

A blocked task sleeps on ONE host primitive, its `Waiter`: an eventfd
polled together with the host fds the wait also depends on (a host socket,
the user's terminal). It wakes for an in-sentry notify (the callback writes
the eventfd), readiness of one of those host fds, a signal for the task
(Task.kick() writes the eventfd too), or its deadline. Nothing polls on a
timer: an idle sandbox costs the host nothing.

`block_until()` is the loop every blocking syscall uses. Queues have their
own small lock and may be notified from any thread, with or without the
kernel lock: a pipe's state changes under the pipe's lock, a timer fires on
a host timer thread.
"""
import errno
import math
import os
import select
import threading
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import locking as _locking
from kvmsentry.kernel.locking import unlocked

NSEC = 1_000_000_000
MAX_POLL_MS = (1 << 31) - 1
ALL_EVENTS = 0xFFFFFFFF


class Entry:
    """One registration on a Queue: `callback(mask)` runs for every notify
    whose mask intersects `mask`. `exclusive` entries (EPOLLEXCLUSIVE) are
    woken one per notify, after every non-exclusive entry; an exclusive
    callback that returns False did not take the wakeup (its epoll had
    nobody waiting), and the next exclusive entry gets it, as Linux's
    __wake_up_common counts only the wakeups that took."""

    __slots__ = ("callback", "mask", "exclusive")

    def __init__(self, callback, mask=ALL_EVENTS, exclusive=False):
        self.callback = callback
        self.mask = mask
        self.exclusive = exclusive


class Queue:
    """The waiters of one object (gVisor's waiter.Queue).

    The entries are a tuple replaced whole (under the lock) by register and
    unregister, so notify, the hot side, reads a snapshot without locking;
    a notifier may read `entries` too, to skip notify's frame when it is
    empty (an epoll instance nobody polls)."""

    __slots__ = ("_lock", "entries")

    def __init__(self):
        self._lock = threading.Lock()
        self.entries = ()

    def register(self, entry):
        with self._lock:
            self.entries += (entry,)

    def unregister(self, entry):
        with self._lock:
            entries = self.entries
            for i, e in enumerate(entries):
                if e is entry:
                    self.entries = entries[:i] + entries[i + 1:]
                    return

    def notify(self, mask):
        """Run the callbacks of the entries interested in `mask`. Called
        after the state change is visible, so a woken waiter that re-checks
        sees it (an entry registered meanwhile checks after registering).
        Callbacks may register or unregister: they run over a snapshot."""
        entries = self.entries
        if not entries:
            return
        woke_exclusive = False
        for entry in entries:
            if not entry.mask & mask:
                continue
            if entry.exclusive:
                if woke_exclusive:
                    continue
                woke_exclusive = entry.callback(mask & entry.mask) is not False
            else:
                entry.callback(mask & entry.mask)

    def has_waiters(self):
        return bool(self.entries)


class Deferral:
    """One host thread's held-back wakes: `waiters` is None while it does
    not defer. The task loop (kernel/task.py) collects and takes the list
    itself, on every syscall's path: defer_wakes() is `waiters = []`
    there, and it hands what was collected to the platform
    (Context.resume). A slot of an object the loop keeps, not an attribute
    of a threading.local: each access of one of those costs ~0.5k
    instructions (measured with callgrind), three of them per syscall."""

    __slots__ = ("waiters",)

    def __init__(self):
        self.waiters = None


class _PerThread(threading.local):
    def __init__(self):
        self.deferral = Deferral()


_per_thread = _PerThread()


def this_thread():
    """The calling host thread's Deferral."""
    return _per_thread.deferral


def defer_wakes():
    """From now until flush_wakes(), wakes made by this host thread are
    collected instead of made. A task's syscall holds the kernel lock and
    the GIL: a sleeper woken in the middle of it would run only to block
    again on one of them and be woken a second time; woken after the
    thread let go of the kernel lock, it needs one host wake-up."""
    deferral = _per_thread.deferral
    if deferral.waiters is None:
        deferral.waiters = []


def flush_wakes():
    """Make the wakes defer_wakes() collected; stop collecting. Every
    path on which a task's thread lets go of the kernel lock (to run guest
    code, to sleep, to end) calls it."""
    deferral = _per_thread.deferral
    waiters = deferral.waiters
    if waiters is not None:
        deferral.waiters = None
        for waiter in waiters:
            waiter.wake_now()


# The kernel lock's release flushes too (kernel/locking.py cannot import
# this module, which imports it): give it the function itself.
_locking._flush_wakes = flush_wakes
_locking._per_thread = _per_thread


class Waiter:
    """The host primitive a task's host thread sleeps on: an eventfd, in
    blocking mode so that a sleep with no host fds and no deadline (a
    blocking pipe read, a futex wait) is one host call, a read that
    returns with the wake; other sleeps poll it with their host fds."""

    __slots__ = ("fd", "_alone", "_last")

    def __init__(self):
        self.fd = os.eventfd(0, os.EFD_CLOEXEC)
        self._alone = None           # a poll set of the eventfd only (most sleeps)
        self._last = None            # (host fds, poll set) of the last sleep with host fds

    def wake(self, mask=0):
        """Make a current or the next sleep() return (usable as a Queue
        callback). Inside a syscall the host wake-up waits for the end of
        the call (see defer_wakes)."""
        pending = _per_thread.deferral.waiters
        if pending is not None:
            pending.append(self)
            return
        self.wake_now()

    def wake_now(self):
        try:
            os.eventfd_write(self.fd, 1)
        except OSError:          # closed at task exit: nobody to wake
            pass

    def sleep(self, host_fds=(), timeout_ns=None):
        """Sleep until wake(), one of host_fds [(fd, poll events)] is ready,
        or timeout_ns passes (None: no timeout). Returns {fd: revents} for
        the ready host fds. The caller re-checks its condition either way."""
        if not host_fds and timeout_ns is None:
            os.eventfd_read(self.fd)
            return {}
        if host_fds:
            # A server's event loop sleeps on the same host fds every time.
            last = self._last
            if last is not None and last[0] == host_fds:
                poller = last[1]
            else:
                poller = select.poll()
                poller.register(self.fd, select.POLLIN)
                for fd, events in host_fds:
                    poller.register(fd, events)
                self._last = (list(host_fds), poller)
        else:
            poller = self._alone
            if poller is None:
                poller = self._alone = select.poll()
                poller.register(self.fd, select.POLLIN)
        # poll(2) takes an int of ms: a longer deadline (a guest may ask for
        # centuries) is slept in pieces, block_until re-checking between.
        timeout_ms = None if timeout_ns is None else \
            min(max(0, math.ceil(timeout_ns / 1_000_000)), MAX_POLL_MS)
        ready = poller.poll(timeout_ms)
        out = {}
        for fd, revents in ready:
            if fd == self.fd:
                os.eventfd_read(self.fd)      # readable: returns at once (only this thread reads)
            else:
                out[fd] = revents
        return out

    def __del__(self):
        # Closed only when nothing can reach the task any more: an explicit
        # close could let a late kick() write into a reused fd number.
        os.close(self.fd)


_has_deliverable = None


def signal_pending(task):
    """Linux's signal_pending(): something would interrupt a wait now."""
    # Nothing pending at all (every wait's usual answer) needs no look at
    # the mask: has_deliverable's `~sigmask` makes multi-digit ints.
    if task.pending.bits or task.group.shared_pending.bits:
        global _has_deliverable
        if _has_deliverable is None:   # imported late: it imports the kernel's task modules
            from kvmsentry.kernel.signal_delivery import has_deliverable
            _has_deliverable = has_deliverable
        if _has_deliverable(task):
            return True
    tracee = task.ptrace                          # PTRACE_INTERRUPT wakes it too
    return task.kill_status is not None or (tracee is not None and tracee.interrupt)


def deadline_after(ns):
    """CLOCK_MONOTONIC deadline ns from now (None: wait forever)."""
    return None if ns is None else time.monotonic_ns() + ns


_UNCHECKED = object()


def block_until(task, check, waits=(), host_fds=(), deadline=None, interruptible=True,
                checked=_UNCHECKED):
    """Call check() until it returns something true and return that; or
    return check()'s last (false) answer once `deadline` (CLOCK_MONOTONIC
    ns; None: none) has passed; or, if `interruptible`, raise EINTR when a
    signal must be handled (the task loop then delivers it; restart rules
    are the caller's, through the errno it lets escape).

    waits: [(Queue, event mask)] whose notifies may make check() true (a
    third element True makes the entry exclusive: one such sleeper is woken
    per notify, as epoll_wait sleepers are);
    host_fds: [(host fd, poll events)] likewise. check() runs with whatever
    locks the caller holds; the kernel lock is released while sleeping.

    checked: the false answer check() has just given the caller, after
    whatever wakes it was in place (a waiter it put on a list of its
    own): the first look is skipped (epoll_wait: one harvest less per
    sleep).

    As Linux's do_poll: the condition is checked before a pending signal,
    and a pending signal wins over an expired timeout (even a zero one).
    An uninterruptible wait still ends early when the task is being killed
    (kill_status set) and then returns check()'s false answer.
    """
    waiter = task.waiter
    entries = ()
    if waits:
        wake = waiter.wake
        entries = [(w[0], Entry(wake, w[1], len(w) > 2 and w[2])) for w in waits]
        for queue, entry in entries:
            queue.register(entry)
    sleep = waiter.sleep
    result = checked
    try:
        while True:
            if result is _UNCHECKED:
                result = check()
                if result:
                    return result
            if interruptible and signal_pending(task):
                task.interrupt.set()              # the task loop delivers it
                raise SyscallError(errno.EINTR)
            if not interruptible and task.kill_status is not None:
                return result
            left = None if deadline is None else deadline - time.monotonic_ns()
            if left is not None and left <= 0:
                return result
            unlocked(sleep, host_fds, left)
            result = _UNCHECKED
    finally:
        for queue, entry in entries:
            queue.unregister(entry)


class Detached:
    """What block_until needs of a task, for a wait made outside any task
    (unit tests, sentry-side helpers): no signals, never killed."""

    def __init__(self):
        self.waiter = Waiter()
        self.kill_status = None


def current_sleeper():
    """The task this host thread runs, or a Detached stand-in."""
    task = _locking._local.task
    return Detached() if task is None else task


def wait_event(check, waits=(), host_fds=(), deadline=None, interruptible=True, task=None):
    """block_until for the task this host thread runs (deep code such as a
    pipe's read does not get the task passed down); outside a task the
    wait cannot be interrupted."""
    if task is None:
        task = _locking._local.task
        if task is None:
            task, interruptible = Detached(), False
    elif isinstance(task, Detached):
        interruptible = False
    return block_until(task, check, waits, host_fds, deadline, interruptible)


def remaining_ns(deadline):
    """What is left of a wait's timeout (for select's write-back)."""
    return max(0, deadline - time.monotonic_ns())
