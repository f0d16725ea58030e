"""Socket addresses: decoding the guest's sockaddr bytes and encoding
the ones the sentry hands back (getsockname, accept, recvfrom)."""
import errno
import socket
import struct

from kvmsentry.errors import SyscallError

AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 0, 1, 2, 10, 16, 17
SUN_PATH_OFFSET = 2
SOCKADDR_UN_SIZE = 110
SOCKADDR_STORAGE_SIZE = 128


def family_of(raw):
    if len(raw) < 2:
        raise SyscallError(errno.EINVAL)
    return struct.unpack_from("<H", raw)[0]


# --- AF_UNIX ------------------------------------------------------------------------
class UnixName:
    """A Unix socket name: a path (bytes, no NUL) or an abstract name
    (bytes after the leading NUL)."""

    __slots__ = ("path", "abstract")

    def __init__(self, path=None, abstract=None):
        self.path = path
        self.abstract = abstract

    def encode(self):
        """The sockaddr_un Linux reports: a path with its NUL, an abstract
        name exactly as long as it was bound."""
        if self.abstract is not None:
            return struct.pack("<H", AF_UNIX) + b"\0" + self.abstract
        return struct.pack("<H", AF_UNIX) + self.path + b"\0"


def decode_unix(raw):
    """UnixName of a guest sockaddr_un (unix_validate_addr/unix_mkname);
    None for the bare family (autobind)."""
    if len(raw) < SUN_PATH_OFFSET or len(raw) > SOCKADDR_UN_SIZE:
        raise SyscallError(errno.EINVAL)
    if family_of(raw) != AF_UNIX:
        raise SyscallError(errno.EINVAL)
    body = raw[SUN_PATH_OFFSET:]
    if not body:
        return None
    if body[0] == 0:
        return UnixName(abstract=bytes(body[1:]))
    return UnixName(path=bytes(body.split(b"\0", 1)[0]))


UNNAMED_UNIX = struct.pack("<H", AF_UNIX)


# --- AF_INET / AF_INET6 ----------------------------------------------------------------
def decode_inet(raw, family):
    """The Python socket address tuple of a guest sockaddr_in/_in6."""
    if family == AF_INET:
        if len(raw) < 16:
            raise SyscallError(errno.EINVAL)
        fam, port = struct.unpack_from("<HH", raw)
        if fam != AF_INET:
            raise SyscallError(errno.EAFNOSUPPORT)
        return socket.inet_ntop(socket.AF_INET, bytes(raw[4:8])), socket.ntohs(port)
    if len(raw) < 24:
        raise SyscallError(errno.EINVAL)
    fam, port, flow = struct.unpack_from("<HHI", raw)
    if fam != AF_INET6:
        raise SyscallError(errno.EAFNOSUPPORT)
    scope = struct.unpack_from("<I", raw, 24)[0] if len(raw) >= 28 else 0
    return (socket.inet_ntop(socket.AF_INET6, bytes(raw[8:24])), socket.ntohs(port),
            socket.ntohl(flow), scope)


# sockaddr_in/_in6 in network order: the family, little-endian in memory,
# is written byte-swapped (AF_INET 2 as 0x0200).
_SOCKADDR_IN = struct.Struct(">HH4s8x")
_SOCKADDR_IN6 = struct.Struct(">HHI16s")


def encode_inet(addr, family):
    """sockaddr bytes of a Python socket address tuple."""
    if family == AF_INET:
        return _SOCKADDR_IN.pack(AF_INET << 8, addr[1], socket.inet_pton(socket.AF_INET, addr[0]))
    host, port, flow, scope = addr
    host = host.split("%", 1)[0]
    return _SOCKADDR_IN6.pack(AF_INET6 << 8, port, flow,
                              socket.inet_pton(socket.AF_INET6, host)) + scope.to_bytes(4, "little")


# --- AF_NETLINK --------------------------------------------------------------------------
def decode_netlink(raw):
    """(port id, groups) of a sockaddr_nl."""
    if len(raw) < 12 or family_of(raw) != AF_NETLINK:
        raise SyscallError(errno.EINVAL)
    _, _, pid, groups = struct.unpack_from("<HHII", raw)
    return pid, groups


def encode_netlink(pid, groups=0):
    return struct.pack("<HHII", AF_NETLINK, 0, pid, groups)
