"""The texts of /proc/net/*, in Linux's formats (net/ipv4/tcp_ipv4.c,
udp.c, af_unix.c, dev.c, addrconf.c, fib_trie.c), so that netstat, ss
(which falls back to them when sock_diag is missing) and other parsers
read the sandbox's network.

Sockets are the sandbox's own, found through its processes' fd tables:
its Unix sockets are the sentry's, its inet sockets host sockets the
sentry owns, asked for their state (TCP_INFO, SO_MEMINFO, SIOCINQ/OUTQ).
Interfaces, addresses and routes come from the network namespace the
sentry runs in, through NETLINK_ROUTE dumps, as ip(8) gets them. Nothing
is read from the host's /proc. Differences from Linux: under
--network=host only the sandbox's sockets are listed, not the host's;
connections still in a listener's accept queue (held by the host kernel)
and TIME_WAIT sockets are not listed; kernel pointers print as zeros.
"""
import fcntl
import ipaddress
import socket
import struct

from kvmsentry.net.address import AF_INET, AF_INET6, AF_UNIX
from kvmsentry.net.hostinet import HostSocket
from kvmsentry.net.socket_file import FIONREAD, SIOCOUTQ, SOCK_DGRAM, SOCK_STREAM, SocketFile
from kvmsentry.net.unix import UnixSocket

TCP_LISTEN, TCP_CLOSE, TCP_ESTABLISHED = 0x0A, 0x07, 0x01
TCP_INFO, SO_MEMINFO = 11, 55
TCP_INFO_LEN = 104
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
TCP_TIMEOUT_INIT_US, TCP_INIT_CWND = 1_000_000, 10
USEC_PER_CLOCK_T = 10_000                      # USER_HZ = 100
TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
              "   uid  timeout inode")
TCP6_HEADER = ("  sl  local_address                         remote_address                   "
               "     st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode")
UDP_HEADER = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
              "   uid  timeout inode ref pointer drops")
UDP6_HEADER = ("  sl  local_address                         remote_address                   "
               "     st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref "
               "pointer drops")
UNIX_HEADER = "Num       RefCount Protocol Flags    Type St Inode Path"
DEV_HEADER = ("Inter-|   Receive                                                |  Transmit\n"
              " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
              "packets errs drop fifo colls carrier compressed")
ROUTE_HEADER = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU"
                "\tWindow\tIRTT")
POINTER = "0000000000000000"
SO_ACCEPTCON = 1 << 16
SS_UNCONNECTED, SS_CONNECTING, SS_CONNECTED = 1, 2, 3


# --- the sandbox's sockets -----------------------------------------------------------
def sandbox_sockets(kernel):
    """Every socket some process of the sandbox has open (each once), and
    the connections waiting in its Unix listeners' accept queues."""
    seen = {}
    for task in list(kernel.tasks.values()):
        fds = getattr(task, "fds", None)
        if fds is None:
            continue
        for fd in fds.fds():
            try:
                f = fds.get(fd)
            except Exception:                         # closed while we looked
                continue
            if isinstance(f, SocketFile):
                seen.setdefault(id(f), f)
    for f in list(seen.values()):
        if isinstance(f, UnixSocket) and f.listening:
            for waiting in f.backlog:
                seen.setdefault(id(waiting), waiting)
    return list(seen.values())


def _inet(kernel, family, sock_type):
    return [s for s in sandbox_sockets(kernel)
            if isinstance(s, HostSocket) and s.family == family and s.type == sock_type]


