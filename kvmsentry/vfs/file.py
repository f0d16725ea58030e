"""Open files (Linux's struct file): what an fd points at.

File is the base: every operation a subclass does not support answers as
Linux does for such a file. InodeFile is the generic open regular file or
directory of any filesystem, built on Inode.read_at/write_at/readdir.
"""
import errno
import os
import struct
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.mm import page_cache
from kvmsentry.vfs import fsnotify
from kvmsentry.vfs.inode import DT_DIR

# linux_dirent64 (d_ino, d_off, d_reclen, d_type, d_name padded with NULs)
# by record length.
_DIRENT = {24: struct.Struct("<QqHB5s")}

O_ACCMODE = 3
O_APPEND = os.O_APPEND
O_NONBLOCK = os.O_NONBLOCK
O_PATH = 0o10000000
O_NOATIME = 0o1000000
SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4
MAX_LFS = (1 << 63) - 1
# tmpfs and overlayfs: their directories have no end to SEEK_END to (EINVAL).
NO_DIR_END = {0x01021994, 0x794C7630}
# Flags F_SETFL may change.
SETFL_MASK = O_APPEND | O_NONBLOCK | os.O_ASYNC | os.O_DIRECT | os.O_NOATIME


class File:
    """Base open file."""

    # The wait queue (kernel/waiter.Queue) notified with the events that
    # became true whenever this file's poll mask may change; None for
    # files whose readiness never changes (regular files, directories).
    queue = None

    # True for sinks that take any write whole without looking at it
    # (/dev/null, /dev/zero): write(2) then never copies the buffer in.
    discards_writes = False

    def __init__(self, flags, location=None):
        self.flags = flags
        self.location = location      # vfs.mount.Location, if it has a path

    def readable(self):
        return self.flags & O_PATH == 0 and \
            self.flags & O_ACCMODE in (os.O_RDONLY, os.O_RDWR)

    def writable(self):
        return self.flags & O_PATH == 0 and \
            self.flags & O_ACCMODE in (os.O_WRONLY, os.O_RDWR)

    @property
    def inode(self):
        return self.location.dentry.inode if self.location is not None else None

    def read(self, length, offset=None):
        raise SyscallError(errno.EINVAL)

    def write(self, data, offset=None):
        raise SyscallError(errno.EINVAL)

    def seek(self, offset, whence):
        raise SyscallError(errno.ESPIPE)

    def seekable(self):
        return False

    def getdents(self, size):
        raise SyscallError(errno.ENOTDIR)

    def ioctl(self, task, request, arg):
        raise SyscallError(errno.ENOTTY)

    def stat(self):
        """A vfs.inode.Stat."""
        if self.inode is None:
            raise SyscallError(errno.EINVAL)
        return self.inode.getattr()

    def truncate(self, size):
        raise SyscallError(errno.EINVAL)

    def readiness(self):
        """(readable now, writable now) for poll; regular files are always ready."""
        return True, True

    def release(self):
        """The last fd referring to this file was closed."""


