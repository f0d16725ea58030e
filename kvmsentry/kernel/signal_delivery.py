"""Sending signals to tasks and running their handlers.

Senders queue a SigInfo on a thread's or a process's pending queue and kick
a thread that can take it; the thread delivers at the top of its loop,
before it re-enters the guest: default actions end the process, handlers
get an rt_sigframe on the guest stack (arch/signal_frame.py) and return
through rt_sigreturn. Everything here runs under the kernel lock.

Job control: a stop signal's default action stops every thread of the
process (they park, without the kernel lock, until SIGCONT or SIGKILL);
SIGCONT resumes it when sent, as on Linux, whatever its disposition.
"""
import errno
import _signal                        # (signal.py adds only enums, and imports enum)
import sys

from kvmsentry.arch.signal_frame import build_rt_frame, initial_xsave, parse_rt_frame
from kvmsentry.errors import SyscallError
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.creds import CAP_KILL
from kvmsentry.kernel.exit import ExitGroup
from kvmsentry.kernel.process_tree import status_signaled
from kvmsentry.kernel.waiter import ALL_EVENTS, block_until

KVM_XSAVE_SIZE = 4096
# Calls that never restart after a handler ran, whatever SA_RESTART says.
NEVER_RESTART = {"nanosleep", "clock_nanosleep", "rt_sigsuspend", "pause",
                 "rt_sigtimedwait", "select", "pselect6", "poll", "ppoll",
                 "epoll_wait", "epoll_pwait", "epoll_pwait2", "io_getevents", "io_pgetevents",
                 "semop", "semtimedop", "msgsnd", "msgrcv"}


def group_tasks(task):
    return [t for t in task.kernel.tasks.values() if t.group is task.group]


def may_signal(sender, target, sig):
    """Linux's check_kill_permission for a signal a task sends: its own
    process, a process of the same user (either of the sender's real and
    effective uids against the target's real and saved), CAP_KILL, or
    SIGCONT within the session."""
    if target.group is sender.group:
        return True
    me, them = sender.creds, target.creds
    if me.euid in (them.uid, them.suid) or me.uid in (them.uid, them.suid):
        return True
    if me.capable(CAP_KILL):
        return True
    return sig == sg.SIGCONT and sender.group.sid == target.group.sid


def check_signal(sender, target, sig):
    """EPERM unless may_signal."""
    if not may_signal(sender, target, sig):
        raise SyscallError(errno.EPERM)


def user_signal_count(task):
    """The UserSignalCount of task's real uid (Linux's task_ucounts)."""
    counts = task.kernel.signal_counts
    uid = task.creds.uid
    count = counts.get(uid)
    if count is None:
        count = counts[uid] = sg.UserSignalCount()
    return count


def _charge(target, info):
    """Count info against the target's user (__sigqueue_alloc); False when
    RLIMIT_SIGPENDING is reached. Standard signals the kernel or kill(2)
    sends (si_code >= 0) are counted but never refused."""
    sig = info.signo
    override = sig < sg.SIGRTMIN and info.code >= 0
    count = user_signal_count(target)
    if not count.charge(target.rlimits[sg.RLIMIT_SIGPENDING][0], override):
        return False
    info.charge = count
    return True


def send(kernel, target, info, thread=False, preallocated=False):
    """Queue info for target (a Task; thread=True: that thread only, else
    its whole process) and make a thread notice it. False, sending
    nothing, when a real-time signal with a siginfo of the sender's
    (sigqueue, tgkill) finds the user's RLIMIT_SIGPENDING reached: the
    caller's EAGAIN. preallocated: info is a POSIX timer's, which counted
    when the timer was made."""
    sig = info.signo
    if sig == 0:
        return True
    members = group_tasks(target)
    if sig == sg.SIGKILL:
        kill_group(target, status_signaled(sg.SIGKILL))
        return True
    if sig == sg.SIGCONT:
        _continue_group(kernel, target, members)
    elif sg.sigbit(sig) & sg.STOP_MASK:
        for queue in [target.group.shared_pending] + [t.pending for t in members]:
            queue.discard(sg.SIGCONT)
    handlers = target.sighand
    blocked_everywhere = all(t.sigmask & sg.sigbit(sig) for t in members)
    traced = any(t.ptrace is not None for t in members)     # a tracer sees ignored ones too
    if handlers.ignores(sig) and not traced and not (thread and target.sigmask & sg.sigbit(sig)) \
            and not (not thread and blocked_everywhere):
        return True                                # ignored: dropped at send time
    queue = target.pending if thread else target.group.shared_pending
    if sig < sg.SIGRTMIN and queue.bits & sg.sigbit(sig):
        return True                                # legacy_queue: already pending
    if preallocated or _charge(target, info):
        queue.enqueue(info)
    elif sig >= sg.SIGRTMIN and info.code not in (sg.SI_USER, sg.SI_KERNEL):
        return False
    else:
        queue.mark_lost(sig)                       # pending, its siginfo lost
    if thread:
        chosen = target
        target.signal_queue.notify(sg.signal_events(sig))
    else:
        chosen = next((t for t in members if not t.sigmask & sg.sigbit(sig)), None)
        for t in members:
            t.signal_queue.notify(sg.signal_events(sig))
    if chosen is not None:
        chosen.kick()
    return True


