"""read/write family and ioctl on open files."""
import errno
import os
import struct

from kvmsentry.arch.layout import USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.kernel.record_locks import lock_target
from kvmsentry.syscalls import sys_fd
from kvmsentry.syscalls.args import i32, i64
from kvmsentry.vfs.file import O_ACCMODE, O_PATH

MAX_RW_COUNT = 0x7FFFF000     # Linux caps one transfer at this
MAX_LFS = (1 << 63) - 1       # the largest file position
UIO_MAXIOV = 1024
# Transfers move through the sentry in pieces of at most this many bytes,
# so one call never holds a buffer of its whole count.
CHUNK = 1 << 20


# read/write and their vector and positional kin look their fd up here,
# masked to its 32 bits rather than made signed by i32 (a frame less): a
# negative int fd becomes one above any table's limit, EBADF the same.
FD_MASK = 0xFFFFFFFF


def _readable(task, fd):
    f = task.fds.get(fd & FD_MASK)
    if not f.readable():
        raise SyscallError(errno.EBADF)
    return f


def _writable(task, fd):
    f = task.fds.get(fd & FD_MASK)
    if not f.writable():
        raise SyscallError(errno.EBADF)
    return f


def _offset(offset):
    offset = i64(offset)
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    return offset


def access_ok(addr, count):
    """Linux's access_ok(): EFAULT unless [addr, addr+count) lies below
    the top of user space (whether it is mapped is found out later)."""
    if count > USER_TOP or addr > USER_TOP - count:
        raise SyscallError(errno.EFAULT)


def verify_area(f, pos, count):
    """Linux's rw_verify_area() for a transfer of count bytes at pos (the
    file position when pos is None; streams have none): EINVAL for a
    negative position or one that count would carry past the largest."""
    if count >= 1 << 63:
        raise SyscallError(errno.EINVAL)
    if pos is None:
        pos = getattr(f, "offset", None)
    if pos is not None and (pos < 0 or pos + count > MAX_LFS):
        raise SyscallError(errno.EINVAL)


def _pos(offset, done):
    return None if offset is None else offset + done


def windows(spans):
    """The spans [(addr, len)] regrouped into lists of at most CHUNK bytes."""
    window, size = [], 0
    for addr, length in spans:
        while length:
            n = min(length, CHUNK - size)
            window.append((addr, n))
            size += n
            addr += n
            length -= n
            if size == CHUNK:
                yield window
                window, size = [], 0
    if window:
        yield window


def _one_window(spans):
    """(spans,) when windows(spans) would be just that: one non-empty
    buffer of at most CHUNK bytes, most calls' case; else None."""
    if len(spans) == 1 and 0 < spans[0][1] <= CHUNK:
        return (spans,)
    return None


def read_into(mm, f, spans, offset=None):
    """Read from f into the guest buffers `spans` [(addr, len)], at most
    CHUNK bytes per read; stops at the first short read, error or
    inaccessible byte (an error only counts when nothing was read). A file
    that is not seekable (a pipe, a terminal) is read once: another read
    could block after this one returned data."""
    groups = _one_window(spans)
    if groups is None:
        if not any(length for _, length in spans):
            return len(f.read(0, offset))    # still the file's own errors (EISDIR)
        groups = windows(spans)
    total = 0
    for window in groups:
        usable, want, hole = _usable(mm, window, write=True)
        if hole and hasattr(f, "read_cut") and not total:
            return _read_cut(mm, f, usable, want, sum(n for _, n in window), offset)
        if not want:
            if total:
                return total
            raise SyscallError(errno.EFAULT)
        try:
            got = _read_window(mm, f, usable, want, _pos(offset, total))
        except SyscallError:
            if total:
                return total
            raise
        total += got
        if got < want or hole or not f.seekable():
            break
    return total


def _usable(mm, window, write):
    """The accessible prefix of the spans in `window`: ([(addr, len)],
    bytes in all, whether an inaccessible byte cut it short)."""
    usable, want = [], 0
    for addr, length in window:
        try:
            n = mm.accessible(addr, length, write=write)
        except SyscallError:
            n = 0
        if n:
            usable.append((addr, n))
            want += n
        if n < length:
            return usable, want, True
    return usable, want, False


