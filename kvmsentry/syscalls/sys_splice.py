"""splice, tee and vmsplice: moving data into, out of and between pipes
without a user buffer, with Linux's argument rules (fs/splice.c).

The sandbox's pipes are byte buffers (kernel/pipe.py), so "moving pages"
is copying bytes inside the sentry; what a call moves, when it waits and
which errno it gives follow Linux. A pipe counts as full when its bytes
reach its capacity (Linux counts page-sized slots), or, while it holds
packets (pipe2's O_DIRECT), when its buffers do; splice and tee between
pipes carry packets along.
"""
import errno
import struct

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.errors import SyscallError
from kvmsentry.kernel.pipe import PipeFile
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.syscalls.sys_read_write import MAX_RW_COUNT, read_iovec, verify_area
from kvmsentry.vfs.file import O_APPEND, O_NONBLOCK

SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT = 1, 2, 4, 8
SPLICE_F_ALL = 0xF
CHUNK = 1 << 16


def _pipe_of(f):
    return f.pipe if isinstance(f, PipeFile) else None


def _read_offset(task, ptr, f):
    """The loff_t at ptr for a file that must support positioned I/O."""
    if not f.seekable():
        raise SyscallError(errno.EINVAL)
    (off,) = struct.unpack("<q", task.mm.copy_in(ptr, 8))
    return off


def _files(task, fd_in, fd_out):
    fin, fout = task.fds.get(i32(fd_in)), task.fds.get(i32(fd_out))
    if not fin.readable() or not fout.writable():
        raise SyscallError(errno.EBADF)
    return fin, fout


def splice(task, fd_in, off_in, fd_out, off_out, length, flags):
    """Implements splice(2): pipe to file or socket, file or socket to
    pipe, pipe to pipe."""
    if not length:
        return 0
    flags = u32(flags)
    if flags & ~SPLICE_F_ALL:
        raise SyscallError(errno.EINVAL)
    fin, fout = _files(task, fd_in, fd_out)
    ipipe, opipe = _pipe_of(fin), _pipe_of(fout)
    if ipipe is not None and off_in or opipe is not None and off_out:
        raise SyscallError(errno.ESPIPE)
    length = min(length, MAX_RW_COUNT)
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    if ipipe is not None and opipe is not None:
        if ipipe is opipe:
            raise SyscallError(errno.EINVAL)
        nonblock |= bool((fin.flags | fout.flags) & O_NONBLOCK)
        return _pipe_to_pipe(ipipe, opipe, length, nonblock, consume=True)
    if ipipe is not None:
        offset = _read_offset(task, off_out, fout) if off_out else None
        if fout.flags & O_APPEND:
            raise SyscallError(errno.EINVAL)
        verify_area(fout, offset, length)
        nonblock |= bool(fin.flags & O_NONBLOCK)
        n = _from_pipe(ipipe, fout, offset, length, nonblock)
        if off_out:
            task.mm.copy_out(off_out, struct.pack("<q", offset + n))
        return n
    if opipe is not None:
        offset = _read_offset(task, off_in, fin) if off_in else None
        verify_area(fin, offset, length)
        nonblock |= bool(fout.flags & O_NONBLOCK)
        n = _to_pipe(fin, offset, opipe, length, nonblock)
        if off_in:
            task.mm.copy_out(off_in, struct.pack("<q", offset + n))
        return n
    raise SyscallError(errno.EINVAL)


def _from_pipe(pipe, f, offset, length, nonblock):
    """Write what the pipe holds (waiting for some) to f: the bytes leave
    the pipe only as f takes them. An error counts only if nothing moved."""
    if not pipe.wait_data(nonblock):
        return 0
    total = 0
    while total < length:
        data = pipe.peek(min(CHUNK, length - total))
        if not data:
            break
        try:
            n = f.write(data, None if offset is None else offset + total)
        except SyscallError:
            if total:
                break
            raise
        pipe.consume(n)
        total += n
        if n < len(data):
            break
    return total


