"""Unix domain sockets, served entirely by the sentry.

A UnixSocket is one end. Connection-based sockets (SOCK_STREAM,
SOCK_SEQPACKET) are joined to a peer; a datagram socket may name a
default destination. Data travels as Message objects appended to the
receiver's queue and charged to the sender's send buffer until read
(the sender blocks, or gets EAGAIN, while its charge exceeds SO_SNDBUF).
SCM_RIGHTS files ride in a Message holding an fd-table reference each, so
the sender may close its fds before the receiver reads.

State is guarded by the kernel lock (see socket_file.py); every change
notifies the affected sockets' queues.
"""
import collections
import errno
import struct

from kvmsentry.errors import QuietEpipe, SyscallError
from kvmsentry.kernel.creds import CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN
from kvmsentry.kernel.fd_table import _ref as hold_file, _unref as drop_file
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.waiter import block_until, deadline_after
from kvmsentry.net import unix_names
from kvmsentry.net.address import AF_UNIX, UNNAMED_UNIX, UnixName, decode_unix, family_of
from kvmsentry.net.socket_file import (
    FIONREAD, INT, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, POLLERR, POLLHUP, POLLIN, POLLOUT,
    POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM, SIOCOUTQ, SO_ACCEPTCONN, SO_ERROR,
    SO_PASSCRED, SO_PEERCRED, SO_RCVBUF, SO_RCVBUFFORCE, SO_SNDBUF, SO_SNDBUFFORCE,
    SOCK_DGRAM, SOCK_NONBLOCK, SOCK_SEQPACKET, SOCK_STREAM, SOL_SOCKET, Ancillary, Received,
    GuestData, SocketFile, data_of, int_opt, payload)

RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK = 1, 2, 3
WMEM_DEFAULT = 212992                 # net.core.wmem_default / rmem_default
WMEM_MAX = 212992                     # the default net.core.wmem_max / rmem_max
SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF = 4608, 2304
MAX_DGRAM_QLEN = 10                   # net.unix.max_dgram_qlen
SOMAXCONN = 4096
MESSAGE_OVERHEAD = 512                # what one message costs besides its bytes
# The most one stream message carries, besides half the send buffer:
# unix_stream_sendmsg's SKB_MAX_HEAD(0) + UNIX_SKB_FRAGS_SZ on x86-64.
STREAM_MESSAGE_MAX = 3776 + 32768
ALL_MAPPED = 1 << 63                  # recvmsg's `mapped` when no copy faults
OVERFLOW_ID = 65534
NO_ID = 0xFFFFFFFF
ALL = 0xFFFF
# Options kept and reported back but with no effect on a Unix socket:
# flags (stored as 0/1: REUSEADDR DONTROUTE BROADCAST KEEPALIVE OOBINLINE
# NO_CHECK), and SO_PRIORITY as given.
_FLAG_OPTIONS = {2, 5, 6, 9, 10, 11}
SO_PRIORITY, SO_REUSEPORT, SO_RCVLOWAT, SO_SNDLOWAT = 12, 15, 18, 19
INT_MAX = 0x7FFFFFFF
SO_LINGER = 13


def creds_of(task):
    """(pid, uid, gid) as SCM_CREDENTIALS and SO_PEERCRED report a task."""
    return task.tgid, task.creds.euid, task.creds.egid


# What a message carries when nobody asked for credentials as it was sent
# (neither end had SO_PASSCRED): no pid, and ids that map to the overflow ids.
NO_CREDS = (0, OVERFLOW_ID, OVERFLOW_ID)


def check_creds(task, creds):
    """Whether task may claim creds in SCM_CREDENTIALS (scm_check_creds),
    then whether the pid exists (__scm_send's ESRCH)."""
    pid, uid, gid = creds
    c = task.creds
    if pid != task.tgid and not c.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if uid not in (c.uid, c.euid, c.suid) and not c.capable(CAP_SETUID):
        raise SyscallError(errno.EPERM)
    if gid not in (c.gid, c.egid, c.sgid) and not c.capable(CAP_SETGID):
        raise SyscallError(errno.EPERM)
    kernel = task.kernel
    if pid not in kernel.tasks and pid not in kernel.tree.groups:
        raise SyscallError(errno.ESRCH)


