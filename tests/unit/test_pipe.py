"""Pipes and FIFOs: blocking and waking across host threads, EOF, EPIPE,
EAGAIN, PIPE_BUF atomicity, F_{GET,SET}PIPE_SZ and the FIFO open rules."""
import errno
import os
import random
import stat as st
import struct
import threading
import time

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.kernel.pipe import (FIONREAD, PAGE_SIZE as PAGE, PIPE_BUF, POLLERR, POLLHUP,
                                   POLLIN, POLLOUT, PipeFile, make_pipe)
from kvmsentry.vfs.file import SEEK_SET
from kvmsentry.vfs.mount import Location, Mount

CAP = 65536
WAIT = 5.0                    # generous bound for a thread that should finish
SETTLE = 0.05                 # long enough for a thread to reach its wait


def raises(err, fn, *args, **kw):
    with pytest.raises(SyscallError) as e:
        fn(*args, **kw)
    assert e.value.errno == err, errno.errorcode.get(e.value.errno)


class Runner(threading.Thread):
    """Runs fn in a thread; .result or .error afterwards."""

    def __init__(self, fn, *args, **kw):
        super().__init__(daemon=True)
        self.fn, self.args, self.kw = fn, args, kw
        self.result = self.error = None
        self.start()

    def run(self):
        try:
            self.result = self.fn(*self.args, **self.kw)
        except SyscallError as e:
            self.error = e.errno

    def finish(self):
        self.join(WAIT)
        assert not self.is_alive(), "thread still blocked"
        return self


def blocked(runner):
    time.sleep(SETTLE)
    return runner.is_alive()


class FakeTask:
    class mm:
        out = {}

        @classmethod
        def copy_out(cls, addr, data):
            cls.out[addr] = bytes(data)
            return len(data)


# --- anonymous pipes --------------------------------------------------------------

def test_make_pipe_flags():
    r, w = make_pipe(os.O_NONBLOCK | os.O_CLOEXEC)
    assert r.flags == os.O_RDONLY | os.O_NONBLOCK and w.flags == os.O_WRONLY | os.O_NONBLOCK
    assert r.readable() and not r.writable() and w.writable() and not w.readable()
    raises(errno.EINVAL, make_pipe, os.O_APPEND)
    raises(errno.EBADF, r.write, b"x")
    raises(errno.EBADF, w.read, 1)


def test_data_flows_and_reads_are_short():
    r, w = make_pipe(0)
    assert w.write(b"hello") == 5 and w.write(b" world") == 6
    assert r.read(3) == b"hel" and r.read(100) == b"lo world"
    assert r.read(0) == b"" and w.write(b"") == 0


def test_readinto_and_writefrom_views():
    """The guest-frame paths: one view shorter than the data (the rest
    stays), one longer (a short read), several views in order; the pipe
    keeps no export of its buffer afterwards (it can shrink and grow)."""
    r, w = make_pipe(0)
    assert w.writefrom([memoryview(b"abcdef")]) == 6
    assert w.writefrom([memoryview(b"gh"), memoryview(b"ij")]) == 4
    short = bytearray(4)
    assert r.readinto([memoryview(short)]) == 4 and short == b"abcd"
    a, b = bytearray(3), bytearray(10)
    assert r.readinto([memoryview(a), memoryview(b)]) == 6
    assert a == b"efg" and b[:3] == b"hij"
    w.write(b"xy")
    long = bytearray(8)
    assert r.readinto([memoryview(long)]) == 2 and long[:2] == b"xy"
    assert w.write(b"z" * 100) == 100 and r.read(1000) == b"z" * 100


def test_not_seekable():
    r, w = make_pipe(0)
    assert not r.seekable()
    raises(errno.ESPIPE, r.seek, 0, SEEK_SET)
    raises(errno.ESPIPE, r.read, 1, 0)
    raises(errno.ESPIPE, w.write, b"x", 0)


def test_eof_after_last_writer_closes():
    r, w = make_pipe(0)
    w.write(b"tail")
    w.release()
    w.release()                                          # idempotent
    assert r.read(100) == b"tail" and r.read(100) == b""


def test_blocking_read_wakes_on_data_and_on_close():
    r, w = make_pipe(0)
    t = Runner(r.read, 100)
    assert blocked(t)
    w.write(b"ping")
    assert t.finish().result == b"ping"
    t = Runner(r.read, 100)
    assert blocked(t)
    w.release()
    assert t.finish().result == b""


def test_epipe_without_readers():
    r, w = make_pipe(0)
    r.release()
    raises(errno.EPIPE, w.write, b"x")
    assert w.write(b"") == 0                             # a null write still succeeds


def test_nonblocking_eagain():
    r, w = make_pipe(os.O_NONBLOCK)
    raises(errno.EAGAIN, r.read, 10)
    assert w.write(bytes(CAP - 100)) == CAP - 100
    raises(errno.EAGAIN, w.write, bytes(200))           # atomic: all or nothing
    # Large: a partial page merges into the last buffer if it fits (100
    # bytes do, 1000 do not), and every buffer is taken (Linux's counts).
    raises(errno.EAGAIN, w.write, bytes(PIPE_BUF + 1000))
    assert w.write(bytes(PIPE_BUF + 100)) == 100
    raises(errno.EAGAIN, w.write, bytes(PIPE_BUF + 1))
    assert len(r.read(CAP * 2)) == CAP