def _read_cut(mm, f, usable, mapped, length, pos):
    """A read of length bytes into a buffer whose first `mapped` bytes,
    the spans `usable`, are writable, by a file whose count depends on
    where the copy faults (a pipe, a Unix socket: f.read_cut): what the
    copy put before the fault goes there, then the count or EFAULT."""
    data, count = f.read_cut(length, mapped, pos)
    _put(mm, usable, data)
    if count is None:
        raise SyscallError(errno.EFAULT)
    return count


def _put(mm, usable, data):
    """data copied out over the spans `usable`, in order, as far as it goes."""
    done = 0
    for addr, n in usable:
        if done >= len(data):
            break
        mm.copy_out(addr, data[done:done + n])
        done += n


def _read_window(mm, f, usable, want, pos):
    """One read of up to `want` bytes into the spans `usable`: straight
    into the guest's frames when the file can (a file with readinto, e.g.
    a host file's preadv) and need not wait, else through bytes and
    copy_out (which finds the frames again after any wait)."""
    if hasattr(f, "readinto"):
        buffers = [b for addr, n in usable for b in mm.write_buffers(addr, n)]
        n = f.readinto(buffers, pos)
        if n is not None:
            return n
        if hasattr(f, "wait_readable"):
            return _window_when_ready(mm, f, usable, want, pos)
    elif hasattr(f, "read_cut"):
        # A Unix socket: how much of the buffer (all of it now) is
        # writable is asked again after a wait (a read consumed the data,
        # then failed on a buffer unmapped meanwhile; Linux leaves a
        # stream's data queued).
        return _read_cut(mm, f, usable, lambda: _usable(mm, usable, True)[1], want, pos)
    data = f.read(want, pos)
    _put(mm, usable, data)
    return len(data)


def _window_when_ready(mm, f, usable, want, pos):
    """_read_window of a file that must wait first, as _read_when_ready:
    f.wait_readable(), then a read into what of `usable` is still
    writable after the wait (a fault there leaves the data unread: EFAULT,
    or the count read_cut gives)."""
    while True:
        f.wait_readable()
        now, have, hole = _usable(mm, usable, write=True)
        if hole and hasattr(f, "read_cut"):
            return _read_cut(mm, f, now, have, want, pos)
        if not have:
            raise SyscallError(errno.EFAULT)
        n = f.readinto([b for addr, k in now for b in mm.write_buffers(addr, k)], pos)
        if n is not None:
            return n                # (None: taken by another reader first, wait again)


def write_from(mm, f, spans, offset=None):
    """Write the guest buffers `spans` [(addr, len)] to f in pieces of up
    to CHUNK bytes (small buffers are joined, so a writev of at most
    PIPE_BUF bytes stays one atomic write); stops at the first short write,
    error or inaccessible byte, as read_into does."""
    if _one_window(spans) is None and not any(length for _, length in spans):
        return f.write(b"", offset)          # still the file's own errors (/dev/full)
    if hasattr(f, "writefrom"):
        return _write_direct(mm, f, spans, offset)
    total = 0
    for piece in _pieces(mm, spans):
        if piece is None:                      # the next byte is inaccessible
            if total:
                return total
            raise SyscallError(errno.EFAULT)
        try:
            n = f.write(piece, _pos(offset, total))
        except SyscallError:
            if total:
                return total
            raise
        total += n
        if n < len(piece):
            break
    return total


def _write_direct(mm, f, spans, offset):
    """write_from() for a file that writes from memory itself (a host
    file's pwritev): the guest's frames go to the file with no copy."""
    total = 0
    for window in _one_window(spans) or windows(spans):
        usable, want, hole = _usable(mm, window, write=False)
        if hole and hasattr(f, "write_cut") and not total:
            # A file whose count depends on where the copy faults (a pipe,
            # a Unix socket) is written once, as read_into reads it.
            data = b"".join(mm.copy_in(addr, n) for addr, n in usable)
            return f.write_cut(data, sum(n for _, n in window), _pos(offset, total))
        if not want:
            if total:
                return total
            raise SyscallError(errno.EFAULT)
        try:
            buffers = [b for addr, n in usable for b in mm.read_buffers(addr, n)]
            n = f.writefrom(buffers, _pos(offset, total))
        except SyscallError:
            if total:
                return total
            raise
        total += n
        if n < want or hole:
            break
    return total


