"""An in-memory upper layer over a read-only lower one (the sandbox root).

Like Linux overlayfs and gVisor's overlay: a name is looked up in the
upper directory first, then in the lower one unless the upper side hides
it. Every change lands in the upper layer (a tmpfs), so the host tree
under the lower layer is never modified and all changes vanish with the
sandbox. A lower-only object is "copied up" (parents first) before its
first change.

Whiteouts (names deleted from the lower layer) and opaque markers
(directories that hide the lower directory of the same name) are kept in
this filesystem's own tables, keyed by the upper directory inode, never as
special files in either layer. A directory made by mkdir is always opaque:
it starts empty, whatever the lower layer has at that name, and stays so
wherever it is renamed. Only directories made by copy-up merge with a
lower directory.

Inode numbers: a lower object keeps its host inode number, also after
copy-up; objects that exist only in the upper layer get the upper number
with bit 63 set, so the two ranges cannot collide under one st_dev.
"""
import errno
import stat as st
import threading
import types
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.vfs.file import InodeFile
from kvmsentry.vfs.inode import RENAME_EXCHANGE, RENAME_NOREPLACE, Filesystem, Inode

OVERLAYFS_SUPER_MAGIC = 0x794C7630
UPPER_INO_BIT = 1 << 63
_COPY_CHUNK = 1 << 20
_S_IFDIR, _S_IFLNK, _S_IFREG = st.S_IFDIR, st.S_IFLNK, st.S_IFREG


_NONE = types.MappingProxyType({})    # a non-directory's children: none, ever


class _DirState:
    """What the overlay remembers about one upper directory."""
    __slots__ = ("whiteouts", "opaque")

    def __init__(self, opaque):
        self.whiteouts = set()        # names hidden in the lower directory
        self.opaque = opaque          # hide the whole lower directory


def _check_name(name):
    # The VFS never asks for these; the upper layer must never store them.
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise SyscallError(errno.EINVAL)


def _lookup_or_none(inode, name, seen=None):
    try:
        return inode.lookup(name) if seen is None else inode.lookup_seen(name, seen)
    except SyscallError as e:
        if e.errno != errno.ENOENT:
            raise
        return None


