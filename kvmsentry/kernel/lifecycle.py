"""Creating, replacing and ending tasks: clone/fork/vfork, execve, exit,
and waiting for children.

Every function here runs with the kernel lock held (the caller is a
syscall handler or a task's exit path) and keeps three records in step:
the Task objects (host threads borrowing vCPUs), the ProcessTree (pids,
parents, zombies) and the resources tasks share (address spaces, fd
tables, filesystem contexts).
"""
import errno
import os
import _signal as signal      # (signal.py adds only enums, and imports enum)
import struct
import sys
import threading

from kvmsentry.arch.layout import USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.kernel import process_tree as pt
from kvmsentry.kernel import cputime
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.exit import ExitGroup, ExitThread
from kvmsentry.kernel.waiter import ALL_EVENTS, block_until
from kvmsentry.kernel.task import Task
from kvmsentry.kernel.tty.pty import session_leader_exited
from kvmsentry.loader.load import ExecError

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID = 0x100000, 0x200000
CLONE_DETACHED, CLONE_UNTRACED, CLONE_CHILD_SETTID = 0x400000, 0x800000, 0x1000000
CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x2000000, 0x4000000, 0x8000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET, CLONE_IO = 0x20000000, 0x40000000, 0x80000000
CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP = 0x100000000, 0x200000000
_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
# Linux's kernel.threads-max, for the whole sandbox: each task is a host
# thread (2 MiB of reserved stack, ~100 KiB used) and vCPUs are borrowed,
# so this, not the vCPU count, bounds the number of threads.
THREADS_MAX = 16384
_SUPPORTED = 0xFF | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_VFORK | \
    CLONE_PARENT | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | \
    CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_UNTRACED | CLONE_CHILD_SETTID | \
    CLONE_IO | CLONE_PTRACE | CLONE_CLEAR_SIGHAND


