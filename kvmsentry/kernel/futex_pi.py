"""Priority-inheritance futexes: FUTEX_LOCK_PI(2), TRYLOCK_PI, UNLOCK_PI.

The futex word is Linux's: the owner's tid, FUTEX_WAITERS when someone
waits in the kernel, FUTEX_OWNER_DIED. User space takes and releases an
uncontended lock with its own compare-and-exchange, so the sentry changes
the word only with an atomic compare-and-exchange too (the guest's other
threads run on other vCPUs meanwhile). An unlock hands the lock straight
to the first waiter, as Linux's wake_futex_pi does: the word becomes that
waiter's tid with FUTEX_WAITERS.

What is not here is the priority inheritance itself: the host schedules
the sandbox's threads, so a waiter lends no priority to the owner.
"""
import errno
import threading

from kvmsentry._kvm import ffi, lib
from kvmsentry.errors import SyscallError
from kvmsentry.kernel.waiter import current_sleeper, wait_event
from kvmsentry.mm.vma import PROT_WRITE

FUTEX_WAITERS = 0x80000000
FUTEX_OWNER_DIED = 0x40000000
FUTEX_TID_MASK = 0x3FFFFFFF


def cmpxchg(mm, addr, expected, desired):
    """Atomically store desired at the guest word addr if it holds
    expected; returns the value found. EFAULT as copy_out raises it."""
    if addr & 3:
        raise SyscallError(errno.EINVAL)
    phys = mm._frame_for(addr, PROT_WRITE)
    base = int(ffi.cast("uintptr_t", ffi.from_buffer(mm.pool.mem)))
    word = ffi.cast("uint32_t *", base + phys + (addr & 0xFFF))
    return lib.kvmsentry_cmpxchg32(word, expected, desired)


class _PiWaiter:
    __slots__ = ("tid", "granted", "wake")

    def __init__(self, tid, wake):
        self.tid = tid
        self.granted = False
        self.wake = wake


class PiFutexes:
    """The kernel-side waiters of every PI futex, by futex key."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queues = {}                     # key -> [_PiWaiter], FIFO

    def lock(self, task, key, addr, deadline, trylock=False):
        """FUTEX_LOCK_PI / FUTEX_TRYLOCK_PI: take the lock for task, or
        queue and sleep until an unlock hands it over."""
        tid = task.tid
        mm = task.mm
        with self._lock:
            while True:
                uval = cmpxchg(mm, addr, 0, 0)
                owner = uval & FUTEX_TID_MASK
                if owner == 0:
                    new = tid | (uval & FUTEX_OWNER_DIED)
                    if self._queues.get(key):
                        new |= FUTEX_WAITERS
                    if cmpxchg(mm, addr, uval, new) == uval:
                        return 0
                    continue
                if owner == tid:
                    raise SyscallError(errno.EDEADLK)
                if task.kernel.tasks.get(owner) is None:
                    raise SyscallError(errno.ESRCH)
                if trylock:
                    raise SyscallError(errno.EAGAIN)
                if uval & FUTEX_WAITERS or cmpxchg(mm, addr, uval, uval | FUTEX_WAITERS) == uval:
                    break
            sleeper = current_sleeper()
            waiter = _PiWaiter(tid, sleeper.waiter.wake)
            self._queues.setdefault(key, []).append(waiter)
        try:
            got = wait_event(lambda: waiter.granted, deadline=deadline, task=sleeper)
        except SyscallError:
            if self._forget(key, waiter):
                raise
            return 0                          # handed over just as the signal came
        if got or not self._forget(key, waiter):
            return 0
        raise SyscallError(errno.ETIMEDOUT)

    def _forget(self, key, waiter):
        """Take a waiter that was not handed the lock off its queue; False
        if it was handed the lock."""
        with self._lock:
            if waiter.granted:
                return False
            queue = self._queues.get(key, [])
            if waiter in queue:
                queue.remove(waiter)
                if not queue:
                    del self._queues[key]
            return True

    def unlock(self, task, key, addr):
        """FUTEX_UNLOCK_PI: EPERM unless task owns the lock; the first
        waiter gets it, else the word becomes 0."""
        tid = task.tid
        mm = task.mm
        with self._lock:
            while True:
                uval = cmpxchg(mm, addr, 0, 0)
                if uval & FUTEX_TID_MASK != tid:
                    raise SyscallError(errno.EPERM)
                queue = self._queues.get(key)
                heir = queue[0] if queue else None
                new = (heir.tid | FUTEX_WAITERS) if heir is not None else 0
                if cmpxchg(mm, addr, uval, new) != uval:
                    continue
                if heir is not None:
                    queue.pop(0)
                    if not queue:
                        del self._queues[key]
                    heir.granted = True
                    heir.wake()
                return 0
