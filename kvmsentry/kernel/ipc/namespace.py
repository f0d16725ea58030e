"""What the three System V IPC families share: the permission record
(struct kern_ipc_perm), id allocation, key lookup, ipcperms() and the
ownership check of IPC_SET/IPC_RMID; and the IpcNamespace, one per
sandbox, holding the shm, sem and msg registries and the POSIX queues.

Every operation runs under the kernel lock (syscall handlers hold it;
blocking waits release it and re-check), so the registries need no lock
of their own.
"""
import errno
import struct
import sys
import time

from kvmsentry.errors import SyscallError

IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
S_IRUGO, S_IWUGO, S_IXUGO = 0o444, 0o222, 0o111
IPCMNI = 32768                 # ids are seq * IPCMNI + index
IPCID_SEQ_MAX = ((1 << 31) - 1) >> 15
CAP_IPC_LOCK, CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE = 14, 15, 21, 24
# struct ipc64_perm: key, uid, gid, cuid, cgid, mode, seq (then padding).
PERM64 = struct.Struct("<iIIIIIHHxxxxQQ")


def now_s():
    return int(time.time())


class IpcPerm:
    """One object's ownership and mode (struct kern_ipc_perm)."""

    def __init__(self, key, creds, mode):
        self.key = key
        self.uid = self.cuid = creds.euid
        self.gid = self.cgid = creds.egid
        self.mode = mode & 0o777
        self.id = self.seq = 0
        self.deleted = False

    def pack(self):
        return PERM64.pack(self.key, self.uid, self.gid, self.cuid, self.cgid, self.mode,
                           self.seq & 0xFFFF, 0, 0, 0)

    def set_from(self, data):
        """IPC_SET: uid, gid and the permission bits from a user's ipc64_perm."""
        _, uid, gid, _, _, mode = PERM64.unpack_from(data)[:6]
        self.uid, self.gid = uid, gid
        self.mode = (self.mode & ~0o777) | (mode & 0o777)


def ipcperms(task, perm, flag):
    """Linux's ipcperms(): EACCES unless the caller's mode class grants
    every access bit `flag` asks (CAP_IPC_OWNER overrides)."""
    c = task.creds
    requested = (flag >> 6) | (flag >> 3) | flag
    granted = perm.mode
    if c.euid in (perm.cuid, perm.uid):
        granted >>= 6
    elif perm.cgid in _groups(c) or perm.gid in _groups(c):
        granted >>= 3
    if requested & ~granted & 0o7 and not c.capable(CAP_IPC_OWNER):
        raise SyscallError(errno.EACCES)


def _groups(creds):
    return (creds.egid,) + tuple(creds.groups)


def check_owner(task, perm):
    """IPC_SET and IPC_RMID: the creator, the owner or CAP_SYS_ADMIN (EPERM)."""
    c = task.creds
    if c.euid not in (perm.cuid, perm.uid) and not c.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)


class IpcIds:
    """The objects of one family (Linux's struct ipc_ids): indexes are
    handed out cyclically (idr_alloc_cyclic), and the sequence number is
    bumped whenever the cycle wraps, so a stale id does not name a new
    object."""

    def __init__(self, max_objects):
        self.max_objects = max_objects
        self.by_index = {}
        self.seq = 0
        self.last_index = -1

    def __len__(self):
        return len(self.by_index)

    def objects(self):
        return [self.by_index[i] for i in sorted(self.by_index)]

    def add(self, obj):
        """Give obj (with a .perm) an id; ENOSPC when the family is full."""
        if len(self.by_index) >= self.max_objects:
            raise SyscallError(errno.ENOSPC)
        index = (self.last_index + 1) % IPCMNI
        while index in self.by_index:
            index = (index + 1) % IPCMNI
        if index <= self.last_index:
            self.seq += 1
            if self.seq >= IPCID_SEQ_MAX:
                self.seq = 0
        self.last_index = index
        obj.perm.seq = self.seq
        obj.perm.id = self.seq * IPCMNI + index
        self.by_index[index] = obj
        return obj.perm.id

    def remove(self, obj):
        obj.perm.deleted = True
        self.by_index.pop(obj.perm.id % IPCMNI, None)

    def get(self, ident):
        """The object with this id; EINVAL if none (or a stale id)."""
        if ident < 0:
            raise SyscallError(errno.EINVAL)
        obj = self.by_index.get(ident % IPCMNI)
        if obj is None or obj.perm.id != ident:
            raise SyscallError(errno.EINVAL)
        return obj

    def get_index(self, index):
        """*_STAT: the object at this index (EINVAL if none)."""
        obj = self.by_index.get(index) if 0 <= index < IPCMNI else None
        if obj is None:
            raise SyscallError(errno.EINVAL)
        return obj

    def find_key(self, key):
        for obj in self.by_index.values():
            if obj.perm.key == key and key != IPC_PRIVATE:
                return obj
        return None

    def max_index(self):
        """IPC_INFO's return: the highest index in use (0 if none)."""
        return max(self.by_index, default=0)

    def get_or_create(self, task, key, flags, create, more_checks=None):
        """Linux's ipcget(): a new object for IPC_PRIVATE or a missing key
        with IPC_CREAT; else the existing one, after the EEXIST, size
        (more_checks) and permission checks. Returns the id."""
        if key == IPC_PRIVATE:
            return self.add(create())
        obj = self.find_key(key)
        if obj is None:
            if not flags & IPC_CREAT:
                raise SyscallError(errno.ENOENT)
            return self.add(create())
        if flags & IPC_CREAT and flags & IPC_EXCL:
            raise SyscallError(errno.EEXIST)
        if more_checks is not None:
            more_checks(obj)
        ipcperms(task, obj.perm, flags)
        return obj.perm.id


# Each registry is made (and its module imported) at its first use: most
# sandboxes never use SysV IPC or POSIX queues.
_REGISTRIES = {"shm": ("kvmsentry.kernel.ipc.shm", "ShmRegistry"),
               "sem": ("kvmsentry.kernel.ipc.sem", "SemRegistry"),
               "msg": ("kvmsentry.kernel.ipc.msg", "MsgRegistry"),
               "mqueue": ("kvmsentry.kernel.mqueue", "MqueueRegistry")}


class IpcNamespace:
    """The sandbox's IPC namespace: SysV objects and POSIX queues
    (.shm, .sem, .msg, .mqueue)."""

    def __init__(self, kernel):
        self._kernel = kernel

    def __getattr__(self, name):
        where = _REGISTRIES.get(name)
        if where is None:
            raise AttributeError(name)
        __import__(where[0])
        registry = getattr(sys.modules[where[0]], where[1])(self._kernel)
        setattr(self, name, registry)
        return registry

    def mapped_again(self, mm, tgid):
        """fork copied mm's mappings (ShmRegistry.mapped_again)."""
        if "shm" in self.__dict__:
            self.shm.mapped_again(mm, tgid)

    def unmapping_all(self, mm, tgid):
        """mm is going (ShmRegistry.unmapping_all)."""
        if "shm" in self.__dict__:
            self.shm.unmapping_all(mm, tgid)

    def process_exited(self, group, tgid):
        """A process ended: apply its SEM_UNDO adjustments and drop its
        mq_notify registrations."""
        if "sem" in self.__dict__:
            self.sem.exit_undo(group, tgid)
        if "mqueue" in self.__dict__:
            self.mqueue.process_exited(tgid)
