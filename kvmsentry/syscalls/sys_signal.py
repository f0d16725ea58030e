"""Signal dispositions and masks (recorded; delivery comes with processes)."""
import errno
import signal
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
NSIG = 64
SIGSET_SIZE = 8
UNBLOCKABLE = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))
SIGACTION_SIZE = 32          # handler, flags, restorer, mask
SA_KNOWN = 0x04000000 | 0x08000000 | 0x10000000 | 0x40000000 | 0x80000000 \
    | 0x1 | 0x2 | 0x4 | 0x400


def rt_sigaction(task, sig, act, oact, sigsetsize):
    """Implements rt_sigaction(2)."""
    sig = i32(sig)
    if sigsetsize != SIGSET_SIZE or not 1 <= sig <= NSIG:
        raise SyscallError(errno.EINVAL)
    if act and sig in (signal.SIGKILL, signal.SIGSTOP):
        raise SyscallError(errno.EINVAL)
    new = task.mm.copy_in(act, SIGACTION_SIZE) if act else None
    if oact:
        task.mm.copy_out(oact, task.sigactions.get(sig, bytes(SIGACTION_SIZE)))
    if new is not None:
        handler, flags, restorer, mask = struct.unpack("<QQQQ", new)
        task.sigactions[sig] = struct.pack("<QQQQ", handler, flags & 0xFFFFFFFF,
                                           restorer, mask & ~UNBLOCKABLE)
    return 0


def rt_sigprocmask(task, how, nset, oset, sigsetsize):
    """Implements rt_sigprocmask(2)."""
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    how = i32(how)
    new = None
    if nset:
        if how not in (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK):
            raise SyscallError(errno.EINVAL)
        (new,) = struct.unpack("<Q", task.mm.copy_in(nset, 8))
    if oset:
        task.mm.copy_out(oset, struct.pack("<Q", task.sigmask))
    if new is not None:
        if how == SIG_BLOCK:
            task.sigmask |= new
        elif how == SIG_UNBLOCK:
            task.sigmask &= ~new
        else:
            task.sigmask = new
        task.sigmask &= ~UNBLOCKABLE & ((1 << 64) - 1)
        deliverable = task.sigpending & ~task.sigmask
        for sig in range(1, NSIG + 1):
            if deliverable & (1 << (sig - 1)):
                task.sigpending &= ~(1 << (sig - 1))
                deliver_to_self(task, sig)
    return 0


# --- sending signals ---------------------------------------------------------
# Until tasks can run signal handlers, a signal a process sends itself takes
# its default action when that is to end the process (what abort() and a
# write to a broken pipe rely on), waits while blocked, and is otherwise
# discarded.

SIG_DFL, SIG_IGN = 0, 1
_IGNORED_BY_DEFAULT = {signal.SIGCHLD, signal.SIGURG, signal.SIGWINCH, signal.SIGCONT}
_STOPPING = {signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}


def fatal_by_default(task, sig):
    """Whether sig, sent to task now, would end its process (default
    action terminate or core, not blocked, not ignored)."""
    if sig in (signal.SIGKILL,):
        return True
    handler = struct.unpack_from("<Q", task.sigactions.get(sig, bytes(8)))[0]
    if handler != SIG_DFL or task.sigmask & (1 << (sig - 1)):
        return False
    return sig not in _IGNORED_BY_DEFAULT and sig not in _STOPPING


def deliver_to_self(task, sig):
    """Apply sig's disposition for the calling process."""
    if sig == 0:
        return
    blocked = task.sigmask & (1 << (sig - 1))
    handler = struct.unpack_from("<Q", task.sigactions.get(sig, bytes(8)))[0]
    if blocked and handler != SIG_IGN and sig not in (signal.SIGKILL, signal.SIGSTOP):
        task.sigpending |= 1 << (sig - 1)       # acted on when unblocked
        return
    if sig in (signal.SIGKILL, signal.SIGSTOP) or handler == SIG_DFL:
        if sig in _IGNORED_BY_DEFAULT or sig in _STOPPING:
            return
        from kvmsentry.kernel.exit import ExitGroup
        raise ExitGroup(sig)


def _check_sig(sig):
    sig = i32(sig)
    if not 0 <= sig <= NSIG:
        raise SyscallError(errno.EINVAL)
    return sig


def kill(task, pid, sig):
    """Implements kill(2) within the sandbox (one process so far)."""
    pid, sig = i32(pid), _check_sig(sig)
    if pid in (task.tgid, 0, -1) or pid == -task.tgid:
        deliver_to_self(task, sig)
        return 0
    raise SyscallError(errno.ESRCH)


def tgkill(task, tgid, tid, sig):
    """Implements tgkill(2)."""
    tgid, tid, sig = i32(tgid), i32(tid), _check_sig(sig)
    if tgid <= 0 or tid <= 0:
        raise SyscallError(errno.EINVAL)
    if (tgid, tid) != (task.tgid, task.tid):
        raise SyscallError(errno.ESRCH)
    deliver_to_self(task, sig)
    return 0


def tkill(task, tid, sig):
    """Implements tkill(2)."""
    tid, sig = i32(tid), _check_sig(sig)
    if tid <= 0:
        raise SyscallError(errno.EINVAL)
    if tid != task.tid:
        raise SyscallError(errno.ESRCH)
    deliver_to_self(task, sig)
    return 0
