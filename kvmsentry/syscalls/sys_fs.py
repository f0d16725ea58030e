"""Namespace operations: mkdir, mknod, unlink, rmdir, rename, link,
symlink, readlink, chmod, chown, utimensat, truncate, umask, chdir."""
import errno
import stat as st
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_CHOWN, CAP_FOWNER, CAP_MKNOD, NO_ID
from kvmsentry.kernel.fs_context import lookup_at, parent_at, walker
from kvmsentry.syscalls.args import i32, i64, u32
from kvmsentry.syscalls.sys_file import check_mount_writable
from kvmsentry.syscalls.sys_sync import check_fsize
from kvmsentry.vfs import fsnotify, writecount
from kvmsentry.vfs.file import O_PATH, truncate_inode
from kvmsentry.vfs.inode import RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT
from kvmsentry.vfs.path import AT_FDCWD, R_OK, W_OK, X_OK, may_access

AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW = 0x100, 0x200, 0x400
AT_EMPTY_PATH = 0x1000
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
NSEC = 1_000_000_000


def _path(task, addr):
    return task.mm.read_cstring(addr)


def _writable_parent(task, parent):
    check_mount_writable(parent)
    if not may_access(parent.inode.getattr(), task.creds, W_OK | X_OK):
        raise SyscallError(errno.EACCES)


def _sticky_ok(task, parent, victim):
    """The sticky bit: only owners (or CAP_FOWNER) remove entries of others."""
    pst = parent.inode.getattr()
    creds = task.creds
    if pst.mode & st.S_ISVTX and creds.fsuid not in (pst.uid, victim.getattr().uid) \
            and not creds.capable(CAP_FOWNER):
        raise SyscallError(errno.EPERM)


def _new_entry(task, dirfd, pathname):
    parent, name, trailing = parent_at(task, dirfd, _path(task, pathname))
    if name in (b".", b".."):
        raise SyscallError(errno.EEXIST)
    try:
        walker(task).walk(parent, name, follow=False)
        raise SyscallError(errno.EEXIST)
    except SyscallError as e:
        if e.errno != errno.ENOENT:
            raise
    _writable_parent(task, parent)
    return parent, name, trailing


def mkdirat(task, dirfd, pathname, mode):
    """Implements mkdirat(2)."""
    parent, name, _ = _new_entry(task, i32(dirfd), pathname)
    c = task.creds
    # mkdir keeps only the permission and sticky bits of mode (vfs_mkdir).
    parent.inode.mkdir(name, st.S_IFDIR | (u32(mode) & 0o1777 & ~task.fs.umask), c.fsuid, c.fsgid)
    parent.dentry.forget(name)
    fsnotify.created(parent.inode, name, isdir=True)
    return 0


def mkdir(task, pathname, mode):
    """Implements mkdir(2)."""
    return mkdirat(task, AT_FDCWD, pathname, mode)


def mknodat(task, dirfd, pathname, mode, dev):
    """Implements mknodat(2): FIFOs, regular files and (for root) device
    nodes, which open as ENXIO: devices live in /dev."""
    mode = u32(mode)
    kind = st.S_IFMT(mode) or st.S_IFREG
    if kind not in (st.S_IFREG, st.S_IFIFO, st.S_IFCHR, st.S_IFBLK, st.S_IFSOCK):
        raise SyscallError(errno.EINVAL)
    if kind in (st.S_IFCHR, st.S_IFBLK) and not task.creds.capable(CAP_MKNOD):
        raise SyscallError(errno.EPERM)
    parent, name, trailing = _new_entry(task, i32(dirfd), pathname)
    if trailing:
        raise SyscallError(errno.ENOENT)
    c = task.creds
    perm = mode & 0o7777 & ~task.fs.umask
    if kind == st.S_IFREG:
        parent.inode.create(name, kind | perm, c.fsuid, c.fsgid)
    else:
        parent.inode.mknod(name, kind | perm, u32(dev), c.fsuid, c.fsgid)
    parent.dentry.forget(name)
    fsnotify.created(parent.inode, name)
    return 0


