"""Anonymous-inode files (anon_inodefs): eventfd, timerfd, signalfd,
pidfd, inotify and epoll instances have no path and one shared device."""
import errno
import itertools
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.waiter import Queue
from kvmsentry.vfs.file import O_NONBLOCK, File
from kvmsentry.vfs.inode import Stat

ANON_INODE_DEV = 0xD
POLLIN, POLLOUT, POLLERR, POLLHUP = 0x1, 0x4, 0x8, 0x10
POLLRDNORM, POLLWRNORM = 0x40, 0x100
_inos = itertools.count(1)


class AnonFile(File):
    """An anonymous-inode file with its own lock and wait queue."""

    def __init__(self, flags):
        super().__init__(flags)
        self.lock = threading.Lock()
        self.queue = Queue()
        self.ino = next(_inos)

    def nonblocking(self):
        return bool(self.flags & O_NONBLOCK)

    def stat(self):
        return Stat(dev=ANON_INODE_DEV, ino=self.ino, mode=0o600)

    @staticmethod
    def no_offset(offset):
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
