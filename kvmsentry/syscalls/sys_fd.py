"""File descriptors themselves: dup family, fcntl, close_range, pipes."""
import errno
import os
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl import memfd
from kvmsentry.kernel.record_locks import LOCKS_CHANGED, lock_target
from kvmsentry.kernel import fasync
from kvmsentry.kernel.creds import CAP_SYS_RESOURCE
from kvmsentry.kernel.waiter import ALL_EVENTS, Queue, block_until
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.vfs.file import O_PATH, SETFL_MASK

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
F_SETOWN_EX, F_GETOWN_EX = 15, 16
F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP = 0, 1, 2
F_OWNER_EX = struct.Struct("<ii")             # struct f_owner_ex {int type; pid_t pid;}
MAX_SIGNAL = 64
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
F_ADD_SEALS, F_GET_SEALS = 1033, 1034
FD_CLOEXEC = 1
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC = 2, 4
O_CLOEXEC = 0o2000000
O_NOTIFICATION_PIPE = 0o200         # (O_EXCL) pipe2's watch-queue pipe
RLIMIT_NOFILE = 7
FLOCK = "<hh4xqqi4x"          # struct flock on x86-64 (32 bytes)


def _limit(task):
    return task.rlimits[RLIMIT_NOFILE][0]


def dup(task, oldfd):
    """Implements dup(2)."""
    return task.fds.install(task.fds.get(i32(oldfd)), limit=_limit(task))


def dup3(task, oldfd, newfd, flags):
    """Implements dup3(2)."""
    oldfd, newfd, flags = i32(oldfd), i32(newfd), i32(flags)
    if flags & ~O_CLOEXEC or oldfd == newfd:
        raise SyscallError(errno.EINVAL)
    f = task.fds.get(oldfd)
    if newfd < 0 or newfd >= _limit(task):
        raise SyscallError(errno.EBADF)
    task.fds.install_at(newfd, f, cloexec=bool(flags & O_CLOEXEC))
    return newfd


def dup2(task, oldfd, newfd):
    """Implements dup2(2): dup2(fd, fd) checks fd and returns it."""
    if i32(oldfd) == i32(newfd):
        task.fds.get(i32(oldfd))
        return i32(newfd)
    return dup3(task, oldfd, newfd, 0)


def _record_lock(task, f, arg, cmd):
    """fcntl record locks: POSIX locks belong to the process, OFD locks to
    the open file; F_SETLKW waits without the kernel lock."""
    ltype, whence, start, length, pid = struct.unpack(FLOCK, task.mm.copy_in(arg, 32))
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    if ltype not in (F_RDLCK, F_WRLCK, F_UNLCK) or whence not in (0, 1, 2) or (ofd and pid):
        raise SyscallError(errno.EINVAL)
    target = lock_target(f)
    size = f.inode.getattr().size if f.inode is not None else 0
    base = 0 if whence == 0 else getattr(f, "offset", 0) if whence == 1 else size
    lo = base + start
    if length < 0:
        lo, hi = lo + length, lo
    else:
        hi = lo + length if length else None
    if lo < 0:
        raise SyscallError(errno.EINVAL)
    owner = ("ofd", id(f)) if ofd else task.tgid
    locks = task.kernel.record_locks
    if ofd:
        f.ofd_locks = locks           # released at the file's last close (fd_table)
    if cmd in (F_GETLK, F_OFD_GETLK):
        if ltype == F_UNLCK:
            raise SyscallError(errno.EINVAL)
        held = locks.conflict(target, owner, ltype, lo, hi)
        if held is None:
            reply = struct.pack(FLOCK, F_UNLCK, whence, start, length, pid)
        else:
            _, t, s, e, p = held
            reply = struct.pack(FLOCK, t, 0, s, 0 if e is None else e - s, p)
        task.mm.copy_out(arg, reply)
        return 0
    if ltype == F_RDLCK and not f.readable() or ltype == F_WRLCK and not f.writable():
        raise SyscallError(errno.EBADF)
    if ltype != F_UNLCK and locks.conflict(target, owner, ltype, lo, hi):
        if cmd not in (F_SETLKW, F_OFD_SETLKW):
            raise SyscallError(errno.EAGAIN)
        _wait_for_unlock(task, lambda: not locks.conflict(target, owner, ltype, lo, hi))
    locks.set(target, owner, ltype, lo, hi, -1 if ofd else task.tgid)
    return 0


