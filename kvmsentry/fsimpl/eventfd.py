"""eventfd: a 64-bit counter that write() adds to and read() takes from
(all of it, or 1 in semaphore mode), blocking at 0 and at the maximum."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.anon import POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, AnonFile
from kvmsentry.kernel.waiter import wait_event

MAX = 0xFFFFFFFFFFFFFFFE          # the counter's largest value (ULLONG_MAX - 1)


class EventFd(AnonFile):
    def __init__(self, count, flags, semaphore):
        super().__init__(flags)
        self.count = count
        self.semaphore = semaphore

    def read(self, length, offset=None):
        self.no_offset(offset)
        if length < 8:
            raise SyscallError(errno.EINVAL)

        def take():
            with self.lock:
                if not self.count:
                    return None
                value = 1 if self.semaphore else self.count
                self.count -= value
            self.queue.notify(POLLOUT | POLLWRNORM)
            return (value,)

        got = take()
        if got is None:
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            got = wait_event(take, [(self.queue, POLLIN)])
        return struct.pack("<Q", got[0])

    def write(self, data, offset=None):
        self.no_offset(offset)
        if len(data) != 8:                   # exactly 8 since Linux 6.9
            raise SyscallError(errno.EINVAL)
        (value,) = struct.unpack_from("<Q", data)
        if value > MAX:
            raise SyscallError(errno.EINVAL)

        def add():
            with self.lock:
                if MAX - self.count < value:
                    return False
                self.count += value
            if value:
                self.queue.notify(POLLIN | POLLRDNORM)
            return True

        if not add():
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            wait_event(add, [(self.queue, POLLOUT)])
        return 8

    def poll_events(self):
        count = self.count
        mask = POLLIN | POLLRDNORM if count else 0
        if count < MAX:
            mask |= POLLOUT | POLLWRNORM
        if count > MAX:
            mask |= POLLERR
        return mask

    def fdinfo(self):
        return "eventfd-count: %16x\neventfd-id: %d\n" % (self.count, self.ino)
