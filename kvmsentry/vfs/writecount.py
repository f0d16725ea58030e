"""Linux's i_writecount: a regular file is open for writing or being
executed, never both (ETXTBSY for the second).

A positive count is the open files that may write the inode (and
truncate(2)'s moment), a negative one the address spaces executing it
(Linux's deny_write_access, held for as long as the mm's exe_file).
"""
import errno
import threading

from kvmsentry.errors import SyscallError

_counts = {}            # Inode -> its count, absent when 0
_lock = threading.Lock()


def get_write(inode):
    """A writer more; ETXTBSY while the file is executed."""
    with _lock:
        n = _counts.get(inode, 0)
        if n < 0:
            raise SyscallError(errno.ETXTBSY)
        _counts[inode] = n + 1


def _add(inode, delta):
    with _lock:
        n = _counts[inode] + delta
        if n:
            _counts[inode] = n
        else:
            del _counts[inode]


def put_write(inode):
    _add(inode, -1)


def file_released(file):
    """The write a File opened with (open_write's) ends with it."""
    inode = file.__dict__.pop("writes_inode", None)
    if inode is not None:
        put_write(inode)


def check_writable(inode):
    """ETXTBSY if a write now would be refused (truncate(2), O_TRUNC)."""
    if _counts.get(inode, 0) < 0:
        raise SyscallError(errno.ETXTBSY)


def check_executable(inode):
    """ETXTBSY if the file is open for writing (an exec's open_exec)."""
    if _counts.get(inode, 0) > 0:
        raise SyscallError(errno.ETXTBSY)


def deny_write(inode):
    """An executor more; ETXTBSY while the file is open for writing."""
    with _lock:
        n = _counts.get(inode, 0)
        if n > 0:
            raise SyscallError(errno.ETXTBSY)
        _counts[inode] = n - 1


def allow_write(inode):
    _add(inode, 1)
