"""Durability and advice: fsync family, fadvise64, fallocate. The
sandbox's writable storage is memory, so syncing has nothing to wait for."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, i64
from kvmsentry.vfs import fsnotify

RLIMIT_FSIZE = 1


def check_fsize(task, end):
    """A file may not grow past RLIMIT_FSIZE: SIGXFSZ to the thread, then
    EFBIG (inode_newsize_ok)."""
    if end > task.rlimits[RLIMIT_FSIZE][0]:
        from kvmsentry.kernel import signal_delivery
        from kvmsentry.kernel import signals as sg
        signal_delivery.send(task.kernel, task, sg.SigInfo(sg.SIGXFSZ, code=sg.SI_KERNEL),
                             thread=True)
        raise SyscallError(errno.EFBIG)

FALLOC_FL_KEEP_SIZE = 1
POSIX_FADV_MAX = 5
MAX_LFS = (1 << 63) - 1             # s_maxbytes of tmpfs; other filesystems say less


def fsync(task, fd):
    """Implements fsync(2)."""
    task.fds.get(i32(fd))
    return 0


def fdatasync(task, fd):
    """Implements fdatasync(2)."""
    task.fds.get(i32(fd))
    return 0


def syncfs(task, fd):
    """Implements syncfs(2)."""
    task.fds.get(i32(fd))
    return 0


def sync(task):
    """Implements sync(2)."""
    return 0


def fadvise64(task, fd, offset, length, advice):
    """Implements fadvise64(2): validated, then ignored (advice only)."""
    f = task.fds.get(i32(fd))
    if f.inode is None or not f.seekable():
        raise SyscallError(errno.ESPIPE)
    if not 0 <= i32(advice) <= POSIX_FADV_MAX or i64(length) < 0:
        raise SyscallError(errno.EINVAL)
    return 0


def fallocate(task, fd, mode, offset, length):
    """Implements fallocate(2) mode 0 and KEEP_SIZE (space is not reserved:
    tmpfs-like memory grows as it is written)."""
    mode, offset, length = i32(mode), i64(offset), i64(length)
    f = task.fds.get(i32(fd))
    if offset < 0 or length <= 0:
        raise SyscallError(errno.EINVAL)
    if not f.writable():
        raise SyscallError(errno.EBADF)
    if f.inode is None:
        # Pipes answer ESPIPE; other inode-less files (timerfd, eventfd...)
        # are anonymous inodes, neither FIFO nor regular: ENODEV.
        raise SyscallError(errno.ESPIPE if hasattr(f, "pipe") else errno.ENODEV)
    if f.inode.is_dir():
        raise SyscallError(errno.EISDIR)
    if not f.inode.is_reg():
        raise SyscallError(errno.ESPIPE if f.inode.getattr().mode & 0o170000 == 0o010000
                           else errno.ENODEV)
    if mode & ~FALLOC_FL_KEEP_SIZE:
        raise SyscallError(errno.EOPNOTSUPP)
    if offset + length > MAX_LFS:
        raise SyscallError(errno.EFBIG)
    if not mode & FALLOC_FL_KEEP_SIZE and offset + length > f.inode.getattr().size:
        check_fsize(task, offset + length)
    f.inode.reserve(offset, length)
    if not mode & FALLOC_FL_KEEP_SIZE and offset + length > f.inode.getattr().size:
        f.inode.setattr(size=offset + length)
    fsnotify.modified(f)
    return 0
