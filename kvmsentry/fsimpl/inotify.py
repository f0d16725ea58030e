"""inotify instances: watches (vfs/fsnotify.py) and a queue of events read
as struct inotify_event records."""
import collections
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.anon import POLLIN, POLLRDNORM, AnonFile
from kvmsentry.kernel.waiter import wait_event
from kvmsentry.vfs import fsnotify as fn

EVENT = struct.Struct("<iIII")               # wd, mask, cookie, len
IN_Q_OVERFLOW, IN_ONESHOT = 0x4000, 0x80000000
MAX_QUEUED_EVENTS = 16384                    # /proc/sys/fs/inotify/max_queued_events
FIONREAD = 0x541B


def _record(wd, mask, cookie, name):
    if not name:
        return EVENT.pack(wd, mask, cookie, 0)
    padded = -(-(len(name) + 1) // EVENT.size) * EVENT.size
    return EVENT.pack(wd, mask, cookie, padded) + name + bytes(padded - len(name))


class InotifyFile(AnonFile):
    def __init__(self, flags):
        super().__init__(flags)
        self.watches = {}                    # wd -> fsnotify.Watch
        self._next_wd = 1
        self._events = collections.deque()   # encoded records

    # --- watches -----------------------------------------------------------------
    def add_watch(self, key, mask, mask_add, mask_create):
        with self.lock:
            for watch in self.watches.values():
                if watch.key == key:
                    if mask_create:
                        raise SyscallError(errno.EEXIST)
                    watch.mask = (watch.mask | mask) if mask_add else mask
                    return watch.wd
            wd = self._next_wd
            self._next_wd += 1
            watch = self.watches[wd] = fn.Watch(self, wd, key, mask)
        fn.add(watch)
        return wd

    def rm_watch(self, wd):
        watch = self.watches.get(wd)
        if watch is None:
            raise SyscallError(errno.EINVAL)
        self.drop(watch)

    def drop(self, watch):
        """The watch ends: removed, one-shot, or its inode is gone."""
        with self.lock:
            if self.watches.pop(watch.wd, None) is None:
                return
        fn.remove(watch)
        self._queue(_record(watch.wd, fn.IN_IGNORED, 0, b""))

    # --- events ------------------------------------------------------------------
    def deliver(self, watch, mask, cookie, name):
        self._queue(_record(watch.wd, mask, cookie, name))
        if watch.mask & IN_ONESHOT:
            self.drop(watch)

    def _queue(self, record):
        with self.lock:
            if self._events and self._events[-1] == record:
                return                       # Linux merges an identical last event
            if len(self._events) >= MAX_QUEUED_EVENTS:
                overflow = EVENT.pack(-1, IN_Q_OVERFLOW, 0, 0)
                if self._events[-1] != overflow:
                    self._events.append(overflow)
                return
            self._events.append(record)
        self.queue.notify(POLLIN | POLLRDNORM)

    def read(self, length, offset=None):
        self.no_offset(offset)

        def take():
            with self.lock:
                if not self._events:
                    return None
                if len(self._events[0]) > length:
                    raise SyscallError(errno.EINVAL)
                out = bytearray()
                while self._events and len(out) + len(self._events[0]) <= length:
                    out += self._events.popleft()
                return bytes(out)

        data = take()
        if data is None:
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            data = wait_event(take, [(self.queue, POLLIN)])
        return data

    def poll_events(self):
        return POLLIN | POLLRDNORM if self._events else 0

    def ioctl(self, task, request, arg):
        if request == FIONREAD:
            with self.lock:
                n = sum(len(e) for e in self._events)
            task.mm.copy_out(arg, struct.pack("<i", n))
            return 0
        raise SyscallError(errno.ENOTTY)

    def release(self):
        for watch in list(self.watches.values()):
            fn.remove(watch)
        self.watches.clear()

    def fdinfo(self):
        return "".join("inotify wd:%x ino:%x sdev:%x mask:%x ignored_mask:0\n"
                       % (w.wd, w.key[1], w.key[0], w.mask) for w in self.watches.values())
