"""Path walking, done by the sentry one component at a time.

Nothing here hands a guest path to the host: each step asks the current
directory's inode for one name, `..` never climbs above the task's root,
and symlinks are read from the sandbox's own inodes and resolved here
(at most MAXSYMLINKS of them per walk, like Linux).
"""
import errno
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.vfs.mount import Location
from kvmsentry.vfs.mount import CHANGES as _tree_changes, WALKS as _walks, _lru
from kvmsentry.vfs.mount import _touch as _lru_touch

PATH_MAX = 4096
NAME_MAX = 255
MAXSYMLINKS = 40
AT_FDCWD = -100
SLASH = ord("/")
_location = tuple.__new__            # Location(m, d) without namedtuple's Python __new__
_lru_move = _lru.move_to_end         # the dentry cache's LRU order (vfs/mount.py)
# Walk results: (mounts, root, start, path, follow) -> (Location, the
# revalidations it needs or None), emptied by every tree change
# (vfs/mount.py). Each pins its dentries (a host inode's fd among them):
# kept few.
WALKS_KEPT = 1024

X_OK, W_OK, R_OK = 1, 2, 4
# openat2(2)'s how.resolve bits, which the walk honours.
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 1, 2, 4
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 8, 0x10, 0x20
_SCOPED = RESOLVE_BENEATH | RESOLVE_IN_ROOT


CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _any_stale(checks):
    """Whether a kept walk crossed a name its directory no longer has
    (Inode.stale_child): then the walk is made afresh."""
    for inode, name, child in checks:
        if inode.stale_child(name, child):
            return True
    return False


def may_access(inode_stat, creds, want):
    """Linux's generic_permission for the fs uid/gid: the mode bits, then
    CAP_DAC_OVERRIDE (anything but exec of a file with no x bit at all) and
    CAP_DAC_READ_SEARCH (read, and search of directories)."""
    mode = inode_stat.mode
    uid = getattr(creds, "fsuid", creds.euid)
    gid = getattr(creds, "fsgid", creds.egid)
    if uid == inode_stat.uid:
        bits = (mode >> 6) & 7
    elif gid == inode_stat.gid or inode_stat.gid in getattr(creds, "groups", ()):
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    if bits & want == want:
        return True
    caps = getattr(creds, "cap_effective", None)
    if caps is None:                      # plain ids: root holds every capability
        caps = ~0 if uid == 0 else 0
    is_dir = st.S_ISDIR(mode)
    if caps & (1 << CAP_DAC_OVERRIDE):
        if not want & X_OK or is_dir or mode & 0o111:
            return True
    if caps & (1 << CAP_DAC_READ_SEARCH):
        if not want & W_OK and (not want & X_OK or is_dir):
            return True
    return False


def dac_overridden(creds, want):
    """Whether creds may `want` (R_OK/W_OK, not X_OK) any file whatever
    its mode and owner (CAP_DAC_OVERRIDE): may_access's answer without
    the inode's attributes."""
    if want & X_OK:
        return False
    caps = getattr(creds, "cap_effective", None)
    if caps is None:
        return getattr(creds, "fsuid", creds.euid) == 0
    return bool(caps & (1 << CAP_DAC_OVERRIDE))


def searches_anything(creds):
    """Whether creds may search every directory: may_access's answer for
    X_OK on a directory (CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH; plain
    ids: fs uid 0) without its attributes."""
    caps = getattr(creds, "cap_effective", None)
    if caps is None:
        return getattr(creds, "fsuid", creds.euid) == 0
    return bool(caps & ((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH)))


def connected(mount, dentry):
    """Whether dentry lies below mount's root: always, for a mount of a
    whole filesystem; for a bind mount of a subdirectory, only until a
    rename moves it out."""
    top = mount.root
    if top.parent is None:
        return True
    while dentry is not None:
        if dentry is top:
            return True
        dentry = dentry.parent
    return False


