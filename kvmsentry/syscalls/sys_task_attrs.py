"""Small per-task attributes and questions about other tasks:
personality, I/O priority, the robust-futex list head, kcmp,
restart_syscall, and process_vm_readv/writev."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_SYS_NICE
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.syscalls.sys_read_write import UIO_MAXIOV, read_iovec

PER_QUERY = 0xFFFFFFFF

IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER = 1, 2, 3
IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 0, 1, 2, 3
IOPRIO_CLASS_SHIFT, IOPRIO_NR_LEVELS = 13, 8
IOPRIO_HINT_MASK = 0x3FF << 3
IOPRIO_HINT_MAX = 7

ROBUST_LIST_HEAD_SIZE = 24

KCMP_FILE, KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM = range(7)
KCMP_EPOLL_TFD = 7


def _task(task, pid):
    """The task with this tid (0: the caller), or ESRCH."""
    pid = i32(pid)
    if pid == 0:
        return task
    target = task.kernel.tasks.get(pid)
    if target is None or pid < 0:
        raise SyscallError(errno.ESRCH)
    return target


def may_access(task, target):
    """Linux's ptrace_may_access() for the sandbox: the same process, or
    all of the target's uids and gids equal to the caller's real ones,
    or a caller with CAP_SYS_PTRACE (19)."""
    if target.group is task.group:
        return True
    me, them = task.creds, target.creds
    if me.uid == them.euid == them.suid == them.uid and \
            me.gid == them.egid == them.sgid == them.gid:
        return True
    return me.capable(19)


# --- personality -----------------------------------------------------------------------
def personality(task, persona):
    """Implements personality(2): the value is recorded, inherited by
    children and kept across execve (minus READ_IMPLIES_EXEC, as a 64-bit
    ELF clears it); 0xffffffff only asks."""
    old = task.personality
    persona = u32(persona)
    if persona != PER_QUERY:
        task.personality = persona
    return old


# --- I/O priority ------------------------------------------------------------------------
def _check_ioprio(task, ioprio):
    """Linux's ioprio_check_cap()."""
    cls = (ioprio >> IOPRIO_CLASS_SHIFT) & 7
    level = ioprio & 7
    hint = (ioprio & IOPRIO_HINT_MASK) >> 3
    if ioprio >> 16 or hint > IOPRIO_HINT_MAX:
        raise SyscallError(errno.EINVAL)
    if cls == IOPRIO_CLASS_RT:
        # CAP_SYS_NICE of the initial namespace (or RLIMIT_RTPRIO, 6.x).
        if task.rlimits.get(14, (0, 0))[0] < 1:
            raise SyscallError(errno.EPERM)
    elif cls == IOPRIO_CLASS_BE:
        if level >= IOPRIO_NR_LEVELS:
            raise SyscallError(errno.EINVAL)
    elif cls == IOPRIO_CLASS_IDLE:
        pass
    elif cls == IOPRIO_CLASS_NONE:
        if level:
            raise SyscallError(errno.EINVAL)
    else:
        raise SyscallError(errno.EINVAL)


def _targets(task, which, who):
    which, who = i32(which), i32(who)
    kernel = task.kernel
    if which == IOPRIO_WHO_PROCESS:
        return [_task(task, who)]
    if which == IOPRIO_WHO_PGRP:
        pgid = who or task.group.pgid
        found = [t for t in kernel.tasks.values() if t.group.pgid == pgid]
    elif which == IOPRIO_WHO_USER:
        uid = task.creds.uid if who == 0 else who
        found = [t for t in kernel.tasks.values() if t.creds.uid == uid]
    else:
        raise SyscallError(errno.EINVAL)
    if not found:
        raise SyscallError(errno.ESRCH)
    return found


def ioprio_set(task, which, who, ioprio):
    """Implements ioprio_set(2): recorded per task, inherited by children;
    the sandbox's I/O is not scheduled by it."""
    ioprio = i32(ioprio)
    _check_ioprio(task, ioprio)
    for target in _targets(task, which, who):
        me, them = task.creds, target.creds
        if them.uid != me.euid and them.uid != me.uid and not me.capable(CAP_SYS_NICE):
            raise SyscallError(errno.EPERM)
        target.ioprio = ioprio
    return 0


