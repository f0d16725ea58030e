"""Network interface ioctls (struct ifreq, SIOCGIFCONF), which Linux
answers on a socket of any family: read-only queries, passed to a host
socket in the network namespace the sentry runs in."""
import errno
import fcntl
import socket
import struct

from kvmsentry.errors import SyscallError

SIOCGIFCONF = 0x8912
SIOCGIFADDR = 0x8915
IFREQ_GETS = {0x8913: "SIOCGIFFLAGS", 0x8915: "SIOCGIFADDR", 0x8919: "SIOCGIFBRDADDR",
              0x891B: "SIOCGIFNETMASK", 0x8921: "SIOCGIFMTU", 0x8927: "SIOCGIFHWADDR",
              0x8933: "SIOCGIFINDEX", 0x8910: "SIOCGIFNAME", 0x8942: "SIOCGIFTXQLEN"}
IFREQ_SIZE = 40


def _host_ioctl(host_fd, request, data):
    if host_fd is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            return _host_ioctl(s.fileno(), request, data)
    try:
        return fcntl.ioctl(host_fd, request, data)
    except OSError as e:
        raise SyscallError(e.errno or errno.EIO) from None


def ioctl(task, request, arg, host_fd=None):
    if request in IFREQ_GETS:
        ifreq = task.mm.copy_in(arg, IFREQ_SIZE)
        task.mm.copy_out(arg, _host_ioctl(host_fd, request, bytes(ifreq)))
        return 0
    if request == SIOCGIFCONF:
        return _ifconf(task, arg)
    raise SyscallError(errno.ENOTTY)


def _ifconf(task, arg):
    length, buf = struct.unpack("<i4xQ", task.mm.copy_in(arg, 16))
    records = []
    for _, name in socket.if_nameindex():
        req = struct.pack("16s24x", name.encode()[:15])
        try:
            # Linux lists the IPv4 addresses whatever the socket's family:
            # ask an AF_INET socket (an AF_INET6 one has no IPv4 address).
            records.append(_host_ioctl(None, SIOCGIFADDR, req))
        except SyscallError:
            continue                              # no IPv4 address: not listed
    if not buf:
        task.mm.copy_out(arg, struct.pack("<i", len(records) * IFREQ_SIZE))
        return 0
    fit = records[:max(length, 0) // IFREQ_SIZE]
    if fit:
        task.mm.copy_out(buf, b"".join(fit))
    task.mm.copy_out(arg, struct.pack("<i", len(fit) * IFREQ_SIZE))
    return 0
