"""The open file every socket is: what the socket syscalls call, and
read/write/fstat/poll through the ordinary File interface.

A socket is a waitable object: `queue` is notified with the poll events
that became true, and blocking calls sleep in waiter.block_until(). The
sentry serializes socket state under the kernel lock (handlers run with
it held; block_until drops it only while sleeping).
"""
import errno
import itertools
import stat as st
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fd_table import _unref as drop_file
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.waiter import Queue, block_until, deadline_after
from kvmsentry.vfs.file import O_NONBLOCK, File
from kvmsentry.vfs.inode import Stat

SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET, SOCK_PACKET = 1, 2, 3, 4, 5, 10
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
SOL_SOCKET = 1
SO_DEBUG, SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_DONTROUTE, SO_BROADCAST = 1, 2, 3, 4, 5, 6
SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE, SO_OOBINLINE, SO_NO_CHECK, SO_PRIORITY = 7, 8, 9, 10, 11, 12
SO_LINGER, SO_BSDCOMPAT, SO_REUSEPORT, SO_PASSCRED, SO_PEERCRED = 13, 14, 15, 16, 17
SO_RCVLOWAT, SO_SNDLOWAT, SO_RCVTIMEO, SO_SNDTIMEO = 18, 19, 20, 21
SO_ACCEPTCONN, SO_PEERSEC, SO_SNDBUFFORCE, SO_RCVBUFFORCE = 30, 31, 32, 33
SO_PROTOCOL, SO_DOMAIN, SO_PASSSEC = 38, 39, 34
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
MSG_OOB, MSG_PEEK, MSG_DONTROUTE, MSG_CTRUNC, MSG_TRUNC = 0x1, 0x2, 0x4, 0x8, 0x20
MSG_DONTWAIT, MSG_EOR, MSG_WAITALL, MSG_NOSIGNAL, MSG_MORE = 0x40, 0x80, 0x100, 0x4000, 0x8000
MSG_ERRQUEUE, MSG_CMSG_CLOEXEC = 0x2000, 0x40000000
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND, POLLRDHUP = 0x40, 0x80, 0x100, 0x200, 0x2000
READ_EVENTS = POLLIN | POLLRDNORM | POLLRDHUP | POLLHUP | POLLERR
WRITE_EVENTS = POLLOUT | POLLWRNORM | POLLWRBAND | POLLHUP | POLLERR
SOCKFS_DEV = 0x8              # sockfs's anonymous device number
FIONREAD, SIOCINQ, SIOCOUTQ = 0x541B, 0x541B, 0x5411
INT = struct.Struct("<i")

_inos = itertools.count(1000)


class Ancillary:
    """Control data of one message, decoded: SCM_RIGHTS files (each
    holding a reference while in flight), SCM_CREDENTIALS (pid, uid, gid),
    and raw (level, type, data) triples for host sockets."""

    __slots__ = ("files", "creds", "raw")

    def __init__(self, files=None, creds=None, raw=None):
        self.files = files or []
        self.creds = creds
        self.raw = raw or []


class Received:
    """What recvmsg hands back to the syscall layer."""

    __slots__ = ("data", "length", "addr", "ancillary", "flags", "faulted")

    def __init__(self, data, length=None, addr=None, ancillary=None, flags=0, faulted=False):
        self.data = data
        self.length = len(data) if length is None else length   # the return value
        self.addr = addr                  # sockaddr bytes, or None
        self.ancillary = ancillary        # Ancillary or None
        self.flags = flags                # msg_flags
        # A receive into a buffer writable only in part (recvmsg's
        # `mapped`): data is all that reached the buffer, the first bytes
        # of the message whose copy faulted too; faulted when that was
        # the first, and the call fails with EFAULT.
        self.faulted = faulted


class GuestData:
    """A send's bytes still in guest memory, copied in only as a socket
    takes them: a 2 GiB send into a Unix socket with room for 200 KiB must
    not cost the sentry 2 GiB (Linux copies each skb as it is made).
    len() is what was asked; take() raises EFAULT where the copy faults."""
    __slots__ = ("mm", "vecs", "total")

    def __init__(self, mm, vecs):
        self.mm = mm
        self.vecs = vecs                    # [(addr, len)], within MAX_RW_COUNT
        self.total = sum(n for _, n in vecs)

    def __len__(self):
        return self.total

    def take(self, start, n):
        """The bytes [start, start + n) of the buffers."""
        if len(self.vecs) == 1:
            return self.mm.copy_in(self.vecs[0][0] + start, n) if n else b""
        parts, pos, end = [], 0, start + n
        for addr, length in self.vecs:
            lo, hi = max(start, pos), min(end, pos + length)
            if lo < hi:
                parts.append(self.mm.copy_in(addr + lo - pos, hi - lo))
            pos += length
            if pos >= end:
                break
        return b"".join(parts)


def payload(data):
    """The bytes of a send's data (bytes, views or GuestData)."""
    if type(data) is GuestData:
        return data.take(0, data.total)
    return bytes(data)


