"""The one place a syscall's outcome becomes the value in rax.

Handlers return a non-negative int or raise SyscallError(errno); this
module turns the error into -errno, counts calls the table does not
implement, and feeds --strace.

The hot path calls each handler with exactly the registers it takes: it
builds no argument tuples.
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.signal_delivery import send
from kvmsentry.kernel.signals import SigInfo
from kvmsentry.syscalls.family import Handler
from kvmsentry.syscalls.table import TABLE

SIGPIPE = 13

_REGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")


def _invoker(handler, nargs):
    # One small closure per arity, so the call reads registers directly.
    if nargs == 0:
        return lambda task, r: handler(task)
    if nargs == 1:
        return lambda task, r: handler(task, r.rdi)
    if nargs == 2:
        return lambda task, r: handler(task, r.rdi, r.rsi)
    if nargs == 3:
        return lambda task, r: handler(task, r.rdi, r.rsi, r.rdx)
    if nargs == 4:
        return lambda task, r: handler(task, r.rdi, r.rsi, r.rdx, r.r10)
    if nargs == 5:
        return lambda task, r: handler(task, r.rdi, r.rsi, r.rdx, r.r10, r.r8)
    return lambda task, r: handler(task, r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9)


def _load(nr):
    """The handler of nr, put in _HANDLERS: at a syscall's first call its
    family is imported (the table's Handler, syscalls/family.py). None:
    the table has none."""
    entry = TABLE[nr] if nr < _NR_LIMIT else None
    handler = entry.handler if entry is not None else None
    if isinstance(handler, Handler):
        handler = handler.resolve()
    if handler is not None:
        _HANDLERS[nr] = handler
    return handler


# The hot path calls handlers itself (a frame less than an invoker); each
# is found at its first call (_load), not ~320 made at every start.
_HANDLERS = [None] * len(TABLE)
_NARGS = [0 if e is None else len(e[3]) for e in TABLE]      # (e.nargs)
_NR_LIMIT = len(_HANDLERS)


def seccomp_check(task, nr, regs):
    """sys_seccomp.check, imported (with the filter's interpreter) when a
    task first has a filter: most sandboxes never install one."""
    global seccomp_check
    from kvmsentry.syscalls.sys_seccomp import check
    seccomp_check = check
    return check(task, nr, regs)


def dispatch(task, traced=False):
    """Run the syscall in the task's registers; return the value for rax
    (None: the registers are set already). `traced`: called back by
    ptrace's traced_dispatch, between the tracer's stops."""
    if task.ptrace is not None and not traced:
        from kvmsentry.kernel.ptrace_syscall import traced_dispatch   # (with the first tracee)
        return traced_dispatch(task, _dispatch_traced)
    regs = task.ctx.regs
    nr = regs.rax
    if task.seccomp is not None:
        verdict = seccomp_check(task, nr, regs)
        if verdict is not None:
            return verdict
    handler = _HANDLERS[nr] if nr < _NR_LIMIT else None
    if handler is None:
        handler = _load(nr)
        if handler is None:
            return _unimplemented(task, nr, regs)
    if task.strace is not None:
        return _traced(task, nr, regs, _invoker(handler, _NARGS[nr]))
    nargs = _NARGS[nr]
    try:
        # _invoker's cases, inline.
        if nargs < 3:
            if nargs == 0:
                return handler(task)
            if nargs == 1:
                return handler(task, regs.rdi)
            return handler(task, regs.rdi, regs.rsi)
        if nargs == 3:
            return handler(task, regs.rdi, regs.rsi, regs.rdx)
        if nargs == 4:
            return handler(task, regs.rdi, regs.rsi, regs.rdx, regs.r10)
        if nargs == 5:
            return handler(task, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8)
        return handler(task, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
    except SyscallError as e:
        return _failed(task, e.errno, e)


def _dispatch_traced(task):
    return dispatch(task, True)


def _failed(task, err, error=None):
    """-errno for the guest; EPIPE also raises SIGPIPE, as Linux's
    pipe and socket writes do (not a send with MSG_NOSIGNAL)."""
    if err == errno.EPIPE and not getattr(error, "no_sigpipe", False):
        send(task.kernel, task, SigInfo.kernel(SIGPIPE), thread=True)
    return -err


def syscall_name(nr):
    entry = TABLE[nr] if 0 <= nr < _NR_LIMIT else None
    return entry.name if entry is not None else "syscall_%d" % nr


def _unimplemented(task, nr, regs):
    entry = TABLE[nr] if nr < _NR_LIMIT else None
    task.kernel.note_unimplemented(nr, entry)
    if task.strace is not None:
        task.strace.unimplemented(task, nr, entry, regs)
    return -errno.ENOSYS


def _traced(task, nr, regs, invoke):
    entry = TABLE[nr]
    args = tuple(getattr(regs, name) for name in _REGS[:entry.nargs])
    task.strace.enter(task, entry, args)
    try:
        result = invoke(task, regs)
    except SyscallError as e:
        task.strace.leave(task, entry, args, -e.errno)
        return _failed(task, e.errno, e)
    if result is not None:                  # None: no return (execve)
        task.strace.leave(task, entry, args, result)
    return result
