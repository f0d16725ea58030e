"""Pipes and FIFOs: a bounded byte buffer between reader and writer files.

A Pipe is Linux's pipe_inode_info: the buffer, the counts of open read and
write ends, a small lock for them, and the wait queue (kernel/waiter.py)
of everything that waits on the pipe: blocked readers and writers, FIFO
openers, poll/select/epoll. Every state change notifies the queue with the
events it made true, after the lock is dropped.

Packet mode (a write end with O_DIRECT, pipe2's or F_SETFL's): each
write goes into pipe buffers of its own, a packet each (PAGE_SIZE bytes
at most), and a read that reaches a packet ends with it, dropping what
it did not take. Every pipe counts as full by its buffers (capacity /
PAGE_SIZE of them), as Linux's pipe_write does: a write merges its last
partial page into the last buffer if that has room, and every other page
of it (a packet, a write of one byte into a full last buffer) takes a
buffer of its own.

pipe2(2) makes a fresh Pipe with make_pipe(); a FIFO inode keeps a Fifo,
which hands out one shared Pipe for all its opens and applies the FIFO
open rules (blocking until the other side opens).

Waits go through waiter.wait_event (block_until for the running task): a
signal ends them with EINTR; whether that becomes a restart is dispatch's
decision, not this module's.
"""
import bisect
import errno
import functools
import itertools
import os
import stat as st
import struct
import threading
# inode.now_ns is this, a frame further: a pipe stamps a time on every
# read and write.
from time import time_ns as now_ns

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fasync import POLL_IN, POLL_OUT, FasyncList
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.signal_delivery import send
from kvmsentry.kernel.signals import SIGPIPE, SigInfo
from kvmsentry.kernel.waiter import Queue, wait_event
from kvmsentry.vfs.file import O_ACCMODE, O_NONBLOCK, File
from kvmsentry.vfs.inode import Stat

PAGE_SIZE = 4096
O_DIRECT = 0o40000              # x86-64's: a pipe write end's packet mode
PIPE_BUF = 4096                 # writes up to this size are atomic
DEFAULT_CAPACITY = 16 * PAGE_SIZE
PIPE_MAX_SIZE = 1 << 20         # /proc/sys/fs/pipe-max-size default
FIONREAD = 0x541B

PIPEFS_DEV = 0xC                # an anonymous device number, like pipefs's
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
POLLRDNORM, POLLWRNORM = 0x40, 0x100
READ_EVENTS = POLLIN | POLLRDNORM
WRITE_EVENTS = POLLOUT | POLLWRNORM
# A FIFO open waits for an attach, which has no poll event of its own.
PARTNER_EVENT = 1 << 26

_pipe_inos = itertools.count(1)


def _sigpipe_current():
    """SIGPIPE to the writing thread: a partial write returns its count,
    so dispatch never sees the EPIPE that would send it."""
    task = current()
    if task is not None:
        send(task.kernel, task, SigInfo.kernel(SIGPIPE), thread=True)


def round_pipe_size(n):
    """Linux's round_pipe_size(): at least a page, a power of two of
    pages; 0 for sizes it cannot represent."""
    if n < 0 or n > 1 << 31:
        return 0
    if n < PAGE_SIZE:
        return PAGE_SIZE
    pages = (n + PAGE_SIZE - 1) // PAGE_SIZE
    return (1 << (pages - 1).bit_length()) * PAGE_SIZE


