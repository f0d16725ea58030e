"""ptrace inside the sandbox: who traces whom, ptrace-stops, and how they
reach the tracer's wait.

A tracee is a Task with a `Tracee` record in task.ptrace. Every stop runs
on the tracee's own host thread: it snapshots its registers into the
record, tells the tracer (child_queue, SIGCHLD with CLD_TRAPPED) and
sleeps, kernel lock released, until the tracer resumes it, detaches or it
is killed. The tracer only ever touches that snapshot (and the tracee's
memory); the tracee applies changed registers itself when it wakes, so
the platform context stays single-threaded (platform/kvm/context.py).

The tracer is a thread group here, not one thread (any thread of it may
issue requests and wait); Linux ties a tracee to the attaching thread.

Stops: syscall-entry/exit (kernel/ptrace_syscall.py), signal-delivery
(signal_delivery.deliver_pending and faults), group-stop, PTRACE_EVENT_*
(fork/vfork/clone/exec/exit/stop) and PTRACE_INTERRUPT. The wait side
(find_waitable) reports stops and the exits of traced threads.
"""
import _signal                        # (signal.py adds only enums, and imports enum)

from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.exit import ExitThread
from kvmsentry.kernel import process_tree as pt
from kvmsentry.kernel.waiter import ALL_EVENTS, block_until
from kvmsentry.record import record

SIGTRAP, SIGSTOP, SIGKILL = sg.SIGTRAP, sg.SIGSTOP, sg.SIGKILL
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC = 1, 2, 3, 4
EVENT_VFORK_DONE, EVENT_EXIT, EVENT_SECCOMP, EVENT_STOP = 5, 6, 7, 128
O_TRACESYSGOOD, O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE = 0x1, 0x2, 0x4, 0x8
O_TRACEEXEC, O_TRACEVFORKDONE, O_TRACEEXIT, O_TRACESECCOMP = 0x10, 0x20, 0x40, 0x80
O_EXITKILL, O_SUSPEND_SECCOMP = 0x100000, 0x200000
O_MASK = 0xFF | O_EXITKILL | O_SUSPEND_SECCOMP
_EVENT_OPTION = {EVENT_FORK: O_TRACEFORK, EVENT_VFORK: O_TRACEVFORK,
                 EVENT_CLONE: O_TRACECLONE, EVENT_EXEC: O_TRACEEXEC,
                 EVENT_VFORK_DONE: O_TRACEVFORKDONE, EVENT_EXIT: O_TRACEEXIT}

# How the tracer resumed a stop.
CONT, SYSCALL, SINGLESTEP, SYSEMU, LISTEN, DETACH = range(6)
# syscall stop kinds (PTRACE_GET_SYSCALL_INFO's op, and eventmsg at syscall stops)
OP_NONE, OP_ENTRY, OP_EXIT = 0, 1, 2
TF = 0x100
MASK64 = (1 << 64) - 1


class Tracee:
    """ptrace state of one traced thread."""

    def __init__(self, tracer, seized, options):
        self.tracer = tracer            # ThreadGroup tracing this thread
        self.seized = seized
        self.options = options
        self.mode = CONT                # what the last resume asked for
        self.stopped = False            # in a ptrace-stop now
        self.exit_code = 0              # the stop's status >> 8
        self.unreported = False         # its stop waits for the tracer's wait
        self.resume = None              # (mode, signal) from the tracer
        self.regs = None                # register snapshot while stopped (dict)
        self.fpu = None                 # kvm_xsave image while stopped
        self.regs_dirty = self.fpu_dirty = False
        self.fs_base = self.gs_base = 0
        self.siginfo = None             # GETSIGINFO's; the stop's signal
        self.event_msg = 0
        self.syscall_op = OP_NONE
        self.syscall_nr = -1
        self.listening = False
        self.interrupt = False          # PTRACE_INTERRUPT or a seized child's first stop
        self.group_stop_done = False    # this group stop was reported already
        self.forced_tf = False          # TF set by PTRACE_SINGLESTEP, not the program
        self.debugregs = [0] * 8        # stored, not armed (no hardware breakpoints)


@record
class TracedExit:
    """A traced thread that ended, owed to its tracer's wait."""
    tracer: object
    tid: int
    tgid: int
    pgid: int
    uid: int
    status: int
    clone: bool                   # a non-leader thread: seen with __WALL/__WCLONE


