"""The sandbox's mount table, built like `runsc do` builds it.

Default: the host's `/` (or --root DIR) read-only beneath a private
in-memory overlay, so every write lands in memory and vanishes with the
sandbox; /dev is the sandbox's own device filesystem; /proc, /sys and
/sys/fs/cgroup are generated from the sandbox's kernel; each
--volume SRC:DST[:ro] is a host directory mounted at DST, read-write unless
`:ro`. Mount points that do not exist in the root are created in the
overlay, never on the host.
"""
import errno
import os
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.devfs import DevFilesystem
from kvmsentry.fsimpl.hostfs import HostFilesystem
from kvmsentry.fsimpl.overlay import OverlayFilesystem
from kvmsentry.fsimpl.procfs import ProcFilesystem
from kvmsentry.fsimpl.sysfs import CgroupFilesystem, SysFilesystem
from kvmsentry.fsimpl.tmpfs import STORAGE, TmpfsFilesystem
from kvmsentry.record import record
from kvmsentry.vfs.mount import Location, MountTable
from kvmsentry.vfs.path import MAXSYMLINKS, Walker


@record
class Volume:
    source: str
    dest: str
    readonly: bool = False

    @classmethod
    def parse(cls, spec):
        """SRC:DST[:ro|:rw] -> Volume (ValueError with a one-line reason)."""
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError("--volume %r: expected SRC:DST[:ro]" % spec)
        if len(parts) == 3 and parts[2] not in ("ro", "rw"):
            raise ValueError("--volume %r: mode must be ro or rw" % spec)
        if not parts[1].startswith("/"):
            raise ValueError("--volume %r: DST must be an absolute path" % spec)
        if not os.path.isdir(parts[0]):
            raise ValueError("--volume %r: %s is not a directory" % (spec, parts[0]))
        return cls(os.path.abspath(parts[0]), parts[1], len(parts) == 3 and parts[2] == "ro")


class _RootCreds:
    uid = euid = gid = egid = 0


class _Ctx:
    def __init__(self, root):
        self.root = self.cwd = root


class DeviceNumbers:
    """st_dev values for the sandbox's filesystems (anonymous majors)."""

    def __init__(self):
        self._next = 0x20

    def next(self):
        self._next += 1
        return self._next


def _symlink_at(walker, loc, name):
    """The inode of `name` in loc if it is a symlink, else None."""
    try:
        inode = walker.walk(loc, name, follow=False).inode
    except SyscallError:
        return None
    return inode if inode.is_symlink() else None


def _mkdir_p(walker, start, path, _depth=0):
    """mkdir -p of path (from `start`, or the sandbox's root if absolute)
    inside the sandbox. A symlink on the way whose target is missing gets
    that target made, inside the sandbox, as runc's MkdirAll in the
    rootfs does for a mount destination under such a link."""
    if isinstance(path, str):
        path = path.encode()
    loc = walker.ctx.root if path.startswith(b"/") else start
    for name in [p for p in path.split(b"/") if p]:
        try:
            loc = walker.walk(loc, name)
            continue
        except SyscallError as e:
            if e.errno != errno.ENOENT:
                raise
        link = _symlink_at(walker, loc, name)
        if link is not None:
            if _depth >= MAXSYMLINKS:
                raise SyscallError(errno.ELOOP)
            loc = _mkdir_p(walker, loc, link.readlink(), _depth + 1)
            continue
        loc.inode.mkdir(name, st.S_IFDIR | 0o755, 0, 0)
        loc.dentry.forget(name)
        loc = walker.walk(loc, name)
    if not loc.inode.is_dir():
        raise SyscallError(errno.ENOTDIR)
    return loc


