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
    return 0
