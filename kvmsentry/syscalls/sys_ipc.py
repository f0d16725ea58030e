"""System V IPC: shmget/shmat/shmdt/shmctl, semget/semop/semtimedop/
semctl, msgget/msgsnd/msgrcv/msgctl (kernel/ipc/)."""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.ipc import msg as msgmod
from kvmsentry.kernel.ipc import sem as semmod
from kvmsentry.kernel.ipc import shm as shmmod
from kvmsentry.kernel.ipc.namespace import IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, S_IRUGO, \
    ipcperms
from kvmsentry.syscalls.args import i32, i64, u32

SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO, SHM_STAT_ANY = 11, 12, 13, 14, 15
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT = 11, 12, 13, 14, 15
SETVAL, SETALL, SEM_STAT, SEM_INFO, SEM_STAT_ANY = 16, 17, 18, 19, 20
MSG_STAT, MSG_INFO, MSG_STAT_ANY = 11, 12, 13
SHMID64_SIZE, SEMID64_SIZE = 112, 104
MSQID64_SIZE = 120


def _ns(task):
    return task.kernel.ipc


# --- shared memory ------------------------------------------------------------------
def shmget(task, key, size, flags):
    """Implements shmget(2)."""
    return _ns(task).shm.get(task, i32(key), size, i32(flags))


def shmat(task, shmid, addr, flags):
    """Implements shmat(2)."""
    return _ns(task).shm.attach(task, i32(shmid), addr, i32(flags))


def shmdt(task, addr):
    """Implements shmdt(2)."""
    return _ns(task).shm.detach(task, addr)


def shmctl(task, shmid, cmd, buf):
    """Implements shmctl(2)."""
    shmid, cmd = i32(shmid), i32(cmd)
    reg = _ns(task).shm
    reg.reap()
    if cmd == IPC_INFO:
        task.mm.copy_out(buf, reg.info())
        return reg.ids.max_index()
    if cmd == SHM_INFO:
        task.mm.copy_out(buf, reg.usage())
        return reg.ids.max_index()
    if cmd in (SHM_STAT, SHM_STAT_ANY):
        seg = reg.ids.get_index(shmid)
        task.mm.copy_out(buf, reg.stat(task, seg, any_reader=cmd == SHM_STAT_ANY))
        return seg.perm.id
    if cmd not in (IPC_STAT, IPC_SET, IPC_RMID, SHM_LOCK, SHM_UNLOCK):
        raise SyscallError(errno.EINVAL)
    if cmd == IPC_SET:
        data = task.mm.copy_in(buf, SHMID64_SIZE)
    seg = reg.ids.get(shmid)
    if cmd == IPC_STAT:
        task.mm.copy_out(buf, reg.stat(task, seg))
    elif cmd == IPC_SET:
        reg.set(task, seg, data)
    elif cmd == IPC_RMID:
        reg.remove(task, seg)
    else:
        reg.lock(task, seg, cmd == SHM_LOCK)
    return 0


# --- semaphores -----------------------------------------------------------------------
def semget(task, key, nsems, flags):
    """Implements semget(2)."""
    return _ns(task).sem.get(task, i32(key), i32(nsems), i32(flags))


def semop(task, semid, sops, nsops):
    """Implements semop(2)."""
    return semtimedop(task, semid, sops, nsops, 0)


def semtimedop(task, semid, sops, nsops, timeout):
    """Implements semtimedop(2): all operations or none; a relative
    timeout ends the wait with EAGAIN."""
    semid, nsops = i32(semid), u32(nsops)
    if nsops < 1 or semid < 0:
        raise SyscallError(errno.EINVAL)
    if nsops > semmod.SEMOPM:
        raise SyscallError(errno.E2BIG)
    raw = task.mm.copy_in(sops, nsops * semmod.SEMBUF.size)
    ops = [semmod.SEMBUF.unpack_from(raw, i * semmod.SEMBUF.size) for i in range(nsops)]
    deadline = None
    if timeout:
        sec, nsec = struct.unpack("<qq", task.mm.copy_in(timeout, 16))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise SyscallError(errno.EINVAL)
        deadline = time.monotonic_ns() + sec * 1_000_000_000 + nsec
    return _ns(task).sem.semop(task, semid, ops, deadline)


