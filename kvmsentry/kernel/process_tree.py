"""The process tree: pid numbers, thread groups, parents and children,
process groups, sessions, zombies, and Linux's rules for wait and kill.

Pure bookkeeping: nothing here blocks, sends a signal or touches a host
thread. Each operation updates plain objects and returns what the caller
must do (signals to send, waiters to wake, groups to release).

Thread safety: none of its own. Callers hold the kernel lock around every
call, and a blocking wait is the caller's loop: under the lock, call
find_waitable; on None (and no WNOHANG) wait on the kernel's condition and
call it again when a ChildEvent for the waiter's group arrives.

Children belong to a thread group, not to the thread that forked them:
Linux lets any thread of a group wait for the children of every other
thread, and moves a dead thread's children to a live sibling, so at group
level the difference only shows in __WNOTHREAD and PR_SET_PDEATHSIG,
which this module does not model.
"""
import errno
import _signal as signal      # (signal.py adds only enums, and imports enum)
import time


from kvmsentry.errors import SentryBug, SyscallError
from kvmsentry.kernel.wait_status import (  # noqa: F401 (re-exported)
    CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLD_TRAPPED,
    P_ALL, P_PGID, P_PID, P_PIDFD, STATUS_CONTINUED, WAIT4_OPTIONS, WAITID_OPTIONS,
    WALL, WCLONE, WCONTINUED, WEXITED, WNOHANG, WNOTHREAD, WNOWAIT, WSTOPPED, WUNTRACED,
    siginfo_of_status, status_exited, status_signaled, status_stopped, wait4_options,
    waitid_options)
from kvmsentry.record import field, record

PID_MAX_DEFAULT = 4194304       # pids are 1 .. pid_max - 1 (64-bit default)
RESERVED_PIDS = 300             # after a wrap, allocation restarts here
INIT_PID = 1
INT_MIN = -(1 << 31)
NSIG = 64



class PidNamespace:
    """Pid numbers and how many uses each has.

    A number stays allocated while anything uses it: a live thread's tid,
    an unreaped thread group's tgid, or the pgid / sid of an unreaped
    group (as Linux keeps a struct pid while any task links to it).
    alloc() returns a number with one use; get/put add and drop uses.
    """

    def __init__(self, pid_max=PID_MAX_DEFAULT, reserved=RESERVED_PIDS):
        if pid_max < 2:
            raise ValueError("pid_max must be at least 2")
        self.pid_max = pid_max
        self.reserved = reserved
        self._uses = {}               # number -> count of uses
        self._next = 1                # where the cyclic search starts

    def alloc(self):
        """A free number, searched cyclically like Linux's alloc_pid: from
        after the last one to pid_max - 1, then wrapping to RESERVED_PIDS
        (to 1 while the counter has not passed RESERVED_PIDS). EAGAIN when
        every number is in use."""
        low = self.reserved if self._next > self.reserved else 1
        start = max(self._next, low)
        if len(self._uses) < self.pid_max - 1:
            for candidates in (range(start, self.pid_max), range(low, start)):
                for nr in candidates:
                    if nr not in self._uses:
                        self._uses[nr] = 1
                        self._next = nr + 1
                        return nr
        raise SyscallError(errno.EAGAIN)

    def get(self, nr):
        """One more use of an allocated number."""
        if nr not in self._uses:
            raise SentryBug("pid %d is not allocated" % nr)
        self._uses[nr] += 1

    def put(self, nr):
        """One use fewer; the number is free again after its last use."""
        count = self._uses.get(nr, 0)
        if count <= 0:
            raise SentryBug("pid %d is not allocated" % nr)
        if count == 1:
            del self._uses[nr]
        else:
            self._uses[nr] = count - 1

    def uses(self, nr):
        return self._uses.get(nr, 0)

    def in_use(self, nr):
        return nr in self._uses

    def allocated(self):
        """Every number in use, ascending."""
        return sorted(self._uses)