def _rank(ioprio):
    """Lower is the higher priority (Linux's ioprio_best order)."""
    cls = (ioprio >> IOPRIO_CLASS_SHIFT) & 7
    return ({IOPRIO_CLASS_RT: 0, IOPRIO_CLASS_BE: 1, IOPRIO_CLASS_NONE: 1,
             IOPRIO_CLASS_IDLE: 2}.get(cls, 3), ioprio & 7)


def ioprio_get(task, which, who):
    """Implements ioprio_get(2): a task never given one reports 0
    (IOPRIO_CLASS_NONE); for a group or user, the best of theirs."""
    found = _targets(task, which, who)
    return min((t.ioprio for t in found), key=_rank)


# --- robust futex list, restart ------------------------------------------------------------
def get_robust_list(task, pid, head_ptr, len_ptr):
    """Implements get_robust_list(2)."""
    target = _task(task, pid)
    if not may_access(task, target):
        raise SyscallError(errno.EPERM)
    task.mm.copy_out(len_ptr, struct.pack("<Q", ROBUST_LIST_HEAD_SIZE))
    task.mm.copy_out(head_ptr, struct.pack("<Q", target.robust_list))
    return 0


def restart_syscall(task):
    """Implements restart_syscall(2). The sentry restarts interrupted
    calls by re-running them (signal_delivery), never through a restart
    block, so a direct call finds none and fails with EINTR as Linux's
    do_no_restart_syscall does."""
    raise SyscallError(errno.EINTR)


# --- kcmp ----------------------------------------------------------------------------------
def _order(a, b):
    """kcmp's answer for two kernel objects: 0 equal, else 1 or 2 by an
    arbitrary but stable order."""
    if a is b:
        return 0
    return 1 if id(a) < id(b) else 2


def _kcmp_file(target, fd):
    try:
        return target.fds.get(fd)
    except SyscallError:
        raise SyscallError(errno.EBADF) from None


def kcmp(task, pid1, pid2, kind, idx1, idx2):
    """Implements kcmp(2) for files, address spaces, fd tables, fs
    contexts and signal handlers; IO and SYSVSEM compare per task and per
    process (CLONE_IO and semaphore undo lists are not shared here);
    KCMP_EPOLL_TFD is EINVAL."""
    t1, t2 = _task(task, pid1), _task(task, pid2)
    if not may_access(task, t1) or not may_access(task, t2):
        raise SyscallError(errno.EPERM)
    kind = i32(kind)
    if kind == KCMP_FILE:
        return _order(_kcmp_file(t1, i32(idx1)), _kcmp_file(t2, i32(idx2)))
    pairs = {KCMP_VM: lambda t: t.mm, KCMP_FILES: lambda t: t.fds, KCMP_FS: lambda t: t.fs,
             KCMP_SIGHAND: lambda t: t.sighand, KCMP_IO: lambda t: t,
             KCMP_SYSVSEM: lambda t: t.group}
    if kind not in pairs:
        raise SyscallError(errno.EINVAL)
    get = pairs[kind]
    return _order(get(t1), get(t2))


# --- another process's memory ----------------------------------------------------------------
def _remote_iovec(task, iov, count):
    """The remote side's iovecs: read, not checked against our memory."""
    count = u32(count)
    if count > UIO_MAXIOV:
        raise SyscallError(errno.EINVAL)
    raw = task.mm.copy_in(iov, 16 * count)
    out = []
    for i in range(count):
        base, length = struct.unpack_from("<QQ", raw, 16 * i)
        if length >= 1 << 63:
            raise SyscallError(errno.EINVAL)
        out.append((base, length))
    return out