def build_mounts(root_dir="/", volumes=(), tty_host_fd=None, tmpfs_size=None,
                 proc="/proc", sys="/sys"):
    """The sandbox's mount table. `tmpfs_size` (bytes; default: tmpfs's
    own, half of RAM) caps the in-memory upper layer of the root overlay,
    and all its in-memory filesystems together (memfds, /dev/shm, the
    guest's own tmpfs mounts): writes past it are ENOSPC. proc and sys are
    where the sandbox's procfs and sysfs go (None: not mounted, as an OCI
    bundle without them has it)."""
    if tmpfs_size is not None:
        STORAGE.limit = tmpfs_size
    devs = DeviceNumbers()
    lower = HostFilesystem(devs.next(), root_dir, readonly=True)
    upper = TmpfsFilesystem(devs.next(), mode=0o755, size=tmpfs_size)
    mounts = MountTable(OverlayFilesystem(devs.next(), upper, lower),
                        source="overlay:" + root_dir)
    walker = Walker(mounts, _Ctx(mounts.root_location()), _RootCreds())
    root = mounts.root_location()
    dev_dir = _mkdir_p(walker, root, "/dev")
    mounts.mount(DevFilesystem(devs.next(), tty_host_fd), dev_dir, source="devfs")
    # The host's /proc and /sys describe the host (and /proc/self the
    # sentry itself): the sandbox's own, generated ones cover them.
    if proc is not None:
        mounts.mount(ProcFilesystem(devs.next()), _mkdir_p(walker, root, proc), source="proc")
    if sys is not None:
        sys_mount = mounts.mount(SysFilesystem(devs.next()), _mkdir_p(walker, root, sys),
                                 readonly=True, source="sysfs")
        cgroup_dir = walker.walk(Location(sys_mount, sys_mount.root), b"fs/cgroup")
        mounts.mount(CgroupFilesystem(devs.next()), cgroup_dir, source="cgroup2")
    for vol in volumes:
        where = _mkdir_p(walker, root, vol.dest)
        mounts.mount(HostFilesystem(devs.next(), vol.source, readonly=vol.readonly),
                     where, readonly=vol.readonly, source=vol.source)
    mounts.devices = devs
    return mounts


def add_mount(mounts, make_fs, dest, readonly=False, source=""):
    """Mount make_fs(device number) at dest (created in the overlay if missing)."""
    walker = Walker(mounts, _Ctx(mounts.root_location()), _RootCreds())
    where = _mkdir_p(walker, mounts.root_location(), dest)
    mounts.mount(make_fs(mounts.devices.next()), where, readonly=readonly, source=source)


def ensure_dir(mounts, path):
    """mkdir -p path inside the sandbox (in the overlay)."""
    walker = Walker(mounts, _Ctx(mounts.root_location()), _RootCreds())
    return _mkdir_p(walker, mounts.root_location(), path)


def write_file(mounts, path, data, mode=0o644):
    """Create or replace the file at path (in the overlay) with data; a
    dangling symlink there is followed, its target made inside the
    sandbox (as for _mkdir_p)."""
    walker = Walker(mounts, _Ctx(mounts.root_location()), _RootCreds())
    parent, name = os.path.split(path.rstrip("/"))
    loc = _mkdir_p(walker, mounts.root_location(), parent or "/")
    name = name.encode()
    for _ in range(MAXSYMLINKS):
        link = _symlink_at(walker, loc, name)
        if link is None:
            break
        try:
            walker.walk(loc, name)
            break                              # its target exists
        except SyscallError as e:
            if e.errno != errno.ENOENT:
                raise
        head, slash, name = link.readlink().rstrip(b"/").rpartition(b"/")
        loc = _mkdir_p(walker, loc, head or slash or b".")
    try:
        inode = walker.walk(loc, name).inode
        inode.setattr(size=0)
    except SyscallError as e:
        if e.errno != errno.ENOENT:
            raise
        inode = loc.inode.create(name, st.S_IFREG | mode, 0, 0)
        loc.dentry.forget(name)
    inode.write_at(0, data)


def sandbox_cwd(mounts, host_cwd):
    """The host's cwd inside the sandbox, or / if it does not exist there."""
    root = mounts.root_location()
    walker = Walker(mounts, _Ctx(root), _RootCreds())
    try:
        loc = walker.walk(root, host_cwd.encode() if isinstance(host_cwd, str) else host_cwd)
        if loc.inode.is_dir():
            return loc
    except SyscallError:
        pass
    return root


