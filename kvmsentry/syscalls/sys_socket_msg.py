"""Socket messages: sendmsg/recvmsg/sendmmsg/recvmmsg, struct msghdr,
and control messages (SCM_RIGHTS files, SCM_CREDENTIALS)."""
import errno
import struct
import time

from kvmsentry.errors import QuietEpipe, SyscallError
from kvmsentry.kernel.fd_table import _ref as hold_file, _unref as drop_file
from kvmsentry.net.hostinet import HostSocket
from kvmsentry.net.socket_file import (MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL,
                                       MSG_PEEK, MSG_WAITALL, SOCK_STREAM, SOL_SOCKET, Ancillary,
                                       GuestData, SocketFile)
from kvmsentry.net.unix import UnixSocket
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.syscalls.sys_read_write import CHUNK, read_iovec, windows
from kvmsentry.syscalls.sys_time import NSEC, read_timespec

SOCKADDR_MAX = 128
MSGHDR = struct.Struct("<QI4xQQQQi4x")            # name namelen iov iovlen control controllen flags
MMSGHDR_SIZE = 64
CMSGHDR = struct.Struct("<Qii")
SCM_RIGHTS, SCM_CREDENTIALS = 1, 2
SCM_MAX_FD = 253
UIO_MAXIOV = 1024
MSG_WAITFORONE = 0x10000
RLIMIT_NOFILE = 7
MAX_RW = 0x7FFFF000
# The most one receive from a host socket takes (MSG_WAITALL: at a time):
# more than any datagram, and a stream may return less than asked. The
# buffer it is received into is made ready (frames, or the sentry's
# bytes) before the host says how much came, and must not be 2 GiB.
RECV_WINDOW = 1 << 20
_INT = struct.Struct("<i")


def cmsg_align(n):
    return (n + 7) & ~7


def copy_in_addr(task, addr, addrlen):
    addrlen = i32(addrlen)
    if addrlen < 0 or addrlen > SOCKADDR_MAX:
        raise SyscallError(errno.EINVAL)
    return task.mm.copy_in(addr, addrlen) if addrlen else b""


def copy_out_addr(task, addr, len_ptr, raw, allow_empty=False):
    """Write a socket address and its real length as Linux's
    move_addr_to_user: truncated to the caller's buffer."""
    mm, length = task.mm, len(raw)
    (room,) = _INT.unpack(mm.copy_in(len_ptr, 4))
    if room < 0:
        raise SyscallError(errno.EINVAL)
    if room >= length:
        if length:
            if addr == len_ptr + 4 and (len_ptr & 0xFFF) + 4 + length <= 0x1000:
                # The length just before the address in one page (a
                # server's accept and getpeername, locals side by side):
                # one copy for both, which within a page lands whole or not
                # at all, as Linux's address-then-length writes do.
                mm.copy_out(len_ptr, _INT.pack(length) + raw)
                return
            mm.copy_out(addr, raw)
    elif room:
        mm.copy_out(addr, raw[:room])
    mm.copy_out(len_ptr, _INT.pack(length))


# --- control messages -----------------------------------------------------------------------
def parse_control(task, sock, raw):
    """An Ancillary of the guest's control buffer; SCM_RIGHTS files get a
    reference each (dropped by the caller if the send fails)."""
    anc = Ancillary()
    pos = 0
    try:
        while pos + CMSGHDR.size <= len(raw):
            length, level, kind = CMSGHDR.unpack_from(raw, pos)
            if length < CMSGHDR.size or pos + length > len(raw):
                raise SyscallError(errno.EINVAL)
            body = raw[pos + CMSGHDR.size:pos + length]
            if level == SOL_SOCKET and kind == SCM_RIGHTS:
                if not isinstance(sock, UnixSocket):
                    raise SyscallError(errno.EINVAL)
                count = len(body) // 4
                if count > SCM_MAX_FD or len(anc.files) + count > SCM_MAX_FD:
                    raise SyscallError(errno.EINVAL)
                for (fd,) in struct.iter_unpack("<i", body[:count * 4]):
                    f = task.fds.get(fd)
                    hold_file(f)
                    anc.files.append(f)
            elif level == SOL_SOCKET and kind == SCM_CREDENTIALS:
                if len(body) != 12:
                    raise SyscallError(errno.EINVAL)
                anc.creds = struct.unpack("<iII", body)
            elif level == SOL_SOCKET:
                raise SyscallError(errno.EINVAL)
            else:
                anc.raw.append((level, kind, bytes(body)))
            pos += cmsg_align(length)
    except SyscallError:
        release_files(anc.files)
        raise
    return anc