def _held(files):
    """The files of a peeked message, with references of the reader's own
    (the message keeps its)."""
    for f in files:
        hold_file(f)
    return list(files)


class Message:
    __slots__ = ("data", "sender", "creds", "files", "charge")

    def __init__(self, data, sender, creds, files):
        self.data = data
        self.sender = sender
        self.creds = creds
        self.files = files
        self.charge = len(data) + MESSAGE_OVERHEAD

    @property
    def addr(self):
        """The sender's name when read, not when sent (unix_copy_addr reads
        the sending socket's address at recvmsg time)."""
        name = self.sender.name
        return name.encode() if name is not None else None


class UnixSocket(SocketFile):
    family = AF_UNIX

    def __init__(self, names, sock_type, flags=0):
        if sock_type not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
            raise SyscallError(errno.ESOCKTNOSUPPORT)
        super().__init__(sock_type, 0, flags)
        self.names = names
        self.name = None                   # UnixName once bound
        self.node = None                   # the socket inode of a path name
        self.peer = None
        self.connected = False
        self.listening = False
        self.backlog = collections.deque()
        self.max_backlog = 0
        self.recvq = collections.deque()
        self.wmem = 0                      # charge of my messages still queued somewhere
        self.sndbuf = self.rcvbuf = WMEM_DEFAULT
        self.shut = 0
        self.err = 0
        self.passcred = False
        self.peercred = None
        self.options = {}
        self.closed = False

    @property
    def connection_based(self):
        return self.type != SOCK_DGRAM

    # --- naming -----------------------------------------------------------------------
    def bind(self, task, raw):
        name = decode_unix(raw)
        if self.name is not None:
            if name is not None and name.path is not None:
                unix_names.check_free(task, name.path)   # Linux creates the node first
            raise SyscallError(errno.EINVAL)
        if name is None:
            self._autobind()
        elif name.abstract is not None:
            self.names.bind_abstract(name.abstract, self)
            self.name = name
        else:
            self.node = unix_names.bind_path(task, name.path, self)
            if self.node is None:
                return                            # now a host socket (--host-uds)
            self.name = name

    def _autobind(self):
        name = self.names.autobind_name()
        self.names.bind_abstract(name, self)
        self.name = UnixName(abstract=name)

    def _find(self, task, raw):
        name = decode_unix(raw)
        if name is None:
            raise SyscallError(errno.EINVAL)
        if name.abstract is not None:
            # Abstract names are looked up per socket type (Linux hashes the
            # type in): another type's socket is no socket at all.
            other = self.names.abstract.get(name.abstract)
            if other is None or other.type != self.type:
                raise SyscallError(errno.ECONNREFUSED)
        else:
            other = unix_names.lookup_path(task, name.path)
        if other.type != self.type:
            raise SyscallError(errno.EPROTOTYPE)
        return other

    def getsockname(self):
        return self.name.encode() if self.name is not None else UNNAMED_UNIX

    def getpeername(self):
        peer = self.peer
        if peer is None or (self.connection_based and not self.connected):
            raise SyscallError(errno.ENOTCONN)
        return peer.name.encode() if peer.name is not None else UNNAMED_UNIX

    # --- connections --------------------------------------------------------------------
    def listen(self, task, backlog):
        if not self.connection_based:
            raise SyscallError(errno.EOPNOTSUPP)
        if self.name is None or self.connected:
            raise SyscallError(errno.EINVAL)
        backlog &= 0xFFFFFFFF
        self.max_backlog = min(backlog, SOMAXCONN)
        if not self.listening:
            self.peercred = creds_of(task)
        self.listening = True
        self.notify(ALL)

    def connect(self, task, raw):
        if family_of(raw) != AF_UNIX:
            if self.type == SOCK_DGRAM and family_of(raw) == 0:     # AF_UNSPEC: disconnect
                self.peer = None
                return
            raise SyscallError(errno.EINVAL)
        name = decode_unix(raw)
        if name is not None and name.path is not None and self.name is None and \
                unix_names.connect_host_path(task, self, name):
            return                                # now a host socket (--host-uds)
        if not self.connection_based:
            other = self._find(task, raw)
            if self.passcred and self.name is None:
                self._autobind()
            self.peer = other
            return
        if self.listening:
            raise SyscallError(errno.EINVAL)
        if self.connected:
            raise SyscallError(errno.EISCONN)
        if self.passcred and self.name is None:
            self._autobind()

        def room():
            other = self._find(task, raw)
            if not other.listening or other.closed:
                raise SyscallError(errno.ECONNREFUSED)
            return other if len(other.backlog) <= other.max_backlog else None
        other = room()
        if other is None:
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            other = block_on(task, other_queue(self._find(task, raw)), room, self.sndtimeo)
        server = UnixSocket(self.names, self.type)
        server.name = other.name
        server.sndbuf, server.rcvbuf = other.sndbuf, other.rcvbuf
        server.passcred = other.passcred
        server.peercred = creds_of(task)
        server.peer, server.connected = self, True
        self.peer, self.connected = server, True
        self.peercred = other.peercred
        other.backlog.append(server)
        other.notify(ALL)
        self.notify(ALL)

    def accept(self, task, flags):
        if not self.listening:
            raise SyscallError(errno.EINVAL)
        if not self.backlog:
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            self.wait(task, lambda: bool(self.backlog), POLLIN, self.rcvtimeo)
        server = self.backlog.popleft()
        server.flags |= flags & SOCK_NONBLOCK
        self.notify(ALL)                      # room for a blocked connect
        peer = server.peer
        addr = peer.name.encode() if peer is not None and peer.name is not None else UNNAMED_UNIX
        return server, addr

    def shutdown(self, task, how):
        if how not in (0, 1, 2):
            raise SyscallError(errno.EINVAL)
        mode = (how + 1) & SHUTDOWN_MASK      # SHUT_RD -> RCV, SHUT_WR -> SEND, both
        self.shut |= mode
        peer = self.peer
        if peer is not None and self.connection_based:
            peer_mode = (RCV_SHUTDOWN if mode & SEND_SHUTDOWN else 0) | \
                (SEND_SHUTDOWN if mode & RCV_SHUTDOWN else 0)
            peer.shut |= peer_mode
            peer.notify(ALL)
        self.notify(ALL)

    # --- data -------------------------------------------------------------------------------
    def _target(self, task, addr):
        """The socket a message goes to, or an errno."""
        if self.connection_based:
            if addr is not None:                  # only SOCK_STREAM keeps one here
                raise SyscallError(errno.EISCONN if self.connected else errno.EOPNOTSUPP)
            if not self.connected:
                raise SyscallError(errno.ENOTCONN)
            if self.shut & SEND_SHUTDOWN:
                raise self._epipe()
            peer = self.peer
            if peer.closed or peer.shut & RCV_SHUTDOWN:
                raise self._epipe()
            return peer
        if self.shut & SEND_SHUTDOWN:
            raise self._epipe()
        if addr is not None:
            other = self._find(task, addr)
        elif self.peer is not None:
            other = self.peer
        else:
            raise SyscallError(errno.ENOTCONN)
        if other.closed:
            if other is self.peer:
                self.peer = None
            raise SyscallError(errno.ECONNREFUSED)
        if other.peer is not None and other.peer is not self:
            raise SyscallError(errno.EPERM)
        if other.shut & RCV_SHUTDOWN:
            raise self._epipe()
        return other

    def _epipe(self):
        """Only a stream socket's EPIPE raises SIGPIPE (unix_stream_sendmsg)."""
        return SyscallError(errno.EPIPE) if self.type == SOCK_STREAM else QuietEpipe()

    def _creds(self, task, ancillary, other):
        """The credentials a message carries: those given, else the
        sender's when either end has SO_PASSCRED now (maybe_add_creds)."""
        if ancillary is not None and ancillary.creds is not None:
            check_creds(task, ancillary.creds)
            return ancillary.creds
        if self.passcred or other.passcred:
            return creds_of(task)
        return NO_CREDS

    def _room(self, other):
        if self.wmem >= self.sndbuf:
            return False
        if not self.connection_based and other.peer is not self and \
                len(other.recvq) > MAX_DGRAM_QLEN:
            return False
        return True

    def sendmsg(self, task, data, addr, ancillary, flags, total=None):
        """total: the size of the caller's buffer when data is only its
        readable first part (the copy of the rest faults)."""
        if self.type == SOCK_STREAM:
            return self._send_stream(task, data, addr, ancillary, flags, total)
        return self._send_message(task, data, addr, ancillary, flags, total)

    def _deliver(self, other, data, creds, files):
        msg = Message(data, self, creds, files)
        self.wmem += msg.charge
        other.recvq.append(msg)
        other.notify(POLLIN | POLLRDNORM)

    def _send_message(self, task, data, addr, ancillary, flags, total=None):
        """SOCK_DGRAM and SOCK_SEQPACKET: one message, whole or not at all.
        As unix_dgram_sendmsg, the message is copied (EFAULT if part of it
        cannot be read) after the checks of the sender alone and before
        the receiver is found and looked over."""
        if self.type == SOCK_SEQPACKET:
            addr = None                       # Linux ignores the address here
            if not self.connected:
                raise SyscallError(errno.ENOTCONN)
        elif addr is not None:
            decode_unix(addr)                 # EINVAL for a malformed address
        if self.shut & SEND_SHUTDOWN:
            raise self._epipe()
        if (len(data) if total is None else total) > self.sndbuf - 32:
            raise SyscallError(errno.EMSGSIZE)
        if total is not None:
            raise SyscallError(errno.EFAULT)
        data = payload(data)                  # copied now: EFAULT where it faults
        other = self._target(task, addr)
        creds = self._creds(task, ancillary, other)
        if not self._room(other):
            if self.nonblocking(flags):
                raise SyscallError(errno.EAGAIN)

            def room():
                target = self._target(task, addr)
                return target if self._room(target) else None
            other = block_on(task, [(self.queue, POLLOUT), (other.queue, POLLOUT)],
                             room, self.sndtimeo)
        files = list(ancillary.files) if ancillary is not None else []
        self._deliver(other, bytes(data), creds, files)
        if ancillary is not None:
            ancillary.files = []              # the message owns the references now
        return len(data)

    def _send_stream(self, task, data, addr, ancillary, flags, total=None):
        """Messages of at most half the send buffer; when only the first
        part of the caller's total bytes was readable (data), the messages
        that fit in it, or EFAULT if none does (unix_stream_sendmsg copies
        each whole or fails)."""
        other = self._target(task, addr)
        creds = self._creds(task, ancillary, other)
        lazy = type(data) is GuestData
        view = None if lazy else memoryview(data)
        chunk_max = self.sndbuf // 2 - 64
        if chunk_max > STREAM_MESSAGE_MAX:
            chunk_max = STREAM_MESSAGE_MAX
        elif chunk_max < 1:
            chunk_max = 1
        readable = len(data)
        end = readable if total is None else total
        sent = 0
        # A stream send of nothing sends nothing: its fds are dropped (as
        # unix_stream_sendmsg's loop never runs).
        while sent < end:
            try:
                other = self._target(task, None)
                if self.wmem >= self.sndbuf:
                    if self.nonblocking(flags):
                        raise SyscallError(errno.EAGAIN)
                    self.wait(task, lambda: self.wmem < self.sndbuf or self.shut or
                              self.peer is None or self.peer.closed, POLLOUT, self.sndtimeo)
                    continue
            except SyscallError:
                if sent:
                    return sent
                raise
            n = min(end - sent, chunk_max)
            if sent + n > readable:
                if sent:
                    return sent
                raise SyscallError(errno.EFAULT)
            if lazy:
                try:
                    chunk = data.take(sent, n)      # each message copied whole or not
                except SyscallError:
                    if sent:
                        return sent
                    raise
            else:
                chunk = data if n == len(data) and type(data) is bytes \
                    else bytes(view[sent:sent + n])
            files = []
            if ancillary is not None and ancillary.files:
                files, ancillary.files = ancillary.files, []
            self._deliver(other, chunk, creds, files)
            sent += n
        return sent

    # --- read(2) and write(2) of buffers only partly accessible (sys_read_write) -------
    def read_cut(self, length, mapped, offset=None):
        """read() into a buffer whose first `mapped` bytes are writable:
        (the bytes the copy puts there, the count or None for EFAULT)."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        got = self.recvmsg(current(), length, 0, mapped=mapped)
        return data_of(got), None if got.faulted else got.length

    def write_cut(self, data, total, offset=None):
        """write() of a total-byte buffer whose first bytes, data, are
        readable."""
        if offset is not None:
            raise SyscallError(errno.ESPIPE)
        return self.sendmsg(current(), data, None, None, 0, total)

    # --- write(2): the guest's frames come from sys_read_write --------------------------
    # (No readinto: a read may wait, and views of the guest's frames held
    # across the wait would write into frames a fork made copy-on-write
    # or an munmap freed; read() and copy_out after it take them anew.)
    def writefrom(self, buffers, offset=None):
        """write() of `buffers` (views of guest frames), copied once, at
        the call, as Linux copies from user memory before it may wait."""
        return self.write(buffers[0].tobytes() if len(buffers) == 1 else b"".join(buffers),
                          offset)

    def _uncharge(self, msg):
        sender = msg.sender
        sender.wmem -= msg.charge
        sender.notify(POLLOUT | POLLWRNORM)
        if sender is not self:
            self.notify(POLLOUT)          # datagram senders waiting for queue room

    def recvmsg(self, task, length, flags, addr_wanted=False, control_len=0, mapped=ALL_MAPPED):
        """mapped: how many of the caller's length bytes are writable, when
        not all are (where the copy faults); or a function that says so,
        asked after each wait (the buffer may have been unmapped meanwhile,
        and Linux copies after it waits), all being writable before one."""
        if self.type == SOCK_STREAM:
            return self._recv_stream(task, length, flags, mapped)
        return self._recv_message(task, length, flags, mapped)

    def _wait_readable(self, task, flags):
        """Wait for the receive queue to change; False when the read must
        end now (EOF) - errors are raised."""
        if self.err:
            err, self.err = self.err, 0
            raise SyscallError(err)
        if self.shut & RCV_SHUTDOWN:
            return False
        if self.nonblocking(flags):
            raise SyscallError(errno.EAGAIN)
        self.wait(task, lambda: bool(self.recvq) or self.err or self.shut & RCV_SHUTDOWN,
                  POLLIN, self.rcvtimeo)
        return True

    def _recv_message(self, task, length, flags, mapped):
        """One message; one whose copy faults is taken all the same (but
        for MSG_PEEK), its files closed: __unix_dgram_recvmsg dequeues
        before it copies."""
        if self.type == SOCK_SEQPACKET and not self.connected:
            raise SyscallError(errno.ENOTCONN)
        ask = mapped if callable(mapped) else None
        if ask is not None:
            mapped = ALL_MAPPED
        while not self.recvq:
            if not self._wait_readable(task, flags):
                return Received(b"")
            if ask is not None:
                mapped = ask()
        msg = self.recvq[0]
        data = msg.data[:length]
        if len(data) > mapped:
            for f in self._take(msg, flags):
                drop_file(f)
            return Received(data[:mapped], faulted=True)
        out_flags = MSG_TRUNC if len(msg.data) > length else 0
        files = self._take(msg, flags)
        anc = Ancillary(files, msg.creds if self.passcred else None)
        return Received(data, len(msg.data) if flags & MSG_TRUNC else len(data),
                        msg.addr, anc, out_flags)

    def _take(self, msg, flags):
        """The message's files for the reader: references of its own when
        peeking, else the message's, and the message leaves the queue."""
        if flags & MSG_PEEK:
            return _held(msg.files)
        self.recvq.popleft()
        self._uncharge(msg)
        files, msg.files = msg.files, []
        return files

    def _recv_stream(self, task, length, flags, mapped):
        """As unix_stream_read_generic: message by message; the one whose
        copy faults (past `mapped`) stays queued, and ends the read (EFAULT
        if it was the first)."""
        if not self.connected:
            raise SyscallError(errno.EINVAL)
        if length == 0:
            return self._recv_stream_files(task, flags)
        # sock_rcvlowat: a read waits for SO_RCVLOWAT bytes (at most what it asks).
        target = length if flags & MSG_WAITALL else min(self.options.get(SO_RCVLOWAT, 1), length)
        out = bytearray()
        files, creds, addr = [], None, None
        index = 0                                  # MSG_PEEK walks the queue without taking
        ask = mapped if callable(mapped) else None
        if ask is not None:
            mapped = ALL_MAPPED
        while len(out) < length:
            if index >= len(self.recvq):
                if len(out) >= target:
                    break
                try:
                    if not self._wait_readable(task, flags):
                        break
                except SyscallError:
                    if out:
                        break
                    raise
                if ask is not None:
                    mapped = ask()
                continue
            msg = self.recvq[index]
            if self.passcred:
                if creds is not None and msg.creds != creds:
                    break
                creds = msg.creds
            if not out:
                addr = msg.addr
            n = min(len(msg.data), length - len(out))
            if len(out) + n > mapped:
                counted = len(out)
                out += msg.data[:mapped - counted]
                return Received(bytes(out), counted, addr,
                                Ancillary(files, creds if self.passcred else None),
                                0, faulted=not counted)
            out += msg.data[:n]
            if flags & MSG_PEEK:
                files += _held(msg.files)
                index += 1
                if msg.files:
                    break
                continue
            got = msg.files
            if n < len(msg.data):
                msg.data = msg.data[n:]
                sender = msg.sender
                sender.wmem -= n
                msg.charge -= n
                sender.notify(POLLOUT | POLLWRNORM)
                msg.files = []
            else:
                self.recvq.popleft()
                self._uncharge(msg)
                msg.files = []
            files += got
            if got:
                break
        anc = Ancillary(files, creds if self.passcred else None)
        return Received(bytes(out), None, addr, anc, 0)

    def _recv_stream_files(self, task, flags):
        """A zero-length read waits for data as any read does, then takes
        the first message's files; its data stays (unix_stream_read_generic
        detaches the fds of a chunk of 0 bytes)."""
        while not self.recvq:
            if not self._wait_readable(task, flags):
                return Received(b"", None, None, Ancillary([], None), 0)
        msg = self.recvq[0]
        if flags & MSG_PEEK:
            files = _held(msg.files)
        else:
            files, msg.files = msg.files, []
        creds = msg.creds if self.passcred else None
        return Received(b"", None, msg.addr, Ancillary(files, creds), 0)

    # --- readiness, options, ioctls --------------------------------------------------------
    def poll_events(self):
        mask = 0
        if self.err:
            mask |= POLLERR
        if self.shut == SHUTDOWN_MASK:
            mask |= POLLHUP
        if self.shut & RCV_SHUTDOWN:
            mask |= POLLRDHUP | POLLIN | POLLRDNORM
        if self.recvq or self.backlog:
            mask |= POLLIN | POLLRDNORM
        if self.connection_based and not self.connected and not self.listening:
            mask |= POLLHUP
        if not self.listening and self.wmem << 2 <= self.sndbuf:
            other = self.peer
            if not (other is not None and not self.connection_based and other.peer is not self
                    and len(other.recvq) > MAX_DGRAM_QLEN):
                mask |= POLLOUT | POLLWRNORM | POLLWRBAND
        return mask

    def setsockopt(self, task, level, name, value):
        if level != SOL_SOCKET:
            raise SyscallError(errno.EOPNOTSUPP)          # sock_no_setsockopt
        if name == SO_PASSCRED:
            self.passcred = bool(int_opt(value))
        elif name in (SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE):
            val = int_opt(value) & 0xFFFFFFFF
            forced = name in (SO_SNDBUFFORCE, SO_RCVBUFFORCE)
            if forced and not task.creds.capable(CAP_NET_ADMIN):
                raise SyscallError(errno.EPERM)
            if not forced:
                val = min(val, WMEM_MAX)
            val = min(val * 2, 0x7FFFFFFF)
            if name in (SO_SNDBUF, SO_SNDBUFFORCE):
                self.sndbuf = max(val, SOCK_MIN_SNDBUF)
                self.notify(POLLOUT)
            else:
                self.rcvbuf = max(val, SOCK_MIN_RCVBUF)
        elif name in _FLAG_OPTIONS:
            self.options[name] = int(int_opt(value) != 0)
        elif name == SO_PRIORITY:
            val = int_opt(value)
            if not 0 <= val <= 6 and not (task.creds.capable(CAP_NET_ADMIN) or
                                          task.creds.capable(CAP_NET_RAW)):
                raise SyscallError(errno.EPERM)
            self.options[name] = val
        elif name == SO_REUSEPORT:
            if int_opt(value):
                raise SyscallError(errno.EOPNOTSUPP)      # an inet socket's option
        elif name == SO_RCVLOWAT:
            val = int_opt(value)
            self.options[name] = INT_MAX if val < 0 else val or 1
        elif name == SO_SNDLOWAT:
            raise SyscallError(errno.ENOPROTOOPT)
        elif name == SO_LINGER:
            if len(value) < 8:
                raise SyscallError(errno.EINVAL)
            self.options[name] = bytes(value[:8])
        else:
            super().setsockopt(task, level, name, value)

    def getsockopt(self, task, level, name, length):
        if level != SOL_SOCKET:
            raise SyscallError(errno.EOPNOTSUPP)          # sock_no_getsockopt
        if name == SO_PASSCRED:
            return INT.pack(int(self.passcred))
        if name == SO_SNDBUF:
            return INT.pack(self.sndbuf)
        if name == SO_RCVBUF:
            return INT.pack(self.rcvbuf)
        if name == SO_ERROR:
            err, self.err = self.err, 0
            return INT.pack(err)
        if name == SO_ACCEPTCONN:
            return INT.pack(int(self.listening))
        if name == SO_PEERCRED:
            # No peer yet: cred_to_ucred's "nobody" is pid 0 and ids of -1.
            pid, uid, gid = self.peercred or (0, NO_ID, NO_ID)
            return struct.pack("<iII", pid, uid, gid)
        if name in _FLAG_OPTIONS or name in (SO_PRIORITY, SO_REUSEPORT):
            return INT.pack(self.options.get(name, 0))
        if name in (SO_RCVLOWAT, SO_SNDLOWAT):
            return INT.pack(self.options.get(name, 1))
        if name == SO_LINGER:
            return self.options.get(name, bytes(8))
        return super().getsockopt(task, level, name, length)

    def ioctl(self, task, request, arg):
        if request == FIONREAD:
            if self.listening:
                raise SyscallError(errno.EINVAL)
            if self.type == SOCK_DGRAM:
                n = len(self.recvq[0].data) if self.recvq else 0
            else:
                n = sum(len(m.data) for m in self.recvq)
            task.mm.copy_out(arg, INT.pack(n))
            return 0
        if request == SIOCOUTQ:
            if self.listening:
                raise SyscallError(errno.EINVAL)
            task.mm.copy_out(arg, INT.pack(max(self.wmem, 0)))
            return 0
        return super().ioctl(task, request, arg)

    # --- the end ---------------------------------------------------------------------------
    def release(self):
        if self.closed:
            return
        self.closed = True
        if self.name is not None:
            if self.name.abstract is not None:
                self.names.release_abstract(self.name.abstract, self)
            elif self.node is not None:
                unix_names.release_path(self.node, self)
        while self.backlog:                   # connections never accepted
            self.backlog.popleft().release()
        peer = self.peer
        if peer is not None and self.connection_based and self.connected:
            peer.shut = SHUTDOWN_MASK
            if self.recvq:
                peer.err = errno.ECONNRESET
            peer.notify(ALL)
        self.peer = None
        while self.recvq:
            msg = self.recvq.popleft()
            self._uncharge(msg)
            for f in msg.files:
                drop_file(f)
            msg.files = []
        self.notify(ALL)


def other_queue(other):
    return [(other.queue, POLLOUT | POLLIN)]


def block_on(task, waits, check, timeout_ns):
    """waiter.block_until with a socket timeout (EAGAIN when it passes)."""
    result = block_until(task, check, waits, (), deadline_after(timeout_ns))
    if not result:
        raise SyscallError(errno.EAGAIN)
    return result


def socketpair(names, sock_type, flags, task):
    a, b = UnixSocket(names, sock_type, flags), UnixSocket(names, sock_type, flags)
    a.peer, b.peer = b, a
    a.connected = b.connected = True
    a.peercred = b.peercred = creds_of(task)
    return a, b
