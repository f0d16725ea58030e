"""futex(2)."""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, u32

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 2, 3, 4
FUTEX_WAKE_OP, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 5, 9, 10
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_LOCK_PI2 = 6, 7, 8, 13
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
NSEC = 1_000_000_000


def futex_key(task, addr, private):
    """What identifies a futex: for a shared futex in a shared mapping,
    the file page and offset (so processes mapping it meet); otherwise
    the address space and address."""
    if not private:
        vma = task.mm.vmas.find(addr)
        if vma is not None and vma.cache is not None and vma.shared:
            return ("shared", id(vma.cache.inode), vma.offset + (addr - vma.start))
        # Linux keys a shared futex in private memory apart from a private
        # one at the same address: a wake of the other kind finds nobody.
        return ("mm", id(task.mm), addr)
    return (id(task.mm), addr)


def _word(task, addr):
    if addr & 3:
        raise SyscallError(errno.EINVAL)
    return struct.unpack("<I", task.mm.copy_in(addr, 4))[0]


def _deadline(task, timeout, absolute, realtime):
    if not timeout:
        return None
    sec, nsec = struct.unpack("<qq", task.mm.copy_in(timeout, 16))
    if sec < 0 or not 0 <= nsec < NSEC:
        raise SyscallError(errno.EINVAL)
    ns = sec * NSEC + nsec
    now_mono = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    if not absolute:
        return now_mono + ns
    if realtime:
        return now_mono + (ns - time.clock_gettime_ns(time.CLOCK_REALTIME))
    return ns


def _at_least_one(count):
    """A wake count as Linux's wake loops treat it: they stop after the
    waiter that reached it, so 0 or a negative count still wakes one."""
    count = i32(count)
    return count if count > 0 else 1


def _wake_op(task, addr2, encoded):
    """Apply FUTEX_WAKE_OP's operation to *addr2; return the comparison."""
    op, cmp = (encoded >> 28) & 7, (encoded >> 24) & 15
    oparg, cmparg = (encoded >> 12) & 0xFFF, encoded & 0xFFF
    if op & 8:
        oparg = 1 << (oparg & 31)
    old = _word(task, addr2)
    new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}.get(op & 7)
    if new is None:
        raise SyscallError(errno.ENOSYS)
    task.mm.copy_out(addr2, struct.pack("<I", new & 0xFFFFFFFF))
    results = {0: old == cmparg, 1: old != cmparg, 2: old < cmparg,
               3: old <= cmparg, 4: old > cmparg, 5: old >= cmparg}
    if cmp not in results:
        raise SyscallError(errno.ENOSYS)
    return results[cmp]


def futex(task, uaddr, op, val, timeout, uaddr2, val3):
    """Implements futex(2): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP,
    WAIT_BITSET, WAKE_BITSET, and the PI operations LOCK_PI, LOCK_PI2,
    TRYLOCK_PI, UNLOCK_PI (kernel/futex_pi.py; no WAIT_REQUEUE_PI)."""
    # op and val as their 32 bits, inline (a frame each on every lock's
    # wake): an op with the top bit set matches no command, signed or not.
    op &= 0xFFFFFFFF
    cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    table = task.kernel.futexes
    private = bool(op & FUTEX_PRIVATE_FLAG)
    key = futex_key(task, uaddr, private)
    val &= 0xFFFFFFFF
    if op & FUTEX_CLOCK_REALTIME and cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI2):
        raise SyscallError(errno.ENOSYS)
    if cmd in (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI):
        # LOCK_PI's timeout is absolute CLOCK_REALTIME; LOCK_PI2's is
        # CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME says otherwise.
        deadline = None if cmd == FUTEX_TRYLOCK_PI else _deadline(
            task, timeout, True, cmd == FUTEX_LOCK_PI or bool(op & FUTEX_CLOCK_REALTIME))
        return table.pi.lock(task, key, uaddr, deadline, trylock=cmd == FUTEX_TRYLOCK_PI)
    if cmd == FUTEX_UNLOCK_PI:
        return table.pi.unlock(task, key, uaddr)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = u32(val3) if cmd == FUTEX_WAIT_BITSET else 0xFFFFFFFF
        if bitset == 0:
            raise SyscallError(errno.EINVAL)
        deadline = _deadline(task, timeout, cmd == FUTEX_WAIT_BITSET,
                             bool(op & FUTEX_CLOCK_REALTIME))
        _word(task, uaddr)
        return table.wait(key, lambda: _word(task, uaddr), val, deadline, bitset)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = u32(val3) if cmd == FUTEX_WAKE_BITSET else 0xFFFFFFFF
        if bitset == 0:
            raise SyscallError(errno.EINVAL)
        if uaddr & 3:
            raise SyscallError(errno.EINVAL)
        return table.wake(key, _at_least_one(val), bitset)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        nr_requeue = i32(timeout)            # val2 travels in the timeout slot
        if i32(val) < 0 or nr_requeue < 0:
            raise SyscallError(errno.EINVAL)
        if cmd == FUTEX_CMP_REQUEUE and _word(task, uaddr) != u32(val3):
            raise SyscallError(errno.EAGAIN)
        return table.requeue(key, futex_key(task, uaddr2, private), val, nr_requeue)
    if cmd == FUTEX_WAKE_OP:
        woken = table.wake(key, _at_least_one(val))
        if _wake_op(task, uaddr2, u32(val3)):
            woken += table.wake(futex_key(task, uaddr2, private), _at_least_one(timeout))
        return woken
    raise SyscallError(errno.ENOSYS)


FUTEX_WAITV_MAX = 128
FUTEX2_SIZE_U32, FUTEX2_SIZE_MASK, FUTEX2_NUMA, FUTEX2_PRIVATE = 2, 3, 4, 128
CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1


def futex_waitv(task, waiters, nr_futexes, flags, timeout, clockid):
    """Implements futex_waitv(2): waits on up to 128 32-bit futexes at once
    and returns the index of one that was woken (FUTEX2_NUMA: EINVAL)."""
    nr = u32(nr_futexes)
    if u32(flags):
        raise SyscallError(errno.EINVAL)
    if not nr or nr > FUTEX_WAITV_MAX or not waiters:
        raise SyscallError(errno.EINVAL)
    deadline = None
    if timeout:
        clockid = i32(clockid)
        if clockid not in (CLOCK_REALTIME, CLOCK_MONOTONIC):
            raise SyscallError(errno.EINVAL)
        deadline = _deadline(task, timeout, True, clockid == CLOCK_REALTIME)
    raw = task.mm.copy_in(waiters, 24 * nr)
    keys, addrs, expected = [], [], []
    for i in range(nr):
        val, uaddr, wflags, reserved = struct.unpack_from("<QQII", raw, 24 * i)
        if wflags & ~(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) or reserved:
            raise SyscallError(errno.EINVAL)
        if wflags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 or val >> 32 or uaddr & 3:
            raise SyscallError(errno.EINVAL)
        keys.append(futex_key(task, uaddr, bool(wflags & FUTEX2_PRIVATE)))
        addrs.append(uaddr)
        expected.append(val)
    return task.kernel.futexes.wait_any(
        keys, lambda: [_word(task, a) for a in addrs], expected, deadline)
