"""Signals: dispositions, masks, sending, waiting, alternate stacks and
rt_sigreturn. Delivery itself is kernel/signal_delivery.py."""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import signal_delivery as sd
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.waiter import block_until
from kvmsentry.syscalls.args import i32

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SIGSET_SIZE = 8
SIGACTION_SIZE = 32
NSEC = 1_000_000_000


def _check_sigset_size(size):
    if size != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)


def _set_mask(task, mask):
    task.sigmask = sg.sanitize_mask(mask)
    if sd.has_deliverable(task):
        task.interrupt.set()              # delivered before the guest resumes


def rt_sigaction(task, sig, act, oact, sigsetsize):
    """Implements rt_sigaction(2)."""
    _check_sigset_size(sigsetsize)
    sig = i32(sig)
    old = task.sighand.get(sig)
    new = sg.SigAction.from_bytes(task.mm.copy_in(act, SIGACTION_SIZE)) if act else None
    if new is not None:
        _, discard = task.sighand.set(sig, new)
        if discard:
            task.group.shared_pending.discard(sig)
            for t in sd.group_tasks(task):
                t.pending.discard(sig)
        if sig == sg.SIGCHLD:
            group = task.group
            group.sigchld_ignored = new.handler == sg.SIG_IGN
            group.sigchld_nocldwait = bool(new.flags & sg.SA_NOCLDWAIT)
            group.sigchld_nocldstop = bool(new.flags & sg.SA_NOCLDSTOP)
    if oact:
        task.mm.copy_out(oact, old.to_bytes())
    return 0


def rt_sigprocmask(task, how, nset, oset, sigsetsize):
    """Implements rt_sigprocmask(2)."""
    # The size check and how's int inline: a frame each on a hot call
    # (musl makes six per fork and exec).
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    new = None
    if nset:
        how &= 0xFFFFFFFF               # an int: the upper half is ignored
        if how not in (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK):
            raise SyscallError(errno.EINVAL)
        (new,) = struct.unpack("<Q", task.mm.copy_in(nset, 8))
    if oset:
        task.mm.copy_out(oset, struct.pack("<Q", task.sigmask))
    if new is not None:
        if how == SIG_BLOCK:
            _set_mask(task, task.sigmask | new)
        elif how == SIG_UNBLOCK:
            _set_mask(task, task.sigmask & ~new)
        else:
            _set_mask(task, new)
    return 0


def rt_sigpending(task, set_addr, sigsetsize):
    """Implements rt_sigpending(2)."""
    if sigsetsize > SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    pending = (task.pending.bits | task.group.shared_pending.bits) \
        & task.sigmask
    task.mm.copy_out(set_addr, struct.pack("<Q", pending)[:sigsetsize])
    return 0


def _sender_info(task, sig, code=sg.SI_USER):
    return sg.SigInfo.user(sig, task.tgid, task.creds.uid, code)


def _check_sig(sig):
    sig = i32(sig)
    if not 0 <= sig <= sg.NSIG:
        raise SyscallError(errno.EINVAL)
    return sig


def kill(task, pid, sig):
    """Implements kill(2) within the sandbox's process tree."""
    pid, sig = i32(pid), _check_sig(sig)
    kernel = task.kernel
    denied = sent = 0
    for group in kernel.tree.kill_targets(task.group, pid):
        target = next((t for t in kernel.tasks.values() if t.group is group), None)
        if target is None:
            sent += 1                      # a zombie: signalling it succeeds
        elif sd.may_signal(task, target, sig):
            sd.send(kernel, target, _sender_info(task, sig))
            sent += 1
        else:
            denied += 1
    # One process, or a process group none of which it may signal: EPERM.
    # kill(-1) succeeds whenever there was someone to try (as Linux).
    if denied and not sent and pid != -1:
        raise SyscallError(errno.EPERM)
    return 0


def _thread(task, tgid, tid):
    target = task.kernel.tasks.get(tid)
    if target is None or (tgid is not None and target.tgid != tgid):
        raise SyscallError(errno.ESRCH)
    return target


def tgkill(task, tgid, tid, sig):
    """Implements tgkill(2)."""
    tgid, tid, sig = i32(tgid), i32(tid), _check_sig(sig)
    if tgid <= 0 or tid <= 0:
        raise SyscallError(errno.EINVAL)
    target = _thread(task, tgid, tid)
    sd.check_signal(task, target, sig)
    if not sd.send(task.kernel, target, _sender_info(task, sig, sg.SI_TKILL), thread=True):
        raise SyscallError(errno.EAGAIN)         # RLIMIT_SIGPENDING
    return 0


