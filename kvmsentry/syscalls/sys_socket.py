"""The socket family of syscalls: decode arguments, find the socket,
call it (kvmsentry/net/). Message headers and control data are
sys_socket_msg.py."""
import errno
import struct

from kvmsentry.errors import SyscallError, WouldWait
from kvmsentry.net import hostinet, netlink
from kvmsentry.net.address import AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX
from kvmsentry.net.socket_file import (MSG_WAITALL, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK,
                                       SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM, GuestData,
                                       SocketFile)
from kvmsentry.net.unix import UnixSocket, socketpair as unix_socketpair
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.syscalls.sys_read_write import access_ok
from kvmsentry.syscalls.sys_socket_msg import (accessible_prefix, copy_in_addr, copy_out_addr,
                                               host_recv_waitall, RECV_WINDOW, recv_common,
                                               send_common, send_host)

RLIMIT_NOFILE = 7
SOCK_TYPE_MASK = 0xF


def _limit(task):
    return task.rlimits[RLIMIT_NOFILE][0]


def sock_of(task, fd):
    # The low 32 bits unsigned: a negative fd is as absent as i32's
    # (masked only when above 31 bits: the `&` is a multi-digit operation).
    f = task.fds.get(fd if fd <= 0x7FFFFFFF else fd & 0xFFFFFFFF)
    if not isinstance(f, SocketFile):
        raise SyscallError(errno.ENOTSOCK)
    return f


def _split_type(sock_type):
    sock_type = i32(sock_type)
    if sock_type & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    return sock_type & SOCK_TYPE_MASK, sock_type & SOCK_NONBLOCK, bool(sock_type & SOCK_CLOEXEC)


def new_socket(task, domain, kind, protocol, nonblock):
    """A socket File of the given family (the `socket(2)` dispatch)."""
    if domain == AF_UNIX:
        if protocol not in (0, AF_UNIX):
            raise SyscallError(errno.EPROTONOSUPPORT)
        if kind == SOCK_RAW:
            kind = SOCK_DGRAM                 # as Linux's unix_create
        return UnixSocket(task.kernel.unix_names, kind, nonblock)
    if domain in (AF_INET, AF_INET6):
        return hostinet.create(domain, kind, protocol, nonblock, task.kernel.debug)
    if domain == AF_NETLINK:
        return netlink.create(task, kind, protocol, nonblock)
    if domain == AF_PACKET:
        raise SyscallError(errno.EPERM)
    raise SyscallError(errno.EAFNOSUPPORT)


def socket(task, domain, sock_type, protocol):
    """Implements socket(2)."""
    kind, nonblock, cloexec = _split_type(sock_type)
    sock = new_socket(task, i32(domain), kind, i32(protocol), nonblock)
    try:
        return task.fds.install(sock, cloexec=cloexec, limit=_limit(task))
    except SyscallError:
        sock.release()
        raise


def socketpair(task, domain, sock_type, protocol, sv):
    """Implements socketpair(2) (AF_UNIX only, as Linux)."""
    kind, nonblock, cloexec = _split_type(sock_type)
    domain, protocol = i32(domain), i32(protocol)
    if domain != AF_UNIX:
        raise SyscallError(errno.EOPNOTSUPP if domain in (AF_INET, AF_INET6, AF_NETLINK)
                           else errno.EAFNOSUPPORT)
    if protocol not in (0, AF_UNIX):
        raise SyscallError(errno.EPROTONOSUPPORT)
    if kind == SOCK_RAW:
        kind = SOCK_DGRAM
    if kind not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise SyscallError(errno.ESOCKTNOSUPPORT)
    task.mm.check_access(sv, 8, write=True)
    a, b = unix_socketpair(task.kernel.unix_names, kind, nonblock, task)
    fa = task.fds.install(a, cloexec=cloexec, limit=_limit(task))
    try:
        fb = task.fds.install(b, cloexec=cloexec, limit=_limit(task))
    except SyscallError:
        task.fds.close(fa)
        b.release()
        raise
    task.mm.copy_out(sv, struct.pack("<ii", fa, fb))
    return 0


