"""Reads and writes with per-call flags (preadv2, pwritev2) and the
page-cache hints readahead and sync_file_range.

The sandbox's files are served from the sentry's memory or its host
files with no writeback of its own, so RWF_DSYNC/RWF_SYNC have nothing
more to wait for and RWF_HIPRI (polled direct I/O) is plain I/O, as
Linux treats it on a file without O_DIRECT.
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, i64, u32
from kvmsentry.syscalls.sys_read_write import (RCHAR, SYSCR, SYSCW, WCHAR, _moved, _readable,
                                               _total, _writable, read_into, read_iovec,
                                               verify_area, write_from)
from kvmsentry.vfs.file import O_APPEND, O_NONBLOCK

RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT = 0x01, 0x02, 0x04, 0x08
RWF_APPEND, RWF_NOAPPEND, RWF_ATOMIC, RWF_DONTCACHE = 0x10, 0x20, 0x40, 0x80
RWF_SUPPORTED = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND
SYNC_FILE_RANGE_VALID = 0x7
MAX_LFS = (1 << 63) - 1


def _flags(flags):
    flags = i32(flags)
    if flags & ~RWF_SUPPORTED:
        raise SyscallError(errno.EOPNOTSUPP)
    return flags


def _position(f, offset):
    """The explicit offset, or None for -1 (the file position)."""
    offset = i64(offset)
    if offset == -1:
        return None
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    return offset


class _NoWait:
    """RWF_NOWAIT: the call must not block, so the file answers as if it
    were O_NONBLOCK for this one call (the kernel lock is held throughout:
    a call that cannot block never drops it, so no other task sees the
    flag)."""

    def __init__(self, f, on):
        self.f, self.on = f, on and not f.flags & O_NONBLOCK

    def __enter__(self):
        if self.on:
            self.f.flags |= O_NONBLOCK

    def __exit__(self, *exc):
        if self.on:
            self.f.flags &= ~O_NONBLOCK


def preadv2(task, fd, iov, iovcnt, pos_l, pos_h, flags):
    """Implements preadv2(2): offset -1 reads at the file position;
    RWF_NOWAIT makes a read that would block answer EAGAIN."""
    try:
        f = _readable(task, fd)
        vecs = read_iovec(task.mm, iov, iovcnt)
        flags = _flags(flags)
        offset = _position(f, pos_l)
        verify_area(f, offset, _total(vecs))
        with _NoWait(f, flags & RWF_NOWAIT):
            return _moved(task, RCHAR, read_into(task.mm, f, vecs, offset))
    finally:
        task.ioac[SYSCR] += 1


def pwritev2(task, fd, iov, iovcnt, pos_l, pos_h, flags):
    """Implements pwritev2(2): offset -1 writes at the file position;
    RWF_APPEND writes at the end whatever the offset; RWF_NOAPPEND
    ignores the file's O_APPEND for this call."""
    try:
        f = _writable(task, fd)
        vecs = read_iovec(task.mm, iov, iovcnt)
        flags = _flags(flags)
        offset = _position(f, pos_l)
        if flags & RWF_APPEND and flags & RWF_NOAPPEND:
            raise SyscallError(errno.EINVAL)
        verify_area(f, offset, _total(vecs))
        if f.discards_writes:
            return _moved(task, WCHAR, _total(vecs))
        saved = f.flags
        if flags & RWF_APPEND:
            f.flags |= O_APPEND
        elif flags & RWF_NOAPPEND:
            f.flags &= ~O_APPEND
        try:
            # With an offset and (RWF_)O_APPEND the file appends and leaves
            # its position alone, as Linux's pwrite does.
            with _NoWait(f, flags & RWF_NOWAIT):
                return _moved(task, WCHAR, write_from(task.mm, f, vecs, offset))
        finally:
            f.flags = (f.flags & ~O_APPEND) | (saved & O_APPEND)
    finally:
        task.ioac[SYSCW] += 1


def readahead(task, fd, offset, count):
    """Implements readahead(2): the data is served from memory or the host's
    page cache already, so it only checks its arguments."""
    f = task.fds.get(i32(fd))
    if not f.readable():
        raise SyscallError(errno.EBADF)
    if f.inode is None or not f.inode.is_reg():
        raise SyscallError(errno.EINVAL)
    return 0


def sync_file_range(task, fd, offset, nbytes, flags):
    """Implements sync_file_range(2): checked as Linux does, nothing to
    write back."""
    f = task.fds.get(i32(fd))
    offset, nbytes, flags = i64(offset), i64(nbytes), u32(flags)
    if flags & ~SYNC_FILE_RANGE_VALID:
        raise SyscallError(errno.EINVAL)
    if offset < 0 or nbytes < 0 or offset + nbytes > MAX_LFS + 1 and nbytes:
        raise SyscallError(errno.EINVAL)
    inode = f.inode
    if inode is None or not (inode.is_reg() or inode.is_dir()):
        raise SyscallError(errno.ESPIPE)
    return 0
