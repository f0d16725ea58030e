"""unshare, setns and chroot.

The sandbox models one namespace of each kind but UTS: a process may get
its own host and domain names (kernel/sysctl.UtsNamespace). Unsharing
the fd table, the filesystem context (root, cwd, umask) and the SysV
semaphore undo list works as on Linux. New mount, IPC, network, PID,
cgroup, time and user namespaces are refused with EPERM, as Linux
refuses them to a user without CAP_SYS_ADMIN.
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.pidfd import PidFd
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.syscalls.args import i32
from kvmsentry.vfs.path import AT_FDCWD, X_OK, may_access

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM = 0x10000, 0x20000, 0x40000
CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWTIME = (
    0x10000000, 0x20000000, 0x40000000, 0x80)
NEW_NAMESPACES = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                  | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)
UNSHARE_FLAGS = (CLONE_THREAD | CLONE_FS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES
                 | CLONE_SYSVSEM | NEW_NAMESPACES)
# Namespaces that exist once in the sandbox: new ones are refused.
UNMODELLED = NEW_NAMESPACES & ~CLONE_NEWUTS
CAP_SYS_CHROOT, CAP_SYS_ADMIN = 18, 21
PATH_MAX = 4096


def _threads(task):
    return [t for t in task.kernel.tasks.values() if t.group is task.group]


def unshare(task, flags):
    """Implements unshare(2) for CLONE_FILES, CLONE_FS, CLONE_SYSVSEM and
    CLONE_NEWUTS (and CLONE_THREAD/SIGHAND/VM of a single thread)."""
    flags &= 0xFFFFFFFFFFFFFFFF
    if flags & CLONE_NEWUSER:
        flags |= CLONE_THREAD | CLONE_FS
    if flags & CLONE_VM:
        flags |= CLONE_SIGHAND
    if flags & CLONE_SIGHAND:
        flags |= CLONE_THREAD
    if flags & CLONE_NEWNS:
        flags |= CLONE_FS
    if flags & ~UNSHARE_FLAGS:
        raise SyscallError(errno.EINVAL)
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) and len(_threads(task)) > 1:
        raise SyscallError(errno.EINVAL)
    if flags & (CLONE_SIGHAND | CLONE_VM) and any(
            t.sighand is task.sighand for t in task.kernel.tasks.values() if t is not task):
        raise SyscallError(errno.EINVAL)
    if flags & NEW_NAMESPACES and (flags & UNMODELLED or not task.creds.capable(CAP_SYS_ADMIN)):
        raise SyscallError(errno.EPERM)
    others = [t for t in task.kernel.tasks.values() if t is not task]
    if flags & CLONE_FS and any(t.fs is task.fs for t in others):
        task.fs = task.fs.copy()
    if flags & CLONE_FILES and any(t.fds is task.fds for t in others):
        task.fds = task.fds.copy()
    if flags & CLONE_NEWUTS:
        task.uts = task.kernel.system.uts_of(task).copy()
    return 0


def setns(task, fd, nstype):
    """Implements setns(2) with a pidfd: joining the UTS namespace of the
    process; the other namespaces are the caller's already. Namespace
    files (/proc/PID/ns/*) do not exist, so any other fd is EINVAL."""
    nstype = i32(nstype) & 0xFFFFFFFF
    f = task.fds.get(i32(fd))
    if not isinstance(f, PidFd):
        raise SyscallError(errno.EINVAL)
    if not nstype or nstype & ~NEW_NAMESPACES:
        raise SyscallError(errno.EINVAL)
    target = next((t for t in task.kernel.tasks.values() if t.group is f.group), None)
    if target is None or f.exited():
        raise SyscallError(errno.ESRCH)
    if nstype & CLONE_NEWUSER:
        raise SyscallError(errno.EINVAL)            # its user namespace is ours already
    if not task.creds.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if nstype & CLONE_NEWUTS:
        task.uts = target.uts
    return 0


def chroot(task, pathname):
    """Implements chroot(2): the task's root in the sandbox's tree (shared
    by CLONE_FS threads); /proc/PID/root follows it."""
    loc = lookup_at(task, AT_FDCWD, task.mm.read_cstring(pathname, PATH_MAX))
    if not loc.inode.is_dir():
        raise SyscallError(errno.ENOTDIR)
    if not may_access(loc.inode.getattr(), task.creds, X_OK):
        raise SyscallError(errno.EACCES)
    if not task.creds.capable(CAP_SYS_CHROOT):
        raise SyscallError(errno.EPERM)
    task.fs.root = loc
    return 0