def _pieces(mm, spans):
    """The bytes of spans in pieces of at most CHUNK; None where the
    first inaccessible byte is (and nothing after it)."""
    parts, size = [], 0
    for addr, length in spans:
        done = 0
        while done < length:
            try:
                n = mm.accessible(addr + done, min(CHUNK - size, length - done), write=False)
            except SyscallError:
                n = 0
            if n:
                parts.append(mm.copy_in(addr + done, n))
                size += n
                done += n
            if size == CHUNK or (not n and parts):
                yield b"".join(parts)
                parts, size = [], 0
            if not n:
                yield None
                return
    if parts:
        yield b"".join(parts)


# Task I/O accounting (/proc/[pid]/io), as Linux's: a call past its
# checks counts once in syscr/syscw (failed or not) when it ends (a read
# of /proc/self/io does not see itself), and what it moved in
# rchar/wchar; the vector calls count even when their checks fail.
RCHAR, WCHAR, SYSCR, SYSCW = range(4)


def _moved(task, chars, n):
    task.ioac[chars] += n
    return n


# File.readable()/writable() as the open flags' O_PATH and access mode
# bits they allow, for _checked (a frame less on every read and write).
_ACCESS_BITS = O_PATH | O_ACCMODE
_READ_ACCESS, _WRITE_ACCESS = (os.O_RDONLY, os.O_RDWR), (os.O_WRONLY, os.O_RDWR)


def _checked(task, fd, buf, count, writing):
    """read(2)/write(2)'s file, past _readable/_writable, access_ok and
    verify_area, in one frame (every read and write comes here; a count
    that passed access_ok is far below verify_area's 2^63)."""
    f = task.fds.get(fd & FD_MASK)
    if f.flags & _ACCESS_BITS not in (_WRITE_ACCESS if writing else _READ_ACCESS):
        raise SyscallError(errno.EBADF)
    if count > USER_TOP or buf > USER_TOP - count:
        raise SyscallError(errno.EFAULT)
    pos = getattr(f, "offset", None)
    if pos is not None and (pos < 0 or pos + count > MAX_LFS):
        raise SyscallError(errno.EINVAL)
    return f


def read(task, fd, buf, count):
    """Implements read(2)."""
    f = _checked(task, fd, buf, count, False)
    ioac = task.ioac
    try:
        n = _read(task, f, buf, count, None)
        ioac[RCHAR] += n
        return n
    finally:
        ioac[SYSCR] += 1


def _read(task, f, buf, count, offset):
    """read(2) and pread64(2) of one buffer, at the file position (offset
    None) or at offset."""
    if 0 < count <= CHUNK and hasattr(f, "readinto"):
        # The common case in one step: a buffer the program may write
        # whole, read into straight from the file (read_into would find
        # the same single window, with more steps).
        try:
            buffers = task.mm.write_buffers(buf, count)
        except SyscallError:
            pass                    # a hole in the buffer: read_into cuts it
        else:
            n = f.readinto(buffers, offset)
            return n if n is not None else _read_when_ready(task, f, buf, count, offset)
    return read_into(task.mm, f, [(buf, min(count, MAX_RW_COUNT))], offset)


def _read_when_ready(task, f, buf, count, offset):
    """_read of a file that must wait first: f.wait_readable() (its own
    EINTR and timeout rules), then a read into the frames the buffer has
    after the wait, never ones taken before it (errors.WouldWait says
    why)."""
    while True:
        f.wait_readable()
        try:
            buffers = task.mm.write_buffers(buf, count)
        except SyscallError:
            # Unmapped meanwhile (part or all): read_into reads what is
            # still there, or EFAULT with the data left unread.
            return read_into(task.mm, f, [(buf, count)], offset)
        n = f.readinto(buffers, offset)
        if n is not None:
            return n                # (None: taken by another reader first, wait again)


