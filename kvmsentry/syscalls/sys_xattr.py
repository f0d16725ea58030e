"""Extended attributes, with fs/xattr.c's checks in its order: flags and
name, then the value, then the file, then the mount, then
xattr_permission (trusted.* needs CAP_SYS_ADMIN, user.* only on regular
files and directories, the sticky-directory owner rule, then read or
write permission), then the LSM's rule (commoncap: security.* writes need
CAP_SYS_ADMIN, security.capability CAP_SETFCAP). Filesystems store them
(tmpfs, so the overlay after a copy-up); the others have none."""
import errno
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_FOWNER, CAP_SYS_ADMIN
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.syscalls.sys_file import check_mount_writable
from kvmsentry.vfs import fsnotify
from kvmsentry.vfs.file import O_PATH
from kvmsentry.vfs.path import AT_FDCWD, R_OK, W_OK, may_access

XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = XATTR_LIST_MAX = 65536
XATTR_CREATE, XATTR_REPLACE = 1, 2
CAP_SETFCAP = 31
# security.capability's valid lengths (vfs_cap_data revisions 1, 2, 3)
CAPS_SIZES = (12, 20, 24)
# Namespaces with a handler; system.* would be the POSIX ACLs, which the
# sentry does not keep.
STORED_PREFIXES = (b"security.", b"trusted.", b"user.")


def _inode(task, path_or_fd, follow, by_fd):
    """(inode, Location or None) of the call's file."""
    if by_fd:
        f = task.fds.get(i32(path_or_fd))
        if f.flags & O_PATH:
            raise SyscallError(errno.EBADF)
        if f.inode is None:
            raise SyscallError(errno.EOPNOTSUPP)
        return f.inode, f.location
    loc = lookup_at(task, AT_FDCWD, task.mm.read_cstring(path_or_fd), follow=follow)
    return loc.inode, loc


def _name(task, addr):
    """The attribute's name: EFAULT, or ERANGE when empty or too long."""
    if not addr:
        raise SyscallError(errno.EFAULT)
    try:
        name = task.mm.read_cstring(addr, XATTR_NAME_MAX + 1)
    except SyscallError as e:
        if e.errno != errno.ENAMETOOLONG:
            raise
        raise SyscallError(errno.ERANGE) from None
    if not name or len(name) > XATTR_NAME_MAX:
        raise SyscallError(errno.ERANGE)
    return name


def _permission(task, inode, name, want):
    """xattr_permission, then the LSM's setxattr/removexattr rule."""
    creds, stat = task.creds, inode.getattr()
    writing = want == W_OK
    if name.startswith(b"trusted."):
        if not creds.capable(CAP_SYS_ADMIN):
            raise SyscallError(errno.EPERM if writing else errno.ENODATA)
    elif name.startswith(b"user."):
        if not (st.S_ISREG(stat.mode) or st.S_ISDIR(stat.mode)):
            raise SyscallError(errno.EPERM if writing else errno.ENODATA)
        if writing and st.S_ISDIR(stat.mode) and stat.mode & st.S_ISVTX and \
                creds.fsuid != stat.uid and not creds.capable(CAP_FOWNER):
            raise SyscallError(errno.EPERM)
    if not (name.startswith(b"security.") or name.startswith(b"system.")) and \
            not may_access(stat, creds, want):
        raise SyscallError(errno.EACCES)
    if writing and name.startswith(b"security."):
        cap = CAP_SETFCAP if name == b"security.capability" else CAP_SYS_ADMIN
        if not creds.capable(cap):
            raise SyscallError(errno.EPERM)


def _handled(name):
    if not name.startswith(STORED_PREFIXES):
        raise SyscallError(errno.EOPNOTSUPP)


def _get(task, where, name_addr, value, size, follow=True, by_fd=False):
    name = _name(task, name_addr)
    inode, _ = _inode(task, where, follow, by_fd)
    _permission(task, inode, name, R_OK)
    _handled(name)
    data = inode.getxattr(name)
    size = min(u32(size), XATTR_SIZE_MAX)
    if size == 0:
        return len(data)
    if len(data) > size:
        raise SyscallError(errno.ERANGE)
    task.mm.copy_out(value, data)
    return len(data)


def _list(task, where, buf, size, follow=True, by_fd=False):
    inode, _ = _inode(task, where, follow, by_fd)
    trusted = task.creds.capable(CAP_SYS_ADMIN)
    data = b"".join(n + b"\0" for n in inode.listxattr()
                    if trusted or not n.startswith(b"trusted."))
    size = min(u32(size), XATTR_LIST_MAX)
    if size == 0:
        return len(data)
    if len(data) > size:
        raise SyscallError(errno.ERANGE)
    task.mm.copy_out(buf, data)
    return len(data)


def _set(task, where, name_addr, value, size, flags, follow=True, by_fd=False):
    flags = i32(flags)
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise SyscallError(errno.EINVAL)
    name = _name(task, name_addr)
    size = u32(size)
    if size > XATTR_SIZE_MAX:
        raise SyscallError(errno.E2BIG)
    data = task.mm.copy_in(value, size) if size else b""
    inode, loc = _inode(task, where, follow, by_fd)
    if loc is not None:
        check_mount_writable(loc)
    _permission(task, inode, name, W_OK)
    _handled(name)
    if name == b"security.capability" and len(data) not in CAPS_SIZES:
        raise SyscallError(errno.EINVAL)
    inode.setxattr(name, data, flags)
    if loc is not None:
        fsnotify.attrib(loc)
    return 0


def _remove(task, where, name_addr, follow=True, by_fd=False):
    name = _name(task, name_addr)
    inode, loc = _inode(task, where, follow, by_fd)
    if loc is not None:
        check_mount_writable(loc)
    _permission(task, inode, name, W_OK)
    _handled(name)
    inode.removexattr(name)
    if loc is not None:
        fsnotify.attrib(loc)
    return 0


def getxattr(task, path, name, value, size):
    """Implements getxattr(2)."""
    return _get(task, path, name, value, size)


def lgetxattr(task, path, name, value, size):
    """Implements lgetxattr(2)."""
    return _get(task, path, name, value, size, follow=False)


def fgetxattr(task, fd, name, value, size):
    """Implements fgetxattr(2)."""
    return _get(task, fd, name, value, size, by_fd=True)


def listxattr(task, path, buf, size):
    """Implements listxattr(2)."""
    return _list(task, path, buf, size)


def llistxattr(task, path, buf, size):
    """Implements llistxattr(2)."""
    return _list(task, path, buf, size, follow=False)


def flistxattr(task, fd, buf, size):
    """Implements flistxattr(2)."""
    return _list(task, fd, buf, size, by_fd=True)


def setxattr(task, path, name, value, size, flags):
    """Implements setxattr(2)."""
    return _set(task, path, name, value, size, flags)


def lsetxattr(task, path, name, value, size, flags):
    """Implements lsetxattr(2)."""
    return _set(task, path, name, value, size, flags, follow=False)


def fsetxattr(task, fd, name, value, size, flags):
    """Implements fsetxattr(2)."""
    return _set(task, fd, name, value, size, flags, by_fd=True)


def removexattr(task, path, name):
    """Implements removexattr(2)."""
    return _remove(task, path, name)


def lremovexattr(task, path, name):
    """Implements lremovexattr(2)."""
    return _remove(task, path, name, follow=False)


def fremovexattr(task, fd, name):
    """Implements fremovexattr(2)."""
    return _remove(task, fd, name, by_fd=True)