def _process_vm(task, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, write):
    if flags:
        raise SyscallError(errno.EINVAL)
    if u32(liovcnt) > UIO_MAXIOV or u32(riovcnt) > UIO_MAXIOV:
        raise SyscallError(errno.EINVAL)
    local = read_iovec(task.mm, local_iov, liovcnt)
    remote = _remote_iovec(task, remote_iov, riovcnt)
    if not sum(n for _, n in local):
        return 0
    pid = i32(pid)
    target = task.kernel.tasks.get(pid) if pid > 0 else None
    if target is None:
        raise SyscallError(errno.ESRCH)
    if not may_access(task, target):
        raise SyscallError(errno.EPERM)
    src_mm, dst_mm = (task.mm, target.mm) if write else (target.mm, task.mm)
    src_spans, dst_spans = (local, remote) if write else (remote, local)
    moved, err = _transfer(src_mm, src_spans, dst_mm, dst_spans)
    if moved == 0 and err:
        raise SyscallError(err)
    return moved


def _transfer(src_mm, src, dst_mm, dst):
    """Copy the bytes of the src spans into the dst spans, in order, up to
    the shorter total; stop at the first inaccessible byte on either
    side. Returns (bytes moved, errno that stopped it or 0)."""
    moved = 0
    di, doff = 0, 0
    for addr, length in src:
        done = 0
        while done < length:
            while di < len(dst) and doff >= dst[di][1]:
                di, doff = di + 1, 0
            if di == len(dst):
                return moved, 0
            daddr, dlen = dst[di]
            n = min(length - done, dlen - doff, 1 << 20)
            try:
                n = src_mm.accessible(addr + done, n, write=False)
                n = dst_mm.accessible(daddr + doff, n, write=True)
            except SyscallError:
                return moved, errno.EFAULT
            dst_mm.copy_out(daddr + doff, src_mm.copy_in(addr + done, n))
            moved += n
            done += n
            doff += n
    return moved, 0


def process_vm_readv(task, pid, local_iov, liovcnt, remote_iov, riovcnt, flags):
    """Implements process_vm_readv(2)."""
    return _process_vm(task, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, False)


def process_vm_writev(task, pid, local_iov, liovcnt, remote_iov, riovcnt, flags):
    """Implements process_vm_writev(2)."""
    return _process_vm(task, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, True)


# --- through a pidfd ---------------------------------------------------------------------------
def _pidfd_task(task, pidfd):
    """The live process a pidfd names (EBADF for another file, ESRCH once
    it has exited: its memory is gone)."""
    from kvmsentry.fsimpl.pidfd import PidFd
    f = task.fds.get(i32(pidfd))
    if not isinstance(f, PidFd):
        raise SyscallError(errno.EBADF)
    target = next((t for t in task.kernel.tasks.values() if t.group is f.group), None)
    if target is None or f.exited():
        raise SyscallError(errno.ESRCH)
    return target


MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT, MADV_COLLAPSE = 3, 20, 21, 25


def process_madvise(task, pidfd, iov, vlen, advice, flags):
    """Implements process_madvise(2): on the caller's own memory any
    madvise advice, range by range; on another process's only the
    non-destructive hints, which need CAP_SYS_NICE of the initial
    namespace (EPERM). Returns the bytes advised."""
    from kvmsentry.syscalls.sys_mmap import madvise
    if u32(flags):
        raise SyscallError(errno.EINVAL)
    vecs = read_iovec(task.mm, iov, vlen)
    target = _pidfd_task(task, pidfd)
    if not may_access(task, target):
        raise SyscallError(errno.EPERM)
    if target.mm is not task.mm:
        if i32(advice) not in (MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT, MADV_COLLAPSE):
            raise SyscallError(errno.EINVAL)
        raise SyscallError(errno.EPERM)
    total = 0
    for addr, length in vecs:
        try:
            madvise(task, addr, length, advice)
        except SyscallError:
            if total:
                break
            raise
        total += length
    return total


def process_mrelease(task, pidfd, flags):
    """Implements process_mrelease(2): a process that is not dying keeps
    its memory (EINVAL); one that has exited is gone (ESRCH)."""
    from kvmsentry.fsimpl.pidfd import PidFd
    if u32(flags):
        raise SyscallError(errno.EINVAL)
    f = task.fds.get(i32(pidfd))
    if not isinstance(f, PidFd):
        raise SyscallError(errno.EBADF)
    if f.exited():
        raise SyscallError(errno.ESRCH)
    if any(t.group is f.group and t.kill_status is not None for t in task.kernel.tasks.values()):
        return 0                                   # being killed: its memory goes now
    raise SyscallError(errno.EINVAL)