class ExitState:
    """A process's place in its life, compared by identity (a plain class:
    importing enum costs ~1.5 ms of every start)."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "<ExitState %s>" % self.value


RUNNING = ExitState("running")
ZOMBIE = ExitState("zombie")        # exited, waiting to be reaped
REAPED = ExitState("reaped")        # gone; its numbers are free


class ThreadGroup:
    """A process: a thread group with its place in the tree.

    The kernel sets the flags it owns: uid (real uid, for si_uid), the
    SIGCHLD disposition flags (from sigaction), child_subreaper (prctl),
    and the utime_ns/stime_ns counters (the process's own CPU time,
    including its dead threads'). cutime_ns/cstime_ns grow when this group
    reaps a child.
    """

    def __init__(self, tgid, parent, pgid, sid, exit_signal, uid):
        self.tgid = tgid
        self.threads = {tgid}             # tids of live threads
        self.parent = parent              # ThreadGroup; None for init
        self.children = []                # unreaped child groups, fork order
        self.pgid = pgid
        self.sid = sid
        self.session_leader = False
        self.state = RUNNING
        self.exit_status = None           # wait status once a zombie
        self.exit_signal = exit_signal    # sent to the parent at exit; 0: none
        self.exec_count = 0               # Linux's self_exec_id
        self.parent_exec_id = 0           # parent's exec_count at fork
        self.did_exec = False             # for setpgid's EACCES
        self.uid = uid
        self.utime_ns = self.stime_ns = 0
        self.cutime_ns = self.cstime_ns = 0
        self.ioac = [0, 0, 0, 0]          # /proc/[pid]/io of its dead threads and reaped children
        self.maxrss_kb = self.cmaxrss_kb = 0  # peak RSS (getrusage), own and reaped children's
        self.start_ns = time.monotonic_ns()   # /proc/[pid]/stat's starttime
        self.stopped = False              # in a group stop now
        self.stop_code = 0                # stop signal not yet reported (WUNTRACED)
        self.continued = False            # continue not yet reported (WCONTINUED)
        self.child_subreaper = False      # PR_SET_CHILD_SUBREAPER
        self.oom_score_adj = 0            # /proc/[pid]/oom_score_adj, inherited at fork
        self.oom_score_adj_min = 0        # below it needs CAP_SYS_RESOURCE
        self.coredump_filter = 0x33       # /proc/[pid]/coredump_filter; fork and exec keep it
        self.sigchld_ignored = False      # SIGCHLD is SIG_IGN: autoreap, no signal
        self.sigchld_nocldwait = False    # SA_NOCLDWAIT: autoreap, signal sent
        self.sigchld_nocldstop = False    # SA_NOCLDSTOP: no signal for stop/continue
        self.exited_leader = None         # the leader's Task once it exited before the others
        self.tracees = {}                 # ptrace: Tasks this process traces (dict: attach order)

    @property
    def leader_tid(self):
        """The leader's tid: always the tgid, even after the leader exits."""
        return self.tgid

    @property
    def ppid(self):
        return self.parent.tgid if self.parent is not None else 0

    def note_rss(self, mm):
        """Raise the peak RSS to what mm holds now (frames of 4 KiB)."""
        self.maxrss_kb = max(self.maxrss_kb, len(mm.pages) * 4)

    def __repr__(self):
        return "<ThreadGroup %d %s ppid=%d pgid=%d sid=%d threads=%s>" % (
            self.tgid, self.state.value, self.ppid, self.pgid, self.sid,
            sorted(self.threads))


@record(frozen=True)
class ChildEvent:
    """A child changed state: wake parent's waiters (always) and, if signo
    is not 0, send signo to parent with this siginfo (si_code, si_pid,
    si_uid, si_status, si_utime, si_stime; times in ns)."""
    parent: ThreadGroup
    signo: int
    pid: int
    uid: int
    si_code: int
    si_status: int
    utime_ns: int
    stime_ns: int


@record
class ExitResult:
    """What the caller of group_exited must do.

    notifications: ChildEvents to deliver, in order (the exiting group's
        own is last).
    reaped: groups released at once (autoreaped because the parent ignores
        SIGCHLD or has exited); free their remaining resources.
    reparented_zombies: zombie children now owned by init or a subreaper,
        which must wait for them (their ChildEvent is in notifications).
    orphaned_pgrps: process groups just orphaned with stopped members:
        send SIGHUP then SIGCONT to members_of_pgrp(pgid).
    kill_all: init exited: SIGKILL every one of these; as they exit they
        are reaped automatically.
    """
    notifications: list = field(default_factory=list)
    reaped: list = field(default_factory=list)
    reparented_zombies: list = field(default_factory=list)
    orphaned_pgrps: list = field(default_factory=list)
    kill_all: list = field(default_factory=list)


@record(frozen=True)
class WaitResult:
    """A child that find_waitable reports: wait_status for wait4's *wstatus,
    si_code/si_status/pid/uid for waitid's siginfo, the child's rusage
    times (its own plus its reaped children's, ns), and whether the child
    was reaped (its pid freed) by this report."""
    child: ThreadGroup
    pid: int
    uid: int
    si_code: int
    si_status: int
    wait_status: int
    utime_ns: int
    stime_ns: int
    reaped: bool


class ProcessTree:
    """Every unreaped thread group of a sandbox and their pid namespace."""

    def __init__(self, pid_max=PID_MAX_DEFAULT, reserved=RESERVED_PIDS):
        self.ns = PidNamespace(pid_max, reserved)
        self.groups = {}                  # tgid -> ThreadGroup (running or zombie), creation order
        self.init = None
        self._thread_group = {}           # live tid -> ThreadGroup
        self._pgrps = {}                  # pgid -> {ThreadGroup: None}, unreaped members

    # -- lookups -----------------------------------------------------------

    def lookup(self, pid):
        """The group with tgid pid, or owning live thread pid; else None
        (what kill, setpgid and getpgid resolve a pid to)."""
        return self.groups.get(pid) or self._thread_group.get(pid)

    def members_of_pgrp(self, pgid):
        """Unreaped groups (zombies included) in process group pgid."""
        return list(self._pgrps.get(pgid, ()))

    # -- creation and threads ----------------------------------------------

    def create_init(self, uid=0):
        """Pid 1: the leader of session 1 and process group 1."""
        if self.init is not None:
            raise SentryBug("init already exists")
        pid = self.ns.alloc()
        if pid != INIT_PID:
            raise SentryBug("init got pid %d" % pid)
        init = ThreadGroup(pid, None, pid, pid, signal.SIGCHLD, uid)
        init.session_leader = True
        self._register(init)
        self.init = init
        return init

    def spawn(self, uid=0):
        """A process started from outside the sandbox (an OCI `exec`): no
        parent inside (its ppid is 0, as runsc's), a session and process
        group of its own. Its zombie waits for the sandbox to reap it."""
        self._check_running(self.init)
        pid = self.ns.alloc()
        group = ThreadGroup(pid, None, pid, pid, signal.SIGCHLD, uid)
        group.session_leader = True
        self._register(group)
        return group

    def fork(self, parent, exit_signal=signal.SIGCHLD, clone_parent=False):
        """A new process forked by a thread of parent (fork, vfork, clone
        without CLONE_THREAD). With clone_parent (CLONE_PARENT) it is a
        sibling of parent instead and inherits parent's exit_signal, as in
        Linux. EINVAL for a bad signal or CLONE_PARENT from init, EAGAIN
        when no pid is free."""
        self._check_running(parent)
        if not 0 <= exit_signal <= NSIG:
            raise SyscallError(errno.EINVAL)
        if clone_parent:
            if parent.parent is None:
                raise SyscallError(errno.EINVAL)
            real_parent = parent.parent
            exit_signal = parent.exit_signal
            exec_id = parent.parent_exec_id
        else:
            real_parent, exec_id = parent, parent.exec_count
        pid = self.ns.alloc()
        child = ThreadGroup(pid, real_parent, parent.pgid, parent.sid, exit_signal, parent.uid)
        child.parent_exec_id = exec_id
        child.oom_score_adj, child.oom_score_adj_min = parent.oom_score_adj, parent.oom_score_adj_min
        child.coredump_filter = parent.coredump_filter
        self._register(child)
        return child

    def add_thread(self, group):
        """A new thread in group (clone with CLONE_THREAD); its tid."""
        self._check_running(group)
        tid = self.ns.alloc()
        group.threads.add(tid)
        self._thread_group[tid] = group
        return tid

    def thread_exited(self, group, tid):
        """Thread tid of group is gone; True if it was the last one (the
        caller then calls group_exited). The leader's tid stays in use as
        the tgid until the group is reaped."""
        if tid not in group.threads:
            raise SentryBug("tid %d is not a live thread of %r" % (tid, group))
        group.threads.discard(tid)
        del self._thread_group[tid]
        self.ns.put(tid)
        return not group.threads

    def exec_thread(self, group, tid):
        """Thread tid finished execve after every other thread exited;
        return its tid afterwards. As Linux's de_thread: a non-leader takes
        over the leader's tid (freeing its own) and exit_signal becomes
        SIGCHLD. SA_NOCLDWAIT/SA_NOCLDSTOP are reset (exec clears sa_flags;
        SIG_IGN survives)."""
        if group.threads != {tid}:
            raise SentryBug("exec by %d with other threads alive in %r" % (tid, group))
        group.did_exec = True
        group.exec_count += 1
        group.sigchld_nocldwait = group.sigchld_nocldstop = False
        if tid != group.tgid:
            self.thread_exited(group, tid)
            self.ns.get(group.tgid)
            group.threads.add(group.tgid)
            self._thread_group[group.tgid] = group
            group.exit_signal = signal.SIGCHLD
        return group.tgid

    # -- exit, stop, continue ----------------------------------------------

    def group_exited(self, group, status):
        """The last thread of group is gone: group becomes a zombie with
        wait status `status`. Its children move to the nearest running
        child-subreaper ancestor, else to init (as Linux's exit_notify).
        If init itself exits, everything else must be killed (kill_all)."""
        if group.state is not RUNNING or group.threads:
            raise SentryBug("group_exited(%r)" % group)
        group.state = ZOMBIE
        group.exit_status = status
        group.stopped, group.stop_code, group.continued = False, 0, False
        result = ExitResult()
        if group is self.init:
            result.kill_all = [g for g in self.groups.values() if g.state is RUNNING]
            for child in list(group.children):
                if child.state is ZOMBIE:
                    self._release(child)
                    result.reaped.append(child)
            return result
        reaper = self._find_reaper(group)
        for child in list(group.children):
            self._reparent(child, group, reaper, result)
        self._check_orphaned_pgrp(group, group.parent, group, result)
        self._notify_exit(group, result)
        return result

    def group_stopped(self, group, signo):
        """Group stop by signo completed; the ChildEvent (CLD_STOPPED) for
        the parent, or None if there is none to tell."""
        self._check_running(group)
        group.stopped, group.stop_code, group.continued = True, signo, False
        return self._cldstop_event(group, CLD_STOPPED, signo)

    def group_continued(self, group):
        """SIGCONT resumed a stopped group; its ChildEvent (CLD_CONTINUED),
        or None if the group was not stopped."""
        if group.state is not RUNNING or not group.stopped:
            return None
        group.stopped, group.stop_code, group.continued = False, 0, True
        return self._cldstop_event(group, CLD_CONTINUED, signal.SIGCONT)

    def _cldstop_event(self, group, code, status):
        parent = group.parent
        if parent is None or parent.state is not RUNNING:
            return None
        quiet = parent.sigchld_nocldstop or parent.sigchld_ignored
        return ChildEvent(parent, 0 if quiet else signal.SIGCHLD, group.tgid, group.uid,
                          code, status, group.utime_ns, group.stime_ns)

    def _find_reaper(self, group):
        """Linux's find_new_reaper, at group level."""
        ancestor = group.parent
        while ancestor is not None and ancestor is not self.init:
            if ancestor.child_subreaper and ancestor.state is RUNNING:
                return ancestor
            ancestor = ancestor.parent
        return self.init

    def _reparent(self, child, father, reaper, result):
        father.children.remove(child)
        child.parent = reaper
        reaper.children.append(child)
        child.exit_signal = signal.SIGCHLD       # "we don't want people slaying init"
        if child.state is ZOMBIE and not self._notify_exit(child, result):
            result.reparented_zombies.append(child)
        self._check_orphaned_pgrp(child, father, None, result)

    def _notify_exit(self, child, result):
        """Tell child's parent that child exited (Linux's do_notify_parent);
        release child at once if nobody will wait for it. True if released."""
        parent = child.parent
        if parent is None:
            return False                 # init: the sandbox reaps it
        if parent.state is not RUNNING:  # only an exited init: nobody waits
            self._release(child)
            result.reaped.append(child)
            return True
        sig = child.exit_signal
        if sig != signal.SIGCHLD and child.parent_exec_id != parent.exec_count:
            sig = signal.SIGCHLD         # the parent exec'd since the fork
        autoreap = sig == signal.SIGCHLD and (parent.sigchld_ignored or parent.sigchld_nocldwait)
        if autoreap and parent.sigchld_ignored:
            sig = 0
        si_code, si_status = siginfo_of_status(child.exit_status)
        result.notifications.append(ChildEvent(parent, sig, child.tgid, child.uid, si_code,
                                               si_status, child.utime_ns, child.stime_ns))
        if autoreap:
            self._release(child)
            result.reaped.append(child)
        return autoreap

    def _check_orphaned_pgrp(self, task, parent, ignored, result):
        """Linux's kill_orphaned_pgrp: did task's process group just lose its
        last link to a parent in another group of the same session while
        some member is stopped? Then it gets SIGHUP and SIGCONT."""
        if parent is None or self.init.state is not RUNNING:
            return
        pgid = task.pgid
        if (parent.pgid != pgid and parent.sid == task.sid
                and pgid not in result.orphaned_pgrps
                and self._will_become_orphaned(pgid, ignored)
                and any(m.stopped for m in self._pgrps.get(pgid, ()))):
            result.orphaned_pgrps.append(pgid)

    def _will_become_orphaned(self, pgid, ignored):
        for member in self._pgrps.get(pgid, ()):
            if member is ignored or member.state is not RUNNING:
                continue
            parent = member.parent
            if parent is None or parent is self.init:
                continue
            if parent.pgid != pgid and parent.sid == member.sid:
                return False
        return True

    # -- wait --------------------------------------------------------------

    def find_waitable(self, waiter, pid_selector, options):
        """wait4(2)'s choice among waiter's children. pid_selector: < -1
        process group -pid_selector; -1 any child; 0 waiter's process
        group; > 0 that pid. options: waitid-style flags (WEXITED must be
        set to see exits: use wait4_options() for wait4); WNOHANG is the
        caller's business. Returns a WaitResult, consuming the report
        (reaping a zombie, clearing a stop/continue) unless WNOWAIT; None
        if matching children exist but none has anything to report;
        ECHILD if no child matches."""
        if pid_selector == INT_MIN:
            raise SyscallError(errno.ESRCH)
        if pid_selector < -1:
            return self._find(waiter, "pgid", -pid_selector, options)
        if pid_selector == -1:
            return self._find(waiter, "any", None, options)
        if pid_selector == 0:
            return self._find(waiter, "pgid", waiter.pgid, options)
        return self._find(waiter, "pid", pid_selector, options)

    def find_waitable_id(self, waiter, idtype, id_, options):
        """waitid(2)'s choice: as find_waitable with idtype P_ALL, P_PID or
        P_PGID (0: waiter's group). P_PIDFD: resolve it to a P_PID first.
        EINVAL for other idtypes or ids out of range."""
        if idtype == P_ALL:
            return self._find(waiter, "any", None, options)
        if idtype == P_PID and id_ > 0:
            return self._find(waiter, "pid", id_, options)
        if idtype == P_PGID and id_ >= 0:
            return self._find(waiter, "pgid", id_ or waiter.pgid, options)
        raise SyscallError(errno.EINVAL)

    def _find(self, waiter, kind, value, options):
        eligible = False
        for child in waiter.children:
            if kind == "pid" and child.tgid != value or kind == "pgid" and child.pgid != value:
                continue
            # A "clone child" reports with a signal other than SIGCHLD; it is
            # seen only with __WCLONE, and with __WALL like every other child.
            if not options & WALL and (child.exit_signal != signal.SIGCHLD) != bool(options & WCLONE):
                continue
            eligible = True
            report = self._report(child, options)
            if report is not None:
                return report
        if not eligible:
            raise SyscallError(errno.ECHILD)
        return None

    def _report(self, child, options):
        consume = not options & WNOWAIT
        utime = child.utime_ns + child.cutime_ns
        stime = child.stime_ns + child.cstime_ns
        if child.state is ZOMBIE:
            if not options & WEXITED:
                return None
            si_code, si_status = siginfo_of_status(child.exit_status)
            if consume:
                self.reap(child)
            return WaitResult(child, child.tgid, child.uid, si_code, si_status,
                              child.exit_status, utime, stime, consume)
        if options & WSTOPPED and child.stopped and child.stop_code:
            sig = child.stop_code
            if consume:
                child.stop_code = 0
            return WaitResult(child, child.tgid, child.uid, CLD_STOPPED, sig,
                              status_stopped(sig), utime, stime, False)
        if options & WCONTINUED and child.continued:
            if consume:
                child.continued = False
            return WaitResult(child, child.tgid, child.uid, CLD_CONTINUED, signal.SIGCONT,
                              STATUS_CONTINUED, utime, stime, False)
        return None

    def reap(self, child):
        """Release a zombie as its parent's wait does: its times go into the
        parent's cutime/cstime and its pid, pgid and sid uses are dropped."""
        if child.state is not ZOMBIE:
            raise SentryBug("reap(%r)" % child)
        parent = child.parent
        if parent is not None:
            parent.cutime_ns += child.utime_ns + child.cutime_ns
            parent.cstime_ns += child.stime_ns + child.cstime_ns
            parent.cmaxrss_kb = max(parent.cmaxrss_kb, child.maxrss_kb, child.cmaxrss_kb)
            parent.ioac = [a + b for a, b in zip(parent.ioac, child.ioac)]
        self._release(child)

    # -- process groups and sessions ---------------------------------------

    def setpgid(self, caller, pid, pgid):
        """Implements setpgid(2)'s rules for caller (pid/pgid 0: caller)."""
        if pid == 0:
            pid = caller.tgid
        if pgid == 0:
            pgid = pid
        if pgid < 0:
            raise SyscallError(errno.EINVAL)
        target = self.lookup(pid)
        if target is None:
            raise SyscallError(errno.ESRCH)
        if target.tgid != pid:
            raise SyscallError(errno.EINVAL)       # a thread, not a leader
        if target.parent is caller:
            if target.sid != caller.sid:
                raise SyscallError(errno.EPERM)
            if target.did_exec:
                raise SyscallError(errno.EACCES)
        elif target is not caller:
            raise SyscallError(errno.ESRCH)
        if target.session_leader:
            raise SyscallError(errno.EPERM)
        if pgid != pid:
            members = self._pgrps.get(pgid)
            if not members or next(iter(members)).sid != caller.sid:
                raise SyscallError(errno.EPERM)
        self._set_pgid(target, pgid)

    def getpgid(self, caller, pid):
        """Implements getpgid(2)."""
        return self._target(caller, pid).pgid

    def setsid(self, caller):
        """Implements setsid(2): the new session's id."""
        if caller.session_leader or caller.tgid in self._pgrps:
            raise SyscallError(errno.EPERM)
        self.ns.get(caller.tgid)
        self.ns.put(caller.sid)
        caller.sid = caller.tgid
        caller.session_leader = True
        self._set_pgid(caller, caller.tgid)
        return caller.sid

    def getsid(self, caller, pid):
        """Implements getsid(2)."""
        return self._target(caller, pid).sid

    def _target(self, caller, pid):
        if pid == 0:
            return caller
        target = self.lookup(pid)
        if target is None:
            raise SyscallError(errno.ESRCH)
        return target

    def _set_pgid(self, group, pgid):
        if group.pgid == pgid:
            return
        self.ns.get(pgid)
        self._leave_pgrp(group)
        group.pgid = pgid
        self._pgrps.setdefault(pgid, {})[group] = None

    def _leave_pgrp(self, group):
        members = self._pgrps[group.pgid]
        del members[group]
        if not members:
            del self._pgrps[group.pgid]
        self.ns.put(group.pgid)

    # -- kill --------------------------------------------------------------

    def kill_targets(self, sender, pid):
        """The groups kill(2) with this pid addresses (zombies included, as
        in Linux: signalling one succeeds and does nothing). pid > 0 that
        process (a thread's tid names its process); 0 sender's process
        group; -1 all but init and sender; < -1 process group -pid. ESRCH
        if none. Permission checks are the caller's."""
        if pid == INT_MIN:
            raise SyscallError(errno.ESRCH)
        if pid > 0:
            target = self.lookup(pid)
            targets = [target] if target is not None else []
        elif pid == 0:
            targets = self.members_of_pgrp(sender.pgid)
        elif pid == -1:
            targets = [g for g in self.groups.values() if g.tgid != INIT_PID and g is not sender]
        else:
            targets = self.members_of_pgrp(-pid)
        if not targets:
            raise SyscallError(errno.ESRCH)
        return targets

    # -- internals ---------------------------------------------------------

    def _check_running(self, group):
        if group.state is not RUNNING:
            raise SentryBug("%r is not running" % group)

    def _register(self, group):
        """Enter a group whose tgid came from alloc() (that use is the
        leader thread's); the group holds its tgid, pgid and sid too."""
        for nr in (group.tgid, group.pgid, group.sid):
            self.ns.get(nr)
        self.groups[group.tgid] = group
        self._thread_group[group.tgid] = group
        self._pgrps.setdefault(group.pgid, {})[group] = None
        if group.parent is not None:
            group.parent.children.append(group)

    def _release(self, group):
        group.state = REAPED
        if group.parent is not None:
            group.parent.children.remove(group)
        del self.groups[group.tgid]
        self._leave_pgrp(group)
        self.ns.put(group.tgid)
        self.ns.put(group.sid)
