"""Linux native AIO: io_setup, io_destroy, io_submit, io_getevents,
io_pgetevents, io_cancel. Contexts and their rings: kernel/aio.py."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import aio
from kvmsentry.kernel import polling as pl
from kvmsentry.kernel.signal_delivery import send
from kvmsentry.kernel.signals import SIGPIPE, SigInfo
from kvmsentry.kernel.waiter import block_until
from kvmsentry.syscalls import sys_poll
from kvmsentry.syscalls.args import i32, i64
from kvmsentry.syscalls.sys_read_write import (access_ok, read_into, read_iovec,
                                               verify_area, write_from)

IOCB = struct.Struct("<QIIHhIQQqQII")
IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC = 0, 1, 2, 3
IOCB_CMD_POLL, IOCB_CMD_NOOP, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV = 5, 6, 7, 8
IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO = 1, 2
MAX_RW_COUNT = 0x7FFFF000
RWF_SUPPORTED = 0x1F              # RWF_HIPRI|DSYNC|SYNC|NOWAIT|APPEND


def io_setup(task, nr_events, ctxp):
    """Implements io_setup(2)."""
    (old,) = struct.unpack("<Q", task.mm.copy_in(ctxp, 8))
    nr_events = nr_events & 0xFFFFFFFF
    if old or nr_events == 0:
        raise SyscallError(errno.EINVAL)
    addr = aio.setup(task.mm, nr_events)
    try:
        task.mm.copy_out(ctxp, struct.pack("<Q", addr))
    except SyscallError:
        aio.destroy(task.mm, addr)
        raise
    return 0


def io_destroy(task, ctx_id):
    """Implements io_destroy(2)."""
    aio.destroy(task.mm, ctx_id)
    return 0


def io_submit(task, ctx_id, nr, iocbpp):
    """Implements io_submit(2): each request is carried out before the
    call returns and its event queued in the ring; the count of requests
    taken, or the first one's error when none was."""
    nr = i64(nr)
    if nr < 0:
        raise SyscallError(errno.EINVAL)
    ctx = aio.lookup(task.mm, ctx_id)
    done = 0
    for i in range(min(nr, ctx.nr)):
        try:
            (user_iocb,) = struct.unpack("<Q", task.mm.copy_in(iocbpp + 8 * i, 8))
            _submit_one(task, ctx, ctx_id, user_iocb)
        except SyscallError:
            if done:
                break
            raise
        done += 1
    return done


def _submit_one(task, ctx, ctx_id, user_iocb):
    """io_submit_one: check the iocb (errors are io_submit's), then run it
    (its result, error or not, is the event's)."""
    (data, _key, rw_flags, opcode, _prio, fd, buf, nbytes, offset, reserved2,
     flags, resfd) = IOCB.unpack(task.mm.copy_in(user_iocb, IOCB.size))
    if reserved2 or nbytes >= 1 << 63:
        raise SyscallError(errno.EINVAL)
    if not ctx.room(ctx_id):
        raise SyscallError(errno.EAGAIN)
    eventfd = task.fds.get(i32(resfd)) if flags & IOCB_FLAG_RESFD else None
    if eventfd is not None and type(eventfd).__name__ != "EventFd":
        raise SyscallError(errno.EINVAL)
    if opcode in (IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV):
        run = _prep_rw(task, opcode, fd, buf, nbytes, offset, rw_flags)
    elif opcode in (IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC):
        if buf or offset or nbytes or rw_flags:
            raise SyscallError(errno.EINVAL)
        task.fds.get(i32(fd))

        def run():
            return 0
    else:
        raise SyscallError(errno.EINVAL)       # IOCB_CMD_POLL is not done
    try:
        res = run()
    except SyscallError as e:
        res = -e.errno
        if e.errno == errno.EPIPE:
            send(task.kernel, task, SigInfo.kernel(SIGPIPE), thread=True)
    ctx.complete(ctx_id, data, user_iocb, res)
    if eventfd is not None:
        try:
            eventfd.write(struct.pack("<Q", 1))
        except SyscallError:
            pass                              # Linux's eventfd_signal saturates quietly


def _prep_rw(task, opcode, fd, buf, nbytes, offset, rw_flags):
    """aio_read/aio_write's checks, in Linux's order; returns the transfer."""
    f = task.fds.get(i32(fd))
    if rw_flags & ~RWF_SUPPORTED:
        raise SyscallError(errno.EOPNOTSUPP)
    reading = opcode in (IOCB_CMD_PREAD, IOCB_CMD_PREADV)
    if not (f.readable() if reading else f.writable()):
        raise SyscallError(errno.EBADF)
    if opcode in (IOCB_CMD_PREADV, IOCB_CMD_PWRITEV):
        spans = read_iovec(task.mm, buf, nbytes)
    else:
        access_ok(buf, nbytes)
        spans = [(buf, min(nbytes, MAX_RW_COUNT))]
    total = sum(n for _, n in spans)
    verify_area(f, offset, total)
    pos = offset if f.seekable() else None
    if reading:
        return lambda: read_into(task.mm, f, spans, pos)
    return lambda: write_from(task.mm, f, spans, pos)


def _getevents(task, ctx_id, min_nr, nr, events, timeout, mask=None):
    deadline = None
    if timeout:
        sec, nsec = struct.unpack("<qq", task.mm.copy_in(timeout, 16))
        deadline = pl.deadline_after(max(0, sec * 1_000_000_000 + nsec))
    ctx = aio.lookup(task.mm, ctx_id)
    min_nr, nr = i64(min_nr), i64(nr)
    if min_nr < 0 or min_nr > nr:
        raise SyscallError(errno.EINVAL)
    got = []

    def ready():
        if not ctx.dead:
            got.extend(ctx.reap(ctx_id, nr - len(got)))
        return len(got) >= min_nr or ctx.dead

    def wait():
        block_until(task, ready, [(ctx.queue, aio.COMPLETED)], deadline=deadline)

    try:
        if mask is None:
            wait()
        else:
            sys_poll._masked_wait(task, mask, wait)
    except SyscallError:
        if not got:
            raise
    if got:
        task.mm.copy_out(events, b"".join(got))
    return len(got)


def io_getevents(task, ctx_id, min_nr, nr, events, timeout):
    """Implements io_getevents(2)."""
    return _getevents(task, ctx_id, min_nr, nr, events, timeout)


def io_pgetevents(task, ctx_id, min_nr, nr, events, timeout, usig):
    """Implements io_pgetevents(2): io_getevents under a signal mask."""
    mask = None
    if usig:
        sigmask, size = struct.unpack("<QQ", task.mm.copy_in(usig, 16))
        if sigmask:
            mask = sys_poll._read_sigmask(task, sigmask, size)
    return _getevents(task, ctx_id, min_nr, nr, events, timeout, mask)


def io_cancel(task, ctx_id, iocb, result):
    """Implements io_cancel(2): requests complete as they are submitted,
    so there is never one to cancel (EINVAL, as for an unknown one)."""
    task.mm.copy_in(iocb + 8, 4)
    aio.lookup(task.mm, ctx_id)
    raise SyscallError(errno.EINVAL)
