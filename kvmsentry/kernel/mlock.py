"""Locking memory (mlock, mlock2, munlock, mlockall, munlockall).

The sandbox's memory is never swapped, so what locking changes is what
Linux lets a program observe: the VM_LOCKED / VM_LOCKONFAULT mark on its
mappings (VmLck in /proc/[pid]/status), pages made resident at once
(mincore), RLIMIT_MEMLOCK accounting with EPERM / ENOMEM / EAGAIN for a
process without CAP_IPC_LOCK, and MCL_FUTURE applying to later mappings.
Locks are not inherited across fork or exec, as on Linux.
"""
import errno

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.errors import SyscallError

VM_LOCKED, VM_LOCKONFAULT = 1, 2
CAP_IPC_LOCK = 14
RLIMIT_MEMLOCK = 8


def locked_pages(mm):
    """mm->locked_vm: pages of locked mappings."""
    return sum((v.end - v.start) // PAGE_SIZE for v in mm.vmas if v.locked)


def _limit_pages(task):
    return task.rlimits[RLIMIT_MEMLOCK][0] // PAGE_SIZE


def _privileged(task):
    return task.creds.capable(CAP_IPC_LOCK)


def can_do_mlock(task):
    """EPERM unless RLIMIT_MEMLOCK is nonzero or CAP_IPC_LOCK."""
    if task.rlimits[RLIMIT_MEMLOCK][0] == 0 and not _privileged(task):
        raise SyscallError(errno.EPERM)


def lock_range(task, start, length, lock):
    """mlock/mlock2 (lock: VM_LOCKED, optionally | VM_LOCKONFAULT) or
    munlock (lock 0) of [start, start+length), page-aligned already."""
    mm = task.mm
    end = start + length
    if end < start:
        raise SyscallError(errno.EINVAL)
    if lock:
        can_do_mlock(task)
        if not _privileged(task):
            wanted = length // PAGE_SIZE + locked_pages(mm)
            if wanted > _limit_pages(task):
                already = sum((min(v.end, end) - max(v.start, start)) // PAGE_SIZE
                              for v in mm.vmas.overlapping(start, end) if v.locked)
                if wanted - already > _limit_pages(task):
                    raise SyscallError(errno.ENOMEM)
    if end == start:
        return 0
    covered = start
    for vma in mm.vmas.overlapping(start, end):
        if vma.start > covered:
            break
        covered = vma.end
    stop = min(covered, end)
    _mark(mm, start, stop, lock)
    if stop < end:
        raise SyscallError(errno.ENOMEM)
    if lock and not lock & VM_LOCKONFAULT:
        populate(mm, start, end)
        # Pages that cannot be faulted in stay locked, but the call fails
        # as __mm_populate's EFAULT becomes mlock's ENOMEM.
        if any(not v.prot for v in mm.vmas.overlapping(start, end)):
            raise SyscallError(errno.ENOMEM)
    return 0


def _mark(mm, start, end, lock):
    if end <= start:
        return
    if mm.vmas.splits(start, end):
        mm.check_map_count(mm.vmas.splits(start, end))
    for vma in mm.vmas.remove_range(start, end):
        vma.locked = lock
        mm.vmas.insert(vma)
    mm.vmas.merge_adjacent(start, end)


def populate(mm, start, end):
    """Make the locked pages resident now (Linux's __mm_populate)."""
    for vma in mm.vmas.overlapping(start, end):
        if vma.prot:
            mm.prefault(max(vma.start, start), min(vma.end, end))


def lock_all(task, current, future, onfault):
    mm = task.mm
    can_do_mlock(task)
    if current and not _privileged(task):
        total = sum((v.end - v.start) // PAGE_SIZE for v in mm.vmas)
        if total > _limit_pages(task):
            raise SyscallError(errno.ENOMEM)
    lock = VM_LOCKED | (VM_LOCKONFAULT if onfault else 0)
    mm.lock_future = lock if future else 0
    if current:
        vmas = list(mm.vmas)
        if vmas:
            _mark(mm, vmas[0].start, vmas[-1].end, lock)
        if not onfault:
            for vma in vmas:
                populate(mm, vma.start, vma.end)


def unlock_all(task):
    mm = task.mm
    mm.lock_future = 0
    vmas = list(mm.vmas)
    if vmas:
        _mark(mm, vmas[0].start, vmas[-1].end, 0)


def lock_new_mapping(task, start, length, lock):
    """A mapping made under MCL_FUTURE or with MAP_LOCKED: EAGAIN past
    RLIMIT_MEMLOCK (the mapping is undone), else locked like mlock."""
    mm = task.mm
    if not future_ok(task, length):
        mm.unmap(start, length)
        raise SyscallError(errno.EAGAIN)
    _mark(mm, start, start + length, lock)
    if not lock & VM_LOCKONFAULT:
        populate(mm, start, start + length)



def future_ok(task, length):
    """mlock_future_ok(): locking `length` more bytes stays within
    RLIMIT_MEMLOCK (or the task has CAP_IPC_LOCK)."""
    return _privileged(task) or \
        locked_pages(task.mm) + length // PAGE_SIZE <= _limit_pages(task)


def mark_new_heap(task, start, length, lock):
    """brk grew the heap under MCL_FUTURE (future_ok was asked first)."""
    mm = task.mm
    _mark(mm, start, start + length, lock)
    if not lock & VM_LOCKONFAULT:
        populate(mm, start, start + length)
