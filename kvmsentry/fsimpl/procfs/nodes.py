"""Generated filesystems: the pieces /proc and /sys are built from.

Nothing here stores file contents. A GenDir computes its children when
asked (so /proc/[pid] appears and disappears with the process), a GenFile
generates its bytes when read, and a GenLink computes its target; a
"magic" link (/proc/[pid]/exe, cwd, fd/N) also resolves straight to a
Location or an open file, as Linux's do, without walking its text.

Dentries of a GenDir are never cached (`volatile`): every lookup asks the
generator again, so a stale /proc/[pid] cannot outlive its process.
"""
import errno
import itertools
import os
import stat as st
import sys
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.vfs.file import File
from kvmsentry.vfs.inode import Filesystem, Inode, Stat, dtype
from kvmsentry.vfs.mount import Dentry, Location

_ino_lock = threading.Lock()
_inos = {("root",): 1}         # /proc itself is inode 1, as on Linux
_next_ino = itertools.count(2)


def ino_for(key):
    """A stable inode number for a generated file's identity `key`."""
    with _ino_lock:
        ino = _inos.get(key)
        if ino is None:
            ino = _inos[key] = next(_next_ino)
        return ino


def _root_owner():
    return 0, 0


class GenFilesystem(Filesystem):
    """A filesystem whose root is a GenDir built by `make_root(fs)`."""

    def __init__(self, dev, name, magic, make_root):
        super().__init__(dev)
        self.name = name
        self.magic = magic
        self._root = make_root(self)

    def root(self):
        return self._root


class GenNode(Inode):
    """A generated inode: identity `key`, owner() -> (uid, gid)."""

    def __init__(self, fs, key, mode, owner=None):
        super().__init__(fs, mode)
        self.key = key
        self.owner = owner or _root_owner

    def getattr(self):
        uid, gid = self.owner()
        t = getattr(self.fs, "mtime_ns", 0)
        return Stat(dev=self.fs.dev, ino=ino_for(self.key), mode=self.mode,
                    nlink=2 if self.is_dir() else 1, uid=uid, gid=gid, size=0,
                    blocks=0, blksize=1024, atime_ns=t, mtime_ns=t, ctime_ns=t)

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        if size is not None and self.is_reg() and mode is uid is gid is None:
            return                      # O_TRUNC of a writable proc file: nothing to drop
        raise SyscallError(errno.EPERM)


class GenDir(GenNode):
    """A directory whose entries come from `entries()`: {name: make_inode}.
    `lookup_extra(name)` may answer names the listing hides (Linux's
    /proc/[tid] of a thread that is not a group leader). `find(name)`, if
    given, is entries().get(name) without building the whole listing (a
    lookup of /proc/self/exe is on every glibc start). `alive()`, if
    given, raises while the directory's subject is gone: a lookup fails
    with its errno (a dead process's ESRCH), a listing with ENOENT, as
    Linux's proc_pid_permission and readdir. `links()` adds to nlink."""

    def __init__(self, fs, key, entries, mode=0o555, owner=None, lookup_extra=None,
                 volatile=True, find=None, alive=None, links=None):
        super().__init__(fs, key, st.S_IFDIR | mode, owner)
        self.entries = entries
        self.lookup_extra = lookup_extra
        self.volatile = volatile      # False: a fixed tree (a mount point may sit in it)
        self.find = find
        self.alive = alive
        self.links = links

    def getattr(self):
        s = super().getattr()
        if self.links is not None:
            s.nlink += self.links()
        return s

    def lookup(self, name):
        if self.alive is not None:
            self.alive()
        make = self.find(name) if self.find is not None else self.entries().get(name)
        if make is not None:
            return make()
        if self.lookup_extra is not None:
            inode = self.lookup_extra(name)
            if inode is not None:
                return inode
        raise SyscallError(errno.ENOENT)

    def readdir(self):
        if self.alive is not None:
            try:
                self.alive()
            except SyscallError:
                raise SyscallError(errno.ENOENT) from None
        out = []
        for name, make in self.entries().items():
            try:
                inode = make()
            except SyscallError:
                continue                # went away while listing
            out.append((name, ino_for(inode.key), dtype(inode.mode)))
        return out


