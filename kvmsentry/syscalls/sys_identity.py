"""Who and where the process is: ids, uname, resource limits."""
import errno
import resource
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_SYS_RESOURCE
from kvmsentry.syscalls.args import i32

RLIM_NLIMITS = 16
RLIM_INFINITY = (1 << 64) - 1


def getpid(task):
    """Implements getpid(2)."""
    return task.group.tgid          # (Task.tgid, without the property's frame)


def gettid(task):
    """Implements gettid(2)."""
    return task.tid


def getppid(task):
    """Implements getppid(2)."""
    return task.ppid


def getuid(task):
    """Implements getuid(2)."""
    return task.creds.uid


def geteuid(task):
    """Implements geteuid(2)."""
    return task.creds.euid


def getgid(task):
    """Implements getgid(2)."""
    return task.creds.gid


def getegid(task):
    """Implements getegid(2)."""
    return task.creds.egid


def uname(task, buf):
    """Implements uname(2) from the sandbox's SystemIdentity."""
    fields = task.kernel.system.uname_fields()
    task.mm.copy_out(buf, b"".join(f[:64].ljust(65, b"\0") for f in fields))
    return 0


# The guest's own fd limit, not the sentry's: a container's defaults (soft
# 1024, hard Linux's nr_open). Host-backed files are bounded separately by
# fsimpl/host_fd_budget, so raising it cannot exhaust the sentry's fds.
GUEST_NOFILE = (1024, 1 << 20)


def initial_rlimits():
    """The limits the sandbox's first process starts with: the sentry's
    own, except the fd limit."""
    out = {}
    for res in range(RLIM_NLIMITS):
        try:
            soft, hard = resource.getrlimit(res)
        except (ValueError, OSError):
            soft = hard = resource.RLIM_INFINITY
        conv = (lambda v: RLIM_INFINITY if v == resource.RLIM_INFINITY else v)
        out[res] = (conv(soft), conv(hard))
    out[resource.RLIMIT_NOFILE] = GUEST_NOFILE
    return out


def _do_prlimit(target, res, new, old, caller=None):
    """Read and/or set target's limit; the caller's memory and creds."""
    task = caller or target
    if res < 0 or res >= RLIM_NLIMITS:
        raise SyscallError(errno.EINVAL)
    limits = target.rlimits
    if new:
        soft, hard = struct.unpack("<QQ", task.mm.copy_in(new, 16))
        if soft > hard:
            raise SyscallError(errno.EINVAL)
        if hard > limits[res][1] and not task.creds.capable(CAP_SYS_RESOURCE):
            raise SyscallError(errno.EPERM)
        if res == resource.RLIMIT_NOFILE and hard > GUEST_NOFILE[1]:
            raise SyscallError(errno.EPERM)        # above nr_open
    if old:
        task.mm.copy_out(old, struct.pack("<QQ", *limits[res]))
    if new:
        limits[res] = (soft, hard)
        if res == resource.RLIMIT_CPU:
            from kvmsentry.kernel import timers     # (loaded by the first timer or limit)
            timers.watch_cpu_limit(target)
    return 0


def prlimit64(task, pid, res, new, old):
    """Implements prlimit64(2), on any process of the sandbox."""
    pid = i32(pid)
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    target = task if pid in (0, task.tgid) else task.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    if target is not task and not task.creds.capable(CAP_SYS_RESOURCE):
        me, them = task.creds, target.creds
        if not (me.uid == them.uid == them.euid == them.suid and
                me.gid == them.gid == them.egid == them.sgid):
            raise SyscallError(errno.EPERM)
    return _do_prlimit(target, i32(res), new, old, task)


def getrlimit(task, res, old):
    """Implements getrlimit(2)."""
    return _do_prlimit(task, i32(res), 0, old)


def setrlimit(task, res, new):
    """Implements setrlimit(2)."""
    return _do_prlimit(task, i32(res), new, 0)