# --- linking --------------------------------------------------------------------
def tracer_task(kernel, group):
    """A live thread of the tracing group (to signal it)."""
    return next((t for t in kernel.tasks.values() if t.group is group), None)


def _set_tracee(task, tracee):
    """task.ptrace = tracee, keeping the tracers' `tracees` current: a
    wait4 by a process that traces nothing then skips the scan of every
    task (it is on every fork + exec + wait of a shell)."""
    old = task.ptrace
    if old is not None:
        old.tracer.tracees.pop(task, None)
    task.ptrace = tracee
    if tracee is not None:
        tracee.tracer.tracees[task] = None


def link(task, tracer_group, seized, options):
    _set_tracee(task, Tracee(tracer_group, seized, options))
    task.kernel.child_queue.notify(ALL_EVENTS)      # a group-stopped tracee looks again


def unlink(task, sig=0):
    """Detach: the tracee runs on (with sig delivered if not 0)."""
    tr = task.ptrace
    if tr is None:
        return
    if tr.stopped:
        tr.resume = (DETACH, sig)
    _set_tracee(task, None)
    task.kick()
    task.kernel.child_queue.notify(ALL_EVENTS)


def tracees_of(kernel, group):
    if not group.tracees:
        return []
    # (In the tasks' order, which is the order waits report them in.)
    return [t for t in kernel.tasks.values() if t.ptrace is not None and t.ptrace.tracer is group]


def traced_exits(kernel):
    """TracedExits not yet reaped by their tracers' waits."""
    return kernel.traced_exits


# --- the stop ---------------------------------------------------------------------
def stop(task, exit_code, siginfo=None, regs=None, op=OP_NONE, event_msg=None):
    """Enter a ptrace-stop reporting status (exit_code << 8) | 0x7f; sleep
    until the tracer resumes us. Returns (mode, signal, new registers or
    None if the tracer left them alone); (CONT, 0, None) if the tracer
    went away. A SIGKILL ends the thread from here."""
    from kvmsentry.kernel.lifecycle import handle_kill
    tr = task.ptrace
    ctx = task.ctx
    if regs is None:
        regs = user_view(task)
    tr.regs, tr.regs_dirty = regs, False
    tr.fpu, tr.fpu_dirty = ctx.get_fpu(), False
    tr.fs_base, tr.gs_base = ctx.fs_base, ctx.gs_base
    tr.siginfo = siginfo if siginfo is not None else sg.SigInfo(
        SIGTRAP, exit_code, pid=task.tid, uid=task.creds.uid)
    tr.syscall_op = op
    if event_msg is not None:
        tr.event_msg = event_msg
    tr.exit_code, tr.stopped, tr.unreported, tr.resume = exit_code, True, True, None
    _notify_tracer(task, tr, pt.CLD_TRAPPED, exit_code & 0x7F)
    kernel = task.kernel
    try:
        block_until(task, lambda: tr.resume is not None or task.ptrace is not tr,
                    [(kernel.child_queue, ALL_EVENTS)], interruptible=False)
    finally:
        tr.stopped = tr.unreported = False
    handle_kill(task)
    apply_extras(task, tr)
    mode, sig = tr.resume or (CONT, 0)
    if task.ptrace is not tr or mode == DETACH:
        mode = CONT                                 # detached: runs on freely
    tr.mode = mode
    if mode == SINGLESTEP and not tr.regs["rflags"] & TF:
        tr.regs["rflags"] |= TF
        tr.forced_tf = tr.regs_dirty = True
    elif mode != SINGLESTEP and tr.forced_tf:
        tr.regs["rflags"] &= ~TF
        tr.forced_tf, tr.regs_dirty = False, True
    return mode, sig, _changed(tr)


def _changed(tr):
    """The registers, if the tracer changed them (the caller knows how to
    load them at its kind of stop)."""
    return tr.regs if tr.regs_dirty else None


def apply_extras(task, tr):
    """FPU and fs/gs bases the tracer changed (the tracee's own thread)."""
    ctx = task.ctx
    if tr.fpu_dirty:
        ctx.set_fpu(tr.fpu)
        tr.fpu_dirty = False
    if tr.fs_base != ctx.fs_base:
        ctx.set_fs_base(tr.fs_base)
    if tr.gs_base != ctx.gs_base:
        ctx.set_gs_base(tr.gs_base)


