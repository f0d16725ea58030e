"""Extended attributes: answered as a tmpfs without xattr support would."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.syscalls.args import i32
from kvmsentry.vfs.path import AT_FDCWD

XATTR_NAME_MAX = 255


def _target(task, path_or_fd, follow, by_fd=False):
    if by_fd:
        f = task.fds.get(i32(path_or_fd))
        if f.inode is None:
            raise SyscallError(errno.ENOTSUP)
        return f.inode
    return lookup_at(task, AT_FDCWD, task.mm.read_cstring(path_or_fd), follow=follow).inode


def _name(task, addr):
    name = task.mm.read_cstring(addr, XATTR_NAME_MAX + 1)
    if not name or len(name) > XATTR_NAME_MAX:
        raise SyscallError(errno.ERANGE)
    return name


def _get(inode, task, name_addr, value, size):
    data = inode.getxattr(_name(task, name_addr))
    if size == 0:
        return len(data)
    if len(data) > size:
        raise SyscallError(errno.ERANGE)
    task.mm.copy_out(value, data)
    return len(data)


def _list(inode, task, buf, size):
    data = b"".join(n + b"\0" for n in inode.listxattr())
    if size == 0:
        return len(data)
    if len(data) > size:
        raise SyscallError(errno.ERANGE)
    task.mm.copy_out(buf, data)
    return len(data)


def getxattr(task, path, name, value, size):
    """Implements getxattr(2)."""
    return _get(_target(task, path, True), task, name, value, size)


def lgetxattr(task, path, name, value, size):
    """Implements lgetxattr(2)."""
    return _get(_target(task, path, False), task, name, value, size)


def fgetxattr(task, fd, name, value, size):
    """Implements fgetxattr(2)."""
    return _get(_target(task, fd, True, by_fd=True), task, name, value, size)


def listxattr(task, path, buf, size):
    """Implements listxattr(2)."""
    return _list(_target(task, path, True), task, buf, size)


def llistxattr(task, path, buf, size):
    """Implements llistxattr(2)."""
    return _list(_target(task, path, False), task, buf, size)


def flistxattr(task, fd, buf, size):
    """Implements flistxattr(2)."""
    return _list(_target(task, fd, True, by_fd=True), task, buf, size)


def setxattr(task, path, name, value, size, flags):
    """Implements setxattr(2)."""
    return _target(task, path, True).setxattr(_name(task, name), b"", flags) or 0


def lsetxattr(task, path, name, value, size, flags):
    """Implements lsetxattr(2)."""
    return _target(task, path, False).setxattr(_name(task, name), b"", flags) or 0


def fsetxattr(task, fd, name, value, size, flags):
    """Implements fsetxattr(2)."""
    return _target(task, fd, True, by_fd=True).setxattr(_name(task, name), b"", flags) or 0


def removexattr(task, path, name):
    """Implements removexattr(2)."""
    return _target(task, path, True).removexattr(_name(task, name)) or 0


def lremovexattr(task, path, name):
    """Implements lremovexattr(2)."""
    return _target(task, path, False).removexattr(_name(task, name)) or 0


def fremovexattr(task, fd, name):
    """Implements fremovexattr(2)."""
    return _target(task, fd, True, by_fd=True).removexattr(_name(task, name)) or 0
