"""Dentries (named places in the tree) and mounts.

A Dentry ties a name in its parent directory to an Inode; the tree of
dentries is what `..` walks and what getcwd prints. A Mount attaches a
filesystem's root dentry on top of a dentry of its parent mount. A
location in the sandbox's tree is always a (Mount, Dentry) pair.
"""
from typing import NamedTuple


class Dentry:
    __slots__ = ("name", "parent", "inode", "children", "__weakref__")

    def __init__(self, name, parent, inode):
        self.name = name
        self.parent = parent          # None for a filesystem root
        self.inode = inode
        self.children = {}            # name -> Dentry (positive entries only)

    def child(self, name):
        """Cached child dentry or a fresh one from the filesystem."""
        d = self.children.get(name)
        if d is None:
            d = Dentry(name, self, self.inode.lookup(name))
            self.children[name] = d
        return d

    def forget(self, name):
        self.children.pop(name, None)


class Mount:
    __slots__ = ("fs", "root", "parent", "mountpoint", "readonly", "source")

    def __init__(self, fs, parent=None, mountpoint=None, readonly=False, source=""):
        self.fs = fs
        self.root = Dentry(b"/", None, fs.root())
        self.parent = parent          # parent Mount, None for the root mount
        self.mountpoint = mountpoint  # Dentry in the parent mount
        self.readonly = readonly
        self.source = source


class Location(NamedTuple):
    mount: Mount
    dentry: Dentry

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
        m = Mount(fs, where.mount, where.dentry, readonly, source)
        self._on[(id(where.mount), id(where.dentry))] = m
        self.mounts.append(m)
        return m

    def mounted_on(self, loc):
        """The topmost mount on loc, followed down a stack of mounts."""
        m = self._on.get((id(loc.mount), id(loc.dentry)))
        while m is not None:
            loc = Location(m, m.root)
            m = self._on.get((id(m), id(m.root)))
        return loc

    def path_of(self, loc, root):
        """Absolute path of loc as seen from `root` (bytes)."""
        parts = []
        while loc != root:
            mount, dentry = loc
            if dentry is mount.root:
                if mount.parent is None:
                    break                       # above the task's root
                loc = Location(mount.parent, mount.mountpoint)
                continue
            parts.append(dentry.name)
            loc = Location(mount, dentry.parent)
        return b"/" + b"/".join(reversed(parts))
