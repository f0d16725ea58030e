"""Dentries (named places in the tree) and mounts.

A Dentry ties a name in its parent directory to an Inode; the tree of
dentries is what `..` walks and what getcwd prints. A Mount attaches a
filesystem's root dentry on top of a dentry of its parent mount. A
location in the sandbox's tree is always a (Mount, Dentry) pair.
"""
from collections import OrderedDict

from kvmsentry.record import named_tuple

MS_NOEXEC = 8

# How many cached dentries to keep. Each may pin host resources (hostfs
# holds an O_PATH fd per inode), so the cache is bounded: the least
# recently used childless, unpinned entries are dropped from their
# parent's cache. Anything still holding such a dentry (a cwd, an open
# file) keeps using it; a later lookup just makes a new one.
DENTRY_CACHE_LIMIT = 4096
_lru = OrderedDict()                  # id(dentry) -> dentry
# vfs/path.py's kept walk results, here so that every change that could
# make one wrong empties it: a name leaving the dentry tree (unlink,
# rename, eviction) or a mount coming or going. Emptied, not marked
# stale: a kept result must not keep an unlinked file's inode (and its
# space) alive.
WALKS = {}
CHANGES = [0]                         # how many such changes so far


def tree_changed():
    CHANGES[0] += 1
    if WALKS:
        WALKS.clear()


