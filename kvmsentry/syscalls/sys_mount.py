"""mount, umount2 and pivot_root on the sandbox's mount table
(vfs/mount.py), as the root of a container sees them in gVisor: new
tmpfs, proc and sysfs mounts, bind mounts, read-only remounts, moves,
propagation changes (accepted; there is one mount namespace, so nothing
propagates). Non-root callers get EPERM (CAP_SYS_ADMIN).
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.procfs import ProcFilesystem
from kvmsentry.fsimpl.sysfs import SysFilesystem
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.syscalls.args import u32
from kvmsentry.vfs.mount import Location
from kvmsentry.vfs.path import AT_FDCWD

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_SILENT = 32, 4096, 8192, 16384, 32768
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_NOUSER = 1 << 31
MS_PROPAGATION = MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED
MS_MGC_MSK, MS_MGC_VAL = 0xFFFF0000, 0xC0ED0000
MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW = 1, 2, 4, 8
EXPIRING = 1 << 40                   # in Mount.flags: a first MNT_EXPIRE marked it
CAP_SYS_ADMIN = 21
PATH_MAX, PAGE_SIZE = 4096, 4096
_SIZE_SUFFIX = {b"k": 1 << 10, b"m": 1 << 20, b"g": 1 << 30}


def _string(task, addr, limit=PATH_MAX):
    return task.mm.read_cstring(addr, limit) if addr else None


def _options(task, data):
    """The data page: up to a page, as much as is readable (Linux's
    copy_mount_options), up to its first NUL."""
    n = task.mm.accessible(data, PAGE_SIZE, write=False)
    return task.mm.copy_in(data, n).split(b"\0", 1)[0]


def _lookup(task, path, follow=True):
    return lookup_at(task, AT_FDCWD, path, follow=follow)


def _require_admin(task):
    if not task.creds.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)


def _mount_at_root(loc):
    """The mount whose root loc is: EINVAL if loc is not a mount's root."""
    if loc.dentry is not loc.mount.root:
        raise SyscallError(errno.EINVAL)
    return loc.mount


def _tmpfs_options(data):
    """tmpfs's mode=, size=, nr_inodes=, uid=, gid= (others: EINVAL)."""
    opts = {"mode": 0o1777, "uid": 0, "gid": 0, "size": None, "nr_inodes": None}
    for item in (data or b"").split(b","):
        if not item:
            continue
        key, _, value = item.partition(b"=")
        try:
            if key == b"mode":
                opts["mode"] = int(value, 8) & 0o7777
            elif key in (b"uid", b"gid"):
                opts[key.decode()] = int(value)
            elif key in (b"size", b"nr_inodes"):
                mult = _SIZE_SUFFIX.get(value[-1:].lower(), 1)
                number = int(value[:-1] if mult > 1 else value)
                opts[key.decode()] = number * mult
            else:
                raise SyscallError(errno.EINVAL)
        except ValueError:
            raise SyscallError(errno.EINVAL) from None
    return opts


def _new_filesystem(task, fstype, data):
    dev = task.kernel.mounts.devices.next()
    if fstype == b"tmpfs":
        o = _tmpfs_options(data)
        return TmpfsFilesystem(dev, o["mode"], o["uid"], o["gid"], size=o["size"],
                               nr_inodes=o["nr_inodes"])
    if fstype == b"proc":
        return ProcFilesystem(dev)
    if fstype == b"sysfs":
        return SysFilesystem(dev)
    if fstype == b"devpts":
        from kvmsentry.fsimpl.devpts import DevptsFilesystem
        return DevptsFilesystem(dev, data)
    raise SyscallError(errno.ENODEV)


def mount(task, source, target, fstype, flags, data):
    """Implements mount(2): tmpfs (mode/size/nr_inodes/uid/gid), proc,
    sysfs and devpts (a new instance); MS_BIND, MS_REMOUNT (with MS_BIND:
    this mount only), MS_MOVE, MS_SHARED/PRIVATE/SLAVE/UNBINDABLE; MS_RDONLY is enforced, the other
    per-mount flags are recorded."""
    flags = u32(flags)
    if flags & MS_MGC_MSK == MS_MGC_VAL:
        flags &= ~MS_MGC_MSK
    type_name = _string(task, fstype, PAGE_SIZE)
    source_name = _string(task, source, PAGE_SIZE)
    options = _options(task, data) if data else None
    # A target already mounted over ("." after a mount on the cwd) means
    # the topmost mount there: a new mount stacks on it.
    where = task.kernel.mounts.mounted_on(_lookup(task, task.mm.read_cstring(target, PATH_MAX)))
    if flags & MS_NOUSER:
        raise SyscallError(errno.EINVAL)
    _require_admin(task)
    table = task.kernel.mounts
    readonly = bool(flags & MS_RDONLY)
    recorded = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if flags & MS_REMOUNT:
        m = _mount_at_root(where)
        targets = [m] if flags & MS_BIND else [x for x in table.mounts if x.fs is m.fs]
        for x in targets:
            x.readonly, x.flags = readonly, recorded | (x.flags & EXPIRING)
        return 0
    if flags & MS_BIND:
        src = _lookup(task, source_name or b"")
        if src.inode.is_dir() != where.inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        table.bind(src, where).flags = recorded
        return 0
    if flags & MS_PROPAGATION:
        kinds = flags & MS_PROPAGATION
        if kinds & (kinds - 1) or flags & ~(MS_PROPAGATION | MS_REC | MS_SILENT):
            raise SyscallError(errno.EINVAL)
        _mount_at_root(where)
        return 0
    if flags & MS_MOVE:
        return _move(table, _lookup(task, source_name or b""), where)
    if not type_name:
        raise SyscallError(errno.EINVAL)
    fs = _new_filesystem(task, type_name, options)
    if not where.inode.is_dir():
        raise SyscallError(errno.ENOTDIR)
    table.mount(fs, where, readonly=readonly,
                source=(source_name or b"none").decode(errors="replace")).flags = recorded
    return 0


