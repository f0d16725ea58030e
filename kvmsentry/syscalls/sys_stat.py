"""fstat family and the working directory."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100
AT_NO_AUTOMOUNT = 0x800
NSEC = 1_000_000_000


def pack_stat(st):
    """struct stat for x86-64 (144 bytes) from a vfs Stat."""
    return struct.pack(
        "<QQQIIIIQqqqqqqqqq24x",
        st.dev, st.ino, st.nlink, st.mode, st.uid, st.gid, 0,
        st.rdev, st.size, st.blksize, st.blocks,
        st.atime_ns // NSEC, st.atime_ns % NSEC,
        st.mtime_ns // NSEC, st.mtime_ns % NSEC,
        st.ctime_ns // NSEC, st.ctime_ns % NSEC)


def fstat(task, fd, statbuf):
    """Implements fstat(2)."""
    task.mm.copy_out(statbuf, pack_stat(task.fds.get(i32(fd)).stat()))
    return 0


def newfstatat(task, dirfd, pathname, statbuf, flags):
    """Implements newfstatat(2): AT_EMPTY_PATH on an open fd. There is no
    filesystem yet, so every path names nothing (ENOENT)."""
    flags = i32(flags)
    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT):
        raise SyscallError(errno.EINVAL)
    path = task.mm.read_cstring(pathname)
    if not path:
        if not flags & AT_EMPTY_PATH:
            raise SyscallError(errno.ENOENT)
        return fstat(task, dirfd, statbuf)
    raise SyscallError(errno.ENOENT)


def getcwd(task, buf, size):
    """Implements getcwd(2)."""
    path = task.kernel.cwd + b"\0"
    if size < len(path):
        raise SyscallError(errno.ERANGE)
    task.mm.copy_out(buf, path)
    return len(path)