def fcntl(task, fd, cmd, arg):
    """Implements fcntl(2)."""
    # As i32 reads them, by comparisons when small (a server's F_GETFL and
    # F_SETFL per connection; i32's `&`s are multi-digit operations).
    if fd > 0x7FFFFFFF:
        fd = i32(fd)
    if cmd > 0x7FFFFFFF:
        cmd = i32(cmd)
    fds = task.fds
    f = fds.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        low = i32(arg)
        if low < 0 or low >= _limit(task):
            raise SyscallError(errno.EINVAL)
        return fds.install(f, cloexec=cmd == F_DUPFD_CLOEXEC, lowest=low, limit=_limit(task))
    if cmd == F_GETFD:
        return FD_CLOEXEC if fds.cloexec(fd) else 0
    if cmd == F_SETFD:
        fds.set_cloexec(fd, bool(arg & FD_CLOEXEC))
        return 0
    if cmd == F_GETFL:
        return f.flags
    if cmd == F_SETFL:
        if f.flags & O_PATH:
            raise SyscallError(errno.EBADF)
        old = f.flags
        f.flags = (f.flags & ~SETFL_MASK) | (arg & SETFL_MASK)     # (the mask's bits are u32's)
        arm = getattr(f, "fasync", None)
        if (old ^ f.flags) & os.O_ASYNC:
            if arm is not None:
                arm(task, fd, bool(f.flags & os.O_ASYNC))
            elif hasattr(f, "family") and isinstance(getattr(f, "queue", None), Queue):
                fasync.arm_queue(f, fd, task.kernel, bool(f.flags & os.O_ASYNC))
        return 0
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    if cmd in (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW):
        return _record_lock(task, f, arg, cmd)
    if cmd == F_GETPIPE_SZ or cmd == F_SETPIPE_SZ:
        if not hasattr(f, "pipe"):
            raise SyscallError(errno.EBADF)
        if cmd == F_GETPIPE_SZ:
            return f.pipe.get_size()
        return f.pipe.set_size(u32(arg), task.creds.capable(CAP_SYS_RESOURCE))
    if cmd in (F_SETOWN, F_GETOWN, F_SETOWN_EX, F_GETOWN_EX, F_SETSIG, F_GETSIG):
        return _owner_command(task, f, cmd, arg)
    if cmd == F_ADD_SEALS:
        return memfd.add_seals(f, u32(arg))
    if cmd == F_GET_SEALS:
        if f.inode is None:
            raise SyscallError(errno.EINVAL)
        return memfd.seals_of(f.inode)
    raise SyscallError(errno.EINVAL)


def _owner_exists(task, kind, who):
    """Whether `who` names a live thread, process or process group (find_vpid)."""
    tree = task.kernel.tree
    if kind == F_OWNER_TID:
        return who in task.kernel.tasks
    if kind == F_OWNER_PID:
        return tree.lookup(who) is not None
    return bool(tree.members_of_pgrp(who))