def _hex_addr(family, addr):
    """Linux's %08X of a __be32 (or four of them): host-order words."""
    packed = socket.inet_pton(family, addr[0])
    words = struct.unpack("<%dI" % (len(packed) // 4), packed)
    return "".join("%08X" % w for w in words) + ":%04X" % addr[1]


def _names(s):
    """(local, remote) (host, port) pairs, zeros where there is none."""
    zero = ("0.0.0.0", 0) if s.family == AF_INET else ("::", 0)
    try:
        local = s.host.getsockname()[:2]
    except OSError:
        local = zero
    try:
        remote = s.host.getpeername()[:2]
    except OSError:
        remote = zero
    return local, remote


def _ioctl_int(s, request):
    try:
        return struct.unpack("<i", fcntl.ioctl(s.host_fd, request, bytes(4)))[0]
    except OSError:
        return 0


def _uid(s):
    return getattr(s, "owner_uid", 0)


def tcp(kernel, family):
    rows = []
    for s in _inet(kernel, family, SOCK_STREAM):
        try:
            info = s.host.getsockopt(socket.IPPROTO_TCP, TCP_INFO, TCP_INFO_LEN)
        except OSError:
            continue
        state, _, retransmits, probes = info[0], info[1], info[2], info[3]
        if state == TCP_CLOSE:
            continue                              # not hashed: Linux does not list it
        rto, ato, _, _, unacked = struct.unpack_from("<5I", info, 8)
        ssthresh, cwnd = struct.unpack_from("<2I", info, 76)
        local, remote = _names(s)
        if state == TCP_LISTEN:
            # TCP_INFO stops early for a listener: unacked is its accept
            # queue's length; rto and cwnd are still the initial ones.
            tx, rx, ref, last = 0, unacked, 1, 0
            rto, ato, cwnd = TCP_TIMEOUT_INIT_US, 0, TCP_INIT_CWND
        else:
            tx, rx, ref = _ioctl_int(s, SIOCOUTQ), _ioctl_int(s, FIONREAD), 2
            last = -1 if ssthresh >= TCP_INFINITE_SSTHRESH else ssthresh
        rows.append("%s %02X %08X:%08X 00:00000000 %08X %5u %8d %d %d %s %d %d %d %d %d"
                    % (_hex_addr(family, local) + " " + _hex_addr(family, remote), state,
                       tx, rx, retransmits, _uid(s), probes, s.ino, ref, POINTER,
                       rto // USEC_PER_CLOCK_T, ato // USEC_PER_CLOCK_T, 0, cwnd, last))
    return _table(TCP_HEADER if family == AF_INET else TCP6_HEADER, rows,
                  "%4d: ", 149 if family == AF_INET else 0)


def udp(kernel, family):
    rows = []
    for s in _inet(kernel, family, SOCK_DGRAM):
        local, remote = _names(s)
        if local[1] == 0:
            continue                              # never bound: not hashed
        try:
            meminfo = struct.unpack("<9I", s.host.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36))
        except OSError:
            meminfo = (0,) * 9
        rmem, wmem, drops = meminfo[0], meminfo[2], meminfo[8]
        state = TCP_ESTABLISHED if remote[1] else TCP_CLOSE
        rows.append("%s %02X %08X:%08X 00:00000000 00000000 %5u %8d %d 2 %s %u"
                    % (_hex_addr(family, local) + " " + _hex_addr(family, remote), state,
                       wmem, rmem, _uid(s), 0, s.ino, POINTER, drops))
    return _table(UDP_HEADER if family == AF_INET else UDP6_HEADER, rows,
                  "%5d: ", 127 if family == AF_INET else 0)


def _table(header, rows, prefix, width):
    """Header and numbered rows; IPv4 tables pad each line to `width`."""
    lines = [header] + [(prefix % i) + row for i, row in enumerate(rows)]
    if width:
        lines = [line.ljust(width) for line in lines]
    return ("\n".join(lines) + "\n").encode()


def _unix_name(s):
    name = s.name if isinstance(s, UnixSocket) else getattr(s, "guest_name", None)
    if name is None:
        return b""
    if name.abstract is not None:
        return b" @" + name.abstract.replace(b"\0", b"@")
    return b" " + name.path


def unix(kernel):
    socks = sandbox_sockets(kernel)
    waiting = {id(w) for s in socks if isinstance(s, UnixSocket) and s.listening
               for w in s.backlog}
    lines = [UNIX_HEADER.encode()]
    for s in socks:
        if isinstance(s, UnixSocket):
            listening, connected = s.listening, s.connected or s.peer is not None
        elif isinstance(s, HostSocket) and s.family == AF_UNIX:     # --host-uds
            listening = s.host.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            connected = not listening and (getattr(s, "peer_name", None) is not None
                                           or getattr(s, "guest_name", None) is None)
        else:
            continue
        state = SS_CONNECTED if connected and not listening else SS_UNCONNECTED
        if id(s) in waiting:
            state = SS_CONNECTING                 # accepted by no one yet
        lines.append(b"%s: %08X 00000000 %08X %04X %02X %5d%s"
                     % (POINTER.encode(), 2 if state == SS_UNCONNECTED else 3,
                        SO_ACCEPTCON if listening else 0, s.type, state,
                        0 if state == SS_CONNECTING else s.ino, _unix_name(s)))
    return b"\n".join(lines) + b"\n"


# --- the namespace's interfaces, addresses and routes (NETLINK_ROUTE dumps) ----------
NLMSGHDR = struct.Struct("<IHHII")
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 18, 22, 26
IFLA_IFNAME, IFLA_STATS64 = 3, 23
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_METRICS, RTA_TABLE = 1, 4, 5, 6, 8, 15
RTAX_WINDOW, RTAX_RTT, RTAX_ADVMSS = 3, 4, 8
RT_TABLE_MAIN = 254
RTN_UNICAST, RTN_BROADCAST, RTN_MULTICAST, RTN_UNREACHABLE, RTN_PROHIBIT = 1, 3, 5, 7, 8
RTF_UP, RTF_GATEWAY, RTF_HOST, RTF_REJECT = 0x1, 0x2, 0x4, 0x200
# rtnetlink scope -> the IPV6_ADDR_* scope bits /proc/net/if_inet6 prints
IPV6_SCOPE = {0: 0x00, 200: 0x40, 253: 0x20, 254: 0x10}


def _dump(kind, header):
    """(payload of each message) of one NETLINK_ROUTE dump."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0) as nl:
        nl.settimeout(2.0)
        nl.sendto(NLMSGHDR.pack(NLMSGHDR.size + len(header), kind,
                                NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + header, (0, 0))
        out = []
        while True:
            data = nl.recv(1 << 16)
            pos = 0
            while pos + NLMSGHDR.size <= len(data):
                length, mtype, _, _, _ = NLMSGHDR.unpack_from(data, pos)
                if length < NLMSGHDR.size or mtype in (NLMSG_DONE, NLMSG_ERROR):
                    return out
                out.append(data[pos + NLMSGHDR.size:pos + length])
                pos += (length + 3) & ~3


def _attrs(data, pos):
    """{type: payload} of the rtattrs from pos on."""
    attrs = {}
    while pos + 4 <= len(data):
        length, kind = struct.unpack_from("<HH", data, pos)
        if length < 4:
            break
        attrs[kind & 0x3FFF] = data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return attrs


def _links():
    """[(ifindex, name, stats64 tuple)] in ifindex order."""
    links = []
    for msg in _dump(RTM_GETLINK, struct.pack("<BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)):
        index = struct.unpack_from("<i", msg, 4)[0]
        attrs = _attrs(msg, 16)
        name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0")
        raw = attrs.get(IFLA_STATS64, b"")
        count = min(len(raw) // 8, 24)
        stats = struct.unpack_from("<%dQ" % count, raw) + (0,) * (24 - count)
        links.append((index, name, stats))
    return sorted(links)


def dev(kernel):
    lines = [DEV_HEADER.encode()]
    for _, name, s in _links():
        # rtnl_link_stats64: rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors
        # rx_dropped tx_dropped multicast collisions rx_length rx_over rx_crc rx_frame
        # rx_fifo rx_missed tx_aborted tx_carrier tx_fifo tx_heartbeat tx_window
        # rx_compressed tx_compressed rx_nohandler
        fields = (s[2], s[0], s[4], s[6] + s[15], s[14], s[10] + s[11] + s[12] + s[13],
                  s[21], s[8], s[3], s[1], s[5], s[7], s[18], s[9],
                  s[17] + s[16] + s[20] + s[19], s[22])
        lines.append(b"%6s:%8d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d"
                     % ((name,) + fields))
    return b"\n".join(lines) + b"\n"


def if_inet6(kernel):
    names = {index: name for index, name, _ in _links()}
    lines = []
    for msg in _dump(RTM_GETADDR, struct.pack("<BBBBi", socket.AF_INET6, 0, 0, 0, 0)):
        _, prefix, flags, scope, index = struct.unpack_from("<BBBBi", msg)
        attrs = _attrs(msg, 8)
        addr = attrs.get(IFA_ADDRESS) or attrs.get(IFA_LOCAL)
        if addr is None or len(addr) != 16:
            continue
        if IFA_FLAGS in attrs:
            flags = struct.unpack_from("<I", attrs[IFA_FLAGS])[0]
        lines.append(b"%s %02x %02x %02x %02x %8s" % (addr.hex().encode(), index, prefix,
                                                      IPV6_SCOPE.get(scope, scope),
                                                      flags & 0xFF, names.get(index, b"?")))
    return b"".join(line + b"\n" for line in lines)


def route(kernel):
    names = {index: name for index, name, _ in _links()}
    lines = [ROUTE_HEADER.ljust(127).encode()]
    for msg in _dump(RTM_GETROUTE, struct.pack("<BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0,
                                               0, 0, 0)):
        _, dst_len, _, _, table, _, _, rtype, _ = struct.unpack_from("<BBBBBBBBI", msg)
        attrs = _attrs(msg, 12)
        if RTA_TABLE in attrs:
            table = struct.unpack_from("<I", attrs[RTA_TABLE])[0]
        if table != RT_TABLE_MAIN or rtype in (RTN_BROADCAST, RTN_MULTICAST):
            continue
        le32 = lambda b: struct.unpack("<I", b)[0] if b and len(b) == 4 else 0   # noqa: E731
        dst, gw = le32(attrs.get(RTA_DST)), le32(attrs.get(RTA_GATEWAY))
        mask = le32(int(ipaddress.IPv4Network("0.0.0.0/%d" % dst_len).netmask).to_bytes(4, "big"))
        flags = RTF_UP | (RTF_REJECT if rtype in (RTN_UNREACHABLE, RTN_PROHIBIT) else 0)
        flags |= (RTF_GATEWAY if gw else 0) | (RTF_HOST if dst_len == 32 else 0)
        oif = struct.unpack_from("<i", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
        metric = struct.unpack_from("<I", attrs[RTA_PRIORITY])[0] if RTA_PRIORITY in attrs else 0
        metrics = _attrs(attrs.get(RTA_METRICS, b""), 0)
        m = {k: struct.unpack_from("<I", v)[0] for k, v in metrics.items() if len(v) >= 4}
        mtu = m[RTAX_ADVMSS] + 40 if m.get(RTAX_ADVMSS) else 0
        row = "%s\t%08X\t%08X\t%04X\t%d\t%u\t%d\t%08X\t%d\t%u\t%u" % (
            names.get(oif, b"*").decode(errors="replace"), dst, gw, flags, 0, 0, metric, mask,
            mtu, m.get(RTAX_WINDOW, 0), m.get(RTAX_RTT, 0) >> 3)
        lines.append(row.ljust(127).encode())
    return b"\n".join(lines) + b"\n"


FILES = {
    b"tcp": lambda k: tcp(k, AF_INET), b"tcp6": lambda k: tcp(k, AF_INET6),
    b"udp": lambda k: udp(k, AF_INET), b"udp6": lambda k: udp(k, AF_INET6),
    b"unix": unix, b"dev": dev, b"if_inet6": if_inet6, b"route": route,
}