def release_files(files):
    for f in files:
        drop_file(f)
    files[:] = []


def pack_control(task, anc, room, flags):
    """(control bytes, msg_flags) for recvmsg, installing SCM_RIGHTS files
    as new fds; what does not fit is dropped and MSG_CTRUNC set."""
    out = bytearray()
    out_flags = 0
    if anc is None:
        return bytes(out), 0

    def put(level, kind, body):
        nonlocal out_flags
        left = room - len(out)
        if left < CMSGHDR.size:
            out_flags |= MSG_CTRUNC
            return
        length = CMSGHDR.size + len(body)
        if length > left:                 # put_cmsg: the header says what was kept
            out_flags |= MSG_CTRUNC
            length = left
        cmsg = (CMSGHDR.pack(length, level, kind) + body)[:length]
        out.extend(cmsg)
        out.extend(bytes(min(cmsg_align(len(cmsg)), left) - len(cmsg)))

    if anc.creds is not None:
        put(SOL_SOCKET, SCM_CREDENTIALS, struct.pack("<iII", *anc.creds))
    for level, kind, body in anc.raw:
        put(level, kind, bytes(body))
    files = anc.files
    anc.files = []
    if files:
        left = room - len(out)
        fit = max(0, (left - CMSGHDR.size) // 4) if left >= CMSGHDR.size else 0
        fds = []
        cloexec = bool(flags & MSG_CMSG_CLOEXEC)
        limit = task.rlimits[RLIMIT_NOFILE][0]
        for i, f in enumerate(files):
            if i < fit:
                try:
                    fds.append(task.fds.install(f, cloexec=cloexec, limit=limit))
                except SyscallError:
                    fit = i
            drop_file(f)                  # the in-flight reference
        if len(fds) < len(files):
            out_flags |= MSG_CTRUNC
        if fds:
            body = struct.pack("<%di" % len(fds), *fds)
            out.extend(CMSGHDR.pack(CMSGHDR.size + len(body), SOL_SOCKET, SCM_RIGHTS) + body)
            pad = min(cmsg_align(len(body)) - len(body), room - len(out))
            out.extend(bytes(max(pad, 0)))
    return bytes(out), out_flags


# --- the common send and receive ---------------------------------------------------------
def send_common(task, sock, data, addr, anc, flags):
    """data: bytes, views of guest frames (a host socket's) or GuestData."""
    try:
        return sock.sendmsg(task, data, addr, anc, flags)
    except SyscallError as e:
        if e.errno == errno.EPIPE and flags & MSG_NOSIGNAL:
            raise QuietEpipe(errno.EPIPE) from None
        raise
    finally:
        if anc is not None:
            release_files(anc.files)


def recv_common(task, sock, length, flags, addr_wanted, control_len, mapped=None):
    """mapped: how many of the length bytes are writable, when not all
    are (a Unix socket's answer to the fault: unix_fault_prefix)."""
    if mapped is not None:
        got = sock.recvmsg(task, length, flags, addr_wanted, control_len, mapped=mapped)
    else:
        got = sock.recvmsg(task, length, flags, addr_wanted, control_len)
    if got.ancillary is not None and control_len == 0:
        if got.ancillary.files:
            got.flags |= MSG_CTRUNC
        release_files(got.ancillary.files)
    return got


def host_recv_waitall(task, sock, room, flags, addr_wanted, control_len, write):
    """MSG_WAITALL from a host socket, RECV_WINDOW at a time, each piece
    handed to write(offset, data) (into the guest's buffers) before the
    next is asked for. A stream goes on while pieces come full, as
    tcp_recvmsg does until room is filled: EOF, a signal, the timeout or
    an error ends it, and is the answer only if nothing came. Returns the
    first piece's Received (its address, ancillary data and msg_flags are
    the call's) and the count."""
    piece = min(room, RECV_WINDOW)
    first = got = recv_common(task, sock, piece, flags, addr_wanted, control_len)
    write(0, got.data)
    total = got.length
    if sock.type == SOCK_STREAM and not flags & MSG_PEEK:
        while total < room and got.length == piece:
            piece = min(room - total, RECV_WINDOW)
            try:
                got = recv_common(task, sock, piece, flags, False, 0)
            except SyscallError:
                break
            write(total, got.data)
            total += got.length
    return first, total


def scatter(task, vecs, offset, data):
    """Copy data into the buffers vecs [(addr, len)] from byte offset on."""
    pos = 0
    for base, length in vecs:
        if not data:
            break
        if pos + length > offset:
            skip = max(offset - pos, 0)
            chunk, data = data[:length - skip], data[length - skip:]
            task.mm.copy_out(base + skip, chunk)
            offset += len(chunk)
        pos += length


def _sock(task, fd):
    f = task.fds.get(i32(fd))
    if not isinstance(f, SocketFile):
        raise SyscallError(errno.ENOTSOCK)
    return f


def accessible_prefix(mm, addr, length, write):
    """mm.accessible(addr, length, write), 0 where that is EFAULT."""
    try:
        return mm.accessible(addr, length, write=write) if length else 0
    except SyscallError:
        return 0


def unix_fault_prefix(task, sock, vecs, write):
    """How many bytes from the start of the buffers vecs [(addr, len)] the
    sentry may write (write True) or read, when a Unix socket is the
    other side and some cannot be: its receive counts whole messages up
    to where the copy faults (UnixSocket.recvmsg's mapped). None when all
    can, or sock is another kind (whose copies keep failing with EFAULT
    where they fault)."""
    if not isinstance(sock, UnixSocket):
        return None
    done = accessible_span(task.mm, vecs, write)
    return done if done < sum(n for _, n in vecs) else None


def accessible_span(mm, vecs, write):
    """How many bytes from the start of the buffers vecs [(addr, len)] the
    sentry may read (write False) or write: up to the first it may not."""
    done = 0
    for base, length in vecs:
        n = accessible_prefix(mm, base, length, write)
        done += n
        if n < length:
            break
    return done


def send_host(task, sock, vecs, addr, anc, flags):
    """A host socket's send, from the guest's frames: a stream's in
    windows of CHUNK bytes (a send that must wait copies what is left of
    its window first, as Linux copies before it waits, and that must not
    be 2 GiB), a datagram's whole."""
    total = sum(n for _, n in vecs)
    groups = (vecs,) if sock.type != SOCK_STREAM or total <= CHUNK else windows(vecs)
    sent = 0
    for window in groups:
        try:
            views = [v for base, n in window if n for v in task.mm.read_buffers(base, n)]
        except SyscallError:
            if anc is not None:
                release_files(anc.files)
            if sent:
                return sent
            raise
        try:
            n = send_common(task, sock, views, addr, anc, flags)
        except SyscallError:
            if sent:
                return sent
            raise
        sent, anc = sent + n, None
        if n < sum(len(v) for v in views):
            break
    return sent


def _send_one(task, sock, msg_addr, flags):
    name, namelen, iov, iovlen, control, controllen, _ = MSGHDR.unpack(
        task.mm.copy_in(msg_addr, MSGHDR.size))
    if iovlen > UIO_MAXIOV:
        raise SyscallError(errno.EMSGSIZE)
    vecs = read_iovec(task.mm, iov, iovlen)
    addr = copy_in_addr(task, name, namelen) if name and namelen else None
    anc = None
    if controllen:
        if controllen > 1 << 20:
            raise SyscallError(errno.ENOBUFS)
        anc = parse_control(task, sock, task.mm.copy_in(control, controllen))
    if isinstance(sock, HostSocket):
        return send_host(task, sock, vecs, addr, anc, flags)
    # The socket copies the data in as it takes it (GuestData).
    return send_common(task, sock, GuestData(task.mm, vecs), addr, anc, flags)


def _host_recv_when_ready(task, sock, vecs, room, flags, addr_wanted, control_len):
    """recvmsg of a host socket that may wait, as read(2)'s
    _read_when_ready: a receive that must wait waits first (wait_readable),
    then receives at most what of the buffers is writable after it (none:
    EFAULT, the data left queued; a buffered receive consumed it, then
    failed at copy_out)."""
    length = room
    while True:
        try:
            return recv_common(task, sock, length, flags | MSG_DONTWAIT, addr_wanted,
                               control_len)
        except SyscallError as e:
            if e.errno != errno.EAGAIN:
                raise
        sock.wait_readable()
        length = min(accessible_span(task.mm, vecs, write=True), room)
        if room and not length:
            raise SyscallError(errno.EFAULT)


def _recv_one(task, sock, msg_addr, flags):
    raw = task.mm.copy_in(msg_addr, MSGHDR.size)
    name, namelen, iov, iovlen, control, controllen, _ = MSGHDR.unpack(raw)
    if iovlen > UIO_MAXIOV:
        raise SyscallError(errno.EMSGSIZE)
    vecs = read_iovec(task.mm, iov, iovlen)
    room = min(sum(length for _, length in vecs), MAX_RW)
    if isinstance(sock, HostSocket) and not flags & MSG_WAITALL:
        room = min(room, RECV_WINDOW)     # (MSG_WAITALL: host_recv_waitall's pieces)
    controllen = min(controllen, 1 << 20)
    mapped = unix_fault_prefix(task, sock, vecs, write=True)
    if mapped is not None:
        mapped = min(mapped, room)
    elif isinstance(sock, UnixSocket):
        def mapped():
            # Asked again after a wait: the buffers may be unmapped
            # meanwhile, and a stream's data then stays queued.
            now = unix_fault_prefix(task, sock, vecs, write=True)
            return room if now is None else min(now, room)
    length = None
    if isinstance(sock, HostSocket) and flags & MSG_WAITALL:
        got, length = host_recv_waitall(task, sock, room, flags, bool(name),
                                        controllen if control else 0,
                                        lambda offset, data: scatter(task, vecs, offset, data))
    elif mapped is None and hasattr(sock, "wait_readable") and not flags & MSG_WAITALL \
            and not sock.nonblocking(flags):
        got = _host_recv_when_ready(task, sock, vecs, room, flags, bool(name),
                                    controllen if control else 0)
    else:
        got = recv_common(task, sock, room, flags, bool(name), controllen if control else 0,
                          mapped)
    if length is None:
        scatter(task, vecs, 0, got.data)
        length = got.length
    if got.faulted:
        raise SyscallError(errno.EFAULT)
    ctrl, ctrl_flags = pack_control(task, got.ancillary, controllen if control else 0, flags)
    if ctrl:
        task.mm.copy_out(control, ctrl)
    addr = got.addr or b""
    if name:
        n = min(i32(namelen), len(addr)) if i32(namelen) > 0 else 0
        if n:
            task.mm.copy_out(name, addr[:n])
    out_flags = got.flags | ctrl_flags | (flags & MSG_CMSG_CLOEXEC)    # as Linux reports it
    task.mm.copy_out(msg_addr + 8, struct.pack("<I", len(addr) if name else 0))
    task.mm.copy_out(msg_addr + 40, struct.pack("<Qi", len(ctrl), out_flags))
    return length


def sendmsg(task, fd, msg, flags):
    """Implements sendmsg(2)."""
    return _send_one(task, _sock(task, fd), msg, u32(flags))


def recvmsg(task, fd, msg, flags):
    """Implements recvmsg(2)."""
    return _recv_one(task, _sock(task, fd), msg, u32(flags))


def sendmmsg(task, fd, msgvec, vlen, flags):
    """Implements sendmmsg(2)."""
    sock = _sock(task, fd)
    vlen = min(u32(vlen), UIO_MAXIOV)
    done = 0
    for i in range(vlen):
        entry = msgvec + i * MMSGHDR_SIZE
        try:
            n = _send_one(task, sock, entry, u32(flags))
        except SyscallError:
            if done:
                return done
            raise
        task.mm.copy_out(entry + MSGHDR.size, struct.pack("<I", n))
        done += 1
    return done


def recvmmsg(task, fd, msgvec, vlen, flags, timeout):
    """Implements recvmmsg(2). As Linux does, the timeout (EINVAL if not a
    valid timespec) is checked only after each message, never cuts a
    blocking receive short, and what is left of it is written back."""
    deadline = time.monotonic_ns() + read_timespec(task.mm, timeout) if timeout else None
    sock = _sock(task, fd)
    flags = u32(flags)
    vlen = min(u32(vlen), UIO_MAXIOV)
    done = 0
    for i in range(vlen):
        entry = msgvec + i * MMSGHDR_SIZE
        try:
            n = _recv_one(task, sock, entry, flags)
        except SyscallError:
            if done:
                break
            raise
        task.mm.copy_out(entry + MSGHDR.size, struct.pack("<I", n))
        done += 1
        if flags & MSG_WAITFORONE:
            flags |= MSG_DONTWAIT
        if deadline is not None and time.monotonic_ns() >= deadline:
            break
    if deadline is not None:
        left = max(deadline - time.monotonic_ns(), 0)
        task.mm.copy_out(timeout, struct.pack("<qq", left // NSEC, left % NSEC))
    return done
