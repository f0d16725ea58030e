"""/dev: a tmpfs pre-populated with the devices a program expects.

As in gVisor (and a container's /dev), /dev is an ordinary tmpfs: files
can be created there, /dev/shm is a plain world-writable directory, and
the device inodes are tmpfs inodes whose open() hands out a device file
instead of the generic one. Nothing here reaches a host device, except
/dev/tty, which is the host terminal the sandbox was given, if any.
"""
import errno
import os
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.devpts import DevptsDir, PtmxInode, PtyTable
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem, TmpfsInode
from kvmsentry.kernel.locking import current
from kvmsentry.vfs.file import File

DEV_SIZE = 64 << 20            # like Docker's /dev (size=65536k)


def makedev(major, minor):
    """st_rdev as glibc's makedev() encodes it."""
    return os.makedev(major, minor)


class DeviceFile(File):
    """An open character device with no position: lseek answers 0, like
    Linux's null_lseek / noop_llseek, and pread ignores the offset."""

    def __init__(self, location, flags):
        super().__init__(flags, location)

    def seekable(self):
        return True

    def seek(self, offset, whence):
        return 0


class NullFile(DeviceFile):
    """/dev/null: reads are EOF, writes vanish."""

    discards_writes = True

    def read(self, length, offset=None):
        return b""

    def write(self, data, offset=None):
        return len(data)


class ZeroFile(DeviceFile):
    """/dev/zero: reads are zeros, writes vanish."""

    discards_writes = True

    def read(self, length, offset=None):
        return bytes(length)

    def write(self, data, offset=None):
        return len(data)


class FullFile(ZeroFile):
    """/dev/full: reads are zeros, every write is ENOSPC."""

    discards_writes = False

    def write(self, data, offset=None):
        raise SyscallError(errno.ENOSPC)


class RandomFile(DeviceFile):
    """/dev/random and /dev/urandom: the host's CSPRNG; writes are
    accepted (Linux mixes them into the pool; here they are dropped)."""

    def read(self, length, offset=None):
        return os.urandom(length)

    def write(self, data, offset=None):
        return len(data)


class TtyFile(HostFdFile):
    """/dev/tty opened: the sandbox's controlling terminal, a host fd;
    fstat answers with the /dev/tty inode, not the host's."""

    def __init__(self, host_fd, flags, location):
        super().__init__(host_fd, flags)
        self.location = location

    def stat(self):
        return self.inode.getattr()


class DeviceInode(TmpfsInode):
    """A character device node of /dev whose open gives `file_class`."""

    def __init__(self, fs, rdev, file_class, mode=0o666):
        super().__init__(fs, st.S_IFCHR | mode, 0, 0, rdev)
        self.file_class = file_class

    def open(self, location, flags):
        return self.file_class(location, flags)

    @property
    def maps_as_anonymous(self):
        """mmap of /dev/zero is anonymous memory (shared: a shmem file)."""
        return self.file_class is ZeroFile


class TtyInode(TmpfsInode):
    """/dev/tty: the caller's controlling terminal (a pty of this /dev),
    else the host terminal if the sandbox has one, else ENXIO."""

    def __init__(self, fs, host_fd):
        super().__init__(fs, st.S_IFCHR | 0o666, 0, 0, makedev(5, 0))
        self.host_fd = host_fd

    def open(self, location, flags):
        task = current()
        if task is not None:
            file = self.fs.ptys.open_ctty(task, location, flags)
            if file is not None:
                return file
        if self.host_fd is None:
            raise SyscallError(errno.ENXIO)
        return TtyFile(self.host_fd, flags, location)


# name -> (major, minor, open file class), as on Linux (drivers/char/mem.c).
MEM_DEVICES = {
    b"null": (1, 3, NullFile),
    b"zero": (1, 5, ZeroFile),
    b"full": (1, 7, FullFile),
    b"random": (1, 8, RandomFile),
    b"urandom": (1, 9, RandomFile),
}
SYMLINKS = {
    b"stdin": b"/proc/self/fd/0",
    b"stdout": b"/proc/self/fd/1",
    b"stderr": b"/proc/self/fd/2",
    b"fd": b"/proc/self/fd",
}
DIRECTORIES = {b"shm": 0o1777}


class DevFilesystem(TmpfsFilesystem):
    """The sandbox's /dev. `tty_host_fd` is the host terminal behind
    /dev/tty; a fd that is not a terminal counts as none."""

    def __init__(self, dev, tty_host_fd=None):
        super().__init__(dev, mode=0o755, size=DEV_SIZE)
        if tty_host_fd is not None and not os.isatty(tty_host_fd):
            tty_host_fd = None
        self.tty_host_fd = tty_host_fd
        root = self.root()
        for name, (major, minor, file_class) in MEM_DEVICES.items():
            root.insert(name, DeviceInode(self, makedev(major, minor), file_class))
        root.insert(b"tty", TtyInode(self, tty_host_fd))
        for name, target in SYMLINKS.items():
            root.symlink(name, target, 0, 0)
        for name, mode in DIRECTORIES.items():
            root.mkdir(name, mode, 0, 0)
        pts = root.insert(b"pts", DevptsDir(self, 0o755, 0, 0, root))
        self.ptys = PtyTable(pts)
        root.insert(b"ptmx", PtmxInode(self, self.ptys))
