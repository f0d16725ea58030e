"""tmpfs: a filesystem that lives entirely in the sentry's memory.

It follows Linux's mm/shmem.c wherever a program could tell the
difference: per-filesystem inode numbers from 1, directory sizes of 20
bytes per entry (BOGO_DIRENT_SIZE), st_blocks counting only the pages a
file has actually written (holes are free), the size and inode limits of
a default tmpfs mount (half of RAM) with ENOSPC beyond them, and
rename(2)'s replacement rules. Space and the inode slot are given back
when the inode is gone for good (no links and no open file holds it), so
an unlinked file that is still open keeps its data, as on Linux.

One re-entrant lock per filesystem guards all of it. Only FIFO opens and
pipe I/O can block, and those wait on their pipe's own condition
(kernel/pipe.py), never while holding this lock.

Reads and listings update atime as a relatime mount does. Not done: the
SUID/SGID bits are not dropped on write (that needs the writer's creds,
which the VFS has).
"""
import errno
import os
import stat as st
import threading
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.vfs.inode import (DT_UNKNOWN, DTYPES, RENAME_EXCHANGE, RENAME_NOREPLACE,
                                 RENAME_WHITEOUT, S_IFMT, Filesystem, Inode, Stat, now_ns)

TMPFS_MAGIC = 0x01021994
PAGE_SIZE = 4096
_new_stat = object.__new__        # a Stat to fill in (getattr)
CHUNK = 64 * 1024               # a sparse file's unit of storage
_ZEROS = memoryview(bytes(CHUNK))
NAME_MAX = 255
MAX_LFS = (1 << 63) - 1
BOGO_DIRENT_SIZE = 20           # what shmem adds to a directory's size per entry
XATTR_CREATE, XATTR_REPLACE = 1, 2
XATTR_OVERHEAD = 40             # what an attribute costs beyond its name and value
RELATIME_NS = 24 * 3600 * 10**9
SHORT_SYMLINK_LEN = 128         # targets shorter than this are kept in the inode
SYMLINK_MAX = PAGE_SIZE - 1     # longest target (the page also holds a NUL)
RENAME_FLAGS = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT


def _half_of_ram_pages():
    """Default size and nr_inodes of a tmpfs mount: half of RAM, in pages."""
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        ram = 4 << 30
    return max(1, ram // 2 // PAGE_SIZE)


class StorageAccount:
    """The bytes every tmpfs of a sandbox holds together (file pages and
    extended attributes, all of them the sentry's memory): the upper
    layer of the root, memfds, /dev/shm and each tmpfs the guest mounts
    have sizes of their own, and their sum is bounded here (ENOSPC past
    it), as a cgroup bounds every tmpfs of a container together."""

    def __init__(self, limit):
        self.limit = limit
        self.charged = self.evicted = 0        # two counters: see _evict

    def charge(self, nbytes):
        if nbytes > 0 and self.charged - self.evicted + nbytes > self.limit:
            raise SyscallError(errno.ENOSPC)
        self.charged += nbytes


# The sentry's one sandbox's account; build_mounts sets its limit.
STORAGE = StorageAccount(_half_of_ram_pages() * PAGE_SIZE)


def _xattr_cost(name, value):
    return XATTR_OVERHEAD + len(name) + len(value)


def _check_name(name):
    if not name:
        raise SyscallError(errno.ENOENT)
    if len(name) > NAME_MAX:
        raise SyscallError(errno.ENAMETOOLONG)


class TmpfsFilesystem(Filesystem):
    """One tmpfs instance; `size` (bytes) and `nr_inodes` are the mount
    options of the same names, defaulting as on Linux."""

    name = "tmpfs"
    magic = TMPFS_MAGIC

    def __init__(self, dev, mode=0o1777, uid=0, gid=0, *, size=None, nr_inodes=None):
        super().__init__(dev)
        self.lock = threading.RLock()
        self.max_pages = (-(-size // PAGE_SIZE) if size is not None
                          else _half_of_ram_pages())
        self.max_inodes = nr_inodes if nr_inodes is not None else _half_of_ram_pages()
        # Eviction runs from a weakref finalizer, which may fire in the
        # middle of another update of the same thread: it only ever touches
        # its own counters, so no update is lost.
        self._pages_charged = self._pages_evicted = 0
        self._inodes_made = self._inodes_evicted = 0
        self._xattr_charged = self._xattr_evicted = 0      # bytes
        self.storage = STORAGE
        self._next_ino = 1
        self._root = TmpfsDir(self, mode, uid, gid, parent=None)

    def root(self):
        return self._root

    def statfs(self):
        with self.lock:
            bfree = max(0, self.max_pages - self.used_pages)
            return dict(type=self.magic, bsize=PAGE_SIZE, blocks=self.max_pages,
                        bfree=bfree, bavail=bfree, files=self.max_inodes,
                        ffree=max(0, self.max_inodes - self.used_inodes),
                        namelen=NAME_MAX, frsize=PAGE_SIZE, flags=0)

    # --- accounting ------------------------------------------------------------
    @property
    def used_pages(self):
        """Written pages, and extended attributes in pages: both are the
        sentry's memory, so `size` bounds both (a guest setting 64 KiB
        attributes by the thousand gets ENOSPC, not gigabytes of heap)."""
        xattr_bytes = self._xattr_charged - self._xattr_evicted
        return self._pages_charged - self._pages_evicted + -(-xattr_bytes // PAGE_SIZE)

    @property
    def used_inodes(self):
        return self._inodes_made - self._inodes_evicted

    def _alloc_inode(self, inode, pages, xattr_bytes):
        """An inode number for a new inode; ENOSPC past nr_inodes. The slot,
        `pages` (a set the inode keeps) and its attributes' bytes (a
        one-item list it keeps) are given back on eviction."""
        with self.lock:
            if self.used_inodes >= self.max_inodes:
                raise SyscallError(errno.ENOSPC)
            self._inodes_made += 1
            ino = self._next_ino
            self._next_ino += 1
        fin = weakref.finalize(inode, self._evict, pages, xattr_bytes)
        fin.atexit = False
        return ino

    def _evict(self, pages, xattr_bytes):
        with self.lock:
            self._inodes_evicted += 1
            self._pages_evicted += len(pages)
            self._xattr_evicted += xattr_bytes[0]
            self.storage.evicted += len(pages) * PAGE_SIZE + xattr_bytes[0]

    def _charge(self, npages):
        """Account for npages newly written pages (ENOSPC past `size`);
        a negative count gives pages back."""
        if npages > 0 and self.used_pages + npages > self.max_pages:
            raise SyscallError(errno.ENOSPC)
        self.storage.charge(npages * PAGE_SIZE)
        self._pages_charged += npages

    def _charge_xattr(self, nbytes):
        """_charge for nbytes more (or fewer) of extended attributes."""
        if nbytes > 0:
            used = (self._pages_charged - self._pages_evicted) * PAGE_SIZE + \
                self._xattr_charged - self._xattr_evicted
            if used + nbytes > self.max_pages * PAGE_SIZE:
                raise SyscallError(errno.ENOSPC)
        self.storage.charge(nbytes)
        self._xattr_charged += nbytes


class TmpfsInode(Inode):
    """Attributes common to every tmpfs inode; subclasses add contents."""

    def __init__(self, fs, mode, uid, gid, rdev=0):
        super().__init__(fs, mode)
        self._pages = set()           # page indices with data (regular files)
        self._xattr_bytes = [0]       # what its extended attributes cost
        self.ino = fs._alloc_inode(self, self._pages, self._xattr_bytes)
        self.uid, self.gid, self.rdev = uid, gid, rdev
        self.nlink = 1
        self.atime_ns = self.mtime_ns = self.ctime_ns = self.btime_ns = now_ns()

    def _st_nlink(self):
        return self.nlink

    def _st_size(self):
        return 0

    def _st_blocks(self):
        return len(self._pages) * (PAGE_SIZE // 512)

    def getattr(self):
        # Filled in place rather than through Stat's keyword arguments:
        # every stat, open and getdents of a tmpfs or overlay file is here.
        s = _new_stat(Stat)
        with self.fs.lock:
            (s.dev, s.ino, s.mode, s.nlink, s.uid, s.gid, s.rdev, s.size, s.blksize,
             s.blocks, s.atime_ns, s.mtime_ns, s.ctime_ns, s.btime_ns) = (
                self.fs.dev, self.ino, self.mode, self._st_nlink(), self.uid, self.gid,
                self.rdev, self._st_size(), PAGE_SIZE, self._st_blocks(), self.atime_ns,
                self.mtime_ns, self.ctime_ns, self.btime_ns)
        return s

    def access_ids(self):
        return self                   # mode, uid and gid are our own fields

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        """Any change also sets ctime; a size change (truncate) also sets
        mtime unless one is given, as Linux's do_truncate does."""
        with self.fs.lock:
            now = now_ns()
            if size is not None:
                self._truncate(size)
                self.mtime_ns = now
            if mode is not None:
                self.mode = (self.mode & S_IFMT) | (mode & 0o7777)
            if uid is not None:
                self.uid = uid
            if gid is not None:
                self.gid = gid
            if atime_ns is not None:
                self.atime_ns = atime_ns
            if mtime_ns is not None:
                self.mtime_ns = mtime_ns
            self.ctime_ns = now

    def _truncate(self, size):
        raise SyscallError(errno.EINVAL)

    def _touch(self, now):
        self.mtime_ns = self.ctime_ns = now

    def touch_atime(self):
        """relatime (Linux's default): only when atime is not after the
        last change, or is a day old."""
        now = now_ns()
        with self.fs.lock:
            atime = self.atime_ns
            if atime <= self.mtime_ns or atime <= self.ctime_ns or \
                    now - atime >= RELATIME_NS:
                self.atime_ns = now

    # --- extended attributes (shmem's simple_xattr: every namespace the
    # syscalls let through is stored; setting or removing one is a change) ---
    xattrs = None                     # name -> value, made at the first set

    def getxattr(self, name):
        with self.fs.lock:
            value = (self.xattrs or {}).get(name)
        if value is None:
            raise SyscallError(errno.ENODATA)
        return value

    def listxattr(self):
        with self.fs.lock:
            return list(self.xattrs or ())

    def setxattr(self, name, value, flags):
        with self.fs.lock:
            if self.xattrs is None:
                self.xattrs = {}
            if flags & XATTR_CREATE and name in self.xattrs:
                raise SyscallError(errno.EEXIST)
            if flags & XATTR_REPLACE and name not in self.xattrs:
                raise SyscallError(errno.ENODATA)
            old = self.xattrs.get(name)
            delta = _xattr_cost(name, value) - (0 if old is None else _xattr_cost(name, old))
            self.fs._charge_xattr(delta)
            self._xattr_bytes[0] += delta
            self.xattrs[name] = bytes(value)
            self.ctime_ns = now_ns()

    def removexattr(self, name):
        with self.fs.lock:
            if name not in (self.xattrs or {}):
                raise SyscallError(errno.ENODATA)
            cost = _xattr_cost(name, self.xattrs.pop(name))
            self.fs._charge_xattr(-cost)
            self._xattr_bytes[0] -= cost
            self.ctime_ns = now_ns()


class TmpfsFile(TmpfsInode):
    """A regular file, kept sparse: its data is a dict of CHUNK-sized
    slots, each a bytearray only as long as its last written byte. A slot
    that was never written, and a slot's tail, read as zeros and cost no
    memory, so a 1-byte write at 4 GiB costs one slot, not 4 GiB."""

    def __init__(self, fs, mode, uid, gid):
        super().__init__(fs, st.S_IFREG | (mode & 0o7777), uid, gid)
        self.chunks = {}              # chunk index -> bytearray (<= CHUNK)
        self.size = 0

    def _st_size(self):
        return self.size

    def read_at(self, offset, length):
        if offset < 0 or length < 0:
            raise SyscallError(errno.EINVAL)
        with self.fs.lock:
            end = min(self.size, offset + length)
            if offset >= end:
                return b""
            out = bytearray(end - offset)
            self._copy_to(memoryview(out), offset, zeroed=True)
            return bytes(out)

    def readinto_at(self, offset, buffers):
        """read_at() into memoryviews (e.g. guest frames): each stored byte
        is copied once, from its slot straight into the buffer."""
        if offset < 0:
            raise SyscallError(errno.EINVAL)
        with self.fs.lock:
            pos, size = offset, self.size
            for buf in buffers:
                if pos >= size:
                    break
                n = min(len(buf), size - pos)
                if n:
                    self._copy_to(buf if n == len(buf) else buf[:n], pos, zeroed=False)
                    pos += n
            return pos - offset

    def _copy_to(self, view, offset, zeroed):
        """The file's bytes [offset, offset + len(view)) into view; what no
        slot holds reads as zeros (written unless view is `zeroed` already)."""
        end = offset + len(view)
        for i in range(offset // CHUNK, (end - 1) // CHUNK + 1):
            base = i * CHUNK
            lo, hi = max(offset, base), min(end, base + CHUNK)
            chunk = self.chunks.get(i)
            stored = min(hi, base + len(chunk)) if chunk else lo
            if lo < stored:
                with memoryview(chunk) as data:
                    view[lo - offset:stored - offset] = data[lo - base:stored - base]
            zeros = max(lo, stored)
            if zeros < hi and not zeroed:
                view[zeros - offset:hi - offset] = _ZEROS[:hi - zeros]

    def writefrom_at(self, offset, buffers):
        """write_at() of the bytes in memoryviews (e.g. guest frames): one
        buffer is stored straight from its frames."""
        return self.write_at(offset, buffers[0] if len(buffers) == 1 else b"".join(buffers))

    def write_at(self, offset, data):
        """Linux's generic_write_check_limits: EFBIG at or past the maximum
        file size, and a write running past it is cut short there."""
        if offset < 0:
            raise SyscallError(errno.EINVAL)
        n = len(data)
        if n == 0:
            return 0
        if offset >= MAX_LFS:
            raise SyscallError(errno.EFBIG)
        n = min(n, MAX_LFS - offset)
        end = offset + n
        view = memoryview(data)
        with self.fs.lock:
            first, last = offset // PAGE_SIZE, (end - 1) // PAGE_SIZE
            if first == last and first in self._pages:
                # Most writes: over bytes already stored, in one charged
                # page (CHUNK is a multiple of the page size).
                base = offset - offset % CHUNK
                chunk = self.chunks.get(base // CHUNK)
                if chunk is not None and len(chunk) >= end - base:
                    chunk[offset - base:end - base] = view
                    self.size = max(self.size, end)
                    self._touch(now_ns())
                    return n
            if first == last:
                new = [] if first in self._pages else [first]
            else:
                new = [p for p in range(first, last + 1) if p not in self._pages]
            self.fs._charge(len(new))
            try:
                for i in range(offset // CHUNK, (end - 1) // CHUNK + 1):
                    base = i * CHUNK
                    lo, hi = max(offset, base) - base, min(end, base + CHUNK) - base
                    chunk = self.chunks.get(i)
                    if chunk is None:
                        chunk = self.chunks[i] = bytearray()
                    if len(chunk) < lo:
                        chunk.extend(bytes(lo - len(chunk)))
                    chunk[lo:hi] = view[base + lo - offset:base + hi - offset]
            except MemoryError:
                self.fs._charge(-len(new))
                raise SyscallError(errno.ENOSPC) from None
            self._pages.update(new)
            self.size = max(self.size, end)
            self._touch(now_ns())
            return n

    def _truncate(self, size):
        if size < 0:
            raise SyscallError(errno.EINVAL)
        if size > MAX_LFS:
            raise SyscallError(errno.EFBIG)
        if size < self.size:
            for i in [i for i in self.chunks if i * CHUNK >= size]:
                del self.chunks[i]
            tail = self.chunks.get(size // CHUNK)
            if tail is not None:
                del tail[size % CHUNK:]
            keep = -(-size // PAGE_SIZE)
            gone = {p for p in self._pages if p >= keep}
            self._pages.difference_update(gone)
            self.fs._charge(-len(gone))
        self.size = size

    def reserve(self, offset, length):
        """fallocate's space check: ENOSPC unless the pages not yet written
        in [offset, offset+length) fit (they are not charged: holes stay
        free until written, a deliberate difference from shmem)."""
        with self.fs.lock:
            pages = -(-(offset + length) // PAGE_SIZE) - offset // PAGE_SIZE
            if pages - len(self._pages) > self.fs.max_pages - self.fs.used_pages:
                raise SyscallError(errno.ENOSPC)

    def seek_data(self, offset, whence_hole):
        """SEEK_DATA / SEEK_HOLE at page granularity (written pages are
        data, everything else a hole), as shmem reports them."""
        with self.fs.lock:
            if offset < 0 or offset >= self.size:
                raise SyscallError(errno.ENXIO)
            page = offset // PAGE_SIZE
            if whence_hole:
                while page in self._pages:
                    page += 1
                return min(max(offset, page * PAGE_SIZE), self.size)
            if page in self._pages:
                return offset
            later = [p for p in self._pages if p > page]
            if not later or min(later) * PAGE_SIZE >= self.size:
                raise SyscallError(errno.ENXIO)
            return min(later) * PAGE_SIZE


class TmpfsSymlink(TmpfsInode):
    def __init__(self, fs, target, uid, gid):
        super().__init__(fs, st.S_IFLNK | 0o777, uid, gid)
        self.target = bytes(target)

    def _st_size(self):
        return len(self.target)

    def _st_blocks(self):
        return PAGE_SIZE // 512 if len(self.target) >= SHORT_SYMLINK_LEN else 0

    def readlink(self):
        return self.target


class TmpfsFifo(TmpfsInode):
    """A named pipe: opens share one pipe and follow the FIFO open rules."""

    def __init__(self, fs, mode, uid, gid):
        super().__init__(fs, st.S_IFIFO | (mode & 0o7777), uid, gid)
        from kvmsentry.kernel.pipe import Fifo        # (pipes load with the first one)
        self.fifo = Fifo(uid, gid)

    def open(self, location, flags):
        return self.fifo.open(flags, location)


class TmpfsNode(TmpfsInode):
    """A character or block device node or a socket: only a name and
    attributes here. Opening it answers ENXIO (the base Inode.open):
    devices are served by devfs, sockets are reached through connect()."""


class TmpfsDir(TmpfsInode):
    """A directory: entries keep creation order (a dict), which is the
    order readdir reports; an entry renamed in goes to the end."""

    def __init__(self, fs, mode, uid, gid, parent):
        super().__init__(fs, st.S_IFDIR | (mode & 0o7777), uid, gid)
        self.entries = {}
        self._listing = None          # readdir's tuple while the entries stay as they are
        self.parent = parent          # the one directory holding this one
        self.subdirs = 0
        self.dead = False             # removed by rmdir; no new entries

    def _st_nlink(self):
        return 0 if self.dead else 2 + self.subdirs

    def _st_size(self):
        return BOGO_DIRENT_SIZE * (2 + len(self.entries))

    def _truncate(self, size):
        raise SyscallError(errno.EISDIR)

    def is_empty(self):
        with self.fs.lock:
            return not self.entries

    # --- entry bookkeeping (fs.lock held) ----------------------------------------
    def _get(self, name):
        _check_name(name)
        if self.dead:
            raise SyscallError(errno.ENOENT)
        child = self.entries.get(name)
        if child is None:
            raise SyscallError(errno.ENOENT)
        return child

    def _check_new(self, name):
        _check_name(name)
        if self.dead:
            raise SyscallError(errno.ENOENT)
        if name in self.entries:
            raise SyscallError(errno.EEXIST)

    def _attach(self, name, inode):
        self.entries[name] = inode
        self._listing = None
        if isinstance(inode, TmpfsDir):
            self.subdirs += 1
            inode.parent = self

    def _detach(self, name):
        inode = self.entries.pop(name)
        self._listing = None
        if isinstance(inode, TmpfsDir):
            self.subdirs -= 1
        return inode

    def _drop_link(self, inode, now):
        """`inode` lost the entry that named it."""
        if isinstance(inode, TmpfsDir):
            inode.nlink = 0
            inode.dead = True
            inode.parent = None
        else:
            inode.nlink -= 1
        inode.ctime_ns = now

    def _owner(self, mode, gid, is_dir):
        """inode_init_owner(): a set-group-ID directory hands its group to
        new entries, and its S_ISGID bit to new subdirectories."""
        if self.mode & st.S_ISGID:
            gid = self.gid
            if is_dir:
                mode |= st.S_ISGID
        return mode, gid

    def _descends_from(self, ancestor):
        d = self
        while d is not None:
            if d is ancestor:
                return True
            d = d.parent
        return False

    def insert(self, name, inode):
        """Add a ready-made inode of this filesystem under `name`: for
        filesystems built on tmpfs (devfs) to place their special inodes."""
        with self.fs.lock:
            self._check_new(name)
            self._attach(name, inode)
            self._touch(now_ns())
            return inode

    # --- Inode interface -----------------------------------------------------------
    def lookup(self, name):
        with self.fs.lock:
            return self._get(name)

    def readdir(self):
        """(name, ino, d_type) of each entry, in order: the same tuple
        object until an entry is added, removed or replaced (an inode's
        number and type never change), which is what lets the overlay
        and getdents keep what they built from it."""
        listing = self._listing
        if listing is None:
            with self.fs.lock:
                types = DTYPES
                listing = self._listing = tuple(
                    (name, child.ino, types.get(child.mode & S_IFMT, DT_UNKNOWN))
                    for name, child in self.entries.items())
        return listing

    def create(self, name, mode, uid, gid):
        """Implements creat(2)'s inode step."""
        with self.fs.lock:
            self._check_new(name)
            mode, gid = self._owner(mode & 0o7777, gid, False)
            return self.insert(name, TmpfsFile(self.fs, mode, uid, gid))

    def mkdir(self, name, mode, uid, gid):
        with self.fs.lock:
            self._check_new(name)
            mode, gid = self._owner(mode & (0o777 | st.S_ISVTX), gid, True)
            return self.insert(name, TmpfsDir(self.fs, mode, uid, gid, self))

    def mknod(self, name, mode, rdev, uid, gid):
        kind = mode & S_IFMT or st.S_IFREG
        if kind == st.S_IFDIR:
            raise SyscallError(errno.EPERM)
        if kind not in (st.S_IFREG, st.S_IFCHR, st.S_IFBLK, st.S_IFIFO, st.S_IFSOCK):
            raise SyscallError(errno.EINVAL)
        with self.fs.lock:
            self._check_new(name)
            perm, gid = self._owner(mode & 0o7777, gid, False)
            if kind == st.S_IFREG:
                inode = TmpfsFile(self.fs, perm, uid, gid)
            elif kind == st.S_IFIFO:
                inode = TmpfsFifo(self.fs, perm, uid, gid)
            else:
                dev = rdev if kind in (st.S_IFCHR, st.S_IFBLK) else 0
                inode = TmpfsNode(self.fs, kind | perm, uid, gid, dev)
            return self.insert(name, inode)

    def symlink(self, name, target, uid, gid):
        if not target:
            raise SyscallError(errno.ENOENT)
        with self.fs.lock:
            self._check_new(name)
            if len(target) > SYMLINK_MAX:
                raise SyscallError(errno.ENAMETOOLONG)
            _, gid = self._owner(0, gid, False)
            return self.insert(name, TmpfsSymlink(self.fs, target, uid, gid))

    def link(self, name, inode):
        with self.fs.lock:
            self._check_new(name)
            if not isinstance(inode, TmpfsInode) or inode.fs is not self.fs:
                raise SyscallError(errno.EXDEV)
            if inode.is_dir():
                raise SyscallError(errno.EPERM)
            if inode.nlink == 0:
                raise SyscallError(errno.ENOENT)
            inode.nlink += 1
            now = now_ns()
            inode.ctime_ns = now
            return self.insert(name, inode)

    def unlink(self, name):
        with self.fs.lock:
            child = self._get(name)
            if child.is_dir():
                raise SyscallError(errno.EISDIR)
            self._detach(name)
            now = now_ns()
            self._drop_link(child, now)
            self._touch(now)

    def rmdir(self, name):
        with self.fs.lock:
            child = self._get(name)
            if not child.is_dir():
                raise SyscallError(errno.ENOTDIR)
            if child.entries:
                raise SyscallError(errno.ENOTEMPTY)
            self._detach(name)
            now = now_ns()
            self._drop_link(child, now)
            self._touch(now)

    def rename(self, name, new_dir, new_name, flags=0):
        """Implements renameat2(2)'s inode step, with Linux's order of
        checks (do_renameat2, then vfs_rename, then shmem_rename2)."""
        if flags & ~RENAME_FLAGS or (flags & RENAME_EXCHANGE and
                                     flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)):
            raise SyscallError(errno.EINVAL)
        if not isinstance(new_dir, TmpfsDir) or new_dir.fs is not self.fs:
            raise SyscallError(errno.EXDEV)
        with self.fs.lock:
            src = self._get(name)
            _check_name(new_name)
            if new_dir.dead:
                raise SyscallError(errno.ENOENT)
            dst = new_dir.entries.get(new_name)
            exchange = flags & RENAME_EXCHANGE
            if exchange and dst is None:
                raise SyscallError(errno.ENOENT)
            if flags & RENAME_NOREPLACE and dst is not None:
                raise SyscallError(errno.EEXIST)
            if src.is_dir() and new_dir._descends_from(src):
                raise SyscallError(errno.EINVAL)      # into its own subtree
            if dst is not None and dst.is_dir() and self._descends_from(dst):
                raise SyscallError(errno.EINVAL if exchange else errno.ENOTEMPTY)
            if dst is src:
                return                                # same inode: nothing to do
            now = now_ns()
            if exchange:
                self._exchange(name, src, new_dir, new_name, dst, now)
                return
            if dst is not None:
                if src.is_dir() and not dst.is_dir():
                    raise SyscallError(errno.ENOTDIR)
                if not src.is_dir() and dst.is_dir():
                    raise SyscallError(errno.EISDIR)
                if dst.is_dir() and dst.entries:
                    raise SyscallError(errno.ENOTEMPTY)
            whiteout = None
            if flags & RENAME_WHITEOUT:               # overlayfs's marker: c 0 0
                whiteout = TmpfsNode(self.fs, st.S_IFCHR, 0, 0, 0)
            if dst is not None:
                new_dir._detach(new_name)
                self._drop_link(dst, now)
            self._detach(name)
            new_dir._attach(new_name, src)
            if whiteout is not None:
                self._attach(name, whiteout)
            src.ctime_ns = now
            self._touch(now)
            new_dir._touch(now)

    def _exchange(self, name, src, new_dir, new_name, dst, now):
        """RENAME_EXCHANGE: each name keeps its readdir position and gets
        the other inode."""
        if self is not new_dir:
            src_dir, dst_dir = int(src.is_dir()), int(dst.is_dir())
            self.subdirs += dst_dir - src_dir
            new_dir.subdirs += src_dir - dst_dir
        self.entries[name] = dst
        new_dir.entries[new_name] = src
        self._listing = new_dir._listing = None
        if isinstance(src, TmpfsDir):
            src.parent = new_dir
        if isinstance(dst, TmpfsDir):
            dst.parent = self
        src.ctime_ns = dst.ctime_ns = now
        self._touch(now)
        new_dir._touch(now)