class GenFile(GenNode):
    """A file whose bytes are `generate()`; `write(data)`, if given, takes
    a write (the whole buffer, as Linux's proc writes of one call)."""

    def __init__(self, fs, key, generate, mode=0o444, owner=None, write=None):
        super().__init__(fs, key, st.S_IFREG | mode, owner)
        self.generate = generate
        self.write = write

    def open(self, location, flags):
        # Opening for writing is the mode bits' decision (root may); a
        # file with nothing to take a write then fails the write itself.
        return GeneratedFile(location, flags, self)

    @property
    def write_errno(self):
        """What a write to a file without a write handler fails with: a
        /proc/[pid] file has no write op (vfs_write's EINVAL), the others
        go through proc_reg_write (EIO)."""
        return errno.EINVAL if self.key[0] == "pid" else errno.EIO

    def read_at(self, offset, length):
        return self.generate()[offset:offset + length]


class GeneratedFile(File):
    """An open generated file. Like Linux's seq_file, the text is made at
    the first read and made again by a read from offset 0 (top and free
    keep /proc/meminfo open and pread it from 0 each time)."""

    def __init__(self, location, flags, node):
        super().__init__(flags, location)
        self.node = node
        self.offset = 0
        self._data = None
        self._lock = threading.Lock()

    def seekable(self):
        return True

    def _text(self, offset):
        if self._data is None or offset == 0:
            self._data = self.node.generate()
        return self._data

    def read(self, length, offset=None):
        if not self.readable():
            raise SyscallError(errno.EBADF)
        with self._lock:
            pos = self.offset if offset is None else offset
            data = self._text(pos)[pos:pos + length]
            if offset is None:
                self.offset += len(data)
            return data

    def write(self, data, offset=None):
        if self.node.write is None:
            raise SyscallError(self.node.write_errno)
        n = self.node.write(bytes(data))
        if offset is None:
            self.offset += n
        return n

    def seek(self, offset, whence):
        with self._lock:
            if whence == 0:
                new = offset
            elif whence == 1:
                new = self.offset + offset
            else:
                raise SyscallError(errno.EINVAL)
            if new < 0:
                raise SyscallError(errno.EINVAL)
            self.offset = new
            return new


class GenLink(GenNode):
    """A symlink whose text is `target()`. For a magic link, `resolve()`
    returns what following it reaches: a vfs Location, an open File (a
    pipe, an inherited host fd) that has no path in the tree, or an Inode
    that has none either (a namespace)."""

    def __init__(self, fs, key, target, resolve=None, mode=0o777, owner=None):
        super().__init__(fs, key, st.S_IFLNK | mode, owner)
        self.target = target
        self.resolve = resolve

    def readlink(self):
        return self.target()

    def follow_magic(self, location):
        if self.resolve is None:
            return None
        found = self.resolve()
        if isinstance(found, Location):
            return found
        if isinstance(found, Inode):
            inode = found
        elif found.location is not None:
            return found.location
        else:
            inode = OpenFileInode(self.fs, found)
        return Location(location.mount, Dentry(self.target(), location.dentry.parent, inode))


class OpenFileInode(Inode):
    """What a magic link to a pathless open file (a pipe, a host fd)
    resolves to: its attributes are the file's, and opening it opens the
    same object again (a new end for a pipe, as Linux's pipe reopen)."""

    def __init__(self, fs, file):
        super().__init__(fs, file.stat().mode)
        self.file = file

    def getattr(self):
        return self.file.stat()

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        """Only O_TRUNC's truncation reaches here (`> /dev/stderr`)."""
        if size is None or mode is not None or uid is not None or gid is not None:
            raise SyscallError(errno.EPERM)
        if isinstance(self.file, HostFdFile):
            if st.S_ISREG(self.file.stat().mode):
                try:
                    os.ftruncate(self.file.host_fd, size)
                except OSError as e:
                    raise SyscallError(e.errno) from None
        elif st.S_ISREG(self.mode):
            self.file.truncate(size)

    def open(self, location, flags):
        pipe = sys.modules.get("kvmsentry.kernel.pipe")    # (no pipe yet: not loaded)
        if pipe is not None and isinstance(self.file, pipe.PipeFile):
            return pipe.PipeFile(self.file.pipe, flags)
        if st.S_ISSOCK(self.mode):
            raise SyscallError(errno.ENXIO)      # a socket has no open (sock_no_open)
        return self.file            # no way to reopen it: the same open file