def _continue_group(kernel, target, members):
    for queue in [target.group.shared_pending] + [t.pending for t in members]:
        queue.discard_mask(sg.STOP_MASK)
    ptrace = sys.modules.get("kvmsentry.kernel.ptrace")   # (not loaded: nothing is traced)
    if ptrace is not None:
        ptrace.group_continued(members)
    event = kernel.tree.group_continued(target.group)
    if event is not None:
        kernel.notify_parent(event)
    kernel.child_queue.notify(ALL_EVENTS)         # parked threads look again


def stop_group(task, sig):
    """The default action of a stop signal: report the stop to the parent
    and park every thread of the process until it is continued."""
    kernel = task.kernel
    if not getattr(task.group, "stopped", False):
        task.group.stop_signo = sig
        event = kernel.tree.group_stopped(task.group, sig)
        if event is not None:
            kernel.notify_parent(event)
        for t in group_tasks(task):
            if t is not task:
                t.kick()
    park_if_stopped(task)


def park_if_stopped(task):
    """Wait (kernel lock released) while the task's process is stopped:
    SIGCONT or SIGKILL (kill_status) ends it."""
    if task.group.stopped:
        if task.ptrace is None:
            block_until(task, lambda: not task.group.stopped or task.ptrace is not None,
                        [(task.kernel.child_queue, ALL_EVENTS)], interruptible=False)
        if task.ptrace is not None and task.group.stopped and task.kill_status is None:
            from kvmsentry.kernel import ptrace
            ptrace.group_stop(task)             # reported to the tracer instead


def kill_group(task, status):
    """End task's whole process with wait status `status`."""
    task.group.group_exit_status = status
    for t in group_tasks(task):
        t.kill_status = status
        t.kick()


def next_signal(task):
    """Dequeue the next signal task may take now, or None."""
    info = task.pending.dequeue(task.sigmask)
    if info is None:
        info = task.group.shared_pending.dequeue(task.sigmask)
    return info


def has_deliverable(task):
    unblocked = ~task.sigmask
    return bool(task.pending.bits & unblocked or
                task.group.shared_pending.bits & unblocked)


def deliver_pending(task):
    """Run the default action or set up a handler for every signal task
    may take now (nested frames, as Linux does)."""
    while True:
        info = next_signal(task)
        if info is None:
            break
        if task.ptrace is not None and info.signo != sg.SIGKILL:
            from kvmsentry.kernel import ptrace
            info = ptrace.signal_stop(task, info)
            if info is None:
                continue                           # the tracer suppressed it
            if task.sigmask & sg.sigbit(info.signo):
                task.pending.enqueue(info)         # blocked now: stays pending
                continue
        deliver(task, info)
    if task.saved_sigmask is not None:
        # sigsuspend woke for a signal no handler ran for: back to the old mask.
        task.sigmask, task.saved_sigmask = task.saved_sigmask, None


def deliver(task, info, fault=None):
    sig = info.signo
    action = task.sighand.get(sig)
    if action.is_ignore:
        return
    if action.is_default:
        what = sg.default_action(sig)
        if what in ("term", "core"):
            raise ExitGroup(status_signaled(sig))
        if what == "stop":
            stop_group(task, sig)
            # No handler ran: the interrupted call runs again once the
            # group continues (Linux's -ERESTARTSYS), a tty read stopped
            # by SIGTTIN included.
            _restart_or_eintr(task, action, always=True)
        return                                     # ign, cont (acted on when sent)
    _restart_or_eintr(task, action)
    _setup_frame(task, sig, info, action, fault)


