"""--host-uds: Unix sockets that cross the sandbox boundary on purpose.

With `open`, connect() to a path whose inode is a host socket (on a volume
or the host-backed root) connects a host AF_UNIX socket to it; with
`create`, bind() in a writable host directory (a volume) binds a host
socket there, which host clients can reach. Either way the UnixSocket
becomes a HostUnixSocket: a host socket the sentry owns and mediates, like
hostinet's, without SCM_RIGHTS (sandbox fds never leave the sandbox).

Host paths are never resolved by name: the sentry reaches the socket
inode or the directory through its O_PATH fd (/proc/self/fd/N).
"""
import errno
import socket
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfs import HostInode
from kvmsentry.net.address import AF_UNIX, UNNAMED_UNIX
from kvmsentry.net.hostinet import HostSocket

SUN_PATH_MAX = 107


def _real(inode):
    while hasattr(inode, "real"):
        inode = inode.real()
    return inode


def host_socket_inode(task, inode):
    """The HostInode of a host socket connect() may reach, or None."""
    if getattr(task.kernel, "host_uds", "none") not in ("open", "all"):
        return None
    real = _real(inode)
    if isinstance(real, HostInode) and st.S_ISSOCK(real.getattr().mode):
        return real
    return None


def host_directory(task, parent_inode):
    """The HostInode of a writable host directory bind() may create a host
    socket in, or None."""
    if getattr(task.kernel, "host_uds", "none") not in ("create", "all"):
        return None
    real = _real(parent_inode)
    if isinstance(real, HostInode) and not real.fs.readonly:
        return real
    return None


class HostUnixSocket(HostSocket):
    """A Unix socket backed by a host socket (see the module notes)."""

    family = AF_UNIX

    def adopt(self, host, guest_name=None, peer_name=None):
        self.host = host
        self.host_fd = host.fileno()
        self.debug = None
        self.guest_name = guest_name
        self.peer_name = peer_name
        self._want_out = False
        self._poller = None

    def bind(self, task, raw):
        raise SyscallError(errno.EINVAL)

    def connect(self, task, raw):
        raise SyscallError(errno.EISCONN)

    def getsockname(self):
        return self.guest_name.encode() if self.guest_name is not None else UNNAMED_UNIX

    def getpeername(self):
        if self.peer_name is None:
            raise SyscallError(errno.ENOTCONN)
        return self.peer_name.encode()

    def accept(self, task, flags):
        fd, _ = self._retry(task, 0, 0x1, self.rcvtimeo, self.host._accept)
        host = socket.socket(socket.AF_UNIX, self.type, 0, fileno=fd)
        host.setblocking(False)
        new = HostUnixSocket.__new__(HostUnixSocket)
        HostSocket.__init__(new, AF_UNIX, self.type, 0, flags & 0o4000, host)
        new.adopt(host, self.guest_name)
        return new, UNNAMED_UNIX

    def sendmsg(self, task, data, addr, ancillary, flags):
        if addr is not None:
            raise SyscallError(errno.EISCONN)
        return super().sendmsg(task, data, None, ancillary, flags)

    def recvmsg(self, task, length, flags, addr_wanted=False, control_len=0):
        got = super().recvmsg(task, length, flags, False, 0)
        got.addr = None
        return got

    def setsockopt(self, task, level, name, value):
        raise SyscallError(errno.ENOPROTOOPT)

    def getsockopt(self, task, level, name, length):
        if level == 1 and name in (3, 4, 30, 38, 39):      # TYPE ERROR ACCEPTCONN PROTOCOL DOMAIN
            return self.host.getsockopt(level, name, 4)
        raise SyscallError(errno.ENOPROTOOPT)


def _become_host(sock, host, guest_name=None, peer_name=None):
    """Turn the guest's UnixSocket into a HostUnixSocket in place: the fd
    table already holds the object."""
    sock.__class__ = HostUnixSocket
    sock.protocol = 0
    sock.adopt(host, guest_name, peer_name)


def connect_host(task, sock, node, name):
    """connect() of sock to the host socket at node (a HostInode)."""
    host = socket.socket(socket.AF_UNIX, sock.type | socket.SOCK_CLOEXEC)
    try:
        host.settimeout(10)
        host.connect("/proc/self/fd/%d" % node.fd)
        host.setblocking(False)
    except OSError as e:
        host.close()
        raise SyscallError(e.errno or errno.ECONNREFUSED) from None
    _become_host(sock, host, peer_name=name)


def bind_host(task, sock, directory, leaf, name):
    """bind() of sock as a host socket named leaf in directory (a HostInode)."""
    path = "/proc/self/fd/%d/%s" % (directory.fd, leaf.decode(errors="surrogateescape"))
    if len(path) > SUN_PATH_MAX:
        raise SyscallError(errno.ENAMETOOLONG)
    host = socket.socket(socket.AF_UNIX, sock.type | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        host.bind(path)
    except OSError as e:
        host.close()
        raise SyscallError(errno.EADDRINUSE if e.errno == errno.EEXIST else e.errno) from None
    directory.note_made(leaf)
    _become_host(sock, host, guest_name=name)