class Walker:
    """Resolves paths for one task's filesystem context (root, cwd);
    resolve: openat2's RESOLVE_* bits, as Linux's namei.c honours them:
    BENEATH and IN_ROOT make `scope` (the dirfd's Location) the root for
    `..`, absolute paths and absolute symlinks (BENEATH: EXDEV where the
    walk would leave it) and refuse magic links with EXDEV; NO_XDEV is
    EXDEV on crossing a mount; NO_SYMLINKS and NO_MAGICLINKS are ELOOP on
    following one; CACHED is EAGAIN on a name the dentry cache lacks (a
    lookup that could block)."""

    def __init__(self, mounts, fs_context, creds, resolve=0, scope=None):
        self.mounts = mounts
        self.ctx = fs_context
        self.creds = creds
        self.resolve = resolve
        self.scope = scope

    def _root(self):
        """Where `..` stops and absolute paths start."""
        return self.scope if self.resolve & _SCOPED else self.ctx.root

    def _absolute(self, here):
        """The root an absolute path (here None) or an absolute symlink
        followed from `here` starts at (Linux's nd_jump_root)."""
        resolve = self.resolve
        if resolve & RESOLVE_BENEATH:
            raise SyscallError(errno.EXDEV)
        root = self._root()
        if resolve & RESOLVE_NO_XDEV and here is not None and here.mount is not root.mount:
            raise SyscallError(errno.EXDEV)
        return root

    def _check_search(self, loc):
        inode = loc.dentry.inode
        if not inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        creds = self.creds
        if searches_anything(creds):
            return
        if not may_access(inode.access_ids(), creds, X_OK):
            raise SyscallError(errno.EACCES)

    def _parent(self, loc):
        root = self._root()
        while True:
            if loc == root:
                if self.resolve & RESOLVE_BENEATH:
                    raise SyscallError(self._exdev())
                return loc
            mount, dentry = loc
            if dentry is mount.root:
                if mount.parent is None:
                    return loc
                if self.resolve & RESOLVE_NO_XDEV:
                    raise SyscallError(self._exdev())
                loc = Location(mount.parent, mount.mountpoint)
                continue
            parent = dentry.parent
            if parent is None or not connected(mount, parent):
                # Renamed out from under a bind mount of a subdirectory:
                # `..` would climb out of what the mount shows (Linux's
                # path_connected answers ENOENT).
                raise SyscallError(errno.ENOENT)
            return Location(mount, parent)

    def walk(self, start, path, follow=True, _depth=None):
        """Location of `path` relative to `start`; the last component's
        symlink is followed only if `follow`."""
        if len(path) >= PATH_MAX:
            raise SyscallError(errno.ENAMETOOLONG)
        if not path:
            raise SyscallError(errno.ENOENT)
        root = self.ctx.root
        creds = self.creds
        resolve = self.resolve
        check = not searches_anything(creds)     # decided once a walk
        if not check and _depth is None and not resolve & (_SCOPED | RESOLVE_NO_XDEV):
            # A walk that depends on nothing but the dentry tree and the
            # mounts (no permission checks, no symlink, no volatile
            # directory) is kept until either changes.
            key = (self.mounts, root, start if path[0] != SLASH else None, path, follow)
            kept = _walks.get(key)
            if kept is not None:
                loc, checks = kept
                if checks is None or not _any_stale(checks):
                    return loc
            changes = _tree_changes[0]
        else:
            key = None
        if path[0] != SLASH:
            loc = start
        elif resolve:
            # An absolute path given is allowed under NO_XDEV, a symlink's not.
            loc = self._absolute(start if _depth is not None else None)
        else:
            loc = root
        inner = path.strip(b"/")
        parts = inner.split(b"/") if inner else []
        if b"//" in inner:
            parts = [p for p in parts if p]
        must_be_dir = path[-1] == SLASH
        last = len(parts) - 1
        mount, dentry = loc
        checks = None       # (directory, name, child) a kept walk asks again
        for i, name in enumerate(parts):
            # One step, written out: every path of every call comes here.
            # (mount, dentry) is where the walk is; `loc` is built from
            # them only where a Location is needed.
            if len(name) > NAME_MAX:
                raise SyscallError(errno.ENAMETOOLONG)
            inode = dentry.inode
            if not inode.is_dir():
                raise SyscallError(errno.ENOTDIR)
            seen = None
            if check:
                seen = inode.access_ids()
                if not may_access(seen, creds, X_OK):
                    raise SyscallError(errno.EACCES)
            if name == b".":
                continue
            dir_mount = mount
            if name == b"..":
                mount, dentry = self._parent(_location(Location, (mount, dentry)))
                child = dentry
            else:
                # Dentry.child's cache hit, inline.
                child = dentry.children.get(name)
                if child is None and resolve & RESOLVE_CACHED and not inode.volatile:
                    raise SyscallError(errno.EAGAIN)    # a lookup in the filesystem
                if child is None or inode.volatile or inode.revalidates:
                    child = dentry.child(name, seen)
                    if inode.volatile:
                        key = None
                    elif inode.revalidates and key is not None and not child.pinned:
                        if checks is None:          # (a mount point stays: Dentry.child)
                            checks = []
                        checks.append((inode, name, child.inode))
                else:
                    try:
                        _lru_move(id(child))
                    except KeyError:
                        _lru_touch(child)
                if child.pinned:                # a mount point (or once was)
                    mount, child = self.mounts.mounted_on(_location(Location, (mount, child)))
                    if mount is not dir_mount and resolve & RESOLVE_NO_XDEV:
                        raise SyscallError(self._exdev())
            inode = child.inode
            if inode.is_symlink() and (i < last or follow or must_be_dir):
                key = None                      # a link's text may depend on the caller
                if resolve & RESOLVE_NO_SYMLINKS:
                    raise SyscallError(errno.ELOOP)
                if _depth is None:
                    _depth = [0]
                _depth[0] += 1
                if _depth[0] > MAXSYMLINKS:
                    raise SyscallError(errno.ELOOP)
                here = _location(Location, (dir_mount, dentry))
                loc_next = inode.follow_magic(_location(Location, (mount, child)))
                if loc_next is None:
                    loc_next = self.walk(here, inode.readlink(), True, _depth)
                elif resolve:
                    self._check_magic(dir_mount, loc_next)
                mount, child = loc_next
            dentry = child
        if must_be_dir and not dentry.inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        loc = _location(Location, (mount, dentry))
        if key is not None and changes == _tree_changes[0]:
            if len(_walks) >= WALKS_KEPT:
                _walks.clear()
            _walks[key] = (loc, checks)
        return loc

    def _exdev(self):
        """The errno of a mount crossing or a `..` out of scope refused:
        EXDEV, but under CACHED EAGAIN (Linux's RCU walk leaves the
        answer to a ref-walk, which CACHED forbids)."""
        return errno.EAGAIN if self.resolve & RESOLVE_CACHED else errno.EXDEV

    def _check_magic(self, dir_mount, target):
        """A magic link from a directory of dir_mount to target, followed
        under self.resolve (Linux's nd_jump_link)."""
        resolve = self.resolve
        if resolve & RESOLVE_CACHED:
            raise SyscallError(errno.EAGAIN)   # procfs resolves them only in a ref-walk
        if resolve & RESOLVE_NO_MAGICLINKS:
            raise SyscallError(errno.ELOOP)
        if resolve & RESOLVE_NO_XDEV and target.mount is not dir_mount:
            raise SyscallError(errno.EXDEV)
        if resolve & _SCOPED:
            # A jump to anywhere: Linux does not check it stays in scope.
            raise SyscallError(errno.EXDEV)

    def walk_parent(self, start, path):
        """(parent Location, last name, trailing slash) for calls that
        create or remove `path`. The last name may be '.' or '..', which
        callers reject as Linux does."""
        if len(path) >= PATH_MAX:
            raise SyscallError(errno.ENAMETOOLONG)
        if not path:
            raise SyscallError(errno.ENOENT)
        stripped = path.rstrip(b"/")
        trailing = stripped != path
        if not stripped:                       # "/" itself
            return self._absolute(None) if self.resolve else self.ctx.root, b".", trailing
        head, _, name = stripped.rpartition(b"/")
        if len(name) > NAME_MAX:
            raise SyscallError(errno.ENAMETOOLONG)
        if stripped.startswith(b"/") and not head:
            parent = self._absolute(None) if self.resolve else self.ctx.root
        elif b"/" in stripped:
            parent = self.walk(start, head + b"/")
        else:
            parent = start
        self._check_search(parent)
        return parent, name, trailing
