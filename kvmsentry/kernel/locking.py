"""The kernel lock and the rule for blocking.

Guest code runs in parallel (each task's host thread sits in KVM_RUN
without the GIL), but the sentry's own state changes under one lock, held
by a task's thread from the moment its guest exits until it re-enters.
A handler that must wait (a pipe, a futex, a sleep, a host read) does so
inside `blocking()`, which lets go of the lock for the wait; such waits
touch only state guarded by their own locks. A wait also lends the task's
platform resources (its vCPU) to others: the task's context is released
before and reclaimed after it.

The thread-local `current` also names the task a host thread runs, so
deep code (a pipe's wait) can find the task that waits (kernel/waiter.py).
"""
import threading


class _Local(threading.local):
    # Unset marks read as None with no getattr default (cheaper: every
    # blocked wait's sleep reads both).
    held = None
    task = None


_local = _Local()


class KernelLock:
    def __init__(self):
        self._lock = self.raw = threading.Lock()

    def acquire(self):
        self._lock.acquire()
        _local.held = self

    def release(self):
        _local.held = None
        self._lock.release()
        _flush_wakes()

    def held_here(self):
        return _local.held is self

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class blocking:
    """Release the kernel lock (if this thread holds it) for a wait:
    `with blocking(): ...`. A class rather than a generator: every wait
    of every blocking call goes through it."""

    __slots__ = ("_lock", "_ctx")

    def __enter__(self):
        self._lock = lock = _local.held
        self._ctx = ctx = _current_context()
        if ctx is not None:
            ctx.release()
        if lock is not None:
            lock.release()
        else:
            _flush_wakes()
        return self

    def __exit__(self, *exc):
        try:
            if self._lock is not None:
                self._lock.acquire()
        finally:
            if self._ctx is not None:
                self._ctx.reclaim()


def unlocked(fn, a, b):
    """fn(a, b) with the kernel lock let go (if this thread holds it), as
    inside `with blocking():`, in one frame: every blocked wait's sleep
    comes here (kernel/waiter.py), and on a systrap host, where each
    round trip is two process switches, the number of Python frames run
    cold after a switch is what the wait costs."""
    local = _local
    lock, task = local.held, local.task
    ctx = task.ctx if task is not None else None
    if ctx is not None and getattr(ctx, "lends_cpu", True):
        ctx.release()
    else:
        ctx = None
    # The thread's held mark stays set, as the task loop leaves it while
    # the guest runs: fn only sleeps, and nothing else reads this
    # thread's mark meanwhile.
    if lock is not None:
        lock.raw.release()
    deferral = _per_thread.deferral if _per_thread is not None else None
    if deferral is None:
        _flush_wakes()
    elif deferral.waiters is not None:
        # (flush_wakes inline: one thread-local look less)
        waiters, deferral.waiters = deferral.waiters, None
        for waiter in waiters:
            waiter.wake_now()
    try:
        return fn(a, b)
    finally:
        try:
            if lock is not None:
                lock.raw.acquire()
        finally:
            if ctx is not None:
                ctx.reclaim()


_per_thread = None       # kernel/waiter.py's deferred wakes (set by it, as _flush_wakes)


def _flush_wakes():
    """The wakes this thread deferred while it held the kernel lock
    (kernel/waiter.py); replaced by that function itself once waiter.py,
    which imports this module, is loaded."""
    from kvmsentry.kernel.waiter import flush_wakes
    flush_wakes()


def set_current(task):
    _local.task = task


def _current_context():
    task = _local.task
    return task.ctx if task is not None else None


def current():
    """The task this host thread runs, or None."""
    return _local.task
