"""Internet sockets as host sockets the sentry owns (runsc's hostinet).

The guest never holds the host fd: every call is decoded by the sentry,
options pass through an allowlist, and data moves between guest memory
and the host socket: read/write/recvfrom/sendto straight from and into
views of the guest's frames (no copy through the sentry), the msghdr
calls through bytes. The host socket is always non-blocking; a
blocking guest call waits in waiter.block_until() with the host fd in
the waiter's poll set. The socket lives in the network namespace the
sentry runs in (see netns.py).
"""
import _socket
import ctypes
import errno
import fcntl
import select
import socket

from kvmsentry.errors import SyscallError, WouldWait
from kvmsentry.kernel.creds import CAP_NET_BIND_SERVICE
from kvmsentry.kernel.locking import current
from kvmsentry.net import interfaces
from kvmsentry.net.address import AF_INET, AF_INET6, decode_inet, encode_inet, family_of
from kvmsentry.net.socket_file import (
    FIONREAD, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, POLLERR,
    POLLIN, POLLOUT, SIOCOUTQ, SO_ACCEPTCONN, SO_BROADCAST, SO_DOMAIN, SO_ERROR, SO_KEEPALIVE,
    SO_LINGER, SO_OOBINLINE, SO_PRIORITY, SO_PROTOCOL, SO_RCVBUF, SO_RCVLOWAT, SO_RCVTIMEO,
    SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SO_SNDLOWAT, SO_SNDTIMEO, SO_TYPE, SOCK_DGRAM, INT,
    SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, Ancillary, Received, SocketFile)

IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6 = 0, 6, 17, 41
SO_TIMESTAMP, SO_TIMESTAMPNS, SO_BINDTODEVICE = 29, 35, 25
SIOCATMARK = 0x8905
# (level, option) pairs passed to the host socket; anything else is ENOPROTOOPT.
ALLOWED = {
    SOL_SOCKET: {SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_LINGER,
                 SO_OOBINLINE, SO_PRIORITY, SO_RCVBUF, SO_SNDBUF, SO_RCVLOWAT, SO_SNDLOWAT,
                 SO_TYPE, SO_ERROR, SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL, SO_TIMESTAMP,
                 SO_TIMESTAMPNS},
    IPPROTO_TCP: {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 18, 23, 25},
    # NODELAY MAXSEG CORK KEEPIDLE KEEPINTVL KEEPCNT SYNCNT LINGER2 DEFER_ACCEPT
    # WINDOW_CLAMP INFO QUICKACK CONGESTION USER_TIMEOUT FASTOPEN NOTSENT_LOWAT
    IPPROTO_IP: {1, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14, 32, 33, 34, 35, 36, 49},
    # TOS TTL HDRINCL OPTIONS RECVOPTS RETOPTS PKTINFO MTU_DISCOVER RECVERR RECVTTL
    # RECVTOS MTU MULTICAST_IF/TTL/LOOP ADD/DROP_MEMBERSHIP BIND_ADDRESS_NO_PORT
    IPPROTO_IPV6: {16, 17, 18, 19, 20, 21, 23, 25, 26, 49, 50, 66, 67, 24},
    # UNICAST_HOPS MULTICAST_IF/HOPS/LOOP JOIN/LEAVE_GROUP MTU_DISCOVER RECVERR V6ONLY
    # RECVPKTINFO PKTINFO RECVTCLASS TCLASS MTU
}
_SEND_FLAGS = 0x1 | 0x4 | 0x80 | 0x800 | 0x8000      # OOB DONTROUTE EOR CONFIRM MORE
_RECV_FLAGS = 0x1 | MSG_PEEK | MSG_TRUNC | 0x2000        # OOB PEEK TRUNC ERRQUEUE
_POLL_ALL = (select.POLLIN | select.POLLPRI | select.POLLOUT | select.POLLRDNORM
             | select.POLLWRNORM | select.POLLRDBAND | select.POLLWRBAND | 0x2000)


_libc = ctypes.CDLL(None, use_errno=True)


def _would_wait():
    raise WouldWait


def _advance(views, n):
    """`views` without their first n bytes."""
    out = []
    for v in views:
        if n >= len(v):
            n -= len(v)
            continue
        out.append(v[n:])
        n = 0
    return out


UNPRIVILEGED_PORT_START = 1024          # net.ipv4.ip_unprivileged_port_start's default


