"""Futexes: wait queues keyed by a guest address.

Keys are (address space, address) for private futexes and for shared ones
alike while each sandbox has one address space per process; waiters block
on a per-waiter Event, so a wake hands off to exactly the tasks woken.
"""
import errno
import threading
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.locking import blocking, current_interrupt

POLL = 0.05


def _wait_either(event, interrupt, timeout):
    """Wait for event, giving up early if interrupt is set (checked every
    POLL seconds); True if event was set."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = POLL if deadline is None else min(POLL, max(deadline - time.monotonic(), 0))
        if event.wait(step):
            return True
        if interrupt.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return False


class _Waiter:
    __slots__ = ("event", "bitset")

    def __init__(self, bitset):
        self.event = threading.Event()
        self.bitset = bitset


class FutexTable:
    def __init__(self):
        self._lock = threading.Lock()
        self._queues = {}             # key -> [waiters]

    def wait(self, key, load_value, expected, deadline_ns, bitset=0xFFFFFFFF):
        """Block while *key == expected: EAGAIN if it differs now,
        ETIMEDOUT at deadline_ns (CLOCK_MONOTONIC, None for never)."""
        waiter = _Waiter(bitset)
        with self._lock:
            if load_value() != expected:
                raise SyscallError(errno.EAGAIN)
            self._queues.setdefault(key, []).append(waiter)
        timeout = None
        if deadline_ns is not None:
            timeout = max(deadline_ns - time.clock_gettime_ns(time.CLOCK_MONOTONIC), 0) / 1e9
        interrupt = current_interrupt()
        with blocking():
            if interrupt is None:
                woken = waiter.event.wait(timeout)
            else:
                woken = _wait_either(waiter.event, interrupt, timeout)
        if woken:
            return 0
        with self._lock:
            queue = self._queues.get(key, [])
            if waiter in queue:
                queue.remove(waiter)
                if not queue:
                    del self._queues[key]
                if interrupt is not None and interrupt.is_set():
                    raise SyscallError(errno.EINTR)
                raise SyscallError(errno.ETIMEDOUT)
        return 0                      # woken just as the timeout expired

    def wake(self, key, count, bitset=0xFFFFFFFF):
        """Wake up to count waiters whose bitset intersects; return how many."""
        woken = 0
        with self._lock:
            queue = self._queues.get(key)
            if not queue:
                return 0
            keep = []
            for w in queue:
                if woken < count and w.bitset & bitset:
                    w.event.set()
                    woken += 1
                else:
                    keep.append(w)
            if keep:
                self._queues[key] = keep
            else:
                del self._queues[key]
        return woken

    def requeue(self, key, key2, wake_count, requeue_count):
        """Wake wake_count waiters on key, move up to requeue_count of the
        rest to key2; return the number woken plus requeued."""
        with self._lock:
            queue = self._queues.pop(key, [])
            woken = queue[:wake_count]
            moved = queue[wake_count:wake_count + requeue_count]
            rest = queue[wake_count + requeue_count:]
            for w in woken:
                w.event.set()
            if rest:
                self._queues[key] = rest
            if moved:
                self._queues.setdefault(key2, []).extend(moved)
        return len(woken) + len(moved)
