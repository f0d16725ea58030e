"""AF_NETLINK sockets: NETLINK_ROUTE queries, answered from the network
namespace the sentry runs in, so getifaddrs(3) and `ip addr` see the
sandbox's interfaces.

Only requests that read state go to the host kernel (RTM_GET* on a host
netlink socket the sentry owns); anything that would change state gets a
NLMSG_ERROR with EPERM. Replies are rewritten to carry the guest
socket's port id (glibc matches on it) and queued as datagrams.
"""
import collections
import errno
import socket
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.net.address import AF_NETLINK, decode_netlink, encode_netlink
from kvmsentry.net.socket_file import (FIONREAD, INT, MSG_PEEK, MSG_TRUNC, POLLIN, POLLOUT,
                                       POLLRDNORM, POLLWRNORM, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET,
                                       Received, SocketFile, payload)

NETLINK_ROUTE = 0
NLMSGHDR = struct.Struct("<IHHII")              # len type flags seq pid
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP = 1, 2, 4, 0x300
SOL_NETLINK = 270
# RTM_GETLINK, GETADDR, GETROUTE, GETNEIGH, GETRULE, GETQDISC, GETNETCONF
READ_ONLY = {18, 22, 26, 30, 34, 38, 82}
HOST_TIMEOUT = 2.0
SO_RCVBUF, SO_SNDBUF, SO_PASSCRED = 8, 7, 16
SNDBUF = 212992                                 # net.core.wmem_default


def create(task, sock_type, protocol, nonblock):
    if sock_type not in (SOCK_RAW, SOCK_DGRAM):
        raise SyscallError(errno.ESOCKTNOSUPPORT)
    if protocol != NETLINK_ROUTE:
        raise SyscallError(errno.EPROTONOSUPPORT)
    return NetlinkSocket(task, sock_type, protocol, nonblock)


class NetlinkSocket(SocketFile):
    family = AF_NETLINK

    def __init__(self, task, sock_type, protocol, flags=0):
        super().__init__(sock_type, protocol, flags)
        self.kernel = task.kernel
        self.portid = 0
        self.groups = 0
        self.recvq = collections.deque()
        self.options = {}

    def _autobind(self, task):
        if self.portid:
            return
        used = self.kernel.netlink_ports
        pid = task.tgid
        while pid in used:
            pid = -4096 - len(used) if pid > 0 else pid - 1
        self.portid = pid & 0xFFFFFFFF
        used.add(self.portid)

    def bind(self, task, raw):
        pid, groups = decode_netlink(raw)
        if groups:
            raise SyscallError(errno.EPERM)       # no multicast notifications here
        if pid and not self.portid:
            if pid in self.kernel.netlink_ports:
                raise SyscallError(errno.EADDRINUSE)
            self.portid = pid
            self.kernel.netlink_ports.add(pid)
        self._autobind(task)

    def connect(self, task, raw):
        decode_netlink(raw)
        self._autobind(task)

    def getsockname(self):
        return encode_netlink(self.portid, self.groups)

    def getpeername(self):
        return encode_netlink(0)

    def shutdown(self, task, how):
        raise SyscallError(errno.EOPNOTSUPP)

    def sendmsg(self, task, data, addr, ancillary, flags):
        if addr is not None:
            pid, _ = decode_netlink(addr)
            if pid:
                raise SyscallError(errno.ECONNREFUSED)
        if len(data) > SNDBUF - 32:
            raise SyscallError(errno.EMSGSIZE)           # as netlink_sendmsg, before the copy
        data = payload(data)
        self._autobind(task)
        pos = 0
        while pos + NLMSGHDR.size <= len(data):
            length, kind, nl_flags, seq, _ = NLMSGHDR.unpack_from(data, pos)
            if length < NLMSGHDR.size or pos + length > len(data):
                break
            request = bytes(data[pos:pos + length])
            if nl_flags & NLM_F_REQUEST:
                if kind in READ_ONLY:
                    self._ask_host(request, nl_flags)
                else:
                    self._error(request, errno.EPERM)
            pos += (length + 3) & ~3
        self.notify(POLLIN | POLLRDNORM)
        return len(data)

    def _error(self, request, err):
        body = struct.pack("<i", -err) + request[:NLMSGHDR.size]
        _, _, _, seq, _ = NLMSGHDR.unpack_from(request)
        self.recvq.append(NLMSGHDR.pack(NLMSGHDR.size + len(body), NLMSG_ERROR, 0, seq,
                                        self.portid) + body)

    def _ask_host(self, request, nl_flags):
        """Pass one read-only request to the host and queue its replies."""
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as host:
            host.settimeout(HOST_TIMEOUT)
            try:
                host.sendto(request, (0, 0))
                while True:
                    reply = host.recv(1 << 16)
                    done, multi = self._queue_reply(reply)
                    if done:
                        break
                    if multi:
                        continue
                    if not nl_flags & NLM_F_ACK:      # one reply, then its ack if asked
                        break
                    nl_flags &= ~NLM_F_ACK
            except OSError as e:
                self._error(request, e.errno or errno.EIO)

    def _queue_reply(self, reply):
        """Rewrite the port id of every message; (saw DONE/ERROR, multipart)."""
        out = bytearray(reply)
        pos, done, multi = 0, False, False
        while pos + NLMSGHDR.size <= len(out):
            length, kind, flags, seq, _ = NLMSGHDR.unpack_from(out, pos)
            if length < NLMSGHDR.size:
                break
            NLMSGHDR.pack_into(out, pos, length, kind, flags, seq, self.portid)
            done |= kind in (NLMSG_DONE, NLMSG_ERROR)
            multi |= bool(flags & NLM_F_MULTI)
            pos += (length + 3) & ~3
        self.recvq.append(bytes(out))
        return done, multi

    def recvmsg(self, task, length, flags, addr_wanted=False, control_len=0):
        if not self.recvq:
            if self.nonblocking(flags):
                raise SyscallError(errno.EAGAIN)
            self.wait(task, lambda: bool(self.recvq), POLLIN, self.rcvtimeo)
        msg = self.recvq[0] if flags & MSG_PEEK else self.recvq.popleft()
        data = msg[:length]
        return Received(data, len(msg) if flags & MSG_TRUNC else len(data),
                        encode_netlink(0), None, MSG_TRUNC if len(msg) > length else 0)

    def poll_events(self):
        return (POLLIN | POLLRDNORM if self.recvq else 0) | POLLOUT | POLLWRNORM

    def setsockopt(self, task, level, name, value):
        if level in (SOL_SOCKET, SOL_NETLINK) and len(value) >= 4:
            self.options[(level, name)] = bytes(value[:4])    # buffer sizes, NETLINK_* flags
            return
        super().setsockopt(task, level, name, value)

    def getsockopt(self, task, level, name, length):
        if level == SOL_SOCKET and name in (SO_RCVBUF, SO_SNDBUF):
            return self.options.get((level, name), INT.pack(212992))
        if (level, name) in self.options:
            return self.options[(level, name)]
        return super().getsockopt(task, level, name, length)

    def ioctl(self, task, request, arg):
        if request == FIONREAD:
            task.mm.copy_out(arg, INT.pack(len(self.recvq[0]) if self.recvq else 0))
            return 0
        return super().ioctl(task, request, arg)

    def release(self):
        self.kernel.netlink_ports.discard(self.portid)
        self.recvq.clear()
