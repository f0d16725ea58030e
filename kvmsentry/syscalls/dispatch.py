"""The one place a syscall's outcome becomes the value in rax.

Handlers return a non-negative int or raise SyscallError(errno); this
module turns the error into -errno, counts calls the table does not
implement, and feeds --strace.
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.table import TABLE


def dispatch(task):
    """Run the syscall in the task's registers; return the value for rax."""
    regs = task.ctx.regs
    nr = regs.rax
    entry = TABLE[nr] if nr < len(TABLE) else None
    strace = task.kernel.strace
    if entry is None or entry.handler is None:
        task.kernel.note_unimplemented(nr, entry)
        if strace is not None:
            strace.unimplemented(task, nr, entry, regs)
        return -errno.ENOSYS
    args = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)[:entry.nargs]
    if strace is not None:
        strace.enter(task, entry, args)
    try:
        result = entry.handler(task, *args)
    except SyscallError as e:
        result = -e.errno
    if strace is not None:
        strace.leave(task, entry, args, result)
    return result