def _restart_or_eintr(task, action, always=False):
    """A handler interrupts a syscall that failed with EINTR: with
    SA_RESTART (and a restartable call) it runs again after the handler."""
    interrupted = task.interrupted_syscall
    task.interrupted_syscall = None
    if interrupted is None or interrupted[1] in NEVER_RESTART:
        return
    if always or action.flags & sg.SA_RESTART:
        regs = task.ctx.user_regs()
        regs["rax"] = interrupted[0]
        regs["rip"] -= 2                           # `syscall` and the patched `out` are 2 bytes
        task.ctx.set_user_regs(regs)


def _setup_frame(task, sig, info, action, fault):
    machine = task.kernel.machine
    if not action.flags & sg.SA_RESTORER:
        raise ExitGroup(status_signaled(_signal.SIGSEGV))
    regs = task.ctx.user_regs()
    xsave = task.ctx.get_fpu()
    trapno, err, cr2 = task.last_fault
    frame = build_rt_frame(
        regs, sig=sig, handler=action.handler, restorer=action.restorer,
        sigmask=task.saved_sigmask if task.saved_sigmask is not None else task.sigmask,
        info=info.to_bytes(), onstack=bool(action.flags & sg.SA_ONSTACK),
        altstack=task.altstack.triple() if task.altstack.size else None,
        xsave=xsave, xsave_size=machine.xsave_size, xfeatures=machine.xcr0 or 3,
        trapno=trapno, err=err, cr2=cr2)
    if frame is None:
        raise ExitGroup(status_signaled(_signal.SIGSEGV))
    try:
        task.mm.copy_out(frame.base, frame.data)
    except SyscallError:
        raise ExitGroup(status_signaled(_signal.SIGSEGV)) from None
    task.ctx.set_user_regs(frame.regs)
    task.ctx.set_fpu(None)
    blocked = task.saved_sigmask if task.saved_sigmask is not None else task.sigmask
    task.saved_sigmask = None
    task.sigmask = sg.handler_mask(action, sig, blocked)
    task.sighand.take_for_delivery(sig)
    task.altstack = task.altstack.after_delivery()


def sigreturn(task):
    """rt_sigreturn: restore what the frame saved."""
    machine = task.kernel.machine
    regs = task.ctx.user_regs()
    try:
        ctx = parse_rt_frame(task.mm.copy_in, regs["rsp"], rflags=regs["rflags"],
                             xsave_size=machine.xsave_size, xfeatures=machine.xcr0 or 3)
    except SyscallError:
        raise ExitGroup(status_signaled(_signal.SIGSEGV)) from None
    task.sigmask = sg.sanitize_mask(ctx.sigmask)
    task.ctx.set_user_regs(ctx.regs)
    image = ctx.xsave if ctx.xsave is not None else initial_xsave(machine.xsave_size)
    task.ctx.set_fpu(image.ljust(KVM_XSAVE_SIZE, b"\0"))
    if ctx.fpu_fault:
        raise ExitGroup(status_signaled(_signal.SIGSEGV))
    try:
        ss_sp, ss_flags, ss_size = ctx.altstack
        task.altstack = task.altstack.change(ss_sp, ss_flags, ss_size, ctx.regs["rsp"])
    except SyscallError:
        pass
    if has_deliverable(task):
        task.interrupt.set()


def deliver_fault(task, fault):
    """A synchronous fault: its handler runs now; if it is blocked or
    ignored, the process dies of it (Linux's force_sig_info)."""
    if fault.fatal:
        return False
    code = fault.code
    info = sg.SigInfo.fault(fault.signo, code, fault.addr)
    action = task.sighand.get(fault.signo)
    if task.sigmask & sg.sigbit(fault.signo) or action.is_ignore or action.is_default:
        return False
    task.last_fault = (fault.vector, fault.error_code, fault.addr if fault.is_page_fault else 0)
    task.interrupted_syscall = None
    deliver(task, info, fault)
    return True