def write(task, fd, buf, count):
    """Implements write(2). /dev/null and /dev/zero take the count without
    reading the buffer, as Linux's write_null does."""
    f = _checked(task, fd, buf, count, True)
    ioac = task.ioac
    try:
        n = _write(task, f, buf, min(count, MAX_RW_COUNT), None)
        ioac[WCHAR] += n
        return n
    finally:
        ioac[SYSCW] += 1


def _write(task, f, buf, count, offset):
    """write(2) and pwrite64(2) of one buffer, at the file position
    (offset None) or at offset."""
    if f.discards_writes:
        return count
    if 0 < count <= CHUNK and hasattr(f, "writefrom"):
        # As read's common case: one buffer the program may read whole,
        # written straight from its frames.
        try:
            buffers = task.mm.read_buffers(buf, count)
        except SyscallError:
            pass                    # a hole in the buffer: write_from cuts it
        else:
            return f.writefrom(buffers, offset)
    return write_from(task.mm, f, [(buf, count)], offset)


def _positional(task, fd, offset, usable):
    """The file and offset of a pread/pwrite-family call, checked in
    Linux's order: a negative offset (EINVAL) before the fd (EBADF), a
    stream (ESPIPE) before the access mode (EBADF)."""
    offset = _offset(offset)
    f = task.fds.get(i32(fd))
    if f.flags & sys_fd.O_PATH:
        raise SyscallError(errno.EBADF)
    if not f.seekable():
        raise SyscallError(errno.ESPIPE)
    if not usable(f):
        raise SyscallError(errno.EBADF)
    return f, offset


def _may_read(f):
    return f.readable()


def _may_write(f):
    return f.writable()


def pread64(task, fd, buf, count, offset):
    """Implements pread64(2)."""
    f, offset = _positional(task, fd, offset, _may_read)
    access_ok(buf, count)
    verify_area(f, offset, count)
    ioac = task.ioac
    try:
        n = _read(task, f, buf, count, offset)
        ioac[RCHAR] += n
        return n
    finally:
        ioac[SYSCR] += 1


def pwrite64(task, fd, buf, count, offset):
    """Implements pwrite64(2)."""
    f, offset = _positional(task, fd, offset, _may_write)
    access_ok(buf, count)
    verify_area(f, offset, count)
    ioac = task.ioac
    try:
        n = _write(task, f, buf, min(count, MAX_RW_COUNT), offset)
        ioac[WCHAR] += n
        return n
    finally:
        ioac[SYSCW] += 1


def read_iovec(mm, iov, iovcnt):
    """[(base, len)] of a guest iovec array, validated as Linux's
    import_iovec does: EINVAL for a bad count or a negative length, lengths
    cut so the total stays within MAX_RW_COUNT, EFAULT for a buffer that
    runs past the top of user space."""
    iovcnt = i32(iovcnt)
    if iovcnt < 0 or iovcnt > UIO_MAXIOV:
        raise SyscallError(errno.EINVAL)
    raw = mm.copy_in(iov, 16 * iovcnt)
    out, total = [], 0
    for i in range(iovcnt):
        base, length = struct.unpack_from("<QQ", raw, 16 * i)
        if length >= 1 << 63:
            raise SyscallError(errno.EINVAL)
        length = min(length, MAX_RW_COUNT - total)
        access_ok(base, length)
        total += length
        out.append((base, length))
    return out


def _total(vecs):
    return sum(length for _, length in vecs)


def readv(task, fd, iov, iovcnt):
    """Implements readv(2)."""
    try:
        f = _readable(task, fd)
        vecs = read_iovec(task.mm, iov, iovcnt)
        verify_area(f, None, _total(vecs))
        return _moved(task, RCHAR, read_into(task.mm, f, vecs))
    finally:
        task.ioac[SYSCR] += 1