class InodeFile(File):
    """An open regular file or directory of a sandbox filesystem."""

    inode = None      # File.inode's value, kept: a dentry's inode never changes

    def __init__(self, location, flags):
        super().__init__(flags, location)
        self.inode = inode = location.dentry.inode
        inode.opens += 1
        self.offset = 0
        self._lock = threading.Lock()
        self._dirents = None          # directory listing snapshot for getdents
        self._dot_inos = None         # (parent Dentry, ino of ".", ino of "..")

    def seekable(self):
        return True

    def release(self):
        inode = self.inode
        inode.opens -= 1
        if not inode.opens and inode.delete_self_deferred is not None:
            fsnotify.last_close(inode)

    def read(self, length, offset=None):
        inode = self.inode
        if inode.is_dir():
            raise SyscallError(errno.EISDIR)
        page_cache.before_read(inode)
        if offset is not None:
            data = inode.read_at(offset, length)
        else:
            with self._lock:
                data = inode.read_at(self.offset, length)
                self.offset += len(data)
        self._touch_atime()
        if data:
            fsnotify.accessed(self)
        return data

    def readinto(self, buffers, offset=None):
        """read() straight into `buffers` (writable memoryviews, e.g. of
        guest frames); returns the bytes read."""
        inode = self.inode
        if inode.is_dir():
            raise SyscallError(errno.EISDIR)
        page_cache.before_read(inode)
        if offset is not None:
            n = inode.readinto_at(offset, buffers)
        else:
            with self._lock:
                n = inode.readinto_at(self.offset, buffers)
                self.offset += n
        self._touch_atime()
        if n:
            fsnotify.accessed(self)
        return n

    def _touch_atime(self):
        """file_accessed, as every read and directory listing does (even at
        the end): the inode's atime rule (tmpfs: relatime), unless the file
        was opened O_NOATIME or the mount is read-only."""
        if not self.flags & O_NOATIME and not self.location.mount.readonly:
            self.inode.touch_atime()

    def write(self, data, offset=None):
        n = self._write(data, offset)
        if n:
            fsnotify.modified(self)
        return n

    def writefrom(self, buffers, offset=None):
        """write() of the bytes in `buffers` (memoryviews, e.g. of guest
        frames): with no copy in the sentry when the inode can write from
        memory itself (a host file's pwritev) and no mapping caches its
        pages, else through one joined bytes."""
        inode = self.inode
        if page_cache.is_cached(inode):
            return self.write(b"".join(buffers), offset)
        if offset is not None and not self.flags & O_APPEND:
            n = inode.writefrom_at(offset, buffers)      # _write's first case, without a closure
        else:
            n = self._write(None, offset, sum(map(len, buffers)),
                            lambda pos: inode.writefrom_at(pos, buffers))
        if n:
            fsnotify.modified(self)
        return n

    def _write(self, data, offset, length=None, put=None):
        """Store at the file position (or offset): `data`, or whatever
        put(position) stores (`length` bytes) and returns the count of."""
        inode = self.inode
        if put is None:
            length = len(data)

            def put(pos):
                n = inode.write_at(pos, data)
                page_cache.after_write(inode, pos, data[:n])
                return n
        if offset is not None:
            if self.flags & O_APPEND:
                offset = inode.getattr().size      # Linux's pwrite appends here
            return put(offset)
        with self._lock:
            if self.flags & O_APPEND:
                page_cache.before_read(inode)
                self.offset = inode.getattr().size
            if self.offset + length > MAX_LFS:
                raise SyscallError(errno.EFBIG)
            n = put(self.offset)
            self.offset += n
            return n

    def seek(self, offset, whence):
        with self._lock:
            if whence == SEEK_SET:
                new = offset
            elif whence == SEEK_CUR:
                new = self.offset + offset
            elif whence == SEEK_END:
                if self.inode.is_dir() and self.location is not None and \
                        self.location.mount.fs.magic in NO_DIR_END:
                    raise SyscallError(errno.EINVAL)
                new = self.inode.getattr().size + offset
            elif whence in (SEEK_DATA, SEEK_HOLE):
                new = self.inode.seek_data(offset, whence == SEEK_HOLE)
            else:
                raise SyscallError(errno.EINVAL)
            if new < 0 or new > MAX_LFS:
                raise SyscallError(errno.EINVAL)
            if self.inode.is_dir() and new == 0:
                self._dirents = None
            self.offset = new
            return new

    def truncate(self, size):
        if not self.writable():
            raise SyscallError(errno.EINVAL)
        truncate_inode(self.inode, size)

    def getdents(self, size):
        """linux_dirent64 records that fit in size bytes, from the offset."""
        inode = self.inode
        if not inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        with self._lock:
            if self._dirents is None or self.offset == 0:
                self._dirents = _records_of(inode, self._dot_entries(inode))
            records, offset = self._dirents, self.offset
            if offset == 0 and records.size <= size:
                out, offset = records.joined, len(records)      # all of it, most calls
            else:
                out, used = [], 0
                while offset < len(records):
                    record = records[offset]
                    if used + len(record) > size:
                        if not out:
                            raise SyscallError(errno.EINVAL)
                        break
                    out.append(record)
                    used += len(record)
                    offset += 1
                out = b"".join(out)
            self.offset = offset
        self._touch_atime()
        fsnotify.accessed(self)             # iterate_dir's fsnotify_access, even at the end
        return out

    def _dot_entries(self, inode):
        """The inode numbers of "." and "..": an inode's number never
        changes, the parent only when the directory moves."""
        dentry = self.location.dentry
        parent = dentry.parent or dentry
        cached = self._dot_inos
        if cached is None or cached[0] is not parent:
            cached = self._dot_inos = (parent, inode.getattr().ino,
                                       parent.inode.getattr().ino)
        return cached[1], cached[2]


class _Records(list):
    """A directory's linux_dirent64 records, in order, their total size,
    and all of them joined."""
    __slots__ = ("size", "joined")


def _records_of(inode, dot_inos):
    """The records of inode.readdir() after "." and "..". A filesystem
    whose readdir returns a tuple returns that same tuple until the
    directory changes (tmpfs, the overlay's upper-only directories): the
    records built from it are kept on the inode and reused while both it
    and the dot entries' numbers stay the same."""
    entries = inode.readdir()
    if type(entries) is not tuple:
        return _records(_DOTS, dot_inos, entries)
    kept = getattr(inode, "_dirent_records", None)
    if kept is not None and kept[0] is entries and kept[1] == dot_inos:
        return kept[2]
    records = _records(_DOTS, dot_inos, entries)
    try:
        inode._dirent_records = (entries, dot_inos, records)
    except AttributeError:
        pass                                    # an inode that keeps no extra attributes
    return records


_DOTS = ((b".", DT_DIR), (b"..", DT_DIR))


def _records(dots, dot_inos, entries):
    records, size, offset = _Records(), 0, 0
    for (name, dt), ino in zip(dots, dot_inos):
        offset += 1
        records.append(_DIRENT[24].pack(ino, offset, 24, dt, name))
        size += 24
    formats = _DIRENT
    for name, ino, dt in entries:
        offset += 1
        reclen = (27 + len(name)) & ~7          # 19-byte head, name, NUL, 8-aligned
        record = formats.get(reclen)
        if record is None:
            record = formats[reclen] = struct.Struct("<QqHB%ds" % (reclen - 19))
        records.append(record.pack(ino, offset, reclen, dt, name))
        size += reclen
    records.size = size
    records.joined = b"".join(records)
    return records


def truncate_inode(inode, size):
    """Change a regular file's size, keeping mapped pages coherent."""
    page_cache.before_truncate(inode)
    inode.setattr(size=size)
    page_cache.after_truncate(inode, size)