class OverlayInode(Inode):
    """One name of the merged tree: its upper and/or lower inode.

    The object is the identity the VFS caches; copy-up fills in `upper` in
    place, so every dentry and open file sees the copy at once.
    """

    def __init__(self, fs, upper, lower, parent, name):
        self.fs = fs                  # no Inode.__init__: mode is derived
        self.upper = upper
        self.lower = lower            # for a directory: only while merged
        self.parent = parent          # OverlayInode, None for root/removed
        self.name = name
        self._listing = None          # (upper's readdir tuple, origin_gen, ours)
        # The file type never changes (copy-up makes an upper of the same
        # type): the type checks of every path walk answer from it.
        self._type = st.S_IFMT((upper if upper is not None else lower).mode)
        # Looked-up children: directories only.
        self._children = weakref.WeakValueDictionary() if self._type == _S_IFDIR else _NONE
        # Lower entries the host may change under us are asked again
        # (stale_child); a directory with none is not.
        self.revalidates = self._type == _S_IFDIR and lower is not None and lower.revalidates

    @property
    def mode(self):
        return self.real().mode

    def is_dir(self):
        return self._type == _S_IFDIR

    def is_symlink(self):
        return self._type == _S_IFLNK

    def is_reg(self):
        return self._type == _S_IFREG

    def real(self):
        """The inode that answers reads: the upper one once there is one."""
        return self.upper if self.upper is not None else self.lower

    # --- per-directory state -------------------------------------------------
    def _state(self):
        """This directory's _DirState, created on demand (needs an upper)."""
        states = self.fs._dirs
        s = states.get(self.upper)
        if s is None:
            s = states[self.upper] = _DirState(opaque=False)
        return s

    def _whiteouts(self):
        s = self.fs._dirs.get(self.upper) if self.upper is not None else None
        return s.whiteouts if s is not None else ()

    def _lower_child(self, name, seen=None):
        """The lower entry `name` that shows through this directory, if any."""
        if self.lower is None or name in self._whiteouts():
            return None
        return _lookup_or_none(self.lower, name, seen)

    def _forget(self, name):
        child = self._children.pop(name, None)
        if child is not None:
            child.parent = child.name = None
        return child

    def _adopt(self, name, child):
        child.parent, child.name = self, name
        self._children[name] = child
        return child

    # --- copy-up ---------------------------------------------------------------
    def _copy_up(self, size=None):
        """Give this lower-only object an upper copy, parents first.

        Regular files get their contents (only the first `size` bytes when
        the caller is about to truncate), symlinks their target,
        directories only themselves. The parent's times are put back, as
        the copy is not a change the guest made to the parent.
        """
        if self.upper is not None:
            return
        parent = self.parent
        if parent is None:
            raise SyscallError(errno.ENOENT)      # removed while still open
        parent._copy_up()
        dir_up, name, lower = parent.upper, self.name, self.lower
        s = lower.getattr()
        pst = dir_up.getattr()
        kind = st.S_IFMT(s.mode)
        if kind == st.S_IFREG:
            dir_up.create(name, s.mode, s.uid, s.gid)
        elif kind == st.S_IFDIR:
            dir_up.mkdir(name, s.mode, s.uid, s.gid)
        elif kind == st.S_IFLNK:
            dir_up.symlink(name, lower.readlink(), s.uid, s.gid)
        else:
            dir_up.mknod(name, s.mode, s.rdev, s.uid, s.gid)
        new = dir_up.lookup(name)
        try:
            if kind == st.S_IFREG:
                self._copy_data(lower, new, s.size if size is None else min(size, s.size))
            if kind != st.S_IFLNK:
                new.setattr(mode=s.mode, uid=s.uid, gid=s.gid)
            if kind in (st.S_IFREG, st.S_IFDIR):
                _copy_xattrs(lower, new)
            new.setattr(atime_ns=s.atime_ns, mtime_ns=s.mtime_ns)
        except SyscallError:
            (dir_up.rmdir if kind == st.S_IFDIR else dir_up.unlink)(name)
            raise
        _best_effort(dir_up.setattr, atime_ns=pst.atime_ns, mtime_ns=pst.mtime_ns)
        self.fs._origin[new.getattr().ino] = s.ino
        self.fs.origin_gen += 1
        if kind == st.S_IFDIR:
            self.fs._dirs[new] = _DirState(opaque=False)
        else:
            self.lower = None         # contents now live in upper only
        self.upper = new

    @staticmethod
    def _copy_data(src, dst, limit):
        """Copy limit bytes; chunks of zeros become holes, so a sparse
        lower file stays sparse in memory."""
        off = 0
        while off < limit:
            data = src.read_at(off, min(_COPY_CHUNK, limit - off))
            if not data:
                break
            if data.count(0) != len(data):
                dst.write_at(off, data)
            off += len(data)
        if off:
            dst.setattr(size=off)

    def _prepare_move(self):
        """Make this object renamable inside the upper layer.

        A directory with lower entries cannot move: its lower part is
        reachable only at its old name. Linux overlayfs (without
        redirect_dir) answers EXDEV too, and mv(1) then falls back to
        copying the tree and deleting the old one.
        """
        if self.is_dir() and self.lower is not None and self.lower.readdir():
            raise SyscallError(errno.EXDEV)
        self._copy_up()
        if self.is_dir():
            # Whatever the lower layer has at the new name stays hidden.
            self._state().opaque = True
            self.lower = None

    # --- attributes --------------------------------------------------------------
    def getattr(self):
        # The layers' getattr make a new Stat each call (Inode.getattr):
        # changed in place.
        upper = self.upper
        if upper is None:
            out = self.lower.getattr()
        else:
            out = upper.getattr()
            lower_ino = self.fs._origin.get(out.ino)         # upper_ino(), inlined
            out.ino = lower_ino if lower_ino is not None else out.ino | UPPER_INO_BIT
        out.dev = self.fs.dev
        return out

    def access_ids(self):
        return self.real().access_ids()

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        with self.fs.lock:
            self._copy_up(size)
            return self.upper.setattr(mode=mode, uid=uid, gid=gid, size=size,
                                      atime_ns=atime_ns, mtime_ns=mtime_ns)

    # --- directories -----------------------------------------------------------
    def lookup_seen(self, name, seen):
        # (`seen` is the real inode's access_ids(): passed down to it.)
        return self.lookup(name, seen)

    def lookup(self, name, seen=None):
        _check_name(name)
        with self.fs.lock:
            if not self.is_dir():
                raise SyscallError(errno.ENOTDIR)
            child = self._children.get(name)
            if child is not None and not (self.revalidates and self.stale_child(name, child)):
                return child
            upper = _lookup_or_none(self.upper, name) if self.upper is not None else None
            lower = None
            if upper is None or (upper.is_dir() and not self.fs._is_opaque(upper)):
                lower = self._lower_child(name, seen)
                if upper is not None and lower is not None and not lower.is_dir():
                    lower = None
            if upper is None and lower is None:
                raise SyscallError(errno.ENOENT)
            return self._adopt(name, OverlayInode(self.fs, upper, lower, self, name))

    def stale_child(self, name, child, seen=None):
        # Only a lower-only entry can change under us: the upper layer is
        # ours, and Linux leaves a merged directory's lower changing under
        # it undefined.
        lower, lower_dir = child.lower, self.lower
        if child.upper is not None or lower is None or lower_dir is None \
                or not lower_dir.stale_child(name, lower, seen):
            return False
        with self.fs.lock:
            if self._children.get(name) is child:
                self._forget(name)
        return True

    def readdir(self):
        with self.fs.lock:
            if not self.is_dir():
                raise SyscallError(errno.ENOTDIR)
            entries = {}
            if self.upper is not None:
                origin = self.fs._origin                 # upper_ino(), inlined
                if self.lower is None:                   # nothing to merge
                    upper = self.upper.readdir()
                    kept = self._listing
                    # A tuple from the upper layer is returned again until
                    # the directory changes; numbers change with _origin.
                    if kept is not None and kept[0] is upper and kept[1] == self.fs.origin_gen:
                        return kept[2]
                    listing = tuple((name, lower_ino if (lower_ino := origin.get(ino)) is not None
                                     else ino | UPPER_INO_BIT, dt)
                                    for name, ino, dt in upper)
                    if type(upper) is tuple:
                        self._listing = (upper, self.fs.origin_gen, listing)
                    return listing
                for name, ino, dt in self.upper.readdir():
                    lower_ino = origin.get(ino)
                    entries[name] = (name, lower_ino if lower_ino is not None
                                     else ino | UPPER_INO_BIT, dt)
            if self.lower is not None:
                hidden = self._whiteouts()
                for name, ino, dt in self.lower.readdir():
                    if name not in entries and name not in hidden:
                        entries[name] = (name, ino, dt)
            return list(entries.values())

    def _exists(self, name):
        return _lookup_or_none(self, name) is not None

    def _make(self, name, make, opaque=False):
        """Create `name` in the upper copy of this directory with make(upper)."""
        _check_name(name)
        with self.fs.lock:
            if not self.is_dir():
                raise SyscallError(errno.ENOTDIR)
            if self._exists(name):
                raise SyscallError(errno.EEXIST)
            self._copy_up()
            make(self.upper)
            new = self.upper.lookup(name)
            if opaque:
                self.fs._dirs[new] = _DirState(opaque=True)
            if name in self._whiteouts():
                self._state().whiteouts.discard(name)
            return self._adopt(name, OverlayInode(self.fs, new, None, self, name))

    def create(self, name, mode, uid, gid):
        return self._make(name, lambda up: up.create(name, mode, uid, gid))

    def mkdir(self, name, mode, uid, gid):
        return self._make(name, lambda up: up.mkdir(name, mode, uid, gid), opaque=True)

    def mknod(self, name, mode, rdev, uid, gid):
        return self._make(name, lambda up: up.mknod(name, mode, rdev, uid, gid))

    def symlink(self, name, target, uid, gid):
        return self._make(name, lambda up: up.symlink(name, target, uid, gid))

    def link(self, name, inode):
        if not isinstance(inode, OverlayInode) or inode.fs is not self.fs:
            raise SyscallError(errno.EXDEV)
        if inode.is_dir():
            raise SyscallError(errno.EPERM)
        with self.fs.lock:
            if not self.is_dir():
                raise SyscallError(errno.ENOTDIR)
            if self._exists(name):
                raise SyscallError(errno.EEXIST)
            inode._copy_up()          # a lower file is linked as its copy
            return self._make(name, lambda up: up.link(name, inode.upper))

    def unlink(self, name):
        with self.fs.lock:
            child = self.lookup(name)
            if child.is_dir():
                raise SyscallError(errno.EISDIR)
            self._remove(name, child, lambda up: up.unlink(name))

    def rmdir(self, name):
        with self.fs.lock:
            child = self.lookup(name)
            if not child.is_dir():
                raise SyscallError(errno.ENOTDIR)
            if child.readdir():                 # emptiness of the merged view
                raise SyscallError(errno.ENOTEMPTY)
            self._remove(name, child, lambda up: up.rmdir(name))
            self.fs._dirs.pop(child.upper, None)

    def _remove(self, name, child, remove):
        """Remove `name` from upper and hide any lower entry behind it."""
        self._copy_up()
        in_lower = self._lower_child(name) is not None
        if child.upper is not None:
            remove(self.upper)
        if in_lower:
            self._state().whiteouts.add(name)
        self._forget(name)

    def rename(self, name, new_dir, new_name, flags=0):
        if not isinstance(new_dir, OverlayInode) or new_dir.fs is not self.fs:
            raise SyscallError(errno.EXDEV)
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE):
            raise SyscallError(errno.EINVAL)
        exchange = bool(flags & RENAME_EXCHANGE)
        _check_name(new_name)
        with self.fs.lock:
            src = self.lookup(name)
            dst = _lookup_or_none(new_dir, new_name)
            if dst is None and exchange:
                raise SyscallError(errno.ENOENT)
            if dst is not None and flags & RENAME_NOREPLACE:
                raise SyscallError(errno.EEXIST)
            _check_not_ancestor(src, new_dir)
            if exchange:
                _check_not_ancestor(dst, self)
            if dst is src or (dst is not None and src.upper is not None
                              and dst.upper is src.upper):
                return                          # same file: nothing to do
            if dst is not None and not exchange:
                if src.is_dir() and not dst.is_dir():
                    raise SyscallError(errno.ENOTDIR)
                if dst.is_dir() and not src.is_dir():
                    raise SyscallError(errno.EISDIR)
                if dst.is_dir() and dst.readdir():
                    raise SyscallError(errno.ENOTEMPTY)
            if exchange:
                dst._prepare_move()
            src._prepare_move()
            self._copy_up()
            new_dir._copy_up()
            old_in_lower = self._lower_child(name) is not None
            self.upper.rename(name, new_dir.upper, new_name, flags)
            if not exchange:
                if dst is not None and dst.upper is not None and dst.is_dir():
                    self.fs._dirs.pop(dst.upper, None)
                if old_in_lower:
                    self._state().whiteouts.add(name)
                if new_name in new_dir._whiteouts():
                    new_dir._state().whiteouts.discard(new_name)
            self._forget(name)
            new_dir._forget(new_name)
            new_dir._adopt(new_name, src)
            if exchange:
                self._adopt(name, dst)

    # --- symlinks, contents, special files -----------------------------------------
    def readlink(self):
        return self.real().readlink()

    def read_at(self, offset, length):
        return self.real().read_at(offset, length)

    def readinto_at(self, offset, buffers):
        return (self.upper if self.upper is not None else self.lower).readinto_at(offset, buffers)

    def write_at(self, offset, data):
        if self.upper is None:
            with self.fs.lock:
                self._copy_up()
        return self.upper.write_at(offset, data)

    def writefrom_at(self, offset, buffers):
        if self.upper is None:
            with self.fs.lock:
                self._copy_up()
        return self.upper.writefrom_at(offset, buffers)

    def seek_data(self, offset, hole):
        return self.real().seek_data(offset, hole)

    def reserve(self, offset, length):
        with self.fs.lock:
            self._copy_up()
        return self.upper.reserve(offset, length)

    def open(self, location, flags, *args, **kw):
        if self._type == _S_IFREG or self._type == _S_IFDIR:
            return InodeFile(location, flags)       # Inode.open's answer, without its checks
        if st.S_IFMT(self.mode) in (st.S_IFIFO, st.S_IFCHR, st.S_IFBLK):
            # A FIFO or device node from the host is never opened on the
            # host: its copy in the upper layer is the sandbox's own.
            with self.fs.lock:
                self._copy_up()
        return self.real().open(location, flags, *args, **kw)

    def touch_atime(self):
        (self.upper if self.upper is not None else self.lower).touch_atime()

    def getxattr(self, name):
        return self.real().getxattr(name)

    def listxattr(self):
        return self.real().listxattr()

    def setxattr(self, name, value, flags):
        with self.fs.lock:
            self._copy_up()
        return self.upper.setxattr(name, value, flags)

    def removexattr(self, name):
        with self.fs.lock:
            self._copy_up()
        return self.upper.removexattr(name)


