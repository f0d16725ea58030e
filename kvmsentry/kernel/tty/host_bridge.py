"""A terminal for a process started from outside (`kvmsentry exec --tty`).

The process gets a pty of the sandbox's own devpts as its controlling
terminal and stdio, so the sentry's line discipline does what a terminal
does (echo, editing, ^C/^Z to the foreground group, job control), and two
sentry threads copy bytes between that pty's master and the host terminal
the caller handed in (put in raw mode: the sandbox's pty cooks, the host's
must not cook a second time). The host's window size is copied at the
start; later resizes of the host terminal do not reach the sandbox.
"""
import errno
import fcntl
import os
from os import O_RDWR
import select
import termios
import threading
import tty

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.pty_files import MasterFile
from kvmsentry.kernel.tty.pty import POLLHUP, READ_EVENTS, WRITE_EVENTS
from kvmsentry.kernel.waiter import wait_event
from kvmsentry.vfs.path import Walker

CHUNK = 4096


class _Opener:
    """What PtyTable.create asks of the task opening /dev/ptmx."""

    def __init__(self, kernel, creds):
        self.kernel = kernel
        self.creds = creds


class _Root:
    root = cwd = None


def open_pty(kernel, creds):
    """(master, slave) open files of a new, unlocked pty in the sandbox's
    /dev, the slave opened as /dev/pts/N. Called with the kernel lock."""
    mounts = kernel.mounts
    ctx = _Root()
    ctx.root = ctx.cwd = mounts.root_location()
    walker = Walker(mounts, ctx, creds)
    ptmx = walker.walk(ctx.root, b"/dev/ptmx")
    table = ptmx.inode.table
    pty = table.create(ptmx.inode.fs, _Opener(kernel, creds))
    master = MasterFile(pty, table, ptmx, O_RDWR)
    pty.locked = False
    slave_loc = walker.walk(ctx.root, b"/dev/pts/%d" % pty.index)
    slave = slave_loc.inode.open(slave_loc, O_RDWR)
    return master, slave


class Bridge:
    """Copies host_fd <-> master until the slave side hangs up (every
    process holding it exited) or the host side closes."""

    def __init__(self, kernel, master, host_fd):
        self.kernel = kernel
        self.master = master
        self.pty = master.pty
        self.host_fd = host_fd
        self.done = threading.Event()
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)     # ends the input thread's wait
        try:
            tty.setraw(host_fd)
            winsize = fcntl.ioctl(host_fd, termios.TIOCGWINSZ, bytes(8))
            self.pty.set_winsize(winsize)
        except OSError:
            pass                               # not a terminal: bytes still flow
        self._threads = [threading.Thread(target=self._to_sandbox, daemon=True,
                                          name="tty-in"),
                         threading.Thread(target=self._to_host, daemon=True, name="tty-out")]

    def start(self):
        for t in self._threads:
            t.start()

    def _to_sandbox(self):
        """Typed input: host terminal -> the pty's master (its line discipline)."""
        poller = select.poll()
        poller.register(self.host_fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.host_fd, CHUNK)
            except OSError:
                data = b""
            if not data:
                return
            if not self._type(data):
                return

    def _type(self, data):
        """Hand data to the pty as typed input, waiting (without the
        kernel lock) while its input backlog is full. False once the
        bridge is finishing."""
        pty = self.pty
        while data:
            with self.kernel.lock:             # ^C signals the foreground group
                try:
                    data = data[pty.master_write(data, nonblock=True):]
                except SyscallError:
                    pass                       # EAGAIN: no room yet
            if data:
                wait_event(lambda: self.done.is_set() or pty.master_events() & WRITE_EVENTS,
                           [(pty.master_queue, WRITE_EVENTS)])
                if self.done.is_set():
                    return False
        return True

    def _to_host(self):
        """Output: the pty's master -> host terminal, until the slave hangs up."""
        pty = self.pty
        try:
            while True:
                def readable():
                    return pty.master_events() & (READ_EVENTS | POLLHUP)
                wait_event(readable, [(pty.master_queue, READ_EVENTS | POLLHUP)])
                try:
                    data = pty.master_read(CHUNK, nonblock=True)
                except SyscallError as e:
                    if e.errno == errno.EAGAIN:
                        continue
                    return                      # EIO: every slave closed
                view = memoryview(data)
                while view:
                    try:
                        view = view[os.write(self.host_fd, view):]
                    except OSError:
                        return
        finally:
            self.done.set()

    def finish(self):
        """After the process exited: let the output drain, then drop the master."""
        self._threads[1].join(10)
        self.done.set()
        self.pty.master_queue.notify(WRITE_EVENTS)      # a _type waiting for room
        os.write(self._stop_w, b"x")
        self._threads[0].join(10)
        os.close(self._stop_r)
        os.close(self._stop_w)
        with self.kernel.lock:
            self.master.release()
