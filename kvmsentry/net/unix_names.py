"""Where Unix sockets are found by name: path names are socket inodes in
the sandbox's VFS (the bound socket hangs off the filesystem's own inode),
abstract names live in a table per sandbox (the kernel's)."""
import errno
import itertools
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fs_context import parent_at, walker
from kvmsentry.vfs.path import AT_FDCWD, W_OK, X_OK, may_access

_autobind = itertools.count(1)


def _real(inode):
    """The filesystem's own inode behind any overlay wrapping: the object
    whose identity outlives dentry caches."""
    while hasattr(inode, "real"):
        inode = inode.real()
    return inode


class UnixNames:
    """A sandbox's abstract socket namespace."""

    def __init__(self):
        self.abstract = {}                  # name bytes -> UnixSocket

    def bind_abstract(self, name, sock):
        if name in self.abstract:
            raise SyscallError(errno.EADDRINUSE)
        self.abstract[name] = sock

    def autobind_name(self):
        """A free 5-hex-digit abstract name, as Linux's unix_autobind."""
        while True:
            name = b"%05x" % (next(_autobind) & 0xFFFFF)
            if name not in self.abstract:
                return name

    def release_abstract(self, name, sock):
        if self.abstract.get(name) is sock:
            del self.abstract[name]


def check_free(task, path):
    """(parent Location, name) for a new socket inode at path; EADDRINUSE
    if the name exists."""
    if not path:
        raise SyscallError(errno.ENOENT)
    parent, name, trailing = parent_at(task, AT_FDCWD, path)
    if name in (b".", b"..") or trailing:
        raise SyscallError(errno.EADDRINUSE if name in (b".", b"..") else errno.ENOENT)
    try:
        walker(task).walk(parent, name, follow=False)
        raise SyscallError(errno.EADDRINUSE)
    except SyscallError as e:
        if e.errno != errno.ENOENT:
            raise
    return parent, name


def bind_path(task, path, sock):
    """Create the socket inode at path (the socket's mode & ~umask, as
    Linux's unix_bind_bsd) and attach sock to it; EADDRINUSE if the name exists.
    Returns the inode, or None when sock became a host socket instead
    (--host-uds=create, in a host directory)."""
    from kvmsentry.net import host_unix          # (host sockets load at first use)
    from kvmsentry.net.address import UnixName
    parent, name = check_free(task, path)
    directory = host_unix.host_directory(task, parent.inode)
    if directory is not None:
        if parent.mount.readonly:
            raise SyscallError(errno.EROFS)
        host_unix.bind_host(task, sock, directory, name, UnixName(path=path))
        parent.dentry.forget(name)
        return None
    if parent.mount.readonly:
        raise SyscallError(errno.EROFS)
    if not may_access(parent.inode.getattr(), task.creds, W_OK | X_OK):
        raise SyscallError(errno.EACCES)
    c = task.creds
    mode = st.S_IFSOCK | (sock.perm & ~task.fs.umask)
    try:
        parent.inode.mknod(name, mode, 0, c.euid, c.egid)
    except SyscallError as e:
        raise SyscallError(errno.EADDRINUSE if e.errno == errno.EEXIST else e.errno) from None
    parent.dentry.forget(name)
    node = _real(walker(task).walk(parent, name, follow=False).inode)
    node.bound_socket = sock
    return node


def lookup_path(task, path):
    """The socket bound at path: ECONNREFUSED if the inode is no socket
    or nothing is bound there; EACCES without write permission."""
    if not path:
        raise SyscallError(errno.ENOENT)
    loc = walker(task).walk(task.fs.cwd, path, follow=True)
    inode = loc.inode
    attrs = inode.getattr()
    if not st.S_ISSOCK(attrs.mode):
        raise SyscallError(errno.ECONNREFUSED)
    if not may_access(attrs, task.creds, W_OK):
        raise SyscallError(errno.EACCES)
    sock = getattr(_real(inode), "bound_socket", None)
    if sock is None:
        raise SyscallError(errno.ECONNREFUSED)
    return sock


def connect_host_path(task, sock, name):
    """Connect sock to a host listener at name.path if --host-uds allows
    it and the path names a host socket; True if it did."""
    from kvmsentry.net import host_unix
    try:
        loc = walker(task).walk(task.fs.cwd, name.path, follow=True)
    except SyscallError:
        return False
    node = host_unix.host_socket_inode(task, loc.inode)
    if node is None:
        return False
    if not may_access(loc.inode.getattr(), task.creds, W_OK):
        raise SyscallError(errno.EACCES)
    host_unix.connect_host(task, sock, node, name)
    return True


def release_path(node, sock):
    if getattr(node, "bound_socket", None) is sock:
        node.bound_socket = None
