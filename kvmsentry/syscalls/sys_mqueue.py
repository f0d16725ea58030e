"""POSIX message queues: mq_open, mq_unlink, mq_timedsend,
mq_timedreceive, mq_notify, mq_getsetattr (kernel/mqueue.py)."""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import mqueue
from kvmsentry.net.netlink import NetlinkSocket
from kvmsentry.net.socket_file import SocketFile
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.vfs.file import O_NONBLOCK

O_CLOEXEC = 0o2000000
MQ_ATTR = struct.Struct("<4q32x")        # flags, maxmsg, msgsize, curmsgs
RLIMIT_NOFILE = 7
PATH_MAX = 4096


def _registry(task):
    return task.kernel.ipc.mqueue


def _name(task, addr):
    name = task.mm.read_cstring(addr, PATH_MAX)
    if not name:
        raise SyscallError(errno.ENOENT)
    if len(name) > mqueue.NAME_MAX:
        raise SyscallError(errno.ENAMETOOLONG)
    if b"/" in name or name in (b".", b".."):
        raise SyscallError(errno.EACCES)
    return name


def _mq_file(task, fd, want_read=None):
    f = task.fds.get(i32(fd))
    if not isinstance(f, mqueue.MqFile):
        raise SyscallError(errno.EBADF)
    if want_read is True and not f.readable() or want_read is False and not f.writable():
        raise SyscallError(errno.EBADF)
    return f


def _deadline(task, abs_timeout):
    """CLOCK_MONOTONIC deadline of an absolute CLOCK_REALTIME timespec."""
    if not abs_timeout:
        return None
    sec, nsec = struct.unpack("<qq", task.mm.copy_in(abs_timeout, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise SyscallError(errno.EINVAL)
    return time.monotonic_ns() + (sec * 1_000_000_000 + nsec - time.time_ns())


def mq_open(task, name, oflag, mode, attr):
    """Implements mq_open(2)."""
    oflag = i32(oflag)
    name = _name(task, name)
    limits = None
    if attr and oflag & 0o100:
        _, maxmsg, msgsize, _ = MQ_ATTR.unpack(task.mm.copy_in(attr, MQ_ATTR.size))
        limits = (maxmsg, msgsize)
    f = _registry(task).open(task, name, oflag, mode & 0o7777, limits)
    return task.fds.install(f, cloexec=bool(oflag & O_CLOEXEC),
                            limit=task.rlimits[RLIMIT_NOFILE][0])


def mq_unlink(task, name):
    """Implements mq_unlink(2)."""
    _registry(task).unlink(task, _name(task, name))
    return 0


def mq_timedsend(task, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    """Implements mq_timedsend(2)."""
    deadline = _deadline(task, abs_timeout)
    msg_prio = u32(msg_prio)
    if msg_prio >= mqueue.MQ_PRIO_MAX:
        raise SyscallError(errno.EINVAL)
    f = _mq_file(task, mqdes, want_read=False)
    if msg_len > f.mq.msgsize:
        raise SyscallError(errno.EMSGSIZE)
    data = task.mm.copy_in(msg_ptr, msg_len)
    return _registry(task).send(task, f, data, msg_prio, deadline)


def mq_timedreceive(task, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    """Implements mq_timedreceive(2)."""
    deadline = _deadline(task, abs_timeout)
    f = _mq_file(task, mqdes, want_read=True)
    data, prio = _registry(task).receive(task, f, msg_len, deadline)
    task.mm.copy_out(msg_ptr, data)
    if msg_prio:
        task.mm.copy_out(msg_prio, struct.pack("<I", prio))
    return len(data)


def mq_notify(task, mqdes, sevp):
    """Implements mq_notify(2): SIGEV_SIGNAL, SIGEV_NONE, and SIGEV_THREAD
    as the kernel side of libc's netlink protocol."""
    sigevent = None
    if sevp:
        value, signo, how = struct.unpack("<Qii", task.mm.copy_in(sevp, 16))
        if how not in (mqueue.SIGEV_NONE, mqueue.SIGEV_SIGNAL, mqueue.SIGEV_THREAD):
            raise SyscallError(errno.EINVAL)
        if how == mqueue.SIGEV_SIGNAL and not 0 <= signo <= 64:
            raise SyscallError(errno.EINVAL)
        if how == mqueue.SIGEV_THREAD:
            cookie = task.mm.copy_in(value, mqueue.NOTIFY_COOKIE_LEN)
            sock = task.fds.get(signo)
            if not isinstance(sock, SocketFile):
                raise SyscallError(errno.ENOTSOCK)
            if not isinstance(sock, NetlinkSocket):
                raise SyscallError(errno.EINVAL)
            sigevent = (how, sock, cookie)
        else:
            sigevent = (how, signo, value)
    f = _mq_file(task, mqdes)
    return _registry(task).set_notify(task, f, sigevent)


def mq_getsetattr(task, mqdes, newattr, oldattr):
    """Implements mq_getsetattr(2): only O_NONBLOCK can change."""
    new_flags = None
    if newattr:
        new_flags = MQ_ATTR.unpack(task.mm.copy_in(newattr, MQ_ATTR.size))[0]
        if new_flags & ~O_NONBLOCK:
            raise SyscallError(errno.EINVAL)
    f = _mq_file(task, mqdes)
    mq = f.mq
    if oldattr:
        task.mm.copy_out(oldattr, MQ_ATTR.pack(f.flags & O_NONBLOCK, mq.maxmsg, mq.msgsize,
                                               len(mq.heap)))
    if new_flags is not None:
        f.flags = (f.flags & ~O_NONBLOCK) | new_flags
    return 0