def semctl(task, semid, semnum, cmd, arg):
    """Implements semctl(2)."""
    semid, semnum, cmd = i32(semid), i32(semnum), i32(cmd)
    reg = _ns(task).sem
    if cmd in (IPC_INFO, SEM_INFO):
        task.mm.copy_out(arg, reg.info(cmd == SEM_INFO))
        return reg.ids.max_index()
    if cmd in (SEM_STAT, SEM_STAT_ANY):
        sset = reg.ids.get_index(semid)
        if cmd == SEM_STAT:
            ipcperms(task, sset.perm, S_IRUGO)
        task.mm.copy_out(arg, sset.pack())
        return sset.perm.id
    if cmd == SETVAL:
        value = i32(arg)
        if value < 0 or value > semmod.SEMVMX:
            raise SyscallError(errno.ERANGE)
        sset = reg.ids.get(semid)
        if semnum < 0 or semnum >= sset.nsems:
            raise SyscallError(errno.EINVAL)
        ipcperms(task, sset.perm, 0o222)
        reg.set_values(task, sset, value, semnum)
        return 0
    if cmd in (IPC_RMID, IPC_SET):
        data = task.mm.copy_in(arg, SEMID64_SIZE) if cmd == IPC_SET else None
        sset = reg.ids.get(semid)
        if cmd == IPC_RMID:
            reg.remove(task, sset)
        else:
            reg.set(task, sset, data)
        return 0
    if cmd not in (IPC_STAT, GETALL, SETALL, GETVAL, GETPID, GETNCNT, GETZCNT):
        raise SyscallError(errno.EINVAL)
    sset = reg.ids.get(semid)
    ipcperms(task, sset.perm, 0o222 if cmd == SETALL else S_IRUGO)
    if cmd == IPC_STAT:
        task.mm.copy_out(arg, sset.pack())
        return 0
    if cmd == GETALL:
        task.mm.copy_out(arg, struct.pack("<%dH" % sset.nsems, *sset.values))
        return 0
    if cmd == SETALL:
        values = struct.unpack("<%dH" % sset.nsems, task.mm.copy_in(arg, 2 * sset.nsems))
        if any(v > semmod.SEMVMX for v in values):
            raise SyscallError(errno.ERANGE)
        reg.set_values(task, sset, values)
        return 0
    if semnum < 0 or semnum >= sset.nsems:
        raise SyscallError(errno.EINVAL)
    if cmd == GETVAL:
        return sset.values[semnum]
    if cmd == GETPID:
        return sset.pids[semnum]
    ncnt, zcnt = reg.counts(sset, semnum)
    return ncnt if cmd == GETNCNT else zcnt


# --- message queues ---------------------------------------------------------------------
def msgget(task, key, flags):
    """Implements msgget(2)."""
    return _ns(task).msg.get(task, i32(key), i32(flags))


def msgsnd(task, msqid, msgp, size, flags):
    """Implements msgsnd(2)."""
    msqid, size, flags = i32(msqid), i64(size), i32(flags)
    if size > msgmod.MSGMAX or size < 0 or msqid < 0:
        raise SyscallError(errno.EINVAL)
    (mtype,) = struct.unpack("<q", task.mm.copy_in(msgp, 8))
    if mtype < 1:
        raise SyscallError(errno.EINVAL)
    text = task.mm.copy_in(msgp + 8, size)
    return _ns(task).msg.send(task, msqid, mtype, text, flags)


def msgrcv(task, msqid, msgp, size, msgtyp, flags):
    """Implements msgrcv(2), MSG_COPY included."""
    msqid, size, msgtyp, flags = i32(msqid), i64(size), i64(msgtyp), i32(flags)
    if msqid < 0 or size < 0:
        raise SyscallError(errno.EINVAL)
    if flags & msgmod.MSG_COPY:
        if flags & msgmod.MSG_EXCEPT or not flags & 0o4000:
            raise SyscallError(errno.EINVAL)
        if msgtyp < 0:
            raise SyscallError(errno.ENOMSG)
    mtype, text = _ns(task).msg.receive(task, msqid, size, msgtyp, flags)
    task.mm.copy_out(msgp, struct.pack("<q", mtype) + text)
    return len(text)


def msgctl(task, msqid, cmd, buf):
    """Implements msgctl(2)."""
    msqid, cmd = i32(msqid), i32(cmd)
    reg = _ns(task).msg
    if cmd in (IPC_INFO, MSG_INFO):
        task.mm.copy_out(buf, reg.info(cmd == MSG_INFO))
        return reg.ids.max_index()
    if cmd in (MSG_STAT, MSG_STAT_ANY):
        q = reg.ids.get_index(msqid)
        if cmd == MSG_STAT:
            ipcperms(task, q.perm, S_IRUGO)
        task.mm.copy_out(buf, q.pack())
        return q.perm.id
    if cmd not in (IPC_STAT, IPC_SET, IPC_RMID):
        raise SyscallError(errno.EINVAL)
    data = task.mm.copy_in(buf, MSQID64_SIZE) if cmd == IPC_SET else None
    q = reg.ids.get(msqid)
    if cmd == IPC_STAT:
        ipcperms(task, q.perm, S_IRUGO)
        task.mm.copy_out(buf, q.pack())
    elif cmd == IPC_SET:
        reg.set(task, q, data)
    else:
        reg.remove(task, q)
    return 0