def mknod(task, pathname, mode, dev):
    """Implements mknod(2)."""
    return mknodat(task, AT_FDCWD, pathname, mode, dev)


def unlinkat(task, dirfd, pathname, flags):
    """Implements unlinkat(2) (AT_REMOVEDIR: rmdir)."""
    flags = i32(flags)
    if flags & ~AT_REMOVEDIR:
        raise SyscallError(errno.EINVAL)
    path = _path(task, pathname)
    if path and not path.strip(b"/"):
        # The root itself (Linux's LAST_ROOT): busy to rmdir, not a file to unlink.
        raise SyscallError(errno.EBUSY if flags & AT_REMOVEDIR else errno.EISDIR)
    parent, name, trailing = parent_at(task, i32(dirfd), path)
    if flags & AT_REMOVEDIR:
        if name == b".":
            raise SyscallError(errno.EINVAL)
        if name == b"..":
            raise SyscallError(errno.ENOTEMPTY)
    elif name in (b".", b".."):
        raise SyscallError(errno.EISDIR)
    victim = walker(task).walk(parent, name, follow=False)
    if victim.mount is not parent.mount or victim.dentry is victim.mount.root:
        raise SyscallError(errno.EBUSY)
    _writable_parent(task, parent)
    _sticky_ok(task, parent, victim.inode)
    if fsnotify.active():
        vst = victim.inode.getattr()
        gone = ((vst.dev, vst.ino), victim.inode.is_dir(),
                victim.inode.is_dir() or vst.nlink <= 1)
    if flags & AT_REMOVEDIR:
        if not victim.inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        if victim == task.fs.root:
            raise SyscallError(errno.EBUSY)
        parent.inode.rmdir(name)
    else:
        if trailing and not victim.inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        parent.inode.unlink(name)
    parent.dentry.forget(name)
    victim.dentry.unlinked = True
    if fsnotify.active():
        fsnotify.removed(parent.inode, name, *gone, victim=victim.inode)
    return 0


def unlink(task, pathname):
    """Implements unlink(2)."""
    return unlinkat(task, AT_FDCWD, pathname, 0)


def rmdir(task, pathname):
    """Implements rmdir(2)."""
    return unlinkat(task, AT_FDCWD, pathname, AT_REMOVEDIR)


def renameat2(task, olddirfd, oldpath, newdirfd, newpath, flags):
    """Implements renameat2(2)."""
    flags = u32(flags)
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or \
            (flags & RENAME_NOREPLACE and flags & RENAME_EXCHANGE):
        raise SyscallError(errno.EINVAL)
    if flags & RENAME_WHITEOUT:
        raise SyscallError(errno.EINVAL)
    old_parent, old_name, old_slash = parent_at(task, i32(olddirfd), _path(task, oldpath))
    new_parent, new_name, new_slash = parent_at(task, i32(newdirfd), _path(task, newpath))
    if old_name in (b".", b"..") or new_name in (b".", b".."):
        raise SyscallError(errno.EBUSY)
    src = walker(task).walk(old_parent, old_name, follow=False)
    if (old_slash or new_slash) and not src.inode.is_dir():
        raise SyscallError(errno.ENOTDIR)
    if src.mount is not old_parent.mount:
        raise SyscallError(errno.EBUSY)               # a mount point
    if old_parent.mount is not new_parent.mount:
        raise SyscallError(errno.EXDEV)
    try:
        dst = walker(task).walk(new_parent, new_name, follow=False)
        if dst.mount is not new_parent.mount:
            raise SyscallError(errno.EBUSY)
    except SyscallError as e:
        if e.errno != errno.ENOENT:
            raise
    _writable_parent(task, old_parent)
    _writable_parent(task, new_parent)
    _sticky_ok(task, old_parent, src.inode)
    if src.inode.is_dir():
        # A directory cannot move into its own subtree.
        loc = new_parent
        while True:
            if loc.dentry is src.dentry:
                raise SyscallError(errno.EINVAL)
            if loc.dentry.parent is None:
                break
            loc = type(loc)(loc.mount, loc.dentry.parent)
    moved = fsnotify.active() and (fsnotify.key_of(src.inode), src.inode.is_dir())
    old_parent.inode.rename(old_name, new_parent.inode, new_name, flags)
    if moved:
        fsnotify.moved(old_parent.inode, old_name, new_parent.inode, new_name, moved[1],
                       moved[0])
    if flags & RENAME_EXCHANGE:
        old_parent.dentry.forget(old_name)
        new_parent.dentry.forget(new_name)
    else:
        old_parent.dentry.move(old_name, new_parent.dentry, new_name)
    return 0