def test_nonblock_can_be_changed_later():
    r, w = make_pipe(0)
    r.flags |= os.O_NONBLOCK                             # what F_SETFL does
    raises(errno.EAGAIN, r.read, 1)


def test_blocking_write_waits_for_room():
    r, w = make_pipe(0)
    w.write(bytes(CAP))
    t = Runner(w.write, b"x" * 10)
    assert blocked(t)
    assert len(r.read(5)) == 5                           # 5 bytes of room: not enough
    assert blocked(t)
    r.read(100)
    assert blocked(t)                                    # every buffer still holds some
    r.read(PAGE - 105)                                   # the first buffer is free
    assert t.finish().result == 10
    big = Runner(w.write, b"y" * (3 * CAP))             # larger than the pipe
    got = bytearray()
    while len(got) < (CAP - PAGE) + 10 + 3 * CAP:
        got += r.read(CAP)
    assert big.finish().result == 3 * CAP and got.endswith(b"x" * 10 + b"y" * (3 * CAP))


def test_reader_leaving_mid_write_returns_partial_count():
    r, w = make_pipe(0)
    t = Runner(w.write, bytes(CAP + 5000))
    assert blocked(t)
    r.release()
    assert t.finish().result == CAP


def test_writer_blocked_then_reader_gone_gets_epipe():
    r, w = make_pipe(0)
    w.write(bytes(CAP))
    t = Runner(w.write, b"z")
    assert blocked(t)
    r.release()
    assert t.finish().error == errno.EPIPE


def test_pipe_buf_writes_never_interleave():
    r, w = make_pipe(0)
    sizes = {1: PIPE_BUF, 2: 3000, 3: 1000, 4: 17}
    count = 60

    def writer(tag):
        for _ in range(count):
            assert w.write(bytes([tag]) * sizes[tag]) == sizes[tag]

    threads = [Runner(writer, tag) for tag in sizes]
    rng = random.Random(1)
    stream = bytearray()
    total = count * sum(sizes.values())
    while len(stream) < total:
        stream += r.read(rng.choice([1, 100, 4096, 10000, CAP]))
    for t in threads:
        t.finish()
    pos, seen = 0, {tag: 0 for tag in sizes}
    while pos < len(stream):
        tag = stream[pos]
        n = sizes[tag]
        assert stream[pos:pos + n] == bytes([tag]) * n, "interleaved at %d" % pos
        seen[tag] += 1
        pos += n
    assert seen == {tag: count for tag in sizes}


def test_fionread_and_readiness():
    r, w = make_pipe(0)
    assert r.readiness() == (False, False) and w.readiness() == (False, True)
    w.write(b"12345")
    task = FakeTask()
    assert r.ioctl(task, FIONREAD, 0x2000) == 0
    assert struct.unpack("<i", task.mm.out[0x2000]) == (5,)
    raises(errno.ENOTTY, r.ioctl, task, 0x5401, 0)
    assert r.readiness() == (True, False)
    assert r.poll_events() & POLLIN
    w.write(bytes(CAP - PIPE_BUF))
    assert w.readiness() == (False, False)
    w.release()
    assert r.poll_events() & POLLHUP
    r2, w2 = make_pipe(0)
    r2.release()
    assert w2.poll_events() & POLLERR and w2.readiness() == (False, True)
    assert w2.poll_events() & POLLOUT


def test_stat_of_a_pipe():
    r, w = make_pipe(0)
    s = r.stat()
    assert s.mode == st.S_IFIFO | 0o600 and s.size == 0 and s.nlink == 1
    assert w.stat().ino == s.ino
    r2, _ = make_pipe(0)
    assert r2.stat().ino != s.ino


def test_pipe_size():
    r, w = make_pipe(0)
    assert w.get_size() == CAP
    assert w.set_size(1) == 4096 and r.get_size() == 4096
    assert w.set_size(5 * 4096) == 8 * 4096
    raises(errno.EPERM, w.set_size, 2 << 20)
    assert w.set_size(2 << 20, privileged=True) == 2 << 20
    assert w.set_size(1 << 20) == 1 << 20
    w.write(bytes(10000))
    raises(errno.EBUSY, w.set_size, 4096)
    raises(errno.EINVAL, w.set_size, (1 << 31) + 1)
    assert w.set_size(16384) == 16384
    w2 = make_pipe(os.O_NONBLOCK)[1]
    w2.set_size(4096)
    assert w2.write(bytes(8192)) == 4096


class SignalledTask:
    """Just what a wait needs of a task: a waiter, and a pending signal
    that kick() makes appear (kernel/waiter.py)."""

    ctx = None                  # no platform context: nothing to lend while blocked

    def __init__(self):
        from kvmsentry.kernel.waiter import Waiter
        self.waiter = Waiter()
        self.interrupt = threading.Event()
        self.kill_status = None
        self.signalled = False

    def kick(self):
        self.signalled = True
        self.waiter.wake()


