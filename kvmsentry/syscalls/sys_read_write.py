"""read/write family and ioctl on open files."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, i64

MAX_RW_COUNT = 0x7FFFF000     # Linux caps one transfer at this
UIO_MAXIOV = 1024


def _readable(task, fd):
    f = task.fds.get(i32(fd))
    if not f.readable():
        raise SyscallError(errno.EBADF)
    return f


def _writable(task, fd):
    f = task.fds.get(i32(fd))
    if not f.writable():
        raise SyscallError(errno.EBADF)
    return f


def _offset(offset):
    offset = i64(offset)
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    return offset


def read(task, fd, buf, count):
    """Implements read(2)."""
    f = _readable(task, fd)
    count = min(count, MAX_RW_COUNT)
    task.mm.check_access(buf, count, write=True)
    return task.mm.copy_out(buf, f.read(count))


def write(task, fd, buf, count):
    """Implements write(2)."""
    f = _writable(task, fd)
    return f.write(task.mm.copy_in(buf, min(count, MAX_RW_COUNT)))


def pread64(task, fd, buf, count, offset):
    """Implements pread64(2)."""
    f = _readable(task, fd)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    count = min(count, MAX_RW_COUNT)
    task.mm.check_access(buf, count, write=True)
    return task.mm.copy_out(buf, f.read(count, _offset(offset)))


def pwrite64(task, fd, buf, count, offset):
    """Implements pwrite64(2)."""
    f = _writable(task, fd)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    return f.write(task.mm.copy_in(buf, min(count, MAX_RW_COUNT)), _offset(offset))


def read_iovec(mm, iov, iovcnt):
    """[(base, len)] of a guest iovec array, validated as Linux does."""
    iovcnt = i32(iovcnt)
    if iovcnt < 0 or iovcnt > UIO_MAXIOV:
        raise SyscallError(errno.EINVAL)
    raw = mm.copy_in(iov, 16 * iovcnt)
    out, total = [], 0
    for i in range(iovcnt):
        base, length = struct.unpack_from("<QQ", raw, 16 * i)
        if length >= 1 << 63:
            raise SyscallError(errno.EINVAL)
        total += length
        out.append((base, length))
    if total >= 1 << 63:
        raise SyscallError(errno.EINVAL)
    return out


def readv(task, fd, iov, iovcnt):
    """Implements readv(2)."""
    f = _readable(task, fd)
    vecs = read_iovec(task.mm, iov, iovcnt)
    return _scatter(task.mm, vecs, f.read(min(sum(n for _, n in vecs), MAX_RW_COUNT)))


def writev(task, fd, iov, iovcnt):
    """Implements writev(2)."""
    f = _writable(task, fd)
    return f.write(_gather(task.mm, read_iovec(task.mm, iov, iovcnt)))


def preadv(task, fd, iov, iovcnt, offset):
    """Implements preadv(2)."""
    f = _readable(task, fd)
    vecs = read_iovec(task.mm, iov, iovcnt)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    total = min(sum(n for _, n in vecs), MAX_RW_COUNT)
    return _scatter(task.mm, vecs, f.read(total, _offset(offset)))


def pwritev(task, fd, iov, iovcnt, offset):
    """Implements pwritev(2)."""
    f = _writable(task, fd)
    vecs = read_iovec(task.mm, iov, iovcnt)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    return f.write(_gather(task.mm, vecs), _offset(offset))


def _gather(mm, vecs):
    parts, total = [], 0
    for base, length in vecs:
        length = min(length, MAX_RW_COUNT - total)
        parts.append(mm.copy_in(base, length))
        total += length
    return b"".join(parts)


def _scatter(mm, vecs, data):
    pos = 0
    for base, length in vecs:
        if pos >= len(data):
            break
        chunk = data[pos:pos + length]
        mm.copy_out(base, chunk)
        pos += len(chunk)
    return pos


def ioctl(task, fd, request, arg):
    """Implements ioctl(2) for the requests each file type supports."""
    return task.fds.get(i32(fd)).ioctl(task, request & 0xFFFFFFFF, arg)


def close(task, fd):
    """Implements close(2)."""
    task.fds.close(i32(fd))
    return 0