def user_view(task):
    """The registers as user_regs_struct shows them outside a syscall."""
    d = task.ctx.user_regs()
    d["orig_rax"] = MASK64
    tr = task.ptrace
    if tr is not None and tr.forced_tf:
        d["rflags"] &= ~TF
    return d


def syscall_view(task, nr, rax):
    """The registers at a stop inside a syscall (entry, fork/clone events):
    rip past the instruction, rcx/r11 as SYSCALL left them."""
    ctx = task.ctx
    d = ctx.user_regs()
    rip, flags = ctx.syscall_return_rip, ctx.syscall_return_flags | 0x2
    d.update(rip=rip, rcx=rip, r11=flags, rflags=flags, rax=rax & MASK64,
             orig_rax=nr & MASK64)
    tr = task.ptrace
    if tr is not None and tr.forced_tf:
        d["rflags"] &= ~TF
    return d


def resume_user(task, mode, sig, regs):
    """After a stop outside a syscall: load changed registers."""
    if regs is not None:
        task.ctx.set_user_regs(regs)


def _notify_tracer(task, tr, code, status):
    """Wake the tracer's waits and send it SIGCHLD (unless SA_NOCLDSTOP
    for stops, or SIGCHLD ignored)."""
    kernel = task.kernel
    tracer = tr.tracer
    quiet = tracer.sigchld_ignored or (code != pt.CLD_EXITED and code != pt.CLD_KILLED
                                       and tracer.sigchld_nocldstop)
    event = pt.ChildEvent(tracer, 0 if quiet else _signal.SIGCHLD, task.tid,
                          task.creds.uid, code, status, task.group.utime_ns,
                          task.group.stime_ns)
    kernel.notify_parent(event)


def event_enabled(task, event):
    tr = task.ptrace
    return tr is not None and bool(tr.options & _EVENT_OPTION.get(event, 0))


def event_stop(task, event, msg, regs=None):
    """A PTRACE_EVENT_* stop (status SIGTRAP | event << 8)."""
    return stop(task, SIGTRAP | event << 8, regs=regs, event_msg=msg)


# --- hooks from the rest of the kernel ----------------------------------------------
def after_clone(task, child, flags, tid):
    """clone/fork/vfork by a traced task: auto-attach the child when the
    matching option (or CLONE_PTRACE) says so, then the event stop. The
    child starts in a stop: SIGSTOP, or PTRACE_EVENT_STOP if seized."""
    from kvmsentry.kernel.lifecycle import CLONE_PTRACE, CLONE_UNTRACED, CLONE_VFORK
    tr = task.ptrace
    if tr is None or flags & CLONE_UNTRACED:
        return None
    if flags & CLONE_VFORK:
        event = EVENT_VFORK
    elif flags & 0xFF != _signal.SIGCHLD:
        event = EVENT_CLONE
    else:
        event = EVENT_FORK
    if not (event_enabled(task, event) or flags & CLONE_PTRACE):
        return None
    _set_tracee(child, Tracee(tr.tracer, tr.seized, tr.options))
    if tr.seized:
        child.ptrace.interrupt = True
    else:
        child.pending.enqueue(sg.SigInfo.kernel(SIGSTOP))
    child.interrupt.set()
    return event if event_enabled(task, event) else None


def clone_event(task, event, tid, nr):
    """The parent's PTRACE_EVENT_FORK/VFORK/CLONE stop, inside the call."""
    mode, sig, regs = event_stop(task, event, tid, regs=syscall_view(task, nr, -38))
    after_syscall_stop(task, mode, sig, regs)


def after_syscall_stop(task, mode, sig, regs):
    """Resume from a stop inside a syscall: changed registers other than
    rax reach the program (rax is the call's result); a signal is queued."""
    if regs is not None:
        write_gprs(task, regs, skip=("rax",))
    if sig:
        send_self(task, sig)


GPR_NAMES = ("rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10",
             "r12", "r13", "r14", "r15")