def as_task(task, fn, *args):
    from kvmsentry.kernel import locking
    locking.set_current(task)
    return fn(*args)


def test_a_signal_abandons_a_wait(monkeypatch):
    from kvmsentry.kernel import waiter
    monkeypatch.setattr(waiter, "signal_pending", lambda task: task.signalled)
    r, w = make_pipe(0)
    task = SignalledTask()
    t = Runner(as_task, task, r.read, 10)
    assert blocked(t)
    task.kick()
    assert t.finish().error == errno.EINTR
    w.write(bytes(CAP))
    task2 = SignalledTask()
    t = Runner(as_task, task2, w.write, bytes(PIPE_BUF * 2))
    assert blocked(t)
    r.read(PIPE_BUF)
    time.sleep(SETTLE)
    task2.kick()
    assert t.finish().result == PIPE_BUF                 # the part already written


# --- FIFOs ---------------------------------------------------------------------------

class Fifo:
    """A FIFO made with mknod in a tmpfs, opened as the VFS would."""

    def __init__(self):
        self.fs = TmpfsFilesystem(0x50)
        self.inode = self.fs.root().mknod(b"fifo", st.S_IFIFO | 0o640, 0, 5, 6)
        mount = Mount(self.fs)
        self.loc = Location(mount, mount.root.child(b"fifo"))

    def open(self, flags, **kw):
        return self.inode.open(self.loc, flags, **kw)


def test_fifo_nonblocking_opens():
    fifo = Fifo()
    raises(errno.ENXIO, fifo.open, os.O_WRONLY | os.O_NONBLOCK)
    r = fifo.open(os.O_RDONLY | os.O_NONBLOCK)           # succeeds without a writer
    assert r.read(10) == b""                             # and reads EOF
    w = fifo.open(os.O_WRONLY | os.O_NONBLOCK)           # a reader is there now
    w.write(b"abc")
    assert r.read(10) == b"abc"
    raises(errno.EAGAIN, r.read, 10)
    raises(errno.EINVAL, fifo.open, 3)


def test_fifo_blocking_reader_waits_for_a_writer():
    fifo = Fifo()
    t = Runner(fifo.open, os.O_RDONLY)
    assert blocked(t)
    w = fifo.open(os.O_WRONLY)                           # a reader is waiting: no block
    r = t.finish().result
    w.write(b"hello")
    assert r.read(10) == b"hello"
    w.release()
    assert r.read(10) == b""


def test_fifo_blocking_writer_waits_for_a_reader():
    fifo = Fifo()
    t = Runner(fifo.open, os.O_WRONLY)
    assert blocked(t)
    r = fifo.open(os.O_RDONLY | os.O_NONBLOCK)
    w = t.finish().result
    assert w.write(b"x") == 1 and r.read(1) == b"x"


def test_fifo_reader_sees_a_writer_that_came_and_went():
    fifo = Fifo()
    t = Runner(fifo.open, os.O_RDONLY)
    assert blocked(t)
    w = fifo.open(os.O_WRONLY)
    w.release()
    r = t.finish().result
    assert r.read(1) == b""


def test_fifo_rdwr_never_blocks_and_shares_one_pipe():
    fifo = Fifo()
    rw = fifo.open(os.O_RDWR)
    assert rw.write(b"loop") == 4 and rw.read(10) == b"loop"
    r = fifo.open(os.O_RDONLY)                           # a writer exists: no wait
    rw.write(b"shared")
    assert r.read(10) == b"shared"


def test_fifo_data_goes_away_with_the_last_close():
    fifo = Fifo()
    rw = fifo.open(os.O_RDWR)
    rw.write(b"left over")
    first = fifo.inode.fifo.pipe()
    rw.release()
    assert fifo.inode.fifo.pipe() is None
    r = fifo.open(os.O_RDONLY | os.O_NONBLOCK)
    assert r.pipe is not first and r.read(100) == b""


def test_fifo_stat_is_the_inode():
    fifo = Fifo()
    f = fifo.open(os.O_RDWR)
    s = f.stat()
    assert s.mode == st.S_IFIFO | 0o640 and (s.uid, s.gid) == (5, 6)
    assert s.ino == fifo.inode.getattr().ino and s.dev == 0x50
    assert isinstance(f, PipeFile)


def test_fifo_open_interrupted(monkeypatch):
    from kvmsentry.kernel import waiter
    monkeypatch.setattr(waiter, "signal_pending", lambda task: task.signalled)
    fifo = Fifo()
    task = SignalledTask()
    t = Runner(as_task, task, fifo.open, os.O_WRONLY)
    assert blocked(t)
    task.kick()
    assert t.finish().error == errno.EINTR
    assert fifo.inode.fifo.pipe() is None                # the aborted open left no trace
    raises(errno.ENXIO, fifo.open, os.O_WRONLY | os.O_NONBLOCK)