def _touch(d):
    key = id(d)
    if key in _lru:
        _lru.move_to_end(key)
        return
    _lru[key] = d
    if len(_lru) > DENTRY_CACHE_LIMIT:
        _evict(len(_lru) - DENTRY_CACHE_LIMIT * 3 // 4)


def _evict(count):
    for key in list(_lru)[:count * 2]:
        if count <= 0:
            break
        d = _lru.pop(key)
        if d.children or d.pinned or d.parent is None:
            continue
        if d.parent.children.get(d.name) is d:
            del d.parent.children[d.name]
            tree_changed()
        count -= 1


class Dentry:
    __slots__ = ("name", "parent", "inode", "children", "pinned", "unlinked", "__weakref__")

    def __init__(self, name, parent, inode):
        self.name = name
        self.parent = parent          # None for a filesystem root
        self.inode = inode
        self.children = {}            # name -> Dentry (positive entries only)
        self.pinned = False           # a mount point: never evicted
        self.unlinked = False         # its name was removed (d_unlinked), for IN_EXCL_UNLINK

    def child(self, name, seen=None):
        """Cached child dentry or a fresh one from the filesystem (`seen`:
        Inode.lookup_seen's, from a path walk)."""
        if self.inode.volatile:
            return Dentry(name, self, self.inode.lookup(name))
        d = self.children.get(name)
        if d is not None and self.inode.revalidates and not d.pinned \
                and self.inode.stale_child(name, d.inode, seen):
            d.unlinked = True               # (the host removed or renamed it)
            self.forget(name)
            d = None
        if d is None:
            inode = self.inode
            d = Dentry(name, self, inode.lookup(name) if seen is None
                       else inode.lookup_seen(name, seen))
            self.children[name] = d
        elif id(d) in _lru:                 # _touch(d)'s common case, inline
            _lru.move_to_end(id(d))
            return d
        _touch(d)
        return d

    def forget(self, name):
        d = self.children.pop(name, None)
        tree_changed()
        if d is not None:
            _lru.pop(id(d), None)

    def move(self, name, new_parent, new_name):
        """After a rename: the cached dentry follows its file, so a cwd or
        open directory below it, and mounts on it, see the new path."""
        d = self.children.pop(name, None)
        new_parent.forget(new_name)           # (a tree change)
        if d is not None:
            d.name, d.parent = new_name, new_parent
            new_parent.children[new_name] = d


class Mount:
    __slots__ = ("fs", "root", "parent", "mountpoint", "_readonly", "source", "flags")

    def __init__(self, fs, parent=None, mountpoint=None, readonly=False, source="",
                 root=None):
        self.fs = fs
        # A bind mount's root is a dentry of another mount's tree.
        self.root = Dentry(b"/", None, fs.root()) if root is None else root
        self.parent = parent          # parent Mount, None for the root mount
        self.mountpoint = mountpoint  # Dentry in the parent mount
        self._readonly = readonly
        self.source = source
        self.flags = 0                # MS_NOSUID/NODEV/NOEXEC/... as mount(2) gave them

    @property
    def readonly(self):
        """This mount's MS_RDONLY, or its filesystem's (a read-only
        volume): as Linux's __mnt_is_readonly, a remount or a new bind of
        a read-only filesystem does not make it writable."""
        return self._readonly or self.fs.readonly

    @readonly.setter
    def readonly(self, value):
        self._readonly = value

    def noexec(self):
        """MS_NOEXEC: nothing on this mount may be executed or mapped executable."""
        return bool(self.flags & MS_NOEXEC)


class Location(named_tuple("Location", "mount dentry")):
    __slots__ = ()

    @property
    def inode(self):
        return self.dentry.inode


class MountTable:
    """All mounts of a sandbox; mounts stack on (mount, dentry) pairs."""

    def __init__(self, root_fs, readonly=False, source=""):
        self.root = Mount(root_fs, readonly=readonly, source=source)
        self._on = {}                 # (id(parent mount), id(dentry)) -> Mount
        self.mounts = [self.root]

    def root_location(self):
        return Location(self.root, self.root.root)

    def mount(self, fs, where, readonly=False, source=""):
        """Mount fs on Location `where` (a directory)."""
        tree_changed()
        m = Mount(fs, where.mount, where.dentry, readonly, source)
        where.dentry.pinned = True
        self._on[(id(where.mount), id(where.dentry))] = m
        self.mounts.append(m)
        return m

    def bind(self, src, where, readonly=False):
        """Mount the tree below Location src again on Location where."""
        tree_changed()
        src.dentry.pinned = True
        m = Mount(src.mount.fs, where.mount, where.dentry, readonly, src.mount.source,
                  root=src.dentry)
        where.dentry.pinned = True
        self._on[(id(where.mount), id(where.dentry))] = m
        self.mounts.append(m)
        return m

    def children(self, m):
        return [c for c in self.mounts if c.parent is m]

    def umount(self, m):
        """Detach m (and every mount below it); its mountpoint shows what
        it covered again."""
        tree_changed()
        for child in self.children(m):
            self.umount(child)
        key = (id(m.parent), id(m.mountpoint))
        if self._on.get(key) is m:
            del self._on[key]
        self.mounts.remove(m)

    def detach(self, m):
        """Take m off its mountpoint, keeping the mounts below it."""
        tree_changed()
        key = (id(m.parent), id(m.mountpoint))
        if self._on.get(key) is m:
            del self._on[key]

    def attach(self, m, where):
        """Put a detached m (and what is below it) on Location where."""
        tree_changed()
        m.parent, m.mountpoint = where.mount, where.dentry
        where.dentry.pinned = True
        self._on[(id(where.mount), id(where.dentry))] = m

    def pivot(self, root_mnt, new_mnt, put_old):
        """pivot_root: new_mnt takes root_mnt's place, root_mnt goes on
        Location put_old (which lies below new_mnt)."""
        self.detach(new_mnt)
        if root_mnt.parent is None:
            new_mnt.parent = new_mnt.mountpoint = None
            self.root = new_mnt
            self.mounts.remove(new_mnt)
            self.mounts.insert(0, new_mnt)
        else:
            self.detach(root_mnt)
            self.attach(new_mnt, Location(root_mnt.parent, root_mnt.mountpoint))
        self.attach(root_mnt, put_old)

    def mounted_on(self, loc):
        """The topmost mount on loc, followed down a stack of mounts."""
        m = self._on.get((id(loc.mount), id(loc.dentry)))
        while m is not None:
            loc = Location(m, m.root)
            m = self._on.get((id(m), id(m.root)))
        return loc

    def path_of(self, loc, root, unreachable=b""):
        """Absolute path of loc as seen from `root` (bytes). A loc not
        below root (a cwd kept across chroot) gets its path from the
        sandbox's root, one renamed out from under a bind mount of a
        subdirectory just "/", either after `unreachable` (getcwd's
        "(unreachable)")."""
        parts = []
        while loc != root:
            mount, dentry = loc
            if dentry is mount.root:
                if mount.parent is None:
                    return unreachable + b"/" + b"/".join(reversed(parts))
                loc = Location(mount.parent, mount.mountpoint)
                continue
            if dentry.parent is None:
                # Past its mount's root (renamed out from under a bind of
                # a subdirectory): Linux's d_path gives up on the names.
                return unreachable + b"/"
            parts.append(dentry.name)
            loc = Location(mount, dentry.parent)
        return b"/" + b"/".join(reversed(parts))