class Pipe:
    """The buffer and bookkeeping shared by the ends of one pipe."""

    def __init__(self, uid=0, gid=0, on_last_close=None):
        self.lock = threading.Lock()
        self.queue = Queue()
        self._buf = bytearray()
        self.capacity = DEFAULT_CAPACITY
        self.readers = self.writers = 0
        self.files = 0                   # open files of either kind
        # Opens ever made, so a FIFO opener can tell that a partner came
        # (even if it already left again), as Linux's r_counter/w_counter.
        self.r_counter = self.w_counter = 0
        self._on_last_close = on_last_close
        self.ino = next(_pipe_inos)
        self.uid, self.gid = uid, gid
        self.atime_ns = self.mtime_ns = self.ctime_ns = now_ns()
        self.fasync_readers, self.fasync_writers = FasyncList(), FasyncList()
        # Where Linux's pipe buffers (a page each) begin, in order, as
        # positions in the stream of bytes ever written (_wpos; the read
        # position is _wpos - len(_buf)): a read or write whose copy
        # faults counts whole pipe buffers (try_read_cut, write_cut). A
        # splice's pages and packets, up to _spliced, take no merged writes.
        self._wpos = self._spliced = 0
        self._starts = []
        # Packets (packet mode) not yet read, in order: (start, end) in
        # the same positions. Empty for a byte-stream pipe: every read
        # and write tests only that.
        self._packets = []

    # --- ends --------------------------------------------------------------
    def attach(self, reader, writer):
        """Count a new open file; wakes FIFO openers waiting for it."""
        with self.lock:
            self.files += 1
            if reader:
                self.readers += 1
                self.r_counter += 1
            if writer:
                self.writers += 1
                self.w_counter += 1
        self.queue.notify(PARTNER_EVENT | (WRITE_EVENTS if reader else 0)
                          | (READ_EVENTS if writer else 0))

    def detach(self, reader, writer):
        """An open file was released: blocked peers see EOF or EPIPE."""
        with self.lock:
            self.files -= 1
            if reader:
                self.readers -= 1
            if writer:
                self.writers -= 1
            last = self.files == 0
        # Linux wakes with POLLIN|POLLOUT (and the HUP/ERR they imply).
        self.queue.notify((POLLHUP | READ_EVENTS if writer else 0)
                          | (POLLERR | WRITE_EVENTS if reader else 0))
        if last and self._on_last_close is not None:
            self._on_last_close(self)

    def wait_for_partner(self, counter, since):
        """Block until `counter` ("r_counter"/"w_counter") moves past
        `since`: the FIFO open rule "wait until the other side opens"."""
        wait_event(lambda: getattr(self, counter) != since, [(self.queue, PARTNER_EVENT)])

    # --- data ----------------------------------------------------------------
    def read(self, length, nonblock):
        """Up to `length` bytes; waits for data unless no writer is left
        (EOF, b"") or nonblock (EAGAIN)."""
        if length <= 0:
            return b""
        box = self.try_read(length, nonblock)
        return self.wait_to_read(self.try_read, length) if box is None else box[0]

    def wait_to_read(self, attempt, arg):
        """A read once the pipe was found empty: waits until
        attempt(arg, False) (try_read) finishes, with data
        or EOF; its answer."""
        return wait_event(lambda: attempt(arg, False), [(self.queue, READ_EVENTS | POLLHUP)])[0]

    def try_read(self, length, nonblock):
        """(data,) if the read can finish now, else None."""
        with self.lock:
            if not self._buf:
                if self.writers == 0:
                    return (b"",)
                if nonblock:
                    raise SyscallError(errno.EAGAIN)
                return None
            if self._packets:
                length, drop = self._cut_packet(min(length, len(self._buf)))
                data = bytes(self._buf[:length])
                self._remove(drop)
            else:
                data = bytes(self._buf[:length])
                del self._buf[:length]
            self.atime_ns = now_ns()
        self.queue.notify(WRITE_EVENTS)
        if self.fasync_writers.armed:
            self.fasync_writers.signal(POLL_OUT)
        return (data,)

    def readinto(self, buffers, nonblock):
        """read() straight into `buffers` (writable views, e.g. of guest
        frames, filled in order): the count; None where read() would
        wait (errors.WouldWait says why: wait_readable(), then views
        taken anew)."""
        # The lock by acquire/release, not `with`: this is every pipe
        # read's path, and `with` costs ~1k instructions more (callgrind).
        lock = self.lock
        lock.acquire()
        try:
            buf = self._buf
            have = len(buf)
            if not have:
                if self.writers == 0:
                    return 0
                if nonblock:
                    raise SyscallError(errno.EAGAIN)
                return None
            limit, drop = have, 0
            if self._packets:
                limit, drop = self._cut_packet(min(sum(map(len, buffers)), have))
            if len(buffers) == 1:
                # One run of frames (most reads): no `with`; a partial
                # read's view of buf is a temporary, freed before buf shrinks.
                b = buffers[0]
                got = len(b)
                if got > limit:
                    got = limit
                b[:got] = buf if got == have else memoryview(buf)[:got]
            else:
                got = 0
                with memoryview(buf) as src:   # released before the buffer shrinks
                    for b in buffers:
                        n = min(len(b), limit - got)
                        b[:n] = src[got:got + n]
                        got += n
                        if got == limit:
                            break
            if drop:
                self._remove(drop)
            else:
                del buf[:got]
            self.atime_ns = now_ns()
        finally:
            lock.release()
        # notify's own tests, a frame less: no entry, or only one that
        # wants no room (the reader's own epoll item, an event loop's
        # usual case), is nobody to notify.
        entries = self.queue.entries
        if entries and (len(entries) > 1 or entries[0].mask & WRITE_EVENTS):
            self.queue.notify(WRITE_EVENTS)
        if self.fasync_writers.armed:
            self.fasync_writers.signal(POLL_OUT)
        return got

    def wait_readable(self):
        """read()'s wait, without the read: until the pipe has data or no
        writer is left (EOF), or a signal (EINTR)."""
        wait_event(self._readable, [(self.queue, READ_EVENTS | POLLHUP)])

    def _readable(self):
        # Without the lock, as read_end_events: a change racing with the
        # look notifies the queue after it is made.
        return bool(self._buf) or self.writers == 0

    def write(self, data, nonblock):
        """Append data; returns the count written.

        Up to PIPE_BUF bytes go in at once or not at all (so concurrent
        small writes never interleave); larger writes fill whatever room
        there is and wait for more. A write that was partly done returns
        its count instead of failing (EINTR, EPIPE, EAGAIN). No reader:
        EPIPE (the syscall layer sends SIGPIPE); a write cut short by the
        last reader leaving returns its count and still raises SIGPIPE,
        as Linux's pipe_write does.
        """
        done = self.try_write(data)
        return self.write_waiting(data, nonblock) if done is None else done

    def try_write(self, data):
        """write() when all of data fits now (the common case): its count;
        None when it does not fit."""
        total = len(data)
        if total == 0:
            return 0
        lock = self.lock                     # (as readinto: not `with`)
        lock.acquire()
        try:
            if self.readers == 0:
                raise SyscallError(errno.EPIPE)
            if self._buf:
                if self._packets:
                    return None
                origin = self._origin(total)
                if origin - self._wpos + self._room() < total:
                    return None              # (full by its buffers)
                self._note_pages(origin, total)
            elif total > self.capacity:
                return None
            else:
                # Into an empty pipe (most writes): its pages are all the
                # pipe buffers there are (_note_pages' answer, inline).
                wpos = self._wpos
                self._starts = [wpos] if total <= PAGE_SIZE else \
                    list(range(wpos, wpos + total, PAGE_SIZE))
                self._wpos = wpos + total
            self._buf += data
            self.mtime_ns = self.ctime_ns = now_ns()
        finally:
            lock.release()
        if self.queue.entries:
            self.queue.notify(READ_EVENTS)
        if self.fasync_readers.armed:
            self.fasync_readers.signal(POLL_IN)
        return total

    def write_waiting(self, data, nonblock, packets=False):
        """write() of data that did not fit, or from a packet-mode end
        (`packets`): what fits now, then (unless nonblock) waits for room."""
        total = len(data)
        view = memoryview(data)
        done = [0]
        origin = []                      # where its fresh pages begin, from its first bytes in
        started = []                     # pipe_write merges only when it starts

        def step():
            """Put in what fits; True once everything is in."""
            with self.lock:
                if self.readers == 0:
                    raise SyscallError(errno.EPIPE)
                written = done[0]
                if packets:
                    n = self._put_packets(view, written)
                else:
                    merge = 0
                    if not started:
                        started.append(True)
                        merge = self._origin(total) - self._wpos
                    room = merge + self._room()
                    if total <= PIPE_BUF:
                        n = total if room >= total else 0
                    else:
                        n = min(room, total - written)
                    if n:
                        if not origin:
                            origin.append(self._wpos + merge)
                        self._note_pages(origin[0], n)
                        self._buf += view[written:written + n]
                if n:
                    done[0] = written + n
                    self.mtime_ns = self.ctime_ns = now_ns()
            if n:
                self.queue.notify(READ_EVENTS)
                if self.fasync_readers.armed:
                    self.fasync_readers.signal(POLL_IN)
            if done[0] < total and nonblock:
                raise SyscallError(errno.EAGAIN)
            return done[0] == total

        try:
            if not step():
                wait_event(step, [(self.queue, WRITE_EVENTS | POLLERR)])
        except SyscallError as e:
            if not done[0]:
                raise
            if e.errno == errno.EPIPE:
                _sigpipe_current()
        return done[0]

    def nread(self):
        with self.lock:
            return len(self._buf)

    # --- packet mode (O_DIRECT) and Linux's count of pipe buffers ---------------
    def _live_buffers(self):
        """How many pipe buffers hold data (Linux's slots in use). Under
        the lock, or for a look such as poll's."""
        buf = self._buf
        if not buf:
            return 0
        starts = self._starts
        return len(starts) - max(0, bisect.bisect_right(starts, self._wpos - len(buf)) - 1)

    def _room(self):
        """Bytes fresh pages may add now: a page per free pipe buffer, as
        Linux counts a pipe full by its buffers (a buffer of one byte, or
        a packet, takes one). A write may merge its last partial page into
        the last buffer besides (_origin)."""
        return (self.capacity // PAGE_SIZE - self._live_buffers()) * PAGE_SIZE

    def _cut_packet(self, n):
        """(bytes a read of n takes, bytes it removes), n at most what the
        pipe holds, which holds packets: as pipe_read, a read that reaches
        a packet ends with the part of it that fits and drops the rest."""
        read_pos = self._wpos - len(self._buf)
        start, end = self._packets[0]
        if start >= read_pos + n:
            return n, n
        return min(n, end - read_pos), end - read_pos

    def _remove(self, n):
        """Drop n bytes from the front, with the packets they end."""
        del self._buf[:n]
        packets = self._packets
        if packets:
            read_pos = self._wpos - len(self._buf)
            while packets and packets[0][1] <= read_pos:
                del packets[0]

    def _put_packets(self, view, written):
        """A packet-mode write's next bytes, view[written:], under the
        lock: how many went in. As pipe_write, its first call merges the
        write's last partial page into the pipe's last buffer if that one
        takes merges (a byte-stream buffer with room); the rest goes in
        PAGE_SIZE packets, one per free buffer, so up to PIPE_BUF bytes go
        in at once or not at all."""
        total = len(view)
        pos = written
        if not written:
            merged = self._origin(total) - self._wpos
            if merged:
                self._buf += view[:merged]
                self._wpos += merged
                pos = merged
        free = self.capacity // PAGE_SIZE - self._live_buffers()
        if pos < total and free > 0:
            if not self._buf:
                self._starts.clear()
            starts, packets = self._starts, self._packets
            while pos < total and free > 0:
                k = min(PAGE_SIZE, total - pos)
                start = self._wpos
                starts.append(start)
                packets.append((start, start + k))
                self._buf += view[pos:pos + k]
                self._wpos = start + k
                pos += k
                free -= 1
            self._spliced = self._wpos       # a packet takes no merged writes
        return pos - written

    # --- Linux's pipe buffers, for copies that fault ---------------------------
    def _origin(self, total):
        """Where the fresh pages of a write of total bytes begin: after
        the part of its last partial page that pipe_write merges into the
        pipe's last buffer, if that buffer has room for it."""
        starts, wpos = self._starts, self._wpos
        if not self._buf:                        # an empty pipe merges nothing
            starts.clear()
            return wpos
        done = bisect.bisect_right(starts, wpos - len(self._buf)) - 1
        if done > 0:
            del starts[:done]                    # buffers read to their end
        tail = total & (PAGE_SIZE - 1)
        if tail and starts[-1] >= self._spliced and wpos - starts[-1] + tail <= PAGE_SIZE:
            return wpos + tail
        return wpos

    def _note_pages(self, origin, n):
        """n more bytes of a write whose pages begin at origin go in."""
        wpos = self._wpos
        first = origin if origin >= wpos else \
            origin + (wpos - origin + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
        self._starts.extend(range(first, wpos + n, PAGE_SIZE))
        self._wpos = wpos + n

    def try_read_cut(self, want, nonblock):
        """A read of `length` bytes into a buffer whose first `mapped`
        are writable, want = (length, mapped): ((the bytes the copy puts
        there, the count read or None for EFAULT),) if it can finish now,
        else None. As Linux's pipe_read, whole pipe buffers are taken
        until the one whose copy faults, which stays queued whole."""
        length, mapped = want
        with self.lock:
            buf = self._buf
            if not buf:
                if self.writers == 0:
                    return ((b"", 0),)
                if nonblock:
                    raise SyscallError(errno.EAGAIN)
                return None
            n = drop = min(length, len(buf))
            if self._packets:
                n, drop = self._cut_packet(n)
            read_pos = self._wpos - len(buf)
            ends = [s for s in self._starts if s > read_pos] + [self._wpos]
            taken = 0
            for end in ends:
                chunk = min(end - read_pos, n) - taken
                if taken + chunk > mapped:
                    break
                taken += chunk
                if taken == n:
                    break
            data = bytes(buf[:min(n, mapped)])
            if not taken:
                return ((data, None),)
            self._remove(drop if taken == n else taken)
            self.atime_ns = now_ns()
        self.queue.notify(WRITE_EVENTS)
        if self.fasync_writers.armed:
            self.fasync_writers.signal(POLL_OUT)
        return ((data, taken),)

    def write_cut(self, data, total, nonblock):
        """write() of a total-byte buffer of which only the first bytes,
        data, are readable: as Linux's pipe_write copies it, the part it
        merges into the last pipe buffer, then whole pages; EFAULT if the
        fault comes before any of them (EPIPE first without a reader)."""
        with self.lock:
            if self.readers == 0:
                raise SyscallError(errno.EPIPE)
            merged = self._origin(total) - self._wpos
        if len(data) < merged:
            raise SyscallError(errno.EFAULT)
        whole = merged + (len(data) - merged) // PAGE_SIZE * PAGE_SIZE
        if not whole:
            raise SyscallError(errno.EFAULT)
        return self.write(data[:whole], nonblock)

    # --- F_GETPIPE_SZ / F_SETPIPE_SZ -----------------------------------------
    def get_size(self):
        """Implements F_GETPIPE_SZ."""
        return self.capacity

    def set_size(self, n, privileged=False):
        """Implements F_SETPIPE_SZ: the new capacity, rounded up to a
        power of two of pages. Above pipe-max-size needs CAP_SYS_RESOURCE
        (`privileged`); EBUSY if the pipe buffers in use won't fit."""
        size = round_pipe_size(n)
        if size == 0:
            raise SyscallError(errno.EINVAL)
        with self.lock:
            if size > self.capacity and size > PIPE_MAX_SIZE and not privileged:
                raise SyscallError(errno.EPERM)
            # (Counted in pipe buffers, as pipe_resize_ring: three
            # one-byte packets do not fit in two pages.)
            if self._live_buffers() > size // PAGE_SIZE:
                raise SyscallError(errno.EBUSY)
            self.capacity = size
        self.queue.notify(WRITE_EVENTS)
        return size

    # --- the splice family (syscalls/sys_splice.py) ---------------------------
    def wait_data(self, nonblock):
        """splice's wait for input: True once there is data, False for an
        empty pipe with no writer left; EAGAIN instead of waiting if
        nonblock."""
        def check():
            with self.lock:
                if self._buf:
                    return (True,)
                if self.writers == 0:
                    return (False,)
                if nonblock:
                    raise SyscallError(errno.EAGAIN)
                return None
        return (check() or wait_event(check, [(self.queue, READ_EVENTS | POLLHUP)]))[0]

    def wait_room(self, nonblock):
        """splice's wait for output space: EPIPE without a reader, EAGAIN
        instead of waiting if nonblock."""
        def check():
            with self.lock:
                if self.readers == 0:
                    raise SyscallError(errno.EPIPE)
                if self._room() > 0:
                    return True
                if nonblock:
                    raise SyscallError(errno.EAGAIN)
                return None
        check() or wait_event(check, [(self.queue, WRITE_EVENTS | POLLERR)])

    def room(self):
        with self.lock:
            return self._room()

    def peek(self, length):
        """Up to length bytes from the front, left in the pipe (tee)."""
        with self.lock:
            return bytes(self._buf[:length])

    def peek_buffers(self, length):
        """peek(length), where in those bytes the pipe's buffers after
        the first begin, and the (start, end) in them of its packets (tee
        and splice between pipes take buffers as they are, packets too:
        put's cuts and packets)."""
        with self.lock:
            data = bytes(self._buf[:length])
            read_pos = self._wpos - len(self._buf)
            end = read_pos + len(data)
            cuts = [s - read_pos for s in self._starts if read_pos < s < end]
            packets = [(max(s, read_pos) - read_pos, min(e, end) - read_pos)
                       for s, e in self._packets if s < end]
        return data, cuts, packets

    def consume(self, length):
        """Drop length bytes from the front (what a splice moved out)."""
        with self.lock:
            self._remove(length)
            self.atime_ns = now_ns()
        self.queue.notify(WRITE_EVENTS)

    def put(self, data, cuts=None, packets=()):
        """Append data a splice already took from its source: never
        refused, even if a race left less room than was measured. cuts:
        where in data its pipe buffers after the first begin (another
        pipe's, peek_buffers), else every page; packets: (start, end) of
        the packets among them."""
        if not data:
            return
        with self.lock:
            if not self._buf:
                self._starts.clear()
            if cuts is None:
                self._note_pages(self._wpos, len(data))
            else:
                wpos = self._wpos
                self._starts.append(wpos)
                self._starts.extend(wpos + c for c in cuts)
                self._wpos = wpos + len(data)
            self._packets.extend((wpos + s, wpos + e) for s, e in packets)
            self._spliced = self._wpos
            self._buf += data
            self.mtime_ns = self.ctime_ns = now_ns()
        self.queue.notify(READ_EVENTS)

    # --- poll and stat -------------------------------------------------------
    def poll_events(self, reader, writer):
        """Linux pipe_poll() mask for a file with these access rights.
        Read without the lock, as pipe_poll reads the pipe: a change
        racing with the look notifies the queue after it is made, so a
        waiter that saw the old state looks again."""
        return (self.read_end_events() if reader else 0) | \
            (self.write_end_events() if writer else 0)

    def read_end_events(self):
        """poll_events(True, False): the read end's mask."""
        mask = POLLIN | POLLRDNORM if self._buf else 0
        return mask | POLLHUP if self.writers == 0 else mask

    def write_end_events(self):
        """poll_events(False, True): the write end's mask."""
        mask = POLLOUT | POLLWRNORM if self._room() >= PIPE_BUF else 0
        return mask | POLLERR if self.readers == 0 else mask

    def stat(self):
        """fstat of an anonymous pipe: a FIFO of its own on pipefs."""
        perm = getattr(self, "perm", 0o600)          # fchmod may change it
        return Stat(dev=PIPEFS_DEV, ino=self.ino, mode=st.S_IFIFO | perm, nlink=1,
                    uid=self.uid, gid=self.gid, size=0, blksize=PAGE_SIZE, blocks=0,
                    atime_ns=self.atime_ns, mtime_ns=self.mtime_ns,
                    ctime_ns=self.ctime_ns)


class PipeFile(File):
    """An open end of a pipe; a FIFO opened O_RDWR is both ends at once."""

    def __init__(self, pipe, flags, location=None):
        super().__init__(flags, location)
        self.pipe = pipe
        self._reader = self.readable()
        self._writer = self.writable()
        # poll_events(): Linux's pipe_poll() mask for this end, bound here
        # (epoll asks it on every harvest of the end).
        if self._reader and not self._writer:
            self.poll_events = pipe.read_end_events
        elif self._writer and not self._reader:
            self.poll_events = pipe.write_end_events
        else:
            self.poll_events = functools.partial(pipe.poll_events, self._reader, self._writer)
        self._released = False
        # A read or write in progress holds the file as Linux's fdget
        # does: closing its last fd meanwhile detaches it only when the
        # call ends (a blocked reader still counts as a reader).
        self._busy = 0
        self._release_due = False
        pipe.attach(self._reader, self._writer)

    @property
    def queue(self):
        return self.pipe.queue

    # A call that finishes at once runs under the kernel lock from start
    # to end, as close(2) does, so no release can come in between: only
    # the wait (which lets go of the kernel lock) is made _holding the
    # file, and the pipe's lock is taken once by a read or write that
    # needs no wait.
    def read(self, length, offset=None):
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if not self._reader:
            raise SyscallError(errno.EBADF)
        if length <= 0:
            return b""
        pipe = self.pipe
        box = pipe.try_read(length, self.flags & O_NONBLOCK)
        return self._holding(pipe.wait_to_read, pipe.try_read, length) if box is None else box[0]

    def write(self, data, offset=None):
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if not self._writer:
            raise SyscallError(errno.EBADF)
        return self._write(data)

    def readinto(self, buffers, offset=None):
        """read() straight into `buffers` (writable views of guest frames,
        from sys_read_write): no bytes object in between."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if not self._reader:
            raise SyscallError(errno.EBADF)
        return self.pipe.readinto(buffers, self.flags & O_NONBLOCK)

    def wait_readable(self):
        """Wait until readinto() would not answer None (sys_read_write
        then takes the buffer's frames afresh and reads into them)."""
        self._holding(self.pipe.wait_readable)

    def writefrom(self, buffers, offset=None):
        """write() of `buffers` (views of guest frames): copied once, at
        the call, as Linux copies from user memory before it may wait."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if not self._writer:
            raise SyscallError(errno.EBADF)
        return self._write(buffers[0].tobytes() if len(buffers) == 1 else b"".join(buffers))

    def read_cut(self, length, mapped, offset=None):
        """read() into a buffer writable only in its first `mapped` bytes
        (sys_read_write's fault handling): Pipe.try_read_cut's answer,
        after a wait for data as any read."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if not self._reader:
            raise SyscallError(errno.EBADF)
        pipe = self.pipe
        nonblock = self.flags & O_NONBLOCK
        box = pipe.try_read_cut((length, mapped), nonblock)
        if box is not None:
            return box[0]
        return self._holding(pipe.wait_to_read, pipe.try_read_cut, (length, mapped))

    def write_cut(self, data, total, offset=None):
        """Pipe.write_cut through this end (a buffer readable only in part)."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if not self._writer:
            raise SyscallError(errno.EBADF)
        return self._holding(self.pipe.write_cut, data, total, self.flags & O_NONBLOCK)

    def _write(self, data):
        if self.flags & O_DIRECT:              # packet mode
            return self._holding(self.pipe.write_waiting, data, self.flags & O_NONBLOCK, True)
        done = self.pipe.try_write(data)
        if done is not None:
            return done
        return self._holding(self.pipe.write_waiting, data, self.flags & O_NONBLOCK)

    def _holding(self, op, *args):
        # The lock by acquire/release, as readinto: every blocked read
        # and write comes here.
        lock = self.pipe.lock
        lock.acquire()
        self._busy += 1
        lock.release()
        try:
            return op(*args)
        finally:
            lock.acquire()
            self._busy -= 1
            due = self._busy == 0 and self._release_due
            lock.release()
            if due:
                self._detach()

    def ioctl(self, task, request, arg):
        if request == FIONREAD:
            task.mm.copy_out(arg, struct.pack("<i", self.pipe.nread()))
            return 0
        raise SyscallError(errno.ENOTTY)

    def stat(self):
        if self.location is not None:        # a FIFO: the inode's own stat
            return self.inode.getattr()
        return self.pipe.stat()

    def readiness(self):
        mask = self.poll_events()
        return bool(mask & (POLLIN | POLLHUP)), bool(mask & (POLLOUT | POLLERR))

    def get_size(self):
        return self.pipe.get_size()

    def set_size(self, n, privileged=False):
        return self.pipe.set_size(n, privileged)

    def fasync(self, task, fd, on):
        """O_ASYNC set or cleared through fd: (un)arm this end."""
        kernel = task.kernel if task is not None else None
        if self._reader:
            self.pipe.fasync_readers.arm(self, fd, kernel, on)
        if self._writer:
            self.pipe.fasync_writers.arm(self, fd, kernel, on)

    def release(self):
        with self.pipe.lock:
            if self._busy:
                self._release_due = True
                return
        self._detach()

    def _detach(self):
        if not self._released:
            self._released = True
            self.fasync(None, None, False)
            self.pipe.detach(self._reader, self._writer)


class PipeReadFile(PipeFile):
    """The read end made by pipe2(2)."""

    def __init__(self, pipe, flags=0, location=None):
        super().__init__(pipe, (flags & ~O_ACCMODE) | os.O_RDONLY, location)


class PipeWriteFile(PipeFile):
    """The write end made by pipe2(2)."""

    def __init__(self, pipe, flags=0, location=None):
        super().__init__(pipe, (flags & ~O_ACCMODE) | os.O_WRONLY, location)


def make_pipe(flags=0, uid=0, gid=0):
    """(read file, write file) for pipe2(2). O_NONBLOCK goes to both
    files, O_DIRECT (packet mode) to the write end only, as Linux's
    create_pipe_files; O_CLOEXEC belongs to the fd table and is not kept
    here."""
    if flags & ~(os.O_CLOEXEC | O_NONBLOCK | O_DIRECT):
        raise SyscallError(errno.EINVAL)
    pipe = Pipe(uid, gid)
    status = flags & O_NONBLOCK
    return PipeReadFile(pipe, status), PipeWriteFile(pipe, status | (flags & O_DIRECT))


class Fifo:
    """The pipe behind one FIFO inode, shared by all its opens.

    As on Linux, the pipe (and any data left in it) goes away when the
    last open file of the FIFO is released; the next open starts afresh.
    """

    def __init__(self, uid=0, gid=0):
        self._lock = threading.Lock()       # guards _pipe and its counters
        self._pipe = None
        self._owner = (uid, gid)

    def open(self, flags, location=None):
        """A PipeFile by the FIFO open rules: O_RDONLY waits for a writer
        (not with O_NONBLOCK); O_WRONLY waits for a reader (O_NONBLOCK:
        ENXIO without one); O_RDWR never waits. O_DIRECT: EINVAL."""
        acc = flags & O_ACCMODE
        nonblock = flags & O_NONBLOCK
        if acc not in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            raise SyscallError(errno.EINVAL)
        with self._lock:
            pipe = self._pipe
            if pipe is None:
                pipe = self._pipe = Pipe(*self._owner, on_last_close=self._closed)
            if acc == os.O_WRONLY and nonblock and pipe.readers == 0:
                if pipe.files == 0:
                    self._pipe = None
                raise SyscallError(errno.ENXIO)
            file = PipeFile(pipe, flags, location)
            # Snapshot under self._lock: every open of this FIFO attaches
            # under it, so no partner can slip in between.
            wait = None
            if acc == os.O_RDONLY and not nonblock and pipe.writers == 0:
                wait = ("w_counter", pipe.w_counter)
            elif acc == os.O_WRONLY and pipe.readers == 0:
                wait = ("r_counter", pipe.r_counter)
        if wait is not None:
            try:
                pipe.wait_for_partner(*wait)
            except SyscallError:
                file.release()
                raise
        if flags & O_DIRECT:
            # As do_dentry_open: a FIFO has no FMODE_CAN_ODIRECT, checked
            # after the open's wait (F_SETFL may set it later).
            file.release()
            raise SyscallError(errno.EINVAL)
        return file

    def _closed(self, pipe):
        with self._lock:
            if self._pipe is pipe and pipe.files == 0:
                self._pipe = None

    def pipe(self):
        """The current pipe, or None when no end is open (for tests)."""
        return self._pipe