def write_gprs(task, regs, skip=()):
    """Write general registers into the context during a syscall (rcx,
    r11, rsp and rip belong to the return path)."""
    ctx = task.ctx
    r = ctx.regs
    for name in GPR_NAMES:
        if name not in skip:
            setattr(r, name, regs[name] & MASK64)
    if ctx.held:
        ctx.vcpu.mark_regs_dirty()


def send_self(task, sig):
    from kvmsentry.kernel.signal_delivery import send
    if 1 <= sig <= sg.NSIG:
        send(task.kernel, task, sg.SigInfo.user(sig, 0, 0), thread=True)


def after_exec(task, old_tid):
    """execve succeeded: PTRACE_EVENT_EXEC, or the legacy SIGTRAP."""
    tr = task.ptrace
    if tr is None:
        return
    if tr.options & O_TRACEEXEC:
        regs = user_view(task)
        regs["orig_rax"] = 59
        mode, sig, new = event_stop(task, EVENT_EXEC, old_tid, regs=regs)
        resume_user(task, mode, sig, new)
        if sig:
            send_self(task, sig)
    elif not tr.seized:
        task.pending.enqueue(sg.SigInfo.user(SIGTRAP, 0, 0))
        task.interrupt.set()


def before_exit(task, status):
    """PTRACE_EVENT_EXIT: the exit status in eventmsg, registers intact
    (not for a SIGKILL: the thread is gone at once)."""
    if event_enabled(task, EVENT_EXIT) and task.kill_status is None:
        try:
            event_stop(task, EVENT_EXIT, status)
        except ExitThread:
            pass


def pending_traps(task):
    """At the top of the task loop: a PTRACE_INTERRUPT (or a seized
    child's first stop) reports PTRACE_EVENT_STOP."""
    tr = task.ptrace
    if tr is not None and tr.interrupt:
        tr.interrupt = False
        mode, sig, regs = stop(task, SIGTRAP | EVENT_STOP << 8)
        resume_user(task, mode, sig, regs)
        if sig:
            send_self(task, sig)


# Calls Linux never restarts once interrupted (they return EINTR even when
# no handler ran).
_NO_RESTART = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "rt_sigtimedwait", "io_getevents"}


def restart_syscall(task):
    """A call a ptrace-stop or a signal the tracer suppressed interrupted,
    with no handler run: restart it, as Linux's -ERESTART* codes do."""
    nr, name = task.interrupted_syscall
    task.interrupted_syscall = None
    if name in _NO_RESTART:
        return
    regs = task.ctx.user_regs()
    regs["rax"] = nr
    regs["rip"] -= 2                     # `syscall` and the patched `out` are 2 bytes
    task.ctx.set_user_regs(regs)


def signal_stop(task, info):
    """Signal-delivery-stop: the tracer sees info and picks the signal to
    deliver (0: none). Returns the SigInfo to deliver, or None."""
    mode, sig, regs = stop(task, info.signo, siginfo=info)
    tr = task.ptrace
    final = tr.siginfo if tr is not None else info
    resume_user(task, mode, sig, regs)
    if not sig:
        return None
    if sig != final.signo:
        # Linux: a changed signal is reported as sent by the tracer.
        tracer = tr.tracer.tgid if tr is not None else 0
        final = sg.SigInfo.user(sig, tracer, task.creds.uid)
    return final


def fault_stop(task, fault):
    """A synchronous fault of a traced task goes through a signal stop;
    returns the fault to deliver (maybe with another signal), or None."""
    addr = fault.addr
    info = sg.SigInfo.fault(fault.signo, fault.code, addr)
    delivered = signal_stop(task, info)
    if delivered is None:
        return None
    if delivered.signo == fault.signo:
        return fault
    return fault._replace(signo=delivered.signo)


def group_stop(task):
    """A traced thread's group stop is a ptrace-stop (PTRACE_EVENT_STOP
    when seized); PTRACE_LISTEN waits for SIGCONT, then reports again."""
    tr = task.ptrace
    if tr.group_stop_done:
        return
    tr.group_stop_done = True
    sig = getattr(task.group, "stop_signo", SIGSTOP)
    code = sig | (EVENT_STOP << 8 if tr.seized else 0)
    mode, rsig, regs = stop(task, code, siginfo=sg.SigInfo.kernel(sig))
    resume_user(task, mode, rsig, regs)
    if mode == LISTEN and task.ptrace is tr:
        tr.listening = True
        block_until(task, lambda: not task.group.stopped or task.ptrace is not tr,
                    [(task.kernel.child_queue, ALL_EVENTS)], interruptible=False)
        tr.listening = False
        from kvmsentry.kernel.lifecycle import handle_kill
        handle_kill(task)
        if task.ptrace is tr:
            mode, rsig, regs = stop(task, SIGTRAP | EVENT_STOP << 8)
            resume_user(task, mode, rsig, regs)


