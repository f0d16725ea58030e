"""Readiness of open files: the common ground of poll, select and epoll.

poll_mask(file) is Linux's vfs_poll(): the file's current event mask.
Files answer in one of three ways: a poll_events() method (pipes and any
file that can say more than readable/writable), a host fd the sandbox
inherited (asked with a zero-timeout poll(2) on the host fd), or
File.readiness()'s (readable, writable) pair.

What to wait on for files is wait_sources([(file, events)]): each file's
wait queue (`file.queue`, notified whenever its mask may have changed;
None for files whose readiness never changes) and the host fds behind it
(a host stdio fd; `file.host_fds()` -> [(host fd, poll events)] for any
other file backed by host fds, such as a host socket, or an epoll
instance watching such files), which go into the waiting task's host
poll set (kernel/waiter.py).
"""
import select

from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.kernel.waiter import deadline_after, remaining_ns, signal_pending  # noqa: F401

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
POLLMSG, POLLRDHUP = 0x400, 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
ALWAYS = POLLERR | POLLHUP                # reported whether asked for or not

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


def host_fds(file, events):
    """[(host fd, poll events)] whose readiness can change file's mask."""
    if isinstance(file, HostFdFile):
        return [(file.host_fd, (events & _HOST_EVENTS) or select.POLLIN)]
    watched = getattr(file, "host_fds", None)
    return watched() if watched is not None else []


def wait_sources(files_events):
    """(waits, host fds) for block_until, for [(file, events)]: a state
    change of any of them wakes the wait."""
    waits, hosts = [], []
    for file, events in files_events:
        queue = getattr(file, "queue", None)
        if queue is not None:
            waits.append((queue, events | ALWAYS))
        hosts.extend(host_fds(file, events))
    return waits, hosts
