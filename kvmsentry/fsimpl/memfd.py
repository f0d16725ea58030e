"""memfd files: unlinked files of a sandbox-private tmpfs, and their seals.

A memfd is an InodeFile on a tmpfs inode with no name; its Location sits
in a Mount of that tmpfs that is in no mount table, under the name Linux
shows (/proc/self/fd/N -> "/memfd:NAME (deleted)"), so reopening it
through /proc/self/fd/N opens the same inode. Seals are kept per inode
and checked by the inode itself on every write and size change.
"""
import errno
import threading
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.tmpfs import TmpfsFile, TmpfsFilesystem
from kvmsentry.vfs.mount import Dentry, Location, Mount

F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8
F_SEAL_FUTURE_WRITE, F_SEAL_EXEC = 0x10, 0x20
ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | \
    F_SEAL_FUTURE_WRITE | F_SEAL_EXEC
MEMFD_DEV = 0x7FFE

_seals = weakref.WeakKeyDictionary()      # memfd inode -> seal bits
_lock = threading.Lock()


class MemfdStore:
    """The hidden tmpfs every memfd of one sandbox lives in."""

    def __init__(self):
        self.fs = TmpfsFilesystem(MEMFD_DEV)
        self.mount = Mount(self.fs, source="memfd")
        self._seq = 0

    def create(self, name, flags, allow_sealing, uid, gid):
        """A new open memfd file (flags: O_RDWR plus status flags)."""
        with _lock:
            self._seq += 1
            tmp = b"memfd%d" % self._seq
        root = self.fs.root()
        inode = root.insert(tmp, MemfdInode(self.fs, 0o777, uid, gid))
        root.unlink(tmp)
        _seals[inode] = 0 if allow_sealing else F_SEAL_SEAL
        dentry = Dentry(b"memfd:" + name + b" (deleted)", self.mount.root, inode)
        location = Location(self.mount, dentry)
        return inode.open(location, flags)


class MemfdInode(TmpfsFile):
    """A memfd's inode: a tmpfs file whose writes and size changes obey
    its seals, through every open file of it (a reopen through
    /proc/self/fd/N included)."""

    def write_at(self, offset, data):
        check_write(self, offset, len(data))
        return super().write_at(offset, data)

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        if size is not None:
            check_truncate(self, size)
        return super().setattr(mode, uid, gid, size, atime_ns, mtime_ns)


def seals_of(inode):
    """The inode's seals; EINVAL if it is not a memfd."""
    seals = _seals.get(inode)
    if seals is None:
        raise SyscallError(errno.EINVAL)
    return seals


def add_seals(file, seals):
    """F_ADD_SEALS: EPERM once F_SEAL_SEAL is set, EINVAL for unknown bits."""
    if seals & ~ALL_SEALS:
        raise SyscallError(errno.EINVAL)
    if not file.writable():
        raise SyscallError(errno.EPERM)
    with _lock:
        current = seals_of(file.inode)
        if current & F_SEAL_SEAL:
            raise SyscallError(errno.EPERM)
        _seals[file.inode] = current | seals
    return 0


def check_write(inode, offset, length):
    """EPERM if a seal forbids writing [offset, offset+length)."""
    seals = _seals.get(inode)
    if not seals:
        return
    if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
        raise SyscallError(errno.EPERM)
    if seals & F_SEAL_GROW and offset + length > inode.getattr().size:
        raise SyscallError(errno.EPERM)


def check_shared_writable_map(inode):
    """mmap(MAP_SHARED, PROT_WRITE) of a write-sealed memfd is EPERM."""
    if _seals.get(inode, 0) & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
        raise SyscallError(errno.EPERM)


def check_truncate(inode, size):
    seals = _seals.get(inode)
    if not seals:
        return
    old = inode.getattr().size
    if (size < old and seals & F_SEAL_SHRINK) or (size > old and seals & F_SEAL_GROW):
        raise SyscallError(errno.EPERM)
