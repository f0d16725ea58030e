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
    count = task.mm.accessible(buf, min(count, MAX_RW_COUNT), write=True)
    return task.mm.copy_out(buf, f.read(count))


def write(task, fd, buf, count):
    """Implements write(2)."""
    f = _writable(task, fd)
    count = task.mm.accessible(buf, min(count, MAX_RW_COUNT), write=False)
    return f.write(task.mm.copy_in(buf, count))


def pread64(task, fd, buf, count, offset):
    """Implements pread64(2)."""
    f = _readable(task, fd)
    offset = _offset(offset)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    count = task.mm.accessible(buf, min(count, MAX_RW_COUNT), write=True)
    return task.mm.copy_out(buf, f.read(count, offset))


def pwrite64(task, fd, buf, count, offset):
    """Implements pwrite64(2)."""
    f = _writable(task, fd)
    offset = _offset(offset)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    count = task.mm.accessible(buf, min(count, MAX_RW_COUNT), write=False)
    return f.write(task.mm.copy_in(buf, count), offset)


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
    return _scatter(task.mm, vecs, f.read(_writable_span(task.mm, vecs)))


def writev(task, fd, iov, iovcnt):
    """Implements writev(2)."""
    f = _writable(task, fd)
    return f.write(_gather(task.mm, read_iovec(task.mm, iov, iovcnt)))


def preadv(task, fd, iov, iovcnt, offset):
    """Implements preadv(2)."""
    f = _readable(task, fd)
    vecs = read_iovec(task.mm, iov, iovcnt)
    offset = _offset(offset)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    return _scatter(task.mm, vecs, f.read(_writable_span(task.mm, vecs), offset))


def pwritev(task, fd, iov, iovcnt, offset):
    """Implements pwritev(2)."""
    f = _writable(task, fd)
    vecs = read_iovec(task.mm, iov, iovcnt)
    offset = _offset(offset)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    return f.write(_gather(task.mm, vecs), offset)


def _gather(mm, vecs):
    """The bytes of the iovecs up to the first inaccessible byte (EFAULT
    only if that is the very first)."""
    parts, total = [], 0
    for base, length in vecs:
        length = min(length, MAX_RW_COUNT - total)
        if not length:
            continue
        try:
            n = mm.accessible(base, length, write=False)
        except SyscallError:
            if total:
                break
            raise
        parts.append(mm.copy_in(base, n))
        total += n
        if n < length:
            break
    return b"".join(parts)


def _writable_span(mm, vecs):
    """How many bytes the iovecs can take before the first hole."""
    total = 0
    for base, length in vecs:
        length = min(length, MAX_RW_COUNT - total)
        if not length:
            continue
        try:
            n = mm.accessible(base, length, write=True)
        except SyscallError:
            if total:
                break
            raise
        total += n
        if n < length:
            break
    return total


def _scatter(mm, vecs, data):
    pos = 0
    for base, length in vecs:
        if pos >= len(data):
            break
        chunk = data[pos:pos + length]
        mm.copy_out(base, chunk)
        pos += len(chunk)
    return pos


FIONREAD, FIONBIO, FIONCLEX, FIOCLEX = 0x541B, 0x5421, 0x5450, 0x5451


def ioctl(task, fd, request, arg):
    """Implements ioctl(2): the fd-level requests here, the rest by the
    file's type."""
    fd, request = i32(fd), request & 0xFFFFFFFF
    f = task.fds.get(fd)
    if request == FIOCLEX or request == FIONCLEX:
        task.fds.set_cloexec(fd, request == FIOCLEX)
        return 0
    if request == FIONBIO:
        (on,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
        f.flags = f.flags | 0o4000 if on else f.flags & ~0o4000
        return 0
    if request == FIONREAD and f.inode is not None and f.inode.is_reg():
        left = max(f.inode.getattr().size - getattr(f, "offset", 0), 0)
        task.mm.copy_out(arg, struct.pack("<i", min(left, 0x7FFFFFFF)))
        return 0
    return f.ioctl(task, request, arg)


def close(task, fd):
    """Implements close(2). Closing any fd of a file drops the process's
    POSIX record locks on it, as Linux does."""
    f = task.fds.get(i32(fd))
    task.fds.close(i32(fd))
    if f.inode is not None:
        task.kernel.record_locks.release(task.tgid, f.inode)
    return 0


def sendfile(task, out_fd, in_fd, offset_ptr, count):
    """Implements sendfile(2) (any readable source, any writable sink)."""
    src, dst = _readable(task, in_fd), _writable(task, out_fd)
    if dst.flags & 0o2000 or src.inode is None or not src.inode.is_reg():
        raise SyscallError(errno.EINVAL)                 # O_APPEND sink, non-file source
    count = min(count, MAX_RW_COUNT)
    if offset_ptr:
        (off,) = struct.unpack("<q", task.mm.copy_in(offset_ptr, 8))
        if off < 0:
            raise SyscallError(errno.EINVAL)
        if not src.seekable():
            raise SyscallError(errno.ESPIPE)
        data = src.read(count, off)
        n = dst.write(data) if data else 0
        task.mm.copy_out(offset_ptr, struct.pack("<q", off + n))
        return n
    data = src.read(count)
    return dst.write(data) if data else 0


def copy_file_range(task, fd_in, off_in, fd_out, off_out, length, flags):
    """Implements copy_file_range(2) between regular files."""
    if flags:
        raise SyscallError(errno.EINVAL)
    src, dst = _readable(task, fd_in), _writable(task, fd_out)
    for f in (src, dst):
        if f.inode is None or f.inode.is_dir():
            raise SyscallError(errno.EISDIR if f.inode is not None else errno.EINVAL)
        if not f.inode.is_reg():
            raise SyscallError(errno.EINVAL)
    if dst.flags & 0o2000:
        raise SyscallError(errno.EBADF)
    length = min(length, MAX_RW_COUNT)
    o_in = struct.unpack("<q", task.mm.copy_in(off_in, 8))[0] if off_in else None
    o_out = struct.unpack("<q", task.mm.copy_in(off_out, 8))[0] if off_out else None
    if (o_in is not None and o_in < 0) or (o_out is not None and o_out < 0):
        raise SyscallError(errno.EINVAL)
    if src.inode is dst.inode:
        a = o_in if o_in is not None else src.offset
        b = o_out if o_out is not None else dst.offset
        if a < b + length and b < a + length:
            raise SyscallError(errno.EINVAL)          # overlapping ranges of one file
    data = src.read(length, o_in)
    n = dst.write(data, o_out) if data else 0
    if off_in:
        task.mm.copy_out(off_in, struct.pack("<q", o_in + len(data)))
    if off_out:
        task.mm.copy_out(off_out, struct.pack("<q", o_out + n))
    return n