def data_of(got):
    """The bytes of a receive by read(2), which has no room for the files
    a message passed: they are closed, as Linux's scm_destroy drops them."""
    if got.ancillary is not None:
        for f in got.ancillary.files:
            drop_file(f)
        got.ancillary.files = []
    return got.data


def int_opt(value):
    """An int option value as setsockopt(2) reads it (EINVAL if short)."""
    if len(value) < 4:
        raise SyscallError(errno.EINVAL)
    return INT.unpack_from(value)[0]


def timeval_ns(value):
    """SO_RCVTIMEO/SO_SNDTIMEO: a struct timeval; 0 means no timeout."""
    if len(value) < 16:
        raise SyscallError(errno.EINVAL)
    sec, usec = struct.unpack_from("<qq", value)
    if not 0 <= usec < 1_000_000:
        raise SyscallError(errno.EDOM)
    if sec < 0:
        return 0
    return sec * 1_000_000_000 + usec * 1000 or None


class SocketFile(File):
    """Base socket. Subclasses implement the calls their family has;
    the rest answer as Linux's sock_no_* do."""

    family = 0

    def __init__(self, sock_type, protocol, flags=0):
        super().__init__(0o2 | (flags & O_NONBLOCK))          # O_RDWR
        self.type = sock_type
        self.protocol = protocol
        self.queue = Queue()
        self.rcvtimeo = self.sndtimeo = None      # ns, None: block forever
        self.ino = next(_inos)
        self.ctime_ns = time.time_ns()             # vfs.inode.now_ns without its frame
        creator = current()                        # the socket inode's owner (/proc/net)
        self.owner_uid = creator.creds.fsuid if creator is not None else 0

    # --- the File interface ------------------------------------------------------
    def read(self, length, offset=None):
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        if length == 0:
            return b""                 # sock_read_iter: an empty read is done at once
        return data_of(self.recvmsg(current(), length, 0))

    def write(self, data, offset=None):
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        return self.sendmsg(current(), data, None, None, 0)

    perm = 0o777          # the sockfs inode's bits: fchmod changes them, bind uses them

    def stat(self):
        t = self.ctime_ns
        return Stat(dev=SOCKFS_DEV, ino=self.ino, mode=st.S_IFSOCK | self.perm, nlink=1,
                    blksize=4096, atime_ns=t, mtime_ns=t, ctime_ns=t)

    def readiness(self):
        mask = self.poll_events()
        return bool(mask & (POLLIN | POLLHUP | POLLERR)), bool(mask & (POLLOUT | POLLERR))

    def poll_events(self):
        return 0

    # --- blocking ---------------------------------------------------------------
    def nonblocking(self, flags=0):
        return bool(self.flags & O_NONBLOCK or flags & MSG_DONTWAIT)

    def wait(self, task, check, events, timeout_ns=None, host_fds=()):
        """Block until check() is true (returned), the socket timeout
        passes (EAGAIN), or a signal (EINTR)."""
        result = block_until(task, check, [(self.queue, events | POLLERR | POLLHUP)],
                             host_fds, deadline_after(timeout_ns))
        if not result:
            raise SyscallError(errno.EAGAIN)
        return result

    def notify(self, mask):
        self.queue.notify(mask)

    # --- socket calls (sock_no_*) ------------------------------------------------
    def bind(self, task, raw):
        raise SyscallError(errno.EOPNOTSUPP)

    def listen(self, task, backlog):
        raise SyscallError(errno.EOPNOTSUPP)

    def accept(self, task, flags):
        raise SyscallError(errno.EOPNOTSUPP)

    def connect(self, task, raw):
        raise SyscallError(errno.EOPNOTSUPP)

    def shutdown(self, task, how):
        raise SyscallError(errno.EOPNOTSUPP)

    def getsockname(self):
        raise SyscallError(errno.EOPNOTSUPP)

    def getpeername(self):
        raise SyscallError(errno.ENOTCONN)

    def sendmsg(self, task, data, addr, ancillary, flags):
        raise SyscallError(errno.EOPNOTSUPP)

    def recvmsg(self, task, length, flags, addr_wanted=False, control_len=0):
        raise SyscallError(errno.EOPNOTSUPP)

    def setsockopt(self, task, level, name, value):
        if level == SOL_SOCKET and name in (SO_RCVTIMEO, SO_SNDTIMEO):
            ns = timeval_ns(value)
            if name == SO_RCVTIMEO:
                self.rcvtimeo = ns
            else:
                self.sndtimeo = ns
            return
        raise SyscallError(errno.ENOPROTOOPT)

    def getsockopt(self, task, level, name, length):
        if level == SOL_SOCKET:
            if name == SO_TYPE:
                return INT.pack(self.type)
            if name == SO_DOMAIN:
                return INT.pack(self.family)
            if name == SO_PROTOCOL:
                return INT.pack(self.protocol)
            if name in (SO_RCVTIMEO, SO_SNDTIMEO):
                ns = self.rcvtimeo if name == SO_RCVTIMEO else self.sndtimeo
                ns = ns or 0
                return struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000 // 1000)
        raise SyscallError(errno.ENOPROTOOPT)

    def ioctl(self, task, request, arg):
        from kvmsentry.net import interfaces
        return interfaces.ioctl(task, request, arg)
