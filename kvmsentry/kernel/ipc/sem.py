"""System V semaphore sets (semget/semop/semtimedop/semctl) and SEM_UNDO.

semop applies all of its operations or none: they are tried on a copy of
the values and committed only if none would block. A caller that would
block sleeps on the set's wait queue (kernel/waiter.py) and tries again
at every change; semncnt/semzcnt count the sleepers by the operation
they block on, as Linux does since 4.x. SEM_UNDO adjustments are kept per
process (thread group) and applied, clamped to [0, SEMVMX], when it ends.
"""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.ipc.namespace import (IPC_NOWAIT, S_IRUGO, S_IWUGO, IpcIds, IpcPerm,
                                            check_owner, ipcperms, now_s)
from kvmsentry.kernel.waiter import ALL_EVENTS, Queue, block_until

SEMMSL, SEMMNS, SEMOPM, SEMMNI = 32000, 1024000000, 500, 32000
SEMVMX = SEMAEM = 32767
SEM_UNDO = 0x1000
SEMBUF = struct.Struct("<HhH")
# struct semid64_ds after the perm: otime, pad, ctime, pad, nsems, pad, pad.
SEMID64 = struct.Struct("<qQqQQQQ")
SEMINFO = struct.Struct("<10i")


class SemSet:
    def __init__(self, key, creds, mode, nsems):
        self.perm = IpcPerm(key, creds, mode)
        self.values = [0] * nsems
        self.pids = [0] * nsems
        self.otime = 0
        self.ctime = now_s()
        self.queue = Queue()
        self.sleepers = []            # the sembuf each blocked semop waits on

    @property
    def nsems(self):
        return len(self.values)

    def pack(self):
        return self.perm.pack() + SEMID64.pack(self.otime, 0, self.ctime, 0, self.nsems, 0, 0)

    def changed(self):
        self.queue.notify(ALL_EVENTS)


class SemRegistry:
    def __init__(self, kernel):
        self.kernel = kernel
        self.ids = IpcIds(SEMMNI)
        self.undo = {}                # thread group -> {SemSet: [adjustment per sem]}

    def get(self, task, key, nsems, flags):
        if nsems < 0 or nsems > SEMMSL:
            raise SyscallError(errno.EINVAL)

        def create():
            if nsems == 0:
                raise SyscallError(errno.EINVAL)
            if self.total() + nsems > SEMMNS:
                raise SyscallError(errno.ENOSPC)
            return SemSet(key, task.creds, flags, nsems)

        def more_checks(sset):
            if nsems > sset.nsems:
                raise SyscallError(errno.EINVAL)

        return self.ids.get_or_create(task, key, flags, create, more_checks)

    def total(self):
        return sum(s.nsems for s in self.ids.objects())

    # --- semop ----------------------------------------------------------------
    def semop(self, task, semid, sops, deadline):
        """sops: [(num, op, flags)], already checked for count. Blocks (until
        deadline, CLOCK_MONOTONIC ns or None) while an operation would."""
        sset = self.ids.get(semid)
        if max(num for num, _, _ in sops) >= sset.nsems:
            raise SyscallError(errno.EFBIG)
        alter = any(op != 0 for _, op, _ in sops)
        ipcperms(task, sset.perm, S_IWUGO if alter else S_IRUGO)
        undo_wanted = any(flags & SEM_UNDO for _, _, flags in sops)
        state = {}

        def attempt():
            if sset.perm.deleted:
                raise SyscallError(errno.EIDRM)
            blocking = self._try(task, sset, sops)
            if blocking is None:
                return True
            num, op, flags = blocking
            if flags & IPC_NOWAIT:
                raise SyscallError(errno.EAGAIN)
            old = state.get("sleep")
            if old is not None:
                sset.sleepers.remove(old)
            state["sleep"] = (num, op)
            sset.sleepers.append((num, op))
            return False

        if undo_wanted:
            self.undo.setdefault(task.group, {})
        try:
            done = block_until(task, attempt, [(sset.queue, ALL_EVENTS)], deadline=deadline)
        finally:
            if state.get("sleep") is not None:
                sset.sleepers.remove(state["sleep"])
        if not done:
            raise SyscallError(errno.EAGAIN)      # semtimedop's timeout
        return 0

    def _try(self, task, sset, sops):
        """Apply sops atomically; None if done, else the sembuf that blocks.
        ERANGE past SEMVMX, or an undo adjustment past SEMAEM."""
        values = list(sset.values)
        undo = self.undo.get(task.group, {}).get(sset)
        adj = list(undo) if undo is not None else [0] * sset.nsems
        for num, op, flags in sops:
            cur = values[num]
            if op == 0:
                if cur != 0:
                    return num, op, flags
                continue
            new = cur + op
            if new < 0:
                return num, op, flags
            if new > SEMVMX:
                raise SyscallError(errno.ERANGE)
            if flags & SEM_UNDO:
                a = adj[num] - op
                if a < -SEMAEM - 1 or a > SEMAEM:
                    raise SyscallError(errno.ERANGE)
                adj[num] = a
            values[num] = new
        for num, op, flags in sops:
            sset.pids[num] = task.tgid
        sset.values = values
        if any(flags & SEM_UNDO for _, _, flags in sops):
            self.undo.setdefault(task.group, {})[sset] = adj
        sset.otime = now_s()
        if any(op for _, op, _ in sops):
            sset.changed()
        return None

    # --- semctl ---------------------------------------------------------------
    def counts(self, sset, num):
        """(semncnt, semzcnt) of one semaphore."""
        n = sum(1 for s, op in sset.sleepers if s == num and op < 0)
        z = sum(1 for s, op in sset.sleepers if s == num and op == 0)
        return n, z

    def set_values(self, task, sset, values, num=None):
        """SETVAL (num given) or SETALL: the adjustments of every process
        for the changed semaphores are cleared, as Linux does."""
        for sems in self.undo.values():
            adj = sems.get(sset)
            if adj is None:
                continue
            for i in (range(sset.nsems) if num is None else (num,)):
                adj[i] = 0
        if num is None:
            sset.values = list(values)
            sset.pids = [task.tgid] * sset.nsems
        else:
            sset.values[num] = values
            sset.pids[num] = task.tgid
        sset.ctime = now_s()
        sset.changed()

    def remove(self, task, sset):
        check_owner(task, sset.perm)
        self.ids.remove(sset)
        for sems in self.undo.values():
            sems.pop(sset, None)
        sset.changed()                  # sleepers see EIDRM

    def set(self, task, sset, data):
        check_owner(task, sset.perm)
        sset.perm.set_from(data)
        sset.ctime = now_s()

    def info(self, usage):
        """struct seminfo; SEM_INFO (usage) puts the sets and semaphores in
        use where IPC_INFO puts semusz and semaem."""
        used_sets, used_sems = len(self.ids), self.total()
        return SEMINFO.pack(
            SEMMNS, SEMMNI, SEMMNS, SEMMNS, SEMMSL, SEMOPM, SEMOPM,
            used_sets if usage else 20, SEMVMX, used_sems if usage else SEMAEM)

    # --- exit -----------------------------------------------------------------
    def exit_undo(self, group, tgid):
        for sset, adj in self.undo.pop(group, {}).items():
            if sset.perm.deleted:
                continue
            for i, a in enumerate(adj):
                if a:
                    sset.values[i] = min(max(sset.values[i] + a, 0), SEMVMX)
                    sset.pids[i] = tgid
            sset.changed()
