"""The older forms of filesystem calls that programs still make: utime,
utimes and futimesat (second and microsecond times, over utimensat's
code) and getdents (struct linux_dirent, over getdents64's)."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.syscalls.args import i32
from kvmsentry.syscalls.sys_file import check_mount_writable, dirents_for
from kvmsentry.syscalls.sys_fs import set_file_times
from kvmsentry.vfs.file import O_PATH
from kvmsentry.vfs.path import AT_FDCWD

USEC = 1_000_000
PATH_MAX = 4096


def _located(task, dirfd, pathname):
    if pathname:
        return lookup_at(task, dirfd, task.mm.read_cstring(pathname, PATH_MAX))
    f = task.fds.get(dirfd)           # futimesat(fd, NULL, ...): the fd itself
    if f.location is None:
        raise SyscallError(errno.EBADF)
    return f.location


def _timevals(task, times):
    """utimes' struct timeval[2] as utimensat times (None: now)."""
    if not times:
        return None
    a_s, a_us, m_s, m_us = struct.unpack("<qqqq", task.mm.copy_in(times, 32))
    for usec in (a_us, m_us):
        if not 0 <= usec < USEC:
            raise SyscallError(errno.EINVAL)
    return a_s, a_us * 1000, m_s, m_us * 1000


def _futimesat(task, dirfd, pathname, times):
    stamps = _timevals(task, times)
    loc = _located(task, dirfd, pathname)
    check_mount_writable(loc)
    return set_file_times(task, loc, stamps)


def futimesat(task, dirfd, pathname, times):
    """Implements futimesat(2)."""
    return _futimesat(task, i32(dirfd), pathname, times)


def utimes(task, pathname, times):
    """Implements utimes(2)."""
    return _futimesat(task, AT_FDCWD, pathname, times)


def utime(task, pathname, times):
    """Implements utime(2) (struct utimbuf: whole seconds)."""
    stamps = None
    if times:
        actime, modtime = struct.unpack("<qq", task.mm.copy_in(times, 16))
        stamps = (actime, 0, modtime, 0)
    loc = _located(task, AT_FDCWD, pathname)
    check_mount_writable(loc)
    return set_file_times(task, loc, stamps)


def getdents(task, fd, dirp, count):
    """Implements getdents(2): struct linux_dirent records (d_type in the
    last byte), the same size as getdents64's for every name."""
    f = task.fds.get(i32(fd))
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    if f.inode is not None and f.inode.is_dir() and f.inode.getattr().nlink == 0:
        raise SyscallError(errno.ENOENT)
    data = dirents_for(task, f, dirp, count)
    out = bytearray()
    pos = 0
    while pos < len(data):
        ino, off, reclen, dtype = struct.unpack_from("<QqHB", data, pos)
        name = bytes(data[pos + 19:pos + reclen]).split(b"\0", 1)[0]
        # d_ino, d_off, d_reclen, d_name NUL-padded, d_type in the last byte.
        rec = bytearray(reclen)
        struct.pack_into("<QqH", rec, 0, ino, off, reclen)
        rec[18:18 + len(name)] = name
        rec[reclen - 1] = dtype
        out += rec
        pos += reclen
    task.mm.copy_out(dirp, bytes(out))
    return len(out)