def writev(task, fd, iov, iovcnt):
    """Implements writev(2)."""
    try:
        f = _writable(task, fd)
        vecs = read_iovec(task.mm, iov, iovcnt)
        verify_area(f, None, _total(vecs))
        if f.discards_writes:
            return _moved(task, WCHAR, _total(vecs))
        return _moved(task, WCHAR, write_from(task.mm, f, vecs))
    finally:
        task.ioac[SYSCW] += 1


def preadv(task, fd, iov, iovcnt, offset):
    """Implements preadv(2)."""
    try:
        f, offset = _positional(task, fd, offset, _may_read)
        vecs = read_iovec(task.mm, iov, iovcnt)
        verify_area(f, offset, _total(vecs))
        return _moved(task, RCHAR, read_into(task.mm, f, vecs, offset))
    finally:
        task.ioac[SYSCR] += 1


def pwritev(task, fd, iov, iovcnt, offset):
    """Implements pwritev(2)."""
    try:
        f, offset = _positional(task, fd, offset, _may_write)
        vecs = read_iovec(task.mm, iov, iovcnt)
        verify_area(f, offset, _total(vecs))
        if f.discards_writes:
            return _moved(task, WCHAR, _total(vecs))
        return _moved(task, WCHAR, write_from(task.mm, f, vecs, offset))
    finally:
        task.ioac[SYSCW] += 1


FIONREAD, FIONBIO, FIONCLEX, FIOCLEX, FIOASYNC = 0x541B, 0x5421, 0x5450, 0x5451, 0x5452
FIOSETOWN, SIOCSPGRP, FIOGETOWN, SIOCGPGRP = 0x8901, 0x8902, 0x8903, 0x8904