def _host_call(fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        raise SyscallError(e.errno or errno.EIO) from None


class HostSocket(SocketFile):
    """An AF_INET/AF_INET6 TCP or UDP socket backed by a host socket."""

    _peer = None          # (address, sockaddr bytes) of an accepted socket's peer

    def __init__(self, family, sock_type, protocol, flags=0, host=None, debug=None):
        super().__init__(sock_type, protocol, flags)
        self.family = family
        if host is None:
            # The C type, not socket.socket: its Python __init__ and
            # close() are frames on every accept and close of a server.
            host = _host_call(_socket.socket, family,
                              sock_type | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, protocol)
            self.protocol = host.proto
        self.host = host
        self.host_fd = host.fileno()
        self.debug = debug
        self._want_out = False        # a connect or send waits for room: watch POLLOUT
        self._poller = None

    # --- waiting on the host fd -----------------------------------------------------
    def _retry(self, task, flags, events, timeout_ns, op, before_wait=None):
        """op() until it stops raising BlockingIOError; waits for the host
        fd between tries unless the call is non-blocking (EAGAIN).
        before_wait(), if given, runs before the first wait and returns the
        op to go on with (or raises WouldWait)."""
        while True:
            try:
                return op()
            except (BlockingIOError, InterruptedError):
                if events & POLLOUT:
                    self._want_out = True
                if self.nonblocking(flags):
                    raise SyscallError(errno.EAGAIN) from None
            except OSError as e:
                raise SyscallError(e.errno or errno.EIO) from None
            if before_wait is not None:
                op, before_wait = before_wait(), None
            self.wait(task, lambda: self._host_ready(events), events, timeout_ns,
                      host_fds=[(self.host_fd, events)])

    def _host_ready(self, events):
        return self._host_mask() & (events | POLLERR | select.POLLHUP)

    def _host_mask(self):
        if self._poller is None:                  # one per socket: epoll asks often
            self._poller = select.poll()
            self._poller.register(self.host_fd, _POLL_ALL)
        ready = self._poller.poll(0)
        return ready[0][1] if ready else 0

    def poll_events(self):
        mask = self._host_mask()
        if mask & POLLOUT:
            self._want_out = False
        return mask

    def host_socket_fd(self):
        """The host socket's fd, for an epoll instance's host epoll (-1
        once released)."""
        return self.host.fileno()

    def host_fds(self, events=None):
        """[(host fd, poll events)] for a waiter's host poll set (the
        polling protocol of kernel/polling.py). Without the caller's events,
        watch what can turn the socket readable, and writability only while
        a connect or a send is waiting for it (else a writable socket
        would end every wait at once)."""
        if events is None:
            events = select.POLLIN | select.POLLPRI | 0x2000
            if self._want_out:
                events |= select.POLLOUT
        return [(self.host_fd, events & _POLL_ALL)]

    # --- names and connections --------------------------------------------------------
    def _addr(self, raw):
        return decode_inet(raw, self.family)

    def bind(self, task, raw):
        addr = self._addr(raw)
        if 0 < addr[1] < UNPRIVILEGED_PORT_START and \
                not task.creds.capable(CAP_NET_BIND_SERVICE):
            # The host socket is the sentry's, which may bind anything:
            # inet_bind's check is made here, after its address check.
            with socket.socket(self.family, socket.SOCK_DGRAM) as probe:
                _host_call(probe.bind, (addr[0], 0) + tuple(addr[2:]))
            raise SyscallError(errno.EACCES)
        _host_call(self.host.bind, addr)

    def listen(self, task, backlog):
        if self.type != SOCK_STREAM:
            raise SyscallError(errno.EOPNOTSUPP)
        backlog = backlog & 0xFFFFFFFF
        _host_call(self.host.listen, min(backlog, 0x7FFFFFFF))

    def connect(self, task, raw):
        if family_of(raw) == 0:
            return self._disconnect()
        addr = self._addr(raw)
        if self.type == SOCK_STREAM and self._connected():
            raise SyscallError(errno.EISCONN)    # Python's connect_ex calls that success
        err = self.host.connect_ex(addr)
        if err == 0:
            return
        if err != errno.EINPROGRESS:
            raise SyscallError(err)
        self._want_out = True
        if self.nonblocking():
            raise SyscallError(errno.EINPROGRESS)
        self.wait(task, lambda: self._host_ready(POLLOUT), POLLOUT, self.sndtimeo,
                  host_fds=[(self.host_fd, POLLOUT)])
        err = self.host.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise SyscallError(err)

    def _disconnect(self):
        """connect(AF_UNSPEC): dissolve a UDP association (TCP: Linux
        aborts the connection). Python's connect() takes no AF_UNSPEC
        address, so this one call goes through libc."""
        unspec = ctypes.create_string_buffer(16)          # sa_family 0
        if _libc.connect(self.host_fd, unspec, 16) != 0:
            raise SyscallError(ctypes.get_errno())

    def _connected(self):
        try:
            self.host.getpeername()
            return True
        except OSError:
            return False

    def accept(self, task, flags):
        try:
            fd, addr = self.host._accept()      # a server's accept finds one waiting
        except (BlockingIOError, InterruptedError):
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN) from None
            fd, addr = self._retry(task, 0, POLLIN, self.rcvtimeo, self.host._accept)
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None
        host = _socket.socket(self.family, self.type, self.protocol, fd)
        host.setblocking(False)
        new = HostSocket(self.family, self.type, self.protocol, flags & SOCK_NONBLOCK,
                         host, self.debug)
        raw = encode_inet(addr, self.family)
        new._peer = (addr, raw)
        return new, raw

    def shutdown(self, task, how):
        _host_call(self.host.shutdown, how)

    def getsockname(self):
        return encode_inet(_host_call(self.host.getsockname), self.family)

    def getpeername(self):
        try:
            addr = self.host.getpeername()      # a server asks once per client: no _host_call frame
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None
        peer = self._peer
        if peer is not None and peer[0] == addr:
            return peer[1]                      # the address accept encoded
        return encode_inet(addr, self.family)

    # --- data -------------------------------------------------------------------------
    def sendmsg(self, task, data, addr, ancillary, flags):
        """data: bytes, or a list of views (of guest frames: sendto)."""
        target = self._addr(addr) if addr is not None else None
        anc = ancillary.raw if ancillary is not None else ()
        if ancillary is not None and ancillary.files:
            raise SyscallError(errno.EINVAL)             # SCM_RIGHTS: Unix sockets only
        views = data if isinstance(data, list) else [memoryview(data)]
        return self.send_views(task, views, flags, target, anc)

    def recvmsg(self, task, length, flags, addr_wanted=False, control_len=0):
        buf = bytearray(length)
        got, anc, out_flags, addr = self.recv_views(task, [memoryview(buf)], flags, control_len)
        return Received(bytes(buf[:min(got, length)]), got, addr, Ancillary(raw=anc), out_flags)

    def recv_views(self, task, views, flags, control_len=0, guest=False):
        """Receive into `views` (e.g. of guest frames: recvfrom): (count,
        raw ancillary, msg_flags, sockaddr bytes or None). A stream read
        with MSG_WAITALL that may block fills them all unless EOF, a
        signal or the timeout comes first. `guest`: the views are the
        guest's frames, held across no wait: WouldWait instead (nothing
        read; not with MSG_WAITALL, which may wait after a part)."""
        host_flags = (flags & _RECV_FLAGS) | MSG_DONTWAIT
        total = sum(len(v) for v in views)
        got = 0
        anc_out, out_flags, addr_out = [], 0, None
        while True:
            part = _advance(views, got) if got else views

            def op():
                return self.host.recvmsg_into(part, max(control_len, 0), host_flags)
            try:
                n, anc, msg_flags, addr = self._retry(task, flags, POLLIN, self.rcvtimeo, op,
                                                      _would_wait if guest else None)
            except SyscallError:
                if got:
                    break
                raise
            if not got:
                anc_out, out_flags, addr_out = anc, msg_flags, addr
            got += n
            if n == 0 or not (flags & MSG_WAITALL) or self.type != SOCK_STREAM or \
                    flags & MSG_PEEK or got >= total or self.nonblocking(flags):
                break
        addr_bytes = None
        if addr_out is not None and self.type != SOCK_STREAM:
            addr_bytes = encode_inet(addr_out, self.family)
        return got, anc_out, out_flags, addr_bytes

    # --- read(2)/write(2): straight between guest frames and the host socket ------------
    def readinto(self, buffers, offset=None):
        """read() into `buffers` (writable views of guest frames, from
        sys_read_write): one host recv, no copy through the sentry."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        try:
            if len(buffers) == 1:
                return self.host.recv_into(buffers[0])    # the common case
            return self.host.recvmsg_into(buffers)[0]
        except (BlockingIOError, InterruptedError):
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN) from None
            return None                           # (the caller waits: wait_readable)
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None

    def wait_readable(self):
        """read()'s wait once readinto answered None, as _retry waits
        between tries: until the host socket is readable, SO_RCVTIMEO
        (EAGAIN) or a signal (EINTR)."""
        self.wait(current(), lambda: self._host_ready(POLLIN), POLLIN, self.rcvtimeo,
                  host_fds=[(self.host_fd, POLLIN)])

    def writefrom(self, buffers, offset=None):
        """write() of `buffers` (views of guest frames): sent from them."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if len(buffers) == 1:
            # The common case (a server's reply) in one host send; what is
            # left of a blocking stream write goes the general way.
            view = buffers[0]
            try:
                n = self.host.send(view, MSG_DONTWAIT | MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                return self.send_views(current(), buffers, 0)
            except OSError as e:
                raise SyscallError(e.errno or errno.EIO) from None
            if n == len(view) or self.type != SOCK_STREAM or self.nonblocking():
                return n
            try:
                return n + self.send_views(current(), [view[n:]], 0)
            except SyscallError:
                return n
        try:
            # writev of a header and a body (a web server's reply): one
            # host sendmsg when it all fits, as the single buffer above.
            n = self.host.sendmsg(buffers, (), MSG_DONTWAIT | MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            return self.send_views(current(), buffers, 0)
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None
        if self.type != SOCK_STREAM or self.nonblocking() or n == sum(map(len, buffers)):
            return n
        try:
            return n + self.send_views(current(), _advance(buffers, n), 0)
        except SyscallError:
            return n

    def send_views(self, task, views, flags, target=None, anc=()):
        """Send the bytes in `views` as one message (a stream socket that
        may block sends all of them, unless a signal or the timeout comes
        after some went); the count sent."""
        host, host_flags = self.host, (flags & _SEND_FLAGS) | MSG_DONTWAIT | MSG_NOSIGNAL
        total = sum(len(v) for v in views) if len(views) != 1 else len(views[0])
        sent = 0

        def send_op(views):
            if len(views) == 1 and target is None and not anc:
                view = views[0]
                return lambda: host.send(view, host_flags)
            parts, ancillary = views, list(anc)
            return (lambda: host.sendmsg(parts, ancillary, host_flags)) if target is None \
                else (lambda: host.sendmsg(parts, ancillary, host_flags, target))

        def copied():
            # About to wait: what is left is copied now, as Linux copies
            # from user memory before it waits (errors.WouldWait: views of
            # the guest's frames are held across no wait).
            nonlocal views, private
            views, private = [memoryview(b"".join(views))], True
            return send_op(views)

        private = False                 # views is our own copy (no need to copy again)
        while True:
            try:
                n = self._retry(task, flags, POLLOUT, self.sndtimeo, send_op(views),
                                None if private else copied)
            except SyscallError:
                if sent:
                    return sent
                raise
            sent += n
            anc = ()
            if self.type != SOCK_STREAM or sent >= total or self.nonblocking(flags):
                return sent
            views = _advance(views, n)

    # --- options, ioctls ---------------------------------------------------------------
    def _allowed(self, level, name):
        if name in ALLOWED.get(level, ()):
            return True
        if self.debug is not None:
            self.debug("socket option (%d, %d) refused: not on the allowlist" % (level, name))
        return False

    def setsockopt(self, task, level, name, value):
        allowed = ALLOWED.get(level)
        if allowed is None or name not in allowed:
            # (SO_RCVTIMEO and SO_SNDTIMEO are the sentry's, not the host's)
            if level == SOL_SOCKET and name in (SO_RCVTIMEO, SO_SNDTIMEO):
                return super().setsockopt(task, level, name, value)
            self._allowed(level, name)                  # (logs the refusal)
            raise SyscallError(errno.ENOPROTOOPT)
        if len(value) == 4:
            # An int (nearly every option): Python's setsockopt tries its
            # int form first, and bytes there cost a formatted TypeError.
            value = INT.unpack(value)[0]
        else:
            value = bytes(value)
        try:
            self.host.setsockopt(level, name, value)   # five a connection: no _host_call frame
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None

    def getsockopt(self, task, level, name, length):
        if level == SOL_SOCKET and name in (SO_RCVTIMEO, SO_SNDTIMEO):
            return super().getsockopt(task, level, name, length)
        if not self._allowed(level, name):
            raise SyscallError(errno.ENOPROTOOPT)
        return _host_call(self.host.getsockopt, level, name, min(max(length, 4), 1024))

    def ioctl(self, task, request, arg):
        if request in (FIONREAD, SIOCOUTQ, SIOCATMARK):
            out = _host_call(fcntl.ioctl, self.host_fd, request, bytes(4))
            task.mm.copy_out(arg, out)
            return 0
        return interfaces.ioctl(task, request, arg, self.host_fd)

    def release(self):
        self.host.close()


def create(family, sock_type, protocol, flags, debug=None):
    """A new hostinet socket; SOCK_RAW and unknown types are refused."""
    if sock_type not in (SOCK_STREAM, SOCK_DGRAM):
        raise SyscallError(errno.EPERM if sock_type == 3 else errno.ESOCKTNOSUPPORT)
    valid = {SOCK_STREAM: (0, IPPROTO_TCP), SOCK_DGRAM: (0, IPPROTO_UDP)}[sock_type]
    if protocol not in valid:
        raise SyscallError(errno.EPROTONOSUPPORT)
    if family not in (AF_INET, AF_INET6):
        raise SyscallError(errno.EAFNOSUPPORT)
    return HostSocket(family, sock_type, protocol, flags, debug=debug)
