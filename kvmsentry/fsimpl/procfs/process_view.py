"""The subject of a /proc/[pid] (or task/[tid]) directory: the thread
group, the thread asked about and the kernel, with the liveness and
ownership checks every file of the directory makes. Its own module so
that a lookup in the directory (a static glibc's readlink of
/proc/self/exe at its start) loads no file texts (task_files.py)."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_SYS_PTRACE
from kvmsentry.kernel.dumpable import is_dumpable
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.process_tree import REAPED, ZOMBIE


class ProcessView:
    """One /proc/[pid] (or task/[tid]) directory's subject: the thread
    group, one of its threads (None if unknown) and the pid the directory
    is named by. A file opened while the process ran answers as Linux's
    does later: a zombie's thread keeps its name, ids and signal state but
    no memory, files or namespaces; once the process is reaped (or a
    thread that is not the leader has exited) its files fail with ESRCH."""

    def __init__(self, kernel, group, task, pid=None):
        self.kernel = kernel
        self.group = group
        self.task = task
        self.pid = group.tgid if pid is None else pid

    def check_alive(self):
        """Linux's get_proc_task: ESRCH once the pid is released."""
        t = self.task
        if self.group.state is REAPED or t is None and self.group.state is not ZOMBIE:
            raise SyscallError(errno.ESRCH)
        if t is not None and t.tid != self.group.tgid and self.kernel.tasks.get(t.tid) is not t:
            raise SyscallError(errno.ESRCH)

    def live(self):
        """The thread while it runs (it has memory and files); None for a
        zombie; ESRCH once reaped."""
        self.check_alive()
        t = self.task
        return t if t is not None and self.kernel.tasks.get(t.tid) is t else None

    def live_task(self):
        """The running thread, or ESRCH (for files Linux does not show of
        a zombie)."""
        t = self.live()
        if t is None:
            raise SyscallError(errno.ESRCH)
        return t

    def comm(self):
        t = self.task
        return t.comm if t is not None else "?"

    def threads(self):
        return [t for tid in sorted(self.group.threads)
                if (t := self.kernel.tasks.get(tid)) is not None]

    def thread_count(self):
        """Linux's nr_threads: the live threads, and a leader that has
        exited until the process is reaped."""
        leader = self.group.exited_leader
        return len(self.threads()) + (leader is not None)

    def owner(self):
        """(uid, gid) of the directory's files: the task's effective ids,
        root's once it is not dumpable (after a set*id, as on Linux)."""
        t = self.task
        if t is None:
            return self.group.uid, 0
        if self.kernel.tasks.get(t.tid) is t and not is_dumpable(t.mm):
            return 0, 0
        return t.creds.euid, t.creds.egid

    def check_ptrace_read(self):
        """Linux's ptrace_may_access(PTRACE_MODE_READ_FSCREDS), which
        guards the magic links: EACCES for another user's process."""
        reader = current()
        if reader is None or reader.group is self.group or reader.creds.capable(CAP_SYS_PTRACE):
            return
        live = self.live()
        t = self.task
        if t is None:
            return
        me, them = reader.creds, t.creds
        dumpable = live is None or is_dumpable(t.mm)      # a zombie has no mm to ask
        if not (dumpable and me.fsuid == them.uid == them.euid == them.suid
                and me.fsgid == them.gid == them.egid == them.sgid):
            raise SyscallError(errno.EACCES)