# --- clone ---------------------------------------------------------------------
def clone(task, flags, newsp, parent_tid, child_tid, tls):
    """The common body of clone, clone3, fork and vfork; returns the new tid."""
    if flags & ~_SUPPORTED:
        raise SyscallError(errno.EINVAL if not flags & _NAMESPACES else errno.EPERM)
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND or \
            flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_CLEAR_SIGHAND and flags & CLONE_SIGHAND:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_SETTLS and tls >= USER_TOP:
        raise SyscallError(errno.EPERM)        # as arch_prctl(ARCH_SET_FS)
    kernel = task.kernel
    tree = kernel.tree
    if len(kernel.tasks) >= THREADS_MAX:
        raise SyscallError(errno.EAGAIN)
    if flags & CLONE_THREAD:
        group = task.group
        tid = tree.add_thread(group)
    else:
        group = tree.fork(task.group, exit_signal=flags & 0xFF,
                          clone_parent=bool(flags & CLONE_PARENT))
        group.parent_tid = task.tid       # /proc/[pid]/task/[tid]/children
        tid = group.tgid
    try:
        child = _make_child(task, flags, newsp, tls, tid, group)
    except BaseException as e:
        _undo_child(tree, group, tid, flags)
        if isinstance(e, OSError):       # the host is out of fds or memory for it
            raise SyscallError(errno.EAGAIN) from None
        raise
    if flags & CLONE_PARENT_SETTID:
        task.mm.copy_out(parent_tid, struct.pack("<i", tid))
    if flags & CLONE_CHILD_SETTID:
        child.mm.copy_out(child_tid, struct.pack("<i", tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = child_tid
    # Kept here: the child clears its own reference when it execs or exits,
    # which it may do before we wait (while a tracer holds us at the event).
    vfork_done = child.vfork_done = threading.Event() if flags & CLONE_VFORK else None
    ptrace = _ptrace_if_any()
    event = ptrace.after_clone(task, child, flags, tid) if task.ptrace is not None else None
    kernel.tasks[tid] = child
    try:
        child.start()
    except RuntimeError:                 # the host has no thread left for it
        del kernel.tasks[tid]
        child.ctx.close()
        if not flags & CLONE_VM:
            child.mm.destroy()
        if not flags & CLONE_FILES:
            child.fds.close_all()
        _undo_child(tree, group, tid, flags)
        raise SyscallError(errno.EAGAIN) from None
    if event is not None:
        ptrace.clone_event(task, event, tid, task.ctx.regs.rax)
    if flags & CLONE_VFORK:
        # Not interruptible (Linux's wait_for_vfork_done is killable only).
        block_until(task, vfork_done.is_set, [(kernel.child_queue, ALL_EVENTS)],
                    interruptible=False)
        if task.ptrace is not None and ptrace.event_enabled(task, ptrace.EVENT_VFORK_DONE):
            ptrace.clone_event(task, ptrace.EVENT_VFORK_DONE, tid, task.ctx.regs.rax)
    return tid


def _timers_if_any():
    """kernel/timers.py if this sentry has loaded it, else None: every
    timer, alarm and CPU limit watch is made there, so without it there
    is none to cancel (and a run that never arms one never imports it)."""
    return sys.modules.get("kvmsentry.kernel.timers")


def _ptrace_if_any():
    """kernel/ptrace.py if this sentry has loaded it, else None: only
    ptrace(2) (sys_ptrace) makes a tracee, so without it no task is
    traced, nor owed to a tracer's wait."""
    return sys.modules.get("kvmsentry.kernel.ptrace")


def _make_child(task, flags, newsp, tls, tid, group):
    kernel = task.kernel
    mm = task.mm if flags & CLONE_VM else \
        task.mm.fork(alone=not kernel.mm_in_use(task.mm, task))
    if not flags & CLONE_VM:
        ipc = kernel.made("ipc")
        if ipc is not None:
            ipc.mapped_again(mm, task.tgid)
    if not flags & CLONE_VM and hasattr(task.mm, "membarrier_state"):
        mm.membarrier_state = task.mm.membarrier_state      # as Linux's dup_mm
    ctx = kernel.machine.new_context(kernel.patch_syscalls)
    ctx.set_address_space(mm)
    regs = task.ctx.syscall_exit_regs(0)
    if newsp:
        regs["rsp"] = newsp
    ctx.clone_from(task.ctx, regs)
    if flags & CLONE_SETTLS:
        ctx.set_fs_base(tls)
    if not flags & CLONE_VM:
        ctx.settle()
    fds = task.fds if flags & CLONE_FILES else task.fds.copy()
    fs = task.fs if flags & CLONE_FS else task.fs.copy()
    rlimits = task.rlimits if flags & CLONE_THREAD else dict(task.rlimits)
    child = Task(kernel, tid, group, mm, ctx, fds, fs, task.creds, rlimits, task.comm)
    if not flags & CLONE_THREAD:
        from kvmsentry.kernel import timers
        timers.watch_cpu_limit(child)                  # an inherited RLIMIT_CPU
    child.sched = task.sched.forked()
    if flags & CLONE_SIGHAND:
        child.sighand = task.sighand
    else:
        child.sighand = task.sighand.copy()
        if flags & CLONE_CLEAR_SIGHAND:
            child.sighand.reset_for_exec()             # handlers to default, SIG_IGN kept
    child.sigmask = task.sigmask
    child.personality, child.ioprio, child.seccomp = task.personality, task.ioprio, task.seccomp
    child.uts = task.uts
    if flags & CLONE_VM and not flags & CLONE_VFORK:
        child.altstack = sg.DISABLED_STACK             # a new thread starts without one
    else:
        child.altstack = task.altstack
    if not flags & CLONE_THREAD:
        group.shared_pending = sg.PendingSignals()
    return child


def _undo_child(tree, group, tid, flags):
    if flags & CLONE_THREAD:
        tree.thread_exited(group, tid)
    else:
        tree.thread_exited(group, tid)
        tree.group_exited(group, pt.status_signaled(signal.SIGKILL))
        tree.reap(group)


# --- execve ----------------------------------------------------------------------
def execve(task, path, argv, envp, program=None):
    """Replace the task's program (`program`: (path, bytes) already found,
    for execveat). Returns only on failure (raising); on success the
    task's registers already point at the new program. Other threads die
    only once the new image is loaded: a failed exec leaves them alone."""
    kernel = task.kernel
    try:
        real_path, data, loc = (*program, None) if program else \
            kernel.locate_program(task.fs, path, None, task.creds)
        mm = kernel.machine.new_address_space()
        try:
            entry, rsp = kernel.load_program(mm, task.fs, task.creds, real_path, data,
                                             argv, envp, loc)
        except BaseException:
            mm.destroy()
            raise
    except ExecError as e:
        if e.fatal:
            # Past Linux's point of no return: the process dies of SIGSEGV.
            from kvmsentry.kernel import signal_delivery
            signal_delivery.kill_group(task, signal.SIGSEGV)
            raise ExitGroup(signal.SIGSEGV) from None
        raise SyscallError(e.errno) from None
    _kill_other_threads(task)
    _release_mm_for(task)
    old = task.mm
    old_in_use = kernel.mm_in_use(old, task)
    if not old_in_use:
        mm.take_host_state(old)
    task.mm = mm
    task.ctx.set_address_space(mm)
    task.ctx.start(entry, rsp)
    if not old_in_use:
        ipc = kernel.made("ipc")
        if ipc is not None:
            ipc.unmapping_all(old, task.tgid)
        old.destroy()
    if kernel.fds_in_use(task.fds, task):
        task.fds = task.fds.copy()                 # unshare_files: a CLONE_FILES child's
                                                   # exec closes only its own copy
    task.fds.close_on_exec()
    task.creds = task.creds.for_exec()
    if any(t.sighand is task.sighand for t in kernel.tasks.values() if t is not task):
        task.sighand = task.sighand.copy()         # unshare (CLONE_SIGHAND with a vfork)
    task.sighand.reset_for_exec()
    task.altstack = sg.SignalStack()
    timers = _timers_if_any()
    if timers is not None:
        timers.cancel_posix_timers(task.group)       # alarms survive exec, POSIX timers do not
    task.rseq = None
    task.robust_list = 0
    task.personality &= ~0x0400000                  # READ_IMPLIES_EXEC: a 64-bit ELF clears it
    task.comm = os.path.basename(real_path)[:15].decode(errors="replace")
    old_tid = task.tid
    task.tid = kernel.tree.exec_thread(task.group, task.tid)
    if task.tid != old_tid:                         # a non-leader took over the leader's tid
        kernel.tasks.pop(old_tid, None)
        kernel.tasks[task.tid] = task
        task.group.exited_leader = None             # (de_thread released the old leader)
    if task.vfork_done is not None:
        task.vfork_done.set()
        task.vfork_done = None
        task.kernel.child_queue.notify(ALL_EVENTS)
    if task.ptrace is not None:
        _ptrace_if_any().after_exec(task, old_tid)


def _kill_other_threads(task):
    """execve's de_thread: every other thread of the group exits first."""
    group = task.group
    others = [t for t in task.kernel.tasks.values() if t.group is group and t is not task]
    for t in others:
        t.kill_status = 0
        t.kick()
    if others or len(group.threads) > 1:
        block_until(task, lambda: len(group.threads) <= 1,
                    [(task.kernel.child_queue, ALL_EVENTS)], interruptible=False)


FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF
ROBUST_LIST_LIMIT = 2048


def futex_key(task, addr, private):
    # Imported late: the syscall modules import this one.
    from kvmsentry.syscalls.sys_futex import futex_key as key
    return key(task, addr, private)


def _walk_robust_list(task):
    """exit_robust_list(): mark futexes the dying thread still owns as
    OWNER_DIED and wake a waiter, so robust mutexes report EOWNERDEAD."""
    head, mm = task.robust_list, task.mm
    if not head:
        return
    try:
        entry, offset, pending = struct.unpack("<QqQ", mm.copy_in(head, 24))
        seen = 0
        while entry != head and seen < ROBUST_LIST_LIMIT:
            (nxt,) = struct.unpack("<Q", mm.copy_in(entry & ~1, 8))
            if entry != pending:
                _owner_died(task, (entry & ~1) + offset)
            entry, seen = nxt, seen + 1
        if pending:
            _owner_died(task, (pending & ~1) + offset)
    except SyscallError:
        pass                          # a broken list: Linux stops walking too


def _owner_died(task, addr):
    (word,) = struct.unpack("<I", task.mm.copy_in(addr, 4))
    if word & FUTEX_TID_MASK != task.tid:
        return
    task.mm.copy_out(addr, struct.pack("<I", (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED))
    if word & FUTEX_WAITERS:
        task.kernel.futexes.wake(futex_key(task, addr, private=False), 1)


def _release_mm_for(task):
    """What Linux's mm_release does when a task leaves its address space:
    walk the robust futex list, clear *clear_child_tid and wake a futex
    waiter there (pthread_join)."""
    task.group.note_rss(task.mm)
    _walk_robust_list(task)
    task.robust_list = 0
    # As Linux's mm_release: the word is cleared (and its waiter woken)
    # only if another task still uses the address space; nobody could read
    # it otherwise (and the write would make the sentry back a page of a
    # process that is going away, on every exit).
    if task.clear_child_tid and task.kernel.mm_in_use(task.mm, task):
        try:
            task.mm.copy_out(task.clear_child_tid, b"\0\0\0\0")
            task.kernel.futexes.wake(futex_key(task, task.clear_child_tid, private=False), 1)
        except SyscallError:
            pass
        task.clear_child_tid = 0
    if task.vfork_done is not None:
        task.vfork_done.set()
        task.vfork_done = None
        task.kernel.child_queue.notify(ALL_EVENTS)


# --- exit ------------------------------------------------------------------------
def thread_ending(task, status, whole_group):
    """Called by the task's own thread when its run loop ends."""
    kernel = task.kernel
    group = task.group
    if task.ptrace is not None:
        _ptrace_if_any().before_exit(task, status)
    if whole_group:
        group.group_exit_status = status
        for t in list(kernel.tasks.values()):
            if t.group is group and t is not task:
                t.kill_status = status
                t.kick()
    _release_mm_for(task)
    task.ctx.close()
    cputime.account_thread_exit(task)
    kernel.tasks.pop(task.tid, None)
    task.pending.flush()                  # its queued signals stop counting for the user
    if task.tid == group.tgid:
        group.exited_leader = task        # what /proc/[pid] shows of a zombie (its name, ids)
    group.ioac = [a + b for a, b in zip(group.ioac, task.ioac)]
    mm_in_use = kernel.mm_in_use(task.mm, task)
    if not mm_in_use:
        task.mm.release_exe()             # before a waiter can see the exit
    last = kernel.tree.thread_exited(group, task.tid)
    ptrace = _ptrace_if_any()
    if ptrace is not None:
        ptrace.thread_ended(task, status, last)
    if not mm_in_use:
        ipc = kernel.made("ipc")
        if ipc is not None:
            ipc.unmapping_all(task.mm, task.tgid)
        if not kernel.tasks:
            # The sandbox's last thread: no frame will be taken again, so
            # none is kept zeroed for reuse (at every run's end that was a
            # zeroing of up to 4 MiB).
            task.mm.pool.warm_frames = 0
        task.mm.destroy()
    if not kernel.fds_in_use(task.fds, task):
        task.fds.close_all()
    if last:
        group.shared_pending.flush()
        timers = _timers_if_any()
        if timers is not None:
            timers.cancel_process_timers(group)
        final = getattr(group, "group_exit_status", None)
        _group_ended(kernel, group, status if final is None else final)
    kernel.child_queue.notify(ALL_EVENTS)


def _group_ended(kernel, group, status):
    if group.session_leader:
        session_leader_exited(kernel, group.sid)
    kernel.record_locks.release(group.tgid)
    ipc = kernel.made("ipc")
    if ipc is not None:
        ipc.process_exited(group, group.tgid)
    _send_parent_death_signals(kernel, group)
    result = kernel.tree.group_exited(group, status)
    if kernel.strace is not None:
        kernel.strace.exited_group(group.tgid, status)
    for event in result.notifications:
        kernel.notify_parent(event)
    for g in result.kill_all:
        for t in list(kernel.tasks.values()):
            if t.group is g:
                t.kill_status = pt.status_signaled(signal.SIGKILL)
                t.kick()
    kernel.process_exited(group, status)


def _send_parent_death_signals(kernel, group):
    """PR_SET_PDEATHSIG: children that asked get their signal when the
    process that forked them ends (Linux ties it to the forking thread;
    threads of one process are treated as one here)."""
    children = [t for t in kernel.tasks.values() if t.group.parent is group]
    if not children:
        return
    from kvmsentry.kernel.signal_delivery import send
    from kvmsentry.syscalls.sys_prctl import pdeathsig
    for t in children:
        sig = pdeathsig(t)
        if sig:
            send(kernel, t, sg.SigInfo.user(sig, group.tgid, group.uid), thread=True)


def handle_kill(task):
    """At the top of the task loop: leave if another thread ended us."""
    if task.kill_status is not None:
        raise ExitThread(task.kill_status)


# --- wait ------------------------------------------------------------------------
def wait_for_child(task, select, options, waitid=False):
    """Block until find_waitable reports (or WNOHANG); return the
    WaitResult or None."""
    tree = task.kernel.tree

    def find():
        ptrace = _ptrace_if_any()
        traced, eligible = (None, False) if ptrace is None else ptrace.find_waitable(
            task.group, *_selection(task, select, waitid), options, task.kernel)
        try:
            if traced is not None:
                result = traced
            elif waitid:
                idtype, id_ = select
                result = tree.find_waitable_id(task.group, idtype, id_, options)
            else:
                result = tree.find_waitable(task.group, select, options)
        except SyscallError as e:
            if e.errno != errno.ECHILD or not eligible:
                raise
            result = None                  # no children, but tracees
        if result is not None or options & pt.WNOHANG:
            return (result,)
        return None

    # Most waits have their answer at once (a zombie, WNOHANG, ECHILD):
    # asked first without joining the child queue (block_until asks
    # again once it has).
    found = find()
    if found is None:
        found = block_until(task, find, [(task.kernel.child_queue, ALL_EVENTS)])
    return found[0]


def _selection(task, select, waitid):
    """(kind, value) of a wait's pid selector, as find_waitable reads it."""
    if waitid:
        idtype, id_ = select
        if idtype == pt.P_PID:
            return "pid", id_
        if idtype == pt.P_PGID:
            return "pgid", id_ or task.group.pgid
        return "any", None
    if select < -1:
        return "pgid", -select
    if select == 0:
        return "pgid", task.group.pgid
    return ("any", None) if select == -1 else ("pid", select)
