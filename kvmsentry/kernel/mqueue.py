"""POSIX message queues: the queues of the sandbox's IPC namespace, and
the open files (mq descriptors) that name them.

A queue holds messages by priority, oldest first within one; senders and
receivers that must wait sleep on its wait queue (kernel/waiter.py),
which poll/epoll watch too. mq_notify registers one process for a signal
(SIGEV_SIGNAL), a cookie on a netlink socket (SIGEV_THREAD, which libc
turns into a thread) or nothing (SIGEV_NONE) when a message lands on an empty queue that no
receiver is waiting on, as Linux does. Reading the descriptor gives
Linux's status line.
"""
import errno
import heapq
import itertools
import time

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.anon import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, AnonFile
from kvmsentry.kernel.waiter import ALL_EVENTS, Queue, block_until
from kvmsentry.vfs.inode import Stat

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SYS_RESOURCE = 1, 2, 3, 24
MQ_PRIO_MAX = 32768
MSG_DEFAULT, MSGSIZE_DEFAULT = 10, 8192          # /proc/sys/fs/mqueue defaults
MSG_MAX, MSGSIZE_MAX, QUEUES_MAX = 10, 8192, 256
HARD_MSGMAX, HARD_MSGSIZEMAX = 65536, 16 << 20
MSG_MSG_SIZE = TREE_NODE_SIZE = 48                # what Linux charges per message slot
RLIMIT_MSGQUEUE = 12
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD = 0, 1, 2
SI_MESGQ = -3
NOTIFY_COOKIE_LEN, NOTIFY_WOKENUP, NOTIFY_REMOVED = 32, 1, 2
MQUEUE_DEV = 0x13
NAME_MAX = 255
_inos = itertools.count(1)


class MessageQueue:
    def __init__(self, name, mode, uid, gid, maxmsg, msgsize):
        self.name = name
        self.mode, self.uid, self.gid = mode, uid, gid
        self.maxmsg, self.msgsize = maxmsg, msgsize
        self.heap = []                 # (-priority, seq, bytes)
        self.seq = itertools.count()
        self.qsize = 0
        self.queue = Queue()
        self.receivers = 0             # tasks blocked in mq_timedreceive
        self.notify = None             # the Notification registered, if any
        self.ino = next(_inos)
        self.charged = 0
        now = time.time_ns()
        self.atime_ns = self.mtime_ns = self.ctime_ns = now

    def poll_events(self):
        mask = POLLIN | POLLRDNORM if self.heap else 0
        if len(self.heap) < self.maxmsg:
            mask |= POLLOUT | POLLWRNORM
        return mask

    def status_line(self):
        n = self.notify
        tgid, how, signo = (n.tgid, n.how, n.signo) if n is not None else (0, 0, 0)
        return ("QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n"
                % (self.qsize, how, signo, tgid)).encode()


class MqFile(AnonFile):
    """An open message queue descriptor."""

    def __init__(self, mq, flags, registry):
        super().__init__(flags)
        self.mq = mq
        self.registry = registry
        self.queue = mq.queue
        self.pos = 0

    def poll_events(self):
        return self.mq.poll_events()

    def read(self, length, offset=None):
        line = self.mq.status_line()
        start = self.pos if offset is None else offset
        data = line[start:start + length]
        if offset is None:
            self.pos += len(data)
        return data

    def seek(self, offset, whence):
        if whence != 0 or offset < 0:
            raise SyscallError(errno.EINVAL)
        self.pos = offset
        return offset

    def release(self):
        """Closing drops the closer's mq_notify registration (Linux does it
        at every close of a descriptor of the queue by its owner)."""
        from kvmsentry.kernel.locking import current
        task = current()
        note = self.mq.notify
        if task is not None and note is not None and note.tgid == task.tgid:
            self.registry.drop_notify(self.mq)

    def stat(self):
        mq = self.mq
        return Stat(dev=MQUEUE_DEV, ino=mq.ino, mode=0o100000 | mq.mode, uid=mq.uid,
                    gid=mq.gid, size=80, atime_ns=mq.atime_ns, mtime_ns=mq.mtime_ns,
                    ctime_ns=mq.ctime_ns)


