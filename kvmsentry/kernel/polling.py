"""Readiness of open files and waiting for it: the common ground of poll,
select and epoll.

poll_mask(file) is Linux's vfs_poll(): the file's current event mask.
Files answer in one of three ways: a poll_events() method (pipes and any
file that can say more than readable/writable), a host fd the sandbox
inherited (asked with a zero-timeout poll(2) on the host fd), or
File.readiness()'s (readable, writable) pair.

Nothing here has wait queues: a waiter re-checks its files every
RECHECK seconds without the kernel lock, and leaves early when a signal
arrives (the task's interrupt event).

EpollFile is an epoll instance: its interest list, level-triggered, with
EPOLLET approximated as "report bits that were not ready at the last
report" and EPOLLONESHOT disarming an entry once it has reported.
"""
import errno
import select
import threading
import time

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.kernel import signal_delivery as sd
from kvmsentry.kernel.locking import blocking, current_interrupt
from kvmsentry.vfs.file import File
from kvmsentry.vfs.inode import Stat

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
POLLMSG, POLLRDHUP = 0x400, 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
ALWAYS = POLLERR | POLLHUP                # reported whether asked for or not
RECHECK = 0.01                            # seconds between readiness checks
NSEC = 1_000_000_000
ANON_INODE_DEV = 0xD          # anon_inodefs's device, like [eventpoll]'s

_HOST_EVENTS = (select.POLLIN | select.POLLPRI | select.POLLOUT | select.POLLRDNORM
                | select.POLLRDBAND | select.POLLWRNORM | select.POLLWRBAND)


def poll_mask(file):
    """The file's ready events now (vfs_poll)."""
    if isinstance(file, HostFdFile):
        return _host_mask(file.host_fd)
    events = getattr(file, "poll_events", None)
    if events is not None:
        return events()
    readable, writable = file.readiness()
    return (POLLIN | POLLRDNORM if readable else 0) | (POLLOUT | POLLWRNORM if writable else 0)


def _host_mask(host_fd):
    poller = select.poll()
    poller.register(host_fd, _HOST_EVENTS)
    try:
        ready = poller.poll(0)
    except OSError:
        return POLLERR
    return ready[0][1] if ready else 0


def signal_pending(task):
    """Linux's signal_pending(): something would interrupt a wait now."""
    return sd.has_deliverable(task) or task.kill_status is not None


def deadline_after(ns):
    """CLOCK_MONOTONIC deadline ns from now (None: wait forever)."""
    return None if ns is None else time.monotonic_ns() + ns


def wait_for(task, check, deadline):
    """Call check() (kernel lock held) until it returns something true,
    the deadline (CLOCK_MONOTONIC ns; None: none) passes, or a signal
    must be handled (EINTR). Returns check()'s last answer.

    As in Linux's do_poll, files are checked before a pending signal, and
    a pending signal wins over an expired timeout (even a zero one)."""
    interrupt = current_interrupt()
    while True:
        result = check()
        if result:
            return result
        if signal_pending(task):
            task.interrupt.set()              # the task loop delivers it
            raise SyscallError(errno.EINTR)
        left = None if deadline is None else (deadline - time.monotonic_ns()) / NSEC
        if left is not None and left <= 0:
            return result
        with blocking():
            interrupt.wait(RECHECK if left is None else min(left, RECHECK))
        interrupt.clear()      # a kick for a blocked signal: signal_pending() decides


def remaining_ns(deadline):
    """What is left of a wait's timeout (for select's write-back)."""
    return max(0, deadline - time.monotonic_ns())


# --- epoll -------------------------------------------------------------------------
class EpollFile(File):
    """An epoll instance (an anonymous inode "[eventpoll]").

    Entries are keyed by (fd, file), as Linux keys them: closing the fd
    leaves the entry until the file itself is released (dup'd fds keep it
    alive); here an entry whose fd no longer names its file is skipped.
    """

    def __init__(self, flags):
        super().__init__(flags)
        self._lock = threading.Lock()
        self.entries = {}                 # (fd, file) -> Entry

    def add(self, fd, file, events, data):
        if file is self or isinstance(file, EpollFile) and file.watches(self):
            raise SyscallError(errno.ELOOP)
        with self._lock:
            if (fd, file) in self.entries:
                raise SyscallError(errno.EEXIST)
            self.entries[(fd, file)] = _Entry(events, data)

    def modify(self, fd, file, events, data):
        with self._lock:
            entry = self.entries.get((fd, file))
            if entry is None:
                raise SyscallError(errno.ENOENT)
            if entry.events & EPOLLEXCLUSIVE:
                raise SyscallError(errno.EINVAL)
            self.entries[(fd, file)] = _Entry(events, data)

    def remove(self, fd, file):
        with self._lock:
            if self.entries.pop((fd, file), None) is None:
                raise SyscallError(errno.ENOENT)

    def watches(self, other):
        """Whether other is reachable from this instance (ELOOP check)."""
        for _, file in list(self.entries):
            if file is other or isinstance(file, EpollFile) and file.watches(other):
                return True
        return False

    def ready(self, fds, maxevents):
        """Up to maxevents (events, data) pairs ready now; fds is the
        caller's fd table, to skip entries whose fd was closed."""
        out = []
        with self._lock:
            items = list(self.entries.items())
        for (fd, file), entry in items:
            if len(out) >= maxevents:
                break
            if not entry.armed or _fd_file(fds, fd) is not file:
                continue
            mask = poll_mask(file) & (entry.events | ALWAYS)
            if entry.events & EPOLLET:
                new = mask & ~entry.last
                entry.last = mask
                mask = new
            if mask:
                if entry.events & EPOLLONESHOT:
                    entry.armed = False
                out.append((mask, entry.data))
        return out

    def poll_events(self):
        """An epoll fd is readable while some entry is ready."""
        for (fd, file), entry in list(self.entries.items()):
            if entry.armed and not isinstance(file, EpollFile) and \
                    poll_mask(file) & (entry.events | ALWAYS):
                return POLLIN | POLLRDNORM
        return 0

    def stat(self):
        return Stat(dev=ANON_INODE_DEV, ino=id(self) & 0xFFFFFFFF, mode=0o600)


class _Entry:
    __slots__ = ("events", "data", "armed", "last")

    def __init__(self, events, data):
        self.events = events
        self.data = data
        self.armed = True
        self.last = 0


def _fd_file(fds, fd):
    try:
        return fds.get(fd)
    except SyscallError:
        return None