def renameat(task, olddirfd, oldpath, newdirfd, newpath):
    """Implements renameat(2)."""
    return renameat2(task, olddirfd, oldpath, newdirfd, newpath, 0)


def rename(task, oldpath, newpath):
    """Implements rename(2)."""
    return renameat2(task, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


def linkat(task, olddirfd, oldpath, newdirfd, newpath, flags):
    """Implements linkat(2)."""
    flags = i32(flags)
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    src = lookup_at(task, i32(olddirfd), _path(task, oldpath),
                    follow=bool(flags & AT_SYMLINK_FOLLOW),
                    empty_path=bool(flags & AT_EMPTY_PATH))
    if src.inode.is_dir():
        raise SyscallError(errno.EPERM)
    parent, name, trailing = _new_entry(task, i32(newdirfd), newpath)
    if trailing:
        raise SyscallError(errno.ENOENT)
    if src.mount is not parent.mount:
        raise SyscallError(errno.EXDEV)
    _may_linkat(task, src.inode)
    parent.inode.link(name, src.inode)
    parent.dentry.forget(name)
    fsnotify.link_count(src.inode)
    fsnotify.created(parent.inode, name)
    return 0


def _may_linkat(task, inode):
    """fs.protected_hardlinks (on, as Debian sets it): only the owner (or
    CAP_FOWNER) links a file it cannot read and write, or one that is not
    a plain regular file (special, set-user-ID, set-group-ID executable)."""
    stat, creds = inode.getattr(), task.creds
    if creds.fsuid == stat.uid or creds.capable(CAP_FOWNER):
        return
    mode = stat.mode
    safe = st.S_ISREG(mode) and not mode & st.S_ISUID and \
        not (mode & st.S_ISGID and mode & st.S_IXGRP)
    if not (safe and may_access(stat, creds, R_OK | W_OK)):
        raise SyscallError(errno.EPERM)


def link(task, oldpath, newpath):
    """Implements link(2)."""
    return linkat(task, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


def symlinkat(task, target, newdirfd, linkpath):
    """Implements symlinkat(2)."""
    dest = _path(task, target)
    if not dest:
        raise SyscallError(errno.ENOENT)
    parent, name, trailing = _new_entry(task, i32(newdirfd), linkpath)
    if trailing:
        raise SyscallError(errno.ENOENT)
    c = task.creds
    parent.inode.symlink(name, dest, c.fsuid, c.fsgid)
    parent.dentry.forget(name)
    fsnotify.created(parent.inode, name)
    return 0


def symlink(task, target, linkpath):
    """Implements symlink(2)."""
    return symlinkat(task, target, AT_FDCWD, linkpath)


def readlinkat(task, dirfd, pathname, buf, bufsiz):
    """Implements readlinkat(2)."""
    bufsiz = i32(bufsiz)
    if bufsiz <= 0:
        raise SyscallError(errno.EINVAL)
    loc = lookup_at(task, i32(dirfd), _path(task, pathname), follow=False,
                    empty_path=i32(dirfd) != AT_FDCWD)
    target = loc.inode.readlink()[:bufsiz]
    task.mm.copy_out(buf, target)
    return len(target)


def readlink(task, pathname, buf, bufsiz):
    """Implements readlink(2)."""
    return readlinkat(task, AT_FDCWD, pathname, buf, bufsiz)


def _chmod(task, loc, mode):
    check_mount_writable(loc)
    stat = loc.inode.getattr()
    if task.creds.fsuid != stat.uid and not task.creds.capable(CAP_FOWNER):
        raise SyscallError(errno.EPERM)
    loc.inode.setattr(mode=(stat.mode & st.S_IFMT(stat.mode)) | (u32(mode) & 0o7777))
    fsnotify.attrib(loc)
    return 0


def fchmodat(task, dirfd, pathname, mode):
    """Implements fchmodat(2)."""
    return _chmod(task, lookup_at(task, i32(dirfd), _path(task, pathname)), mode)


def chmod(task, pathname, mode):
    """Implements chmod(2)."""
    return fchmodat(task, AT_FDCWD, pathname, mode)


def fchmod(task, fd, mode):
    """Implements fchmod(2)."""
    f = task.fds.get(i32(fd))
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    if f.location is None:
        # Pipes and sockets have inodes of their own (pipefs, sockfs).
        if hasattr(f, "pipe"):
            f.pipe.perm = u32(mode) & 0o7777
        elif isinstance(getattr(f, "perm", None), int):
            f.perm = u32(mode) & 0o7777
        else:
            raise SyscallError(errno.EBADF)
        return 0
    return _chmod(task, f.location, mode)


def _chown(task, loc, owner, group):
    check_mount_writable(loc)
    # uid_t/gid_t are u32; (u32)-1 means "unchanged" (every other value
    # is a valid id in the initial user namespace).
    owner, group = u32(owner), u32(group)
    stat = loc.inode.getattr()
    creds = task.creds
    if not creds.capable(CAP_CHOWN):
        # chown_ok/chgrp_ok: the owner may "change" the owner to itself and
        # the group to one of its own groups.
        owns = creds.fsuid == stat.uid
        if owner != NO_ID and not (owns and owner == stat.uid):
            raise SyscallError(errno.EPERM)
        if group != NO_ID and not (owns and (group in (stat.gid, creds.fsgid)
                                             or group in creds.groups)):
            raise SyscallError(errno.EPERM)
    loc.inode.setattr(uid=None if owner == NO_ID else owner,
                      gid=None if group == NO_ID else group)
    fsnotify.attrib(loc)
    return 0


def fchownat(task, dirfd, pathname, owner, group, flags):
    """Implements fchownat(2)."""
    flags = i32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    loc = lookup_at(task, i32(dirfd), _path(task, pathname),
                    follow=not flags & AT_SYMLINK_NOFOLLOW,
                    empty_path=bool(flags & AT_EMPTY_PATH))
    return _chown(task, loc, owner, group)


def chown(task, pathname, owner, group):
    """Implements chown(2)."""
    return fchownat(task, AT_FDCWD, pathname, owner, group, 0)


def lchown(task, pathname, owner, group):
    """Implements lchown(2)."""
    return fchownat(task, AT_FDCWD, pathname, owner, group, AT_SYMLINK_NOFOLLOW)


def fchown(task, fd, owner, group):
    """Implements fchown(2)."""
    f = task.fds.get(i32(fd))
    if f.location is None or f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    return _chown(task, f.location, owner, group)


def utimensat(task, dirfd, pathname, times, flags):
    """Implements utimensat(2) (pathname NULL: the fd itself)."""
    flags = i32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    if pathname:
        loc = lookup_at(task, i32(dirfd), _path(task, pathname),
                        follow=not flags & AT_SYMLINK_NOFOLLOW,
                        empty_path=bool(flags & AT_EMPTY_PATH))
    else:
        f = task.fds.get(i32(dirfd))
        if f.location is None:
            raise SyscallError(errno.EBADF)
        loc = f.location
    check_mount_writable(loc)
    stamps = struct.unpack("<qqqq", task.mm.copy_in(times, 32)) if times else None
    return set_file_times(task, loc, stamps)


def set_file_times(task, loc, times):
    """utimensat's work once the file is found: times is (atime sec,
    nsec, mtime sec, nsec) with UTIME_NOW/UTIME_OMIT, or None for now."""
    now = time.time_ns()
    if times:
        a_s, a_ns, m_s, m_ns = times
    else:
        a_s = m_s = 0
        a_ns = m_ns = UTIME_NOW
    stamps = []
    for sec, nsec in ((a_s, a_ns), (m_s, m_ns)):
        if nsec == UTIME_OMIT:
            stamps.append(None)
        elif nsec == UTIME_NOW:
            stamps.append(now)
        elif 0 <= nsec < NSEC:
            stamps.append(sec * NSEC + nsec)
        else:
            raise SyscallError(errno.EINVAL)
    stat = loc.inode.getattr()
    if task.creds.fsuid != stat.uid and not task.creds.capable(CAP_FOWNER):
        explicit = times and any(n not in (UTIME_NOW, UTIME_OMIT) for n in (a_ns, m_ns))
        if explicit or not may_access(stat, task.creds, W_OK):
            raise SyscallError(errno.EPERM if explicit else errno.EACCES)
    if stamps != [None, None]:
        loc.inode.setattr(atime_ns=stamps[0], mtime_ns=stamps[1])
        # Both times: a utimes call (IN_ATTRIB); one alone reads as an
        # access or a modification, as fsnotify_change reports it.
        fsnotify.attrib(loc, fsnotify.IN_ATTRIB if None not in stamps else
                        fsnotify.IN_ACCESS if stamps[0] is not None else fsnotify.IN_MODIFY)
    return 0


def truncate(task, pathname, length):
    """Implements truncate(2)."""
    length = i64(length)
    if length < 0:
        raise SyscallError(errno.EINVAL)
    loc = lookup_at(task, AT_FDCWD, _path(task, pathname))
    if loc.inode.is_dir():
        raise SyscallError(errno.EISDIR)
    if not loc.inode.is_reg():
        raise SyscallError(errno.EINVAL)
    check_mount_writable(loc)
    if not may_access(loc.inode.getattr(), task.creds, W_OK):
        raise SyscallError(errno.EACCES)
    writecount.check_writable(loc.inode)
    if length > loc.inode.getattr().size:
        check_fsize(task, length)
    truncate_inode(loc.inode, length)
    fsnotify.attrib(loc, fsnotify.IN_MODIFY)
    return 0


def ftruncate(task, fd, length):
    """Implements ftruncate(2)."""
    length = i64(length)
    if length < 0:
        raise SyscallError(errno.EINVAL)
    f = task.fds.get(i32(fd))
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    if f.inode is None or not f.inode.is_reg() or not f.writable():
        raise SyscallError(errno.EINVAL)
    if length > f.inode.getattr().size:
        check_fsize(task, length)
    f.truncate(length)
    fsnotify.modified(f)
    return 0


def umask(task, mask):
    """Implements umask(2)."""
    old = task.fs.umask
    task.fs.umask = u32(mask) & 0o777
    return old


def chdir(task, pathname):
    """Implements chdir(2)."""
    loc = lookup_at(task, AT_FDCWD, _path(task, pathname))
    _enter_dir(task, loc)
    return 0


def fchdir(task, fd):
    """Implements fchdir(2)."""
    f = task.fds.get(i32(fd))
    if f.location is None:
        raise SyscallError(errno.ENOTDIR)
    _enter_dir(task, f.location)
    return 0


def _enter_dir(task, loc):
    if not loc.inode.is_dir():
        raise SyscallError(errno.ENOTDIR)
    if not may_access(loc.inode.getattr(), task.creds, X_OK):
        raise SyscallError(errno.EACCES)
    task.fs.cwd = loc