def _may(task, mq, want):
    """inode_permission on the queue: want is a 3-bit rwx mask."""
    c = task.creds
    if c.capable(CAP_DAC_OVERRIDE) or want == 4 and c.capable(CAP_DAC_READ_SEARCH):
        return
    mode = mq.mode >> 6 if c.fsuid == mq.uid else \
        mq.mode >> 3 if mq.gid == c.fsgid or mq.gid in c.groups else mq.mode
    if want & ~mode & 7:
        raise SyscallError(errno.EACCES)


class MqueueRegistry:
    def __init__(self, kernel):
        self.kernel = kernel
        self.queues = {}               # name -> MessageQueue
        self.charged = {}              # uid -> bytes charged (RLIMIT_MSGQUEUE)

    def open(self, task, name, oflag, mode, attr):
        """mq_open(2): a new MqFile. attr: (maxmsg, msgsize) or None."""
        accmode = oflag & 3
        mq = self.queues.get(name)
        if mq is None:
            if not oflag & 0o100:                       # O_CREAT
                raise SyscallError(errno.ENOENT)
            mq = self._create(task, name, mode, attr)
        else:
            if oflag & 0o300 == 0o300:                  # O_CREAT | O_EXCL
                raise SyscallError(errno.EEXIST)
            if accmode == 3:
                raise SyscallError(errno.EINVAL)
            _may(task, mq, (4, 2, 6)[accmode])
        return MqFile(mq, (oflag & 3) | (oflag & 0o4000), self)

    def _create(self, task, name, mode, attr):
        c = task.creds
        if len(self.queues) >= QUEUES_MAX and not c.capable(CAP_SYS_RESOURCE):
            raise SyscallError(errno.ENOSPC)
        if attr is None:
            maxmsg, msgsize = MSG_DEFAULT, MSGSIZE_DEFAULT
        else:
            maxmsg, msgsize = attr
            if maxmsg <= 0 or msgsize <= 0:
                raise SyscallError(errno.EINVAL)
            if c.capable(CAP_SYS_RESOURCE):
                if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
                    raise SyscallError(errno.EINVAL)
            elif maxmsg > MSG_MAX or msgsize > MSGSIZE_MAX:
                raise SyscallError(errno.EINVAL)
        cost = maxmsg * (MSG_MSG_SIZE + msgsize) + min(maxmsg, MQ_PRIO_MAX) * TREE_NODE_SIZE
        used = self.charged.get(c.euid, 0)
        if used + cost > task.rlimits[RLIMIT_MSGQUEUE][0]:
            raise SyscallError(errno.EMFILE)
        mq = MessageQueue(name, mode & ~task.fs.umask & 0o7777, c.fsuid, c.fsgid, maxmsg, msgsize)
        mq.charged = (c.euid, cost)
        self.charged[c.euid] = used + cost
        self.queues[name] = mq
        return mq

    def unlink(self, task, name):
        mq = self.queues.get(name)
        if mq is None:
            raise SyscallError(errno.ENOENT)
        # The mqueue root is 1777: the sticky bit lets only the owner unlink.
        c = task.creds
        if c.fsuid != mq.uid and not c.capable(CAP_FOWNER):
            raise SyscallError(errno.EPERM)
        del self.queues[name]
        uid, cost = mq.charged
        self.charged[uid] = self.charged.get(uid, 0) - cost

    # --- messages ------------------------------------------------------------
    def send(self, task, f, data, prio, deadline):
        mq = f.mq
        if len(data) > mq.msgsize:
            raise SyscallError(errno.EMSGSIZE)

        def room():
            if len(mq.heap) < mq.maxmsg:
                return True
            if f.nonblocking():
                raise SyscallError(errno.EAGAIN)
            return False

        if not block_until(task, room, [(mq.queue, ALL_EVENTS)], deadline=deadline):
            raise SyscallError(errno.ETIMEDOUT)
        heapq.heappush(mq.heap, (-prio, next(mq.seq), data))
        mq.qsize += len(data)
        mq.atime_ns = mq.mtime_ns = mq.ctime_ns = time.time_ns()
        if len(mq.heap) == 1 and not mq.receivers:
            self._notify(task, mq)
        mq.queue.notify(POLLIN | POLLRDNORM)
        return 0

    def receive(self, task, f, size, deadline):
        """(bytes, priority) of the oldest message of the highest priority."""
        mq = f.mq
        if size < mq.msgsize:
            raise SyscallError(errno.EMSGSIZE)

        def message():
            if mq.heap:
                return True
            if f.nonblocking():
                raise SyscallError(errno.EAGAIN)
            return False

        mq.receivers += 1
        try:
            got = block_until(task, message, [(mq.queue, ALL_EVENTS)], deadline=deadline)
        finally:
            mq.receivers -= 1
        if not got:
            raise SyscallError(errno.ETIMEDOUT)
        neg_prio, _, data = heapq.heappop(mq.heap)
        mq.qsize -= len(data)
        mq.atime_ns = mq.mtime_ns = mq.ctime_ns = time.time_ns()
        mq.queue.notify(POLLOUT | POLLWRNORM)
        return data, -neg_prio

    # --- mq_notify -------------------------------------------------------------
    def set_notify(self, task, f, sigevent):
        """sigevent: None to unregister, else (notify, signo, value) or, for
        SIGEV_THREAD, (SIGEV_THREAD, netlink socket, 32-byte cookie)."""
        mq = f.mq
        if sigevent is None:
            if mq.notify is not None and mq.notify.tgid == task.tgid:
                self.drop_notify(mq)
            return 0
        if mq.notify is not None:
            raise SyscallError(errno.EBUSY)
        mq.notify = Notification(task.tgid, *sigevent)
        return 0

    def drop_notify(self, mq):
        """Unregister; a SIGEV_THREAD registration hears NOTIFY_REMOVED."""
        note, mq.notify = mq.notify, None
        if note is not None and note.how == SIGEV_THREAD:
            note.post(NOTIFY_REMOVED)

    def _notify(self, sender, mq):
        from kvmsentry.kernel import signal_delivery
        from kvmsentry.kernel.signals import SigInfo
        note, mq.notify = mq.notify, None
        if note is None:
            return
        if note.how == SIGEV_THREAD:
            note.post(NOTIFY_WOKENUP)
            return
        if note.how != SIGEV_SIGNAL or not note.signo:
            return
        target = next((t for t in self.kernel.tasks.values() if t.tgid == note.tgid), None)
        if target is not None:
            info = SigInfo(note.signo, code=SI_MESGQ, pid=sender.tgid, uid=sender.creds.uid,
                           value=note.value)
            signal_delivery.send(self.kernel, target, info)

    def process_exited(self, tgid):
        for mq in self.queues.values():
            if mq.notify is not None and mq.notify.tgid == tgid:
                self.drop_notify(mq)


class Notification:
    """One mq_notify registration. SIGEV_THREAD is the protocol glibc and
    musl use: the kernel posts the program's 32-byte cookie, its last byte
    saying why, to a netlink socket a helper thread of theirs reads."""

    def __init__(self, tgid, how, signo_or_sock, value_or_cookie):
        self.tgid, self.how = tgid, how
        self.signo = signo_or_sock if how == SIGEV_SIGNAL else 0
        self.value = value_or_cookie if how == SIGEV_SIGNAL else 0
        self.sock = signo_or_sock if how == SIGEV_THREAD else None
        self.cookie = value_or_cookie if how == SIGEV_THREAD else b""

    def post(self, why):
        self.sock.recvq.append(self.cookie[:NOTIFY_COOKIE_LEN - 1] + bytes([why]))
        self.sock.notify(POLLIN | POLLRDNORM)