def _below(table, m, ancestor):
    while m is not None:
        if m is ancestor:
            return True
        m = m.parent
    return False


def _move(table, src, where):
    m = _mount_at_root(src)
    if m.parent is None or _below(table, where.mount, m):
        raise SyscallError(errno.EINVAL)
    table.detach(m)
    table.attach(m, where)
    return 0


def _busy(task, m):
    """Something uses the mount or a mount below it: a task's root or cwd,
    an open file, another mount (Linux's EBUSY without MNT_DETACH)."""
    table = task.kernel.mounts
    if table.children(m):
        return True
    for t in task.kernel.tasks.values():
        for loc in (t.fs.root, t.fs.cwd):
            if _below(table, loc.mount, m):
                return True
        for f in t.fds.files():
            if f.location is not None and _below(table, f.location.mount, m):
                return True
    return False


def umount2(task, target, flags):
    """Implements umount2(2): MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW;
    MNT_FORCE has no I/O to abort here and unmounts like a plain call."""
    flags = u32(flags)
    if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    loc = _lookup(task, task.mm.read_cstring(target, PATH_MAX),
                  follow=not flags & UMOUNT_NOFOLLOW)
    _require_admin(task)
    # A path that ends on a mount point ("." in a directory mounted over
    # since) names the topmost mount there, as LOOKUP_MOUNTPOINT does.
    m = _mount_at_root(task.kernel.mounts.mounted_on(loc))
    if m.parent is None:
        raise SyscallError(errno.EINVAL)
    if flags & MNT_EXPIRE:
        if flags & MNT_DETACH:
            raise SyscallError(errno.EINVAL)
        if not m.flags & EXPIRING or _busy(task, m):
            m.flags |= EXPIRING
            raise SyscallError(errno.EAGAIN)
    if not flags & MNT_DETACH and _busy(task, m):
        raise SyscallError(errno.EBUSY)
    task.kernel.mounts.umount(m)
    return 0


def pivot_root(task, new_root, put_old):
    """Implements pivot_root(2): the mount at new_root becomes the root of
    the sandbox's tree, the old root is mounted at put_old, and every task
    whose root or cwd was the old root moves to the new one."""
    _require_admin(task)
    new = _lookup(task, task.mm.read_cstring(new_root, PATH_MAX))
    old = _lookup(task, task.mm.read_cstring(put_old, PATH_MAX))
    for loc in (new, old):
        if not loc.inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
    table = task.kernel.mounts
    root = task.fs.root
    root_mnt, new_mnt, old_mnt = root.mount, new.mount, old.mount
    if new_mnt is root_mnt or old_mnt is root_mnt:
        raise SyscallError(errno.EBUSY)
    if root.dentry is not root_mnt.root or new.dentry is not new_mnt.root \
            or new_mnt.parent is None:
        raise SyscallError(errno.EINVAL)
    if not _reachable(table, old, new) or not _below(table, new_mnt, root_mnt):
        raise SyscallError(errno.EINVAL)
    table.pivot(root_mnt, new_mnt, old)
    old_root, new_loc = Location(root_mnt, root_mnt.root), Location(new_mnt, new_mnt.root)
    for t in task.kernel.tasks.values():
        if t.fs.root == old_root:
            t.fs.root = new_loc
        if t.fs.cwd == old_root:
            t.fs.cwd = new_loc
    return 0


def _reachable(table, loc, top):
    """loc is top or below it (put_old must be reachable from new_root)."""
    mount, dentry = loc
    while True:
        if mount is top.mount and dentry is top.dentry:
            return True
        if dentry is mount.root:
            if mount.parent is None:
                return False
            mount, dentry = mount.parent, mount.mountpoint
        elif dentry.parent is None:
            return False
        else:
            dentry = dentry.parent