def group_continued(members):
    for t in members:
        if t.ptrace is not None:
            t.ptrace.group_stop_done = False


def thread_ended(task, status, last):
    """A thread ended: a traced one is owed to its tracer's wait (a
    process's leader when the process ends, unless the tracer is also its
    parent, whose ordinary wait sees it); a tracer's tracees are detached
    (killed with PTRACE_O_EXITKILL) when its last thread ends."""
    kernel = task.kernel
    group = task.group
    tr = task.ptrace
    if tr is not None:
        _set_tracee(task, None)
        leader = task.tid == group.tgid
        if leader:
            group.leader_tracer = tr.tracer
        elif tr.tracer.state is pt.RUNNING:
            _owe_exit(kernel, tr.tracer, task, task.tid, status, clone=True)
    if last:
        tracer = getattr(group, "leader_tracer", None)
        if tracer is not None and tracer is not group.parent and tracer.state is pt.RUNNING:
            final = getattr(group, "group_exit_status", None)
            _owe_exit(kernel, tracer, task, group.tgid, status if final is None else final,
                      clone=False)
        _tracer_gone(kernel, group)


def _owe_exit(kernel, tracer, task, tid, status, clone):
    group = task.group
    traced_exits(kernel).append(TracedExit(tracer, tid, group.tgid, group.pgid,
                                           task.creds.uid, status, clone))
    code, si_status = pt.siginfo_of_status(status)
    kernel.notify_parent(pt.ChildEvent(tracer, 0 if tracer.sigchld_ignored else _signal.SIGCHLD,
                                       tid, task.creds.uid, code, si_status, 0, 0))


def _tracer_gone(kernel, group):
    from kvmsentry.kernel.signal_delivery import kill_group
    for t in tracees_of(kernel, group):
        if t.ptrace.options & O_EXITKILL:
            kill_group(t, pt.status_signaled(SIGKILL))
        unlink(t)
    owed = traced_exits(kernel)
    owed[:] = [e for e in owed if e.tracer is not group]


# --- the tracer's wait ------------------------------------------------------------
def _matches(group, tid, pgid, kind, value):
    if kind == "pid":
        return tid == value
    if kind == "pgid":
        return pgid == value
    return True


def _visible(clone, options):
    return bool(options & pt.WALL) or clone == bool(options & pt.WCLONE)


def find_waitable(waiter, kind, value, options, kernel):
    """(WaitResult or None, whether any tracee of waiter matched)."""
    eligible = False
    for t in tracees_of(kernel, waiter):
        tr = t.ptrace
        clone = t.tid != t.group.tgid or t.group.exit_signal != _signal.SIGCHLD
        if not _matches(t.group, t.tid, t.group.pgid, kind, value) or not _visible(clone, options):
            continue
        eligible = True
        if tr.stopped and tr.unreported:
            if not options & pt.WNOWAIT:
                tr.unreported = False
            code = tr.exit_code
            return pt.WaitResult(t.group, t.tid, t.creds.uid, pt.CLD_TRAPPED, code,
                                 (code << 8) | 0x7F, t.group.utime_ns, t.group.stime_ns,
                                 False), True
    owed = traced_exits(kernel)
    for e in list(owed):
        if e.tracer is not waiter or not _matches(None, e.tid, e.pgid, kind, value) \
                or not _visible(e.clone, options):
            continue
        eligible = True
        if not options & pt.WEXITED:
            continue
        if not options & pt.WNOWAIT:
            owed.remove(e)
        code, status = pt.siginfo_of_status(e.status)
        return pt.WaitResult(None, e.tid, e.uid, code, status, e.status, 0, 0, True), True
    return None, eligible


def tracer_pid(task):
    """/proc/[pid]/status TracerPid."""
    tr = getattr(task, "ptrace", None)
    return tr.tracer.tgid if tr is not None else 0