def _to_pipe(f, offset, pipe, length, nonblock):
    """Read from f into the pipe's free room (waiting for some room)."""
    pipe.wait_room(nonblock)
    want = min(length, pipe.room())
    # A regular file's pipe buffers are its page cache's pages, cut where
    # the file's pages are (filemap_splice_read): their first ends at the
    # page boundary after the position.
    inode = f.inode if f.seekable() else None
    pos = (offset if offset is not None else getattr(f, "offset", None)) \
        if inode is not None and inode.is_reg() else None
    if f.flags & O_NONBLOCK or not nonblock:
        data = f.read(want, offset)
    else:
        # SPLICE_F_NONBLOCK also makes the read from a socket or pipe-like
        # source non-blocking for this call (the kernel lock is held:
        # nothing else sees the flag).
        f.flags |= O_NONBLOCK
        try:
            data = f.read(want, offset)
        finally:
            f.flags &= ~O_NONBLOCK
    pipe.put(data, None if pos is None else _page_cuts(pos, len(data)))
    return len(data)


def _page_cuts(addr, n):
    """Where in n bytes from addr (a file position or a user address)
    the pages after the first begin: put's cuts for what they fill."""
    return list(range(PAGE_SIZE - addr % PAGE_SIZE, n, PAGE_SIZE))


def _pipe_to_pipe(ipipe, opipe, length, nonblock, consume):
    """splice (consume=True) or tee between two pipes: wait for data in
    ipipe and room in opipe, then move (or copy) what fits."""
    if not ipipe.wait_data(nonblock):
        return 0
    opipe.wait_room(nonblock)
    data, cuts, packets = ipipe.peek_buffers(min(length, opipe.room()))
    if consume:
        ipipe.consume(len(data))
    opipe.put(data, cuts, packets)
    return len(data)


def tee(task, fd_in, fd_out, length, flags):
    """Implements tee(2): copies from one pipe to another, leaving the
    data in the first."""
    flags = u32(flags)
    if flags & ~SPLICE_F_ALL:
        raise SyscallError(errno.EINVAL)
    if not length:
        return 0
    fin, fout = _files(task, fd_in, fd_out)
    ipipe, opipe = _pipe_of(fin), _pipe_of(fout)
    if ipipe is None or opipe is None or ipipe is opipe:
        raise SyscallError(errno.EINVAL)
    nonblock = bool(flags & SPLICE_F_NONBLOCK or (fin.flags | fout.flags) & O_NONBLOCK)
    return _pipe_to_pipe(ipipe, opipe, min(length, MAX_RW_COUNT), nonblock, consume=False)


def vmsplice(task, fd, iov, nr_segs, flags):
    """Implements vmsplice(2): user memory into a pipe's write end (what
    fits once there is room), or from a read end into user memory (what
    is there once there is some). The bytes are copied: SPLICE_F_GIFT
    gives nothing away."""
    flags = u32(flags)
    if flags & ~SPLICE_F_ALL:
        raise SyscallError(errno.EINVAL)
    f = task.fds.get(i32(fd))
    to_pipe = f.writable()
    if not to_pipe and not f.readable():
        raise SyscallError(errno.EBADF)
    vecs = read_iovec(task.mm, iov, nr_segs)
    if not sum(n for _, n in vecs):
        return 0
    pipe = _pipe_of(f)
    if pipe is None:
        raise SyscallError(errno.EBADF)
    nonblock = bool(flags & SPLICE_F_NONBLOCK or f.flags & O_NONBLOCK)
    if to_pipe:
        pipe.wait_room(nonblock)
        room = pipe.room()
        parts, cuts, done = [], [], 0
        for addr, n in vecs:
            n = min(n, room)
            if not n:
                break
            try:
                n = task.mm.accessible(addr, n, write=False)
            except SyscallError:
                if parts:
                    break
                raise
            parts.append(task.mm.copy_in(addr, n))
            # The user's pages are the pipe buffers (vmsplice_to_pipe).
            cuts += ([done] if done else []) + [done + c for c in _page_cuts(addr, n)]
            done += n
            room -= n
        data = b"".join(parts)
        pipe.put(data, cuts)
        return len(data)
    if not pipe.wait_data(nonblock):
        return 0
    total = 0
    for addr, n in vecs:
        data = pipe.peek(n)
        if not data:
            break
        try:
            n = task.mm.accessible(addr, len(data), write=True)
        except SyscallError:
            if total:
                break
            raise
        task.mm.copy_out(addr, data[:n])
        pipe.consume(n)
        total += n
        if n < len(data):
            break
    return total
