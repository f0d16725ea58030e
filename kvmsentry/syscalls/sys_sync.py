"""Durability and advice: fsync family, fadvise64, fallocate. The
sandbox's writable storage is memory, so syncing has nothing to wait for."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, i64

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
    if f.inode is None or f.inode.is_dir():
        raise SyscallError(errno.EISDIR if f.inode is not None else errno.ESPIPE)
    if not f.inode.is_reg():
        raise SyscallError(errno.ENODEV)
    if mode & ~FALLOC_FL_KEEP_SIZE:
        raise SyscallError(errno.EOPNOTSUPP)
    if offset + length > MAX_LFS:
        raise SyscallError(errno.EFBIG)
    f.inode.reserve(offset, length)
    if not mode & FALLOC_FL_KEEP_SIZE and offset + length > f.inode.getattr().size:
        f.inode.setattr(size=offset + length)
    return 0