def bind(task, fd, addr, addrlen):
    """Implements bind(2)."""
    sock = sock_of(task, fd)
    sock.bind(task, copy_in_addr(task, addr, addrlen))
    return 0


def listen(task, fd, backlog):
    """Implements listen(2)."""
    sock_of(task, fd).listen(task, i32(backlog))
    return 0


def connect(task, fd, addr, addrlen):
    """Implements connect(2)."""
    sock = sock_of(task, fd)
    sock.connect(task, copy_in_addr(task, addr, addrlen))
    return 0


def accept4(task, fd, addr, addrlen_ptr, flags):
    """Implements accept4(2)."""
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):      # (flags as an int: the same test)
        if i32(flags) & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
            raise SyscallError(errno.EINVAL)
        flags = i32(flags)
    sock = sock_of(task, fd)
    if addr:
        task.mm.check_access(addrlen_ptr, 4, write=True)
    new, peer = sock.accept(task, flags)
    try:
        newfd = task.fds.install(new, cloexec=bool(flags & SOCK_CLOEXEC), limit=_limit(task))
    except SyscallError:
        new.release()
        raise
    if addr:
        try:
            copy_out_addr(task, addr, addrlen_ptr, peer)
        except SyscallError:
            task.fds.close(newfd)
            raise
    return newfd


def accept(task, fd, addr, addrlen_ptr):
    """Implements accept(2)."""
    return accept4(task, fd, addr, addrlen_ptr, 0)


def getsockname(task, fd, addr, addrlen_ptr):
    """Implements getsockname(2)."""
    copy_out_addr(task, addr, addrlen_ptr, sock_of(task, fd).getsockname())
    return 0


def getpeername(task, fd, addr, addrlen_ptr):
    """Implements getpeername(2)."""
    copy_out_addr(task, addr, addrlen_ptr, sock_of(task, fd).getpeername())
    return 0


def shutdown(task, fd, how):
    """Implements shutdown(2)."""
    how = i32(how)
    if how not in (0, 1, 2):
        raise SyscallError(errno.EINVAL)
    sock_of(task, fd).shutdown(task, how)
    return 0


def _option_bytes(mm, optval, length):
    """An option value longer than an int: its readable part where the
    rest faults, from at least an int on, as Linux reads only the bytes an
    option takes (an int's four, whatever optlen says)."""
    try:
        return mm.copy_in(optval, length)
    except SyscallError:
        readable = mm.accessible(optval, length, write=False)
        if readable < 4:
            raise
        return mm.copy_in(optval, readable)


def setsockopt(task, fd, level, name, optval, optlen):
    """Implements setsockopt(2)."""
    sock = sock_of(task, fd)
    # The int arguments compared, not masked, when small (five calls a
    # connection in a server; i32's `&`s are multi-digit operations).
    if optlen > 0x7FFFFFFF:
        optlen &= 0xFFFFFFFF
        if optlen & 0x80000000:              # negative as an int
            raise SyscallError(errno.EINVAL)
    if optlen > 4:
        value = _option_bytes(task.mm, optval, min(optlen, 4096))
    else:
        value = task.mm.copy_in(optval, optlen) if optlen else b""
    sock.setsockopt(task, level if level <= 0x7FFFFFFF else i32(level),
                    name if name <= 0x7FFFFFFF else i32(name), value)
    return 0


def getsockopt(task, fd, level, name, optval, optlen_ptr):
    """Implements getsockopt(2)."""
    sock = sock_of(task, fd)
    (length,) = struct.unpack("<i", task.mm.copy_in(optlen_ptr, 4))
    if length < 0:
        raise SyscallError(errno.EINVAL)
    value = sock.getsockopt(task, i32(level), i32(name), length)
    value = value[:length]
    if value:
        task.mm.copy_out(optval, value)
    task.mm.copy_out(optlen_ptr, struct.pack("<i", len(value)))
    return 0


