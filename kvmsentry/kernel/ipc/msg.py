"""System V message queues (msgget/msgsnd/msgrcv/msgctl).

A queue holds (type, bytes) in arrival order, bounded by msg_qbytes in
bytes and in messages (Linux bounds the count by msg_qbytes too). Senders
and receivers that must wait sleep on the queue's wait queue and re-check
at every change; removal wakes them with EIDRM.
"""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.ipc.namespace import (CAP_SYS_RESOURCE, IPC_NOWAIT, S_IRUGO, S_IWUGO,
                                            IpcIds, IpcPerm, check_owner, ipcperms, now_s)
from kvmsentry.kernel.waiter import ALL_EVENTS, Queue, block_until

MSGMAX, MSGMNB, MSGMNI = 8192, 16384, 32000
MSGSSZ, MSGPOOL = 16, MSGMNI * MSGMNB // 1024
MSGSEG = 0xFFFF
MSG_NOERROR, MSG_EXCEPT, MSG_COPY = 0o10000, 0o20000, 0o40000
# struct msqid64_ds after the perm: stime, rtime, ctime, cbytes, qnum,
# qbytes, lspid, lrpid, pad, pad.
MSQID64 = struct.Struct("<qqqQQQiiQQ")
MSGINFO = struct.Struct("<7iH2x")
LONG_MAX = (1 << 63) - 1


class MsgQueue:
    def __init__(self, key, creds, mode):
        self.perm = IpcPerm(key, creds, mode)
        self.messages = []            # [(mtype, bytes)]
        self.cbytes = 0
        self.qbytes = MSGMNB
        self.stime = self.rtime = 0
        self.ctime = now_s()
        self.lspid = self.lrpid = 0
        self.queue = Queue()

    def pack(self):
        return self.perm.pack() + MSQID64.pack(
            self.stime, self.rtime, self.ctime, self.cbytes, len(self.messages), self.qbytes,
            self.lspid, self.lrpid, 0, 0)

    def find(self, msgtyp, flags):
        """Index of the message msgrcv takes, or None (Linux's find_msg)."""
        if flags & MSG_COPY:
            return msgtyp if msgtyp < len(self.messages) else None
        if msgtyp == 0:
            return 0 if self.messages else None
        if msgtyp < 0:
            limit = LONG_MAX if msgtyp == -(1 << 63) else -msgtyp
            best = None
            for i, (mtype, _) in enumerate(self.messages):
                if mtype <= limit and (best is None or mtype < self.messages[best][0]):
                    best = i
            return best
        for i, (mtype, _) in enumerate(self.messages):
            if (mtype != msgtyp) if flags & MSG_EXCEPT else (mtype == msgtyp):
                return i
        return None


class MsgRegistry:
    def __init__(self, kernel):
        self.kernel = kernel
        self.ids = IpcIds(MSGMNI)

    def get(self, task, key, flags):
        return self.ids.get_or_create(task, key, flags,
                                      lambda: MsgQueue(key, task.creds, flags))

    def send(self, task, msqid, mtype, text, flags):
        q = self.ids.get(msqid)
        ipcperms(task, q.perm, S_IWUGO)

        def room():
            if q.perm.deleted:
                raise SyscallError(errno.EIDRM)
            if len(text) + q.cbytes <= q.qbytes and 1 + len(q.messages) <= q.qbytes:
                return True
            if flags & IPC_NOWAIT:
                raise SyscallError(errno.EAGAIN)
            return False

        block_until(task, room, [(q.queue, ALL_EVENTS)])
        q.messages.append((mtype, text))
        q.cbytes += len(text)
        q.lspid = task.tgid
        q.stime = now_s()
        q.queue.notify(ALL_EVENTS)
        return 0

    def receive(self, task, msqid, size, msgtyp, flags):
        """(mtype, bytes) taken (or copied, MSG_COPY) from the queue."""
        q = self.ids.get(msqid)
        ipcperms(task, q.perm, S_IRUGO)

        def available():
            if q.perm.deleted:
                raise SyscallError(errno.EIDRM)
            i = q.find(msgtyp, flags)
            if i is not None:
                if len(q.messages[i][1]) > size and not flags & MSG_NOERROR:
                    raise SyscallError(errno.E2BIG)
                return (i,)
            if flags & IPC_NOWAIT:
                raise SyscallError(errno.ENOMSG)
            return None

        (i,) = block_until(task, available, [(q.queue, ALL_EVENTS)])
        if flags & MSG_COPY:
            mtype, text = q.messages[i]
            return mtype, text[:size]
        mtype, text = q.messages.pop(i)
        q.cbytes -= len(text)
        q.lrpid = task.tgid
        q.rtime = now_s()
        q.queue.notify(ALL_EVENTS)
        return mtype, text[:size]

    def set(self, task, q, data):
        check_owner(task, q.perm)
        qbytes = struct.unpack_from("<Q", data, 48 + 40)[0]
        if qbytes > MSGMNB and not task.creds.capable(CAP_SYS_RESOURCE):
            raise SyscallError(errno.EPERM)
        q.qbytes = qbytes
        q.perm.set_from(data)
        q.ctime = now_s()
        q.queue.notify(ALL_EVENTS)         # a bigger queue may take a waiting sender

    def remove(self, task, q):
        check_owner(task, q.perm)
        self.ids.remove(q)
        q.queue.notify(ALL_EVENTS)

    def info(self, usage):
        """struct msginfo; MSG_INFO (usage) reports queues, messages and
        bytes in use in msgpool, msgmap and msgtql."""
        queues = self.ids.objects()
        if usage:
            pool = len(queues)
            nmap = sum(len(q.messages) for q in queues)
            tql = sum(q.cbytes for q in queues)
        else:
            pool, nmap, tql = MSGPOOL, MSGMNB, MSGMNB
        return MSGINFO.pack(pool, nmap, MSGMAX, MSGMNB, MSGMNI, MSGSSZ, tql, MSGSEG)
