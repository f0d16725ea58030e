"""mlock, mlock2, munlock, mlockall, munlockall (kernel/mlock.py)."""
import errno

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.errors import SyscallError
from kvmsentry.kernel import mlock as ml
from kvmsentry.syscalls.args import i32, u32

MLOCK_ONFAULT = 1
MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
_ADDR_LIMIT = 1 << 64


def _range(addr, length):
    """Page-aligned (start, length) as do_mlock rounds them; EINVAL on wrap."""
    off = addr & (PAGE_SIZE - 1)
    length = (length + off + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    start = addr - off
    if length >= _ADDR_LIMIT or start + length >= _ADDR_LIMIT:
        raise SyscallError(errno.EINVAL)
    return start, length


def mlock(task, addr, length):
    """Implements mlock(2)."""
    ml.can_do_mlock(task)
    start, length = _range(addr, length)
    return ml.lock_range(task, start, length, ml.VM_LOCKED)


def mlock2(task, addr, length, flags):
    """Implements mlock2(2) (MLOCK_ONFAULT)."""
    flags = u32(flags)
    if flags & ~MLOCK_ONFAULT:
        raise SyscallError(errno.EINVAL)
    ml.can_do_mlock(task)
    start, length = _range(addr, length)
    lock = ml.VM_LOCKED | (ml.VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0)
    return ml.lock_range(task, start, length, lock)


def munlock(task, addr, length):
    """Implements munlock(2)."""
    start, length = _range(addr, length)
    return ml.lock_range(task, start, length, 0)


def mlockall(task, flags):
    """Implements mlockall(2)."""
    flags = i32(flags)
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        raise SyscallError(errno.EINVAL)
    ml.lock_all(task, bool(flags & MCL_CURRENT), bool(flags & MCL_FUTURE),
                bool(flags & MCL_ONFAULT))
    return 0


def munlockall(task):
    """Implements munlockall(2)."""
    ml.unlock_all(task)
    return 0