def ioctl(task, fd, request, arg):
    """Implements ioctl(2): the fd-level requests here, the rest by the
    file's type."""
    fd, request = i32(fd), request & 0xFFFFFFFF
    f = task.fds.get(fd)
    if f.flags & sys_fd.O_PATH:
        raise SyscallError(errno.EBADF)
    if request == FIOCLEX or request == FIONCLEX:
        task.fds.set_cloexec(fd, request == FIOCLEX)
        return 0
    if request == FIONBIO:
        (on,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
        f.flags = f.flags | 0o4000 if on else f.flags & ~0o4000
        return 0
    if request == FIOASYNC:
        (on,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
        flags = f.flags | os.O_ASYNC if on else f.flags & ~os.O_ASYNC
        return sys_fd.fcntl(task, fd, sys_fd.F_SETFL, flags & sys_fd.SETFL_MASK)
    # The owner ioctls are sockets' (sock_ioctl); others answer as their type.
    is_socket = hasattr(f, "family")
    if request in (FIOSETOWN, SIOCSPGRP) and is_socket:
        (who,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
        return sys_fd.fcntl(task, fd, sys_fd.F_SETOWN, who & 0xFFFFFFFF)
    if request in (FIOGETOWN, SIOCGPGRP) and is_socket:
        task.mm.copy_out(arg, struct.pack("<i", sys_fd.fcntl(task, fd, sys_fd.F_GETOWN, 0)))
        return 0
    if request == FIONREAD and f.inode is not None and f.inode.is_reg():
        left = max(f.inode.getattr().size - getattr(f, "offset", 0), 0)
        task.mm.copy_out(arg, struct.pack("<i", min(left, 0x7FFFFFFF)))
        return 0
    return f.ioctl(task, request, arg)


def close(task, fd):
    """Implements close(2). Closing any fd of a file drops the process's
    POSIX record locks on it, as Linux does."""
    f = task.fds.close(fd if fd <= 0x7FFFFFFF else i32(fd))
    task.kernel.record_locks.release(task.tgid, lock_target(f))
    return 0


def _copy(src, dst, pos_in, pos_out, count):
    """Move count bytes from src at pos_in (the file position if None)
    to dst at pos_out (likewise), CHUNK bytes at a time; stops at the
    first short read or write. An error only counts when nothing moved."""
    total = 0
    while total < count:
        want = min(CHUNK, count - total)
        try:
            data = src.read(want, _pos(pos_in, total))
            if not data:
                break
            n = dst.write(data, _pos(pos_out, total))
        except SyscallError:
            if total:
                break
            raise
        total += n
        if n < len(data) or len(data) < want:
            break
    return total


def sendfile(task, out_fd, in_fd, offset_ptr, count):
    """Implements sendfile(2) (a regular file to any writable sink)."""
    src = _readable(task, in_fd)
    off = None
    if offset_ptr:
        (off,) = struct.unpack("<q", task.mm.copy_in(offset_ptr, 8))
        if not src.seekable():
            raise SyscallError(errno.ESPIPE)
    verify_area(src, off, count)
    count = min(count, MAX_RW_COUNT)
    dst = _writable(task, out_fd)
    verify_area(dst, None, count)
    if dst.flags & 0o2000 or src.inode is None or not src.inode.is_reg():
        raise SyscallError(errno.EINVAL)                 # O_APPEND sink, non-file source
    if off is None:
        # The source's position moves by what the sink took, not by what
        # was read ahead of a short write.
        pos = src.offset
        n = _copied(task, _copy(src, dst, pos, None, count))
        src.offset = pos + n
        return n
    n = _copied(task, _copy(src, dst, off, None, count))
    task.mm.copy_out(offset_ptr, struct.pack("<q", off + n))
    return n


def _copied(task, n):
    """What sendfile and copy_file_range count: a read and a write call
    and the bytes moved, in each direction."""
    io = task.ioac
    io[SYSCR] += 1
    io[SYSCW] += 1
    io[RCHAR] += n
    io[WCHAR] += n
    return n


def copy_file_range(task, fd_in, off_in, fd_out, off_out, length, flags):
    """Implements copy_file_range(2) between regular files, with the
    checks of Linux's generic_copy_file_checks in its order: EOVERFLOW
    for a range that wraps, the copy cut at the source's end and at the
    largest file position (EFBIG at or past it), EINVAL for overlapping
    ranges of one file, then rw_verify_area's EINVAL for a negative
    position."""
    if flags:
        raise SyscallError(errno.EINVAL)
    src, dst = task.fds.get(i32(fd_in)), task.fds.get(i32(fd_out))
    o_in = struct.unpack("<q", task.mm.copy_in(off_in, 8))[0] if off_in else None
    o_out = struct.unpack("<q", task.mm.copy_in(off_out, 8))[0] if off_out else None
    for f in (src, dst):
        if f.inode is not None and f.inode.is_dir():
            raise SyscallError(errno.EISDIR)
    for f in (src, dst):
        if f.inode is None or not f.inode.is_reg():
            raise SyscallError(errno.EINVAL)
    if not src.readable() or not dst.writable() or dst.flags & 0o2000:
        raise SyscallError(errno.EBADF)
    p_in = o_in if o_in is not None else src.offset
    p_out = o_out if o_out is not None else dst.offset
    if (p_in & (1 << 64) - 1) + length >= 1 << 64 or \
            (p_out & (1 << 64) - 1) + length >= 1 << 64:
        raise SyscallError(errno.EOVERFLOW)
    size_in = src.inode.getattr().size
    count = 0 if p_in >= size_in else min(length, size_in - p_in)
    if p_out >= MAX_LFS:
        raise SyscallError(errno.EFBIG)
    count = min(count, MAX_LFS - p_out)
    if src.inode is dst.inode and p_out + count > p_in and p_out < p_in + count:
        raise SyscallError(errno.EINVAL)          # overlapping ranges of one file
    if count == 0:
        return 0
    if p_in < 0 or p_out < 0:
        raise SyscallError(errno.EINVAL)
    n = _copied(task, _copy(src, dst, p_in, p_out, min(count, MAX_RW_COUNT)))
    if off_in:
        task.mm.copy_out(off_in, struct.pack("<q", p_in + n))
    else:
        src.offset = p_in + n
    if off_out:
        task.mm.copy_out(off_out, struct.pack("<q", p_out + n))
    else:
        dst.offset = p_out + n
    return n