# --- data: the msghdr work lives in sys_socket_msg.py ------------------------------------
def sendto(task, fd, buf, length, flags, addr, addrlen):
    """Implements sendto(2)."""
    length = min(length, 0x7FFFF000)
    access_ok(buf, length)                  # import_ubuf, before the fd is looked up
    sock = sock_of(task, fd)
    target = copy_in_addr(task, addr, addrlen) if addr else None
    if not isinstance(sock, hostinet.HostSocket):
        # Copied in as the socket takes it (EFAULT, or a short count,
        # where the copy faults).
        return send_common(task, sock, GuestData(task.mm, [(buf, length)]), target, None,
                           u32(flags))
    readable = accessible_prefix(task.mm, buf, length, write=False)
    if length and not readable:
        raise SyscallError(errno.EFAULT)
    return send_host(task, sock, [(buf, readable)], target, None, u32(flags))


def _recv_when_ready(task, sock, buf, length, flags, addr, addrlen_ptr):
    """recvfrom of a host socket that must wait, as read(2)'s
    _read_when_ready: the wait first, then a receive into what of the
    buffer is writable after it (none: EFAULT, the data left queued)."""
    while True:
        sock.wait_readable()
        mapped = accessible_prefix(task.mm, buf, length, write=True)
        if not mapped:
            raise SyscallError(errno.EFAULT)
        try:
            got, _, _, raw = sock.recv_views(task, task.mm.write_buffers(buf, mapped), flags,
                                             guest=True)
        except WouldWait:
            continue                # (taken by another reader first: wait again)
        if addr:
            copy_out_addr(task, addr, addrlen_ptr, raw or b"", allow_empty=True)
        return got


def recvfrom(task, fd, buf, length, flags, addr, addrlen_ptr):
    """Implements recvfrom(2)."""
    length = min(length, 0x7FFFF000)
    access_ok(buf, length)                  # import_ubuf, before the fd is looked up
    sock = sock_of(task, fd)
    mapped = accessible_prefix(task.mm, buf, length, write=True)
    if isinstance(sock, UnixSocket):
        if mapped == length:
            # Asked again after a wait: the buffer may be unmapped meanwhile,
            # and a stream's data then stays queued (Linux copies after it waits).
            mapped = lambda: accessible_prefix(task.mm, buf, length, write=True)  # noqa: E731
        got = recv_common(task, sock, length, u32(flags), bool(addr), 0, mapped)
        if got.data:
            task.mm.copy_out(buf, got.data)
        if got.faulted:
            raise SyscallError(errno.EFAULT)
        if addr:
            copy_out_addr(task, addr, addrlen_ptr, got.addr or b"", allow_empty=True)
        return got.length
    if length and not mapped:
        raise SyscallError(errno.EFAULT)
    length = mapped
    if length and isinstance(sock, hostinet.HostSocket) and not flags & MSG_WAITALL:
        length = min(length, RECV_WINDOW)
        # Straight into the guest's frames, no copy through the sentry,
        # unless it must wait (then buffered, as below: WouldWait says why).
        try:
            got, _, _, raw = sock.recv_views(task, task.mm.write_buffers(buf, length),
                                             u32(flags), guest=True)
        except WouldWait:
            return _recv_when_ready(task, sock, buf, length, u32(flags), addr, addrlen_ptr)
        if addr:
            copy_out_addr(task, addr, addrlen_ptr, raw or b"", allow_empty=True)
        return got
    if isinstance(sock, hostinet.HostSocket):             # MSG_WAITALL
        def write(offset, data):
            if data:
                task.mm.copy_out(buf + offset, data)
        got, count = host_recv_waitall(task, sock, length, u32(flags), bool(addr), 0, write)
    else:
        got = recv_common(task, sock, length, u32(flags), bool(addr), 0)
        if got.data:
            task.mm.copy_out(buf, got.data)
        count = got.length
    if addr:
        copy_out_addr(task, addr, addrlen_ptr, got.addr or b"", allow_empty=True)
    return count