def _copy_xattrs(lower, new):
    """ovl_copy_xattr: a copied-up file keeps the lower one's attributes
    (a lower filesystem without them has none)."""
    try:
        names = lower.listxattr()
    except SyscallError:
        return
    for name in names:
        new.setxattr(name, lower.getxattr(name), 0)


def _check_not_ancestor(inode, new_dir):
    """EINVAL if new_dir is `inode` or below it (a directory into itself)."""
    if inode is None or not inode.is_dir():
        return
    p = new_dir
    while p is not None:
        if p is inode:
            raise SyscallError(errno.EINVAL)
        p = p.parent


def _best_effort(fn, **kw):
    try:
        fn(**kw)
    except SyscallError:
        pass


class OverlayFilesystem(Filesystem):
    """upper_fs (writable, in memory) over lower_fs (never written)."""

    name = "overlay"
    magic = OVERLAYFS_SUPER_MAGIC

    def __init__(self, dev, upper_fs, lower_fs):
        super().__init__(dev)
        self.upper_fs = upper_fs
        self.lower_fs = lower_fs
        self.lock = threading.RLock()
        self._dirs = {}               # upper dir inode -> _DirState
        self._origin = {}             # upper ino -> lower ino it was copied from
        self.origin_gen = 0           # bumped on every change to _origin
        upper, lower = upper_fs.root(), lower_fs.root()
        # The merged root looks like the lower root (the image's "/").
        s = lower.getattr()
        _best_effort(upper.setattr, mode=s.mode, uid=s.uid, gid=s.gid,
                     atime_ns=s.atime_ns, mtime_ns=s.mtime_ns)
        self._origin[upper.getattr().ino] = s.ino
        self.origin_gen += 1
        self._root = OverlayInode(self, upper, lower, None, None)

    def root(self):
        return self._root

    def upper_ino(self, ino):
        """The inode number the guest sees for upper inode number `ino`."""
        lower = self._origin.get(ino)
        return lower if lower is not None else ino | UPPER_INO_BIT

    def _is_opaque(self, upper_dir):
        s = self._dirs.get(upper_dir)
        return s is not None and s.opaque

    def statfs(self):
        out = dict(self.upper_fs.statfs())
        out["type"] = self.magic
        return out