def tkill(task, tid, sig):
    """Implements tkill(2)."""
    tid, sig = i32(tid), _check_sig(sig)
    if tid <= 0:
        raise SyscallError(errno.EINVAL)
    target = _thread(task, None, tid)
    sd.check_signal(task, target, sig)
    if not sd.send(task.kernel, target, _sender_info(task, sig, sg.SI_TKILL), thread=True):
        raise SyscallError(errno.EAGAIN)         # RLIMIT_SIGPENDING
    return 0


def _queued_info(task, sig, uinfo):
    info = sg.SigInfo.from_bytes(task.mm.copy_in(uinfo, 128), signo=sig)
    # Only the kernel may claim SI_USER/SI_KERNEL codes for another process.
    if (info.code >= 0 or info.code == sg.SI_TKILL):
        raise SyscallError(errno.EPERM)
    return info


def rt_sigqueueinfo(task, tgid, sig, uinfo):
    """Implements rt_sigqueueinfo(2)."""
    sig = _check_sig(sig)
    info = _queued_info(task, sig, uinfo)
    group = task.kernel.tree.lookup(i32(tgid))
    target = next((t for t in task.kernel.tasks.values() if t.group is group), None)
    if target is None:
        raise SyscallError(errno.ESRCH)
    sd.check_signal(task, target, sig)
    if not sd.send(task.kernel, target, info):
        raise SyscallError(errno.EAGAIN)         # RLIMIT_SIGPENDING
    return 0


def rt_tgsigqueueinfo(task, tgid, tid, sig, uinfo):
    """Implements rt_tgsigqueueinfo(2)."""
    sig = _check_sig(sig)
    info = _queued_info(task, sig, uinfo)
    target = _thread(task, i32(tgid), i32(tid))
    sd.check_signal(task, target, sig)
    if not sd.send(task.kernel, target, info, thread=True):
        raise SyscallError(errno.EAGAIN)         # RLIMIT_SIGPENDING
    return 0


def rt_sigreturn(task):
    """Implements rt_sigreturn(2): the registers come from the frame."""
    sd.sigreturn(task)
    return None


def sigaltstack(task, ss, old_ss):
    """Implements sigaltstack(2)."""
    sp = task.ctx.user_regs()["rsp"]
    if old_ss:
        ss_sp, ss_flags, ss_size = task.altstack.report(sp)
        task.mm.copy_out(old_ss, struct.pack("<Qi4xQ", ss_sp, ss_flags, ss_size))
    if ss:
        ss_sp, ss_flags, ss_size = struct.unpack("<Qi4xQ", task.mm.copy_in(ss, 24))
        task.altstack = task.altstack.change(ss_sp, ss_flags, ss_size, sp)
    return 0


def _wait_for_signal(task):
    """Sleep without the kernel lock until a signal is deliverable (a
    sender kicks the task, which wakes its waiter); then EINTR."""
    block_until(task, lambda: False)


def rt_sigsuspend(task, mask, sigsetsize):
    """Implements rt_sigsuspend(2): EINTR once a handler has run."""
    _check_sigset_size(sigsetsize)
    (new,) = struct.unpack("<Q", task.mm.copy_in(mask, 8))
    task.saved_sigmask = task.sigmask
    task.sigmask = sg.sanitize_mask(new)
    _wait_for_signal(task)
    raise SyscallError(errno.EINTR)


def pause(task):
    """Implements pause(2)."""
    _wait_for_signal(task)
    raise SyscallError(errno.EINTR)


def rt_sigtimedwait(task, uthese, uinfo, uts, sigsetsize):
    """Implements rt_sigtimedwait(2)."""
    _check_sigset_size(sigsetsize)
    (these,) = struct.unpack("<Q", task.mm.copy_in(uthese, 8))
    these = sg.sanitize_mask(these)
    deadline = None
    if uts:
        sec, nsec = struct.unpack("<qq", task.mm.copy_in(uts, 16))
        if sec < 0 or not 0 <= nsec < NSEC:
            raise SyscallError(errno.EINVAL)
        deadline = time.monotonic_ns() + sec * NSEC + nsec
    blocked = ~these & ((1 << 64) - 1)

    def take():
        info = task.pending.dequeue(blocked) or task.group.shared_pending.dequeue(blocked)
        return (info,) if info is not None else None

    # A signal in `these` is blocked, so its sender does not kick: it
    # notifies the task's signal queue instead (as for signalfd).
    got = block_until(task, take, [(task.signal_queue, sg.sigset_events(these))],
                      deadline=deadline)
    if got is None:
        raise SyscallError(errno.EAGAIN)
    info = got[0]
    if uinfo:
        task.mm.copy_out(uinfo, info.to_bytes())
    return info.signo