def _owner_command(task, f, cmd, arg):
    """F_{SET,GET}OWN[_EX] and F_{SET,GET}SIG: who gets SIGIO for the open
    file, and which signal. Recorded per open file description; no
    signal is sent until O_ASYNC arms the file (kernel/fasync.py)."""
    kind, who = getattr(f, "owner", None) or (F_OWNER_TID, 0)
    if cmd == F_GETOWN:
        return -who if kind == F_OWNER_PGRP else who
    if cmd == F_GETOWN_EX:
        task.mm.copy_out(arg, F_OWNER_EX.pack(kind, who))
        return 0
    if cmd == F_GETSIG:
        return getattr(f, "owner_signal", 0)
    if cmd == F_SETSIG:
        if not 0 <= i32(arg) <= MAX_SIGNAL:
            raise SyscallError(errno.EINVAL)
        f.owner_signal = i32(arg)
        return 0
    if cmd == F_SETOWN:
        who = i32(arg)
        if who == -2**31:
            raise SyscallError(errno.EINVAL)      # -who would overflow
        kind = F_OWNER_PGRP if who < 0 else F_OWNER_PID
        who = abs(who)
    else:
        kind, who = F_OWNER_EX.unpack(task.mm.copy_in(arg, F_OWNER_EX.size))
        if kind not in (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP):
            raise SyscallError(errno.EINVAL)
    if who and (who < 0 or not _owner_exists(task, kind, who)):
        raise SyscallError(errno.ESRCH)
    f.owner = (kind, who)
    return 0


def close_range(task, first, last, flags):
    """Implements close_range(2)."""
    first, last, flags = u32(first), u32(last), u32(flags)
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        raise SyscallError(errno.EINVAL)
    for fd in task.fds.fds():
        if first <= fd <= last:
            if flags & CLOSE_RANGE_CLOEXEC:
                task.fds.set_cloexec(fd, True)
            else:
                task.fds.close(fd)
    return 0


def pipe2(task, pipefd, flags):
    """Implements pipe2(2)."""
    from kvmsentry.kernel.pipe import make_pipe
    flags = i32(flags)
    if flags & ~(O_CLOEXEC | os.O_NONBLOCK | os.O_DIRECT | O_NOTIFICATION_PIPE):
        raise SyscallError(errno.EINVAL)
    if flags & O_NOTIFICATION_PIPE:
        # No watch queues here: Linux built without CONFIG_WATCH_QUEUE.
        raise SyscallError(errno.ENOPKG)
    task.mm.check_access(pipefd, 8, write=True)
    r, w = make_pipe(flags)
    cloexec = bool(flags & O_CLOEXEC)
    rfd = task.fds.install(r, cloexec=cloexec, limit=_limit(task))
    try:
        wfd = task.fds.install(w, cloexec=cloexec, limit=_limit(task))
    except SyscallError:
        task.fds.close(rfd)
        raise
    task.mm.copy_out(pipefd, struct.pack("<ii", rfd, wfd))
    return 0


def pipe(task, pipefd):
    """Implements pipe(2)."""
    return pipe2(task, pipefd, 0)


LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8


def _wait_for_unlock(task, free):
    """A blocked lock request waits, without the kernel lock, until free()
    (a lock went away somewhere and it is free now); EINTR on a signal."""
    block_until(task, free, [(LOCKS_CHANGED, ALL_EVENTS)])


def flock(task, fd, operation):
    """Implements flock(2): whole-file locks owned by open files, shared
    or exclusive; a blocking request waits without the kernel lock."""
    f = task.fds.get(i32(fd))
    op = i32(operation)
    kind = op & ~LOCK_NB
    if kind not in (LOCK_SH, LOCK_EX, LOCK_UN) or f.flags & O_PATH:
        raise SyscallError(errno.EINVAL if kind not in (LOCK_SH, LOCK_EX, LOCK_UN)
                           else errno.EBADF)
    # The lock is the inode's: both ends of a pipe share the pipe's.
    key = f.inode if f.inode is not None else getattr(f, "pipe", f)
    table = task.kernel.flocks
    holders = table.setdefault(key, {})
    if kind == LOCK_UN:
        holders.pop(f, None)
        LOCKS_CHANGED.notify(ALL_EVENTS)
        return 0

    def take():
        # Open files whose last fd was closed no longer hold anything.
        for other in [o for o in holders if getattr(o, "fd_refs", 1) <= 0]:
            del holders[other]
        others = {o: k for o, k in holders.items() if o is not f}
        if not others or kind == LOCK_SH and LOCK_EX not in others.values():
            holders[f] = kind
            return True
        return False

    if not take():
        if op & LOCK_NB:
            raise SyscallError(errno.EWOULDBLOCK)
        _wait_for_unlock(task, take)
    return 0
