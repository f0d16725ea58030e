"""Futexes: wait queues keyed by a guest address.

Keys are (address space, address) for private futexes and (file, offset)
for shared ones in shared mappings (syscalls/sys_futex.futex_key). Each
waiter is a small record on its key's list; a wake marks exactly the
records it chose and wakes their tasks' waiters, so a wake hands off to
exactly the tasks woken, and the sleeping itself is kernel/waiter's
block_until (signals, deadlines, kills as every other wait).
"""
import errno
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.waiter import current_sleeper, wait_event


class _Waiter:
    __slots__ = ("key", "bitset", "woken", "wake")

    def __init__(self, key, bitset, wake):
        self.key = key                # where it is queued (requeue moves it)
        self.bitset = bitset
        self.woken = False
        self.wake = wake


class FutexTable:
    def __init__(self):
        self._lock = threading.Lock()
        self._queues = {}             # key -> [waiters]
        self._pi = None

    @property
    def pi(self):
        """FUTEX_LOCK_PI and friends (futex_pi.py), made at the first such
        call: most programs make none."""
        if self._pi is None:
            from kvmsentry.kernel.futex_pi import PiFutexes
            self._pi = PiFutexes()
        return self._pi

    def wait(self, key, load_value, expected, deadline_ns, bitset=0xFFFFFFFF):
        """Block while *key == expected: EAGAIN if it differs now,
        ETIMEDOUT at deadline_ns (CLOCK_MONOTONIC, None for never)."""
        task = current_sleeper()
        waiter = _Waiter(key, bitset, task.waiter.wake)
        with self._lock:
            if load_value() != expected:
                raise SyscallError(errno.EAGAIN)
            self._queues.setdefault(key, []).append(waiter)
        try:
            woken = wait_event(lambda: waiter.woken, deadline=deadline_ns, task=task)
        except SyscallError:
            if not self._forget(waiter):
                return 0                  # woken just as the signal came
            raise
        if woken:
            return 0
        if not self._forget(waiter):
            return 0                      # woken just as the timeout expired
        raise SyscallError(errno.ETIMEDOUT)

    def wait_any(self, keys, load_values, expected, deadline_ns):
        """futex_waitv: block while every futex holds its expected value;
        return the index of one that was woken. EAGAIN if any differs
        now, ETIMEDOUT at deadline_ns."""
        task = current_sleeper()
        waiters = [_Waiter(key, 0xFFFFFFFF, task.waiter.wake) for key in keys]
        with self._lock:
            for i, value in enumerate(load_values()):
                if value != expected[i]:
                    raise SyscallError(errno.EAGAIN)
            for w in waiters:
                self._queues.setdefault(w.key, []).append(w)

        def woken():
            return next((i + 1 for i, w in enumerate(waiters) if w.woken), None)
        try:
            found = wait_event(woken, deadline=deadline_ns, task=task)
        finally:
            for w in waiters:
                self._forget(w)
        if not found:
            found = woken()                 # woken just as the timeout expired
        if not found:
            raise SyscallError(errno.ETIMEDOUT)
        return found - 1

    def _forget(self, waiter):
        """Take an unwoken waiter off its queue; False if it was woken."""
        with self._lock:
            if waiter.woken:
                return False
            queue = self._queues.get(waiter.key, [])
            if waiter in queue:
                queue.remove(waiter)
                if not queue:
                    del self._queues[waiter.key]
            return True

    @staticmethod
    def _wake(w):
        w.woken = True
        w.wake()

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
                    self._wake(w)
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
                self._wake(w)
            if rest:
                self._queues[key] = rest
            if moved:
                for w in moved:
                    w.key = key2
                self._queues.setdefault(key2, []).extend(moved)
        return len(woken) + len(moved)
