"""The open-file object an fd points at (Linux's struct file)."""
import errno
import os

from kvmsentry.errors import SyscallError

O_ACCMODE = 3


class File:
    """Base open file: every operation a subclass does not support answers
    as Linux does for such a file."""

    def __init__(self, flags):
        self.flags = flags

    def readable(self):
        return self.flags & O_ACCMODE in (os.O_RDONLY, os.O_RDWR)

    def writable(self):
        return self.flags & O_ACCMODE in (os.O_WRONLY, os.O_RDWR)

    def read(self, length, offset=None):
        raise SyscallError(errno.EINVAL)

    def write(self, data, offset=None):
        raise SyscallError(errno.EINVAL)

    def ioctl(self, task, request, arg):
        raise SyscallError(errno.ENOTTY)

    def stat(self):
        raise SyscallError(errno.EINVAL)

    def seekable(self):
        return False

    def release(self):
        """The last fd referring to this file was closed."""
