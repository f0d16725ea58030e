"""File-system change notification (Linux's fsnotify), for inotify.

The syscall layer calls these hooks after a change it made through the
VFS succeeded: created, removed, moved, modified, attrib, opened, closed.
Watches are kept by the watched inode's (st_dev, st_ino), so they survive
dentry eviction and overlay copy-up keeps its inode number. Only changes
made by the sandbox itself are seen: a host directory (a volume) changed
from outside the sandbox does not notify.

Every hook returns at once while no watch exists anywhere.
"""
import itertools

from kvmsentry.errors import SyscallError

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_CLOSE_NOWRITE, IN_OPEN, IN_MOVED_FROM, IN_MOVED_TO = 0x10, 0x20, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_ISDIR = 0x8000, 0x40000000
IN_EXCL_UNLINK = 0x04000000

_watches = {}                 # (dev, ino) -> {Watch: None}
_cookies = itertools.count(1)


class Watch:
    """One inotify watch: events matching mask go to instance.deliver()."""

    __slots__ = ("instance", "wd", "key", "mask")

    def __init__(self, instance, wd, key, mask):
        self.instance, self.wd, self.key, self.mask = instance, wd, key, mask


def key_of(inode):
    st = inode.getattr()
    return (st.dev, st.ino)


def add(watch):
    _watches.setdefault(watch.key, {})[watch] = None


def remove(watch):
    watchers = _watches.get(watch.key)
    if watchers is not None:
        watchers.pop(watch, None)
        if not watchers:
            del _watches[watch.key]


def _notify(inode, mask, name=b"", cookie=0, unlinked=False):
    """Deliver to inode's watches; `unlinked`: the event is about a file
    whose name is gone, which IN_EXCL_UNLINK watches do not hear."""
    try:
        watchers = _watches.get(key_of(inode))
    except SyscallError:          # an inode that cannot stat any more: nobody watches it
        return
    for watch in list(watchers or ()):
        if watch.mask & mask & ~IN_ISDIR and not (unlinked and watch.mask & IN_EXCL_UNLINK):
            watch.instance.deliver(watch, mask, cookie, name)


def _is_dir(inode):
    try:
        return inode.is_dir()
    except SyscallError:
        return False


def _parent(file):
    """(parent directory inode, name) of an open file, if it has a path."""
    loc = file.location
    if loc is None or loc.dentry.parent is None:
        return None, b""
    return loc.dentry.parent.inode, loc.dentry.name


# --- hooks -------------------------------------------------------------------------
def active():
    """Whether any watch exists (callers skip preparing a hook's arguments)."""
    return bool(_watches)


def created(parent_inode, name, isdir=False):
    if _watches:
        _notify(parent_inode, IN_CREATE | (IN_ISDIR if isdir else 0), name)


def removed(parent_inode, name, victim_key, isdir, last_link, victim=None):
    """name was unlinked from parent; victim_key is the inode's key taken
    before (it may not stat afterwards). The inode's end (IN_DELETE_SELF)
    waits while files of it are open, as Linux's eviction does."""
    if not _watches:
        return
    flag = IN_ISDIR if isdir else 0
    deferred = last_link and victim is not None and victim.opens > 0
    if deferred:
        victim.delete_self_deferred = victim_key
    # As Linux orders them: the link count change, the inode's end, then
    # the directory's entry.
    for watch in list(_watches.get(victim_key, ())):
        if not isdir and watch.mask & IN_ATTRIB:
            watch.instance.deliver(watch, IN_ATTRIB, 0, b"")
        if last_link and not deferred:
            _deleted_self(watch)
    _notify(parent_inode, IN_DELETE | flag, name)


def _deleted_self(watch):
    if watch.mask & IN_DELETE_SELF:               # (a directory's own: no IN_ISDIR)
        watch.instance.deliver(watch, IN_DELETE_SELF, 0, b"")
    watch.instance.drop(watch)


def last_close(inode):
    """The last open file of a removed inode closed: its end now."""
    key, inode.delete_self_deferred = inode.delete_self_deferred, None
    for watch in list(_watches.get(key, ())):
        _deleted_self(watch)


def moved(old_parent, old_name, new_parent, new_name, isdir, key):
    if not _watches:
        return
    flag = IN_ISDIR if isdir else 0
    cookie = next(_cookies) & 0xFFFFFFFF
    _notify(old_parent, IN_MOVED_FROM | flag, old_name, cookie)
    _notify(new_parent, IN_MOVED_TO | flag, new_name, cookie)
    for watch in list(_watches.get(key, ())):
        if watch.mask & IN_MOVE_SELF:
            watch.instance.deliver(watch, IN_MOVE_SELF, 0, b"")


def _file_event(file, mask):
    if not _watches or file.inode is None:
        return
    parent, name = _parent(file)
    isdir = IN_ISDIR if _is_dir(file.inode) else 0
    unlinked = file.location is not None and file.location.dentry.unlinked
    if parent is not None:                   # the directory hears first, as on Linux
        _notify(parent, mask | isdir, name, unlinked=unlinked)
    _notify(file.inode, mask | isdir, unlinked=unlinked)


def modified(file):
    if _watches:
        _file_event(file, IN_MODIFY)


def link_count(inode):
    """The inode's link count changed (fsnotify_link_count): its own
    watches hear IN_ATTRIB, its directories nothing."""
    if _watches:
        _notify(inode, IN_ATTRIB | (IN_ISDIR if _is_dir(inode) else 0))


def accessed(file):
    """A read returned data (fsnotify_access)."""
    if _watches:
        _file_event(file, IN_ACCESS)


def opened(file):
    if _watches:
        _file_event(file, IN_OPEN)


def closed(file):
    """The file's last reference went (__fput)."""
    if _watches and not getattr(file, "flags", 0) & 0o10000000:     # not O_PATH
        _file_event(file, IN_CLOSE_WRITE if file.writable() else IN_CLOSE_NOWRITE)


def attrib(loc, mask=IN_ATTRIB):
    """An attribute change (chmod, chown, utimes) or, with IN_MODIFY, a
    truncate through a path."""
    if not _watches:
        return
    isdir = IN_ISDIR if _is_dir(loc.inode) else 0
    if loc.dentry.parent is not None:
        _notify(loc.dentry.parent.inode, mask | isdir, loc.dentry.name)
    _notify(loc.inode, mask | isdir)
