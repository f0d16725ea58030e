"""seccomp(2), prctl's PR_SET_SECCOMP, and the per-syscall check that
dispatch makes for a task with filters (kernel/seccomp_filter.py)."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import seccomp_filter as sf
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.exit import ExitThread
from kvmsentry.kernel.process_tree import status_signaled
from kvmsentry.syscalls.args import i32, u32

SECCOMP_SET_MODE_STRICT, SECCOMP_SET_MODE_FILTER = 0, 1
SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES = 2, 3
SECCOMP_MODE_STRICT, SECCOMP_MODE_FILTER = 1, 2
FLAG_TSYNC, FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_NEW_LISTENER = 1, 2, 4, 8
FLAG_TSYNC_ESRCH, FLAG_WAIT_KILLABLE_RECV = 16, 32
FLAG_MASK = 63
CAP_SYS_ADMIN = 21
SYS_SECCOMP = 1                       # si_code of a SECCOMP_RET_TRAP SIGSYS
MAX_ERRNO = 4095
# struct seccomp_notif, seccomp_notif_resp, seccomp_data sizes.
NOTIF_SIZES = struct.pack("<HHH", 80, 24, 64)
AVAILABLE = {sf.SECCOMP_RET_KILL_PROCESS, sf.SECCOMP_RET_KILL_THREAD, sf.SECCOMP_RET_TRAP,
             sf.SECCOMP_RET_ERRNO, sf.SECCOMP_RET_TRACE, sf.SECCOMP_RET_LOG,
             sf.SECCOMP_RET_ALLOW}


def mode(task):
    """What PR_GET_SECCOMP reports."""
    return sf.mode_of(task.seccomp)


def _set_strict(task, flags, uargs):
    if flags or uargs:
        raise SyscallError(errno.EINVAL)
    if task.seccomp is not None and task.seccomp is not sf.Strict:
        raise SyscallError(errno.EINVAL)
    task.seccomp = sf.Strict
    return 0


def _set_filter(task, flags, uargs):
    flags = u32(flags)
    if flags & ~FLAG_MASK:
        raise SyscallError(errno.EINVAL)
    if flags & FLAG_TSYNC and flags & FLAG_NEW_LISTENER and not flags & FLAG_TSYNC_ESRCH:
        raise SyscallError(errno.EINVAL)
    if flags & FLAG_WAIT_KILLABLE_RECV and not flags & FLAG_NEW_LISTENER:
        raise SyscallError(errno.EINVAL)
    length, ptr = struct.unpack("<H6xQ", task.mm.copy_in(uargs, 16))
    if length == 0 or length > sf.BPF_MAXINSNS:
        raise SyscallError(errno.EINVAL)
    raw = task.mm.copy_in(ptr, 8 * length)
    if not task.creds.no_new_privs and not task.creds.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EACCES)
    if flags & FLAG_NEW_LISTENER:
        raise SyscallError(errno.EINVAL)          # no user-space notification here
    if task.seccomp is sf.Strict:
        raise SyscallError(errno.EINVAL)
    chain = sf.compile_filter(raw, task.seccomp, log=bool(flags & FLAG_LOG))
    if flags & FLAG_TSYNC:
        others = [t for t in task.kernel.tasks.values()
                  if t.group is task.group and t is not task]
        for t in others:
            if t.seccomp is sf.Strict or not _descends(task.seccomp, t.seccomp):
                if flags & FLAG_TSYNC_ESRCH:
                    raise SyscallError(errno.ESRCH)
                return t.tid
        for t in others:
            t.seccomp = chain
    task.seccomp = chain
    return 0


def _descends(mine, theirs):
    """TSYNC may replace theirs only if it is mine or one of its ancestors."""
    return theirs is None or (mine is not None and mine.is_descendant_of(theirs))


def seccomp(task, op, flags, uargs):
    """Implements seccomp(2): strict mode, classic BPF filters (TSYNC, LOG,
    SPEC_ALLOW), GET_ACTION_AVAIL and GET_NOTIF_SIZES; no user-space
    notification listener."""
    op = u32(op)
    if op == SECCOMP_SET_MODE_STRICT:
        return _set_strict(task, flags, uargs)
    if op == SECCOMP_SET_MODE_FILTER:
        return _set_filter(task, flags, uargs)
    if op == SECCOMP_GET_ACTION_AVAIL:
        if flags:
            raise SyscallError(errno.EINVAL)
        (action,) = struct.unpack("<I", task.mm.copy_in(uargs, 4))
        if action not in AVAILABLE:
            raise SyscallError(errno.EOPNOTSUPP)
        return 0
    if op == SECCOMP_GET_NOTIF_SIZES:
        if flags:
            raise SyscallError(errno.EINVAL)
        task.mm.copy_out(uargs, NOTIF_SIZES)
        return 0
    raise SyscallError(errno.EINVAL)


def prctl_set_seccomp(task, mode_, filter_ptr):
    """prctl(PR_SET_SECCOMP, mode, filter)."""
    if mode_ == SECCOMP_MODE_STRICT:
        return _set_strict(task, 0, 0)
    if mode_ == SECCOMP_MODE_FILTER:
        return _set_filter(task, 0, filter_ptr)
    raise SyscallError(errno.EINVAL)


# --- the check before every syscall -----------------------------------------------------
def check(task, nr, regs):
    """None to run the syscall, or the value for rax instead of running it
    (the filters' SECCOMP_RET_ERRNO, TRAP, TRACE/USER_NOTIF without a
    tracer or listener); KILL ends the thread or the process."""
    from kvmsentry.kernel.signal_delivery import group_tasks, kill_group, send
    state = task.seccomp
    if state is sf.Strict:
        if nr in sf.Strict.ALLOWED:
            return None
        kill_group(task, status_signaled(sg.SIGKILL))
        return -errno.ENOSYS
    ret = sf.evaluate(state, i32(nr), regs.rip,
                      (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9))
    action, data = ret & sf.SECCOMP_RET_ACTION_FULL, ret & sf.SECCOMP_RET_DATA
    if action in (sf.SECCOMP_RET_ALLOW, sf.SECCOMP_RET_LOG):
        return None
    if action == sf.SECCOMP_RET_ERRNO:
        return -min(data, MAX_ERRNO)
    if action in (sf.SECCOMP_RET_TRACE, sf.SECCOMP_RET_USER_NOTIF):
        return -errno.ENOSYS                      # no tracer, no listener
    if action == sf.SECCOMP_RET_TRAP:
        info = sg.SigInfo(sg.SIGSYS, SYS_SECCOMP, errno=data, call_addr=regs.rip,
                          syscall=nr & 0xFFFFFFFF, arch=sf.AUDIT_ARCH_X86_64)
        action_ = task.sighand.get(sg.SIGSYS)
        if task.sigmask & sg.sigbit(sg.SIGSYS) or action_.is_ignore:
            kill_group(task, status_signaled(sg.SIGSYS))   # forced: blocked or ignored
        else:
            send(task.kernel, task, info, thread=True)
        return nr                                 # rolled back: rax holds the number
    # KILL_THREAD (and any unknown action: KILL_PROCESS).
    if action == sf.SECCOMP_RET_KILL_THREAD and len(group_tasks(task)) > 1:
        raise ExitThread(status_signaled(sg.SIGSYS))
    kill_group(task, status_signaled(sg.SIGSYS))
    return -errno.ENOSYS
