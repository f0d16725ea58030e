"""Scheduling policy and priority: sched_{set,get}{param,scheduler,attr},
sched_get_priority_{max,min}, sched_rr_get_interval, get/setpriority
(kernel/sched.py). Recorded per thread, as Linux keeps them; the host
schedules the threads."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import sched as sc
from kvmsentry.syscalls.args import i32, u32

PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
SCHED_ATTR_SIZE_VER0, SCHED_ATTR_SIZE_VER1 = 48, 56
SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN = 0x01, 0x02, 0x04
SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS = 0x08, 0x10
SCHED_FLAG_UTIL_CLAMP_MIN, SCHED_FLAG_UTIL_CLAMP_MAX = 0x20, 0x40
SCHED_FLAG_ALL = 0x7F
SCHED_ATTR = struct.Struct("<IIQiIQQQII")
UCLAMP_MAX = 1024
UTIL_MAX_REPORTED = 0               # Linux without CONFIG_UCLAMP_TASK reports 0
PAGE_SIZE = 4096


def _thread(task, pid):
    """The thread `pid` names (0: the caller); ESRCH if none."""
    if pid == 0:
        return task
    target = task.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    return target


def _read_param(task, param):
    return struct.unpack("<i", task.mm.copy_in(param, 4))[0]


def sched_setscheduler(task, pid, policy, param):
    """Implements sched_setscheduler(2)."""
    pid, policy = i32(pid), i32(policy)
    if not param or pid < 0 or policy < 0:
        raise SyscallError(errno.EINVAL)
    priority = _read_param(task, param)
    target = _thread(task, pid)
    reset = bool(policy & sc.SCHED_RESET_ON_FORK)
    sc.set_scheduler(task, target, policy & ~sc.SCHED_RESET_ON_FORK, priority,
                     reset_on_fork=reset)
    return 0


def sched_setparam(task, pid, param):
    """Implements sched_setparam(2)."""
    pid = i32(pid)
    if not param or pid < 0:
        raise SyscallError(errno.EINVAL)
    priority = _read_param(task, param)
    sc.set_scheduler(task, _thread(task, pid), None, priority)
    return 0


def sched_getscheduler(task, pid):
    """Implements sched_getscheduler(2)."""
    pid = i32(pid)
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    s = _thread(task, pid).sched
    return s.policy | (sc.SCHED_RESET_ON_FORK if s.reset_on_fork else 0)


def sched_getparam(task, pid, param):
    """Implements sched_getparam(2)."""
    pid = i32(pid)
    if not param or pid < 0:
        raise SyscallError(errno.EINVAL)
    s = _thread(task, pid).sched
    task.mm.copy_out(param, struct.pack("<i", s.rt_priority))
    return 0


def sched_get_priority_max(task, policy):
    """Implements sched_get_priority_max(2)."""
    policy = i32(policy)
    if policy not in sc.POLICIES + (sc.SCHED_EXT,):
        raise SyscallError(errno.EINVAL)
    return sc.MAX_RT_PRIO - 1 if sc.is_rt(policy) else 0


def sched_get_priority_min(task, policy):
    """Implements sched_get_priority_min(2)."""
    policy = i32(policy)
    if policy not in sc.POLICIES + (sc.SCHED_EXT,):
        raise SyscallError(errno.EINVAL)
    return 1 if sc.is_rt(policy) else 0


def sched_rr_get_interval(task, pid, tp):
    """Implements sched_rr_get_interval(2): Linux's RR quantum for
    SCHED_RR, 0 for SCHED_FIFO, a fair-class slice otherwise."""
    pid = i32(pid)
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    s = _thread(task, pid).sched
    if s.policy == sc.SCHED_RR:
        ns = sc.RR_TIMESLICE_NS
    elif s.policy in (sc.SCHED_FIFO, sc.SCHED_DEADLINE):
        ns = 0
    else:
        ns = sc.FAIR_SLICE_NS
    task.mm.copy_out(tp, struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000))
    return 0


def _copy_attr(task, addr):
    """sched_copy_attr(): the user's struct sched_attr, size-checked
    (E2BIG, with the size Linux knows written back)."""
    size = struct.unpack("<I", task.mm.copy_in(addr, 4))[0]
    if size == 0:
        size = SCHED_ATTR_SIZE_VER0
    if size < SCHED_ATTR_SIZE_VER0 or size > PAGE_SIZE:
        task.mm.copy_out(addr, struct.pack("<I", SCHED_ATTR.size))
        raise SyscallError(errno.E2BIG)
    data = task.mm.copy_in(addr, size)
    if size > SCHED_ATTR.size and any(data[SCHED_ATTR.size:]):
        task.mm.copy_out(addr, struct.pack("<I", SCHED_ATTR.size))
        raise SyscallError(errno.E2BIG)
    data = data[:SCHED_ATTR.size].ljust(SCHED_ATTR.size, b"\0")
    return SCHED_ATTR.unpack(data), size


def sched_setattr(task, pid, attr, flags):
    """Implements sched_setattr(2); utilization clamps are accepted and
    ignored (util_min/util_max read back 0, as Linux without uclamp)."""
    pid = i32(pid)
    if not attr or pid < 0 or u32(flags):
        raise SyscallError(errno.EINVAL)
    fields, size = _copy_attr(task, attr)
    _, policy, sflags, nice, priority, runtime, deadline, period, umin, umax = fields
    if policy & 0x80000000:
        raise SyscallError(errno.EINVAL)
    if sflags & ~SCHED_FLAG_ALL:
        raise SyscallError(errno.EINVAL)
    if sflags & (SCHED_FLAG_UTIL_CLAMP_MIN | SCHED_FLAG_UTIL_CLAMP_MAX):
        if size < SCHED_ATTR_SIZE_VER1:
            raise SyscallError(errno.EINVAL)
        if sflags & SCHED_FLAG_UTIL_CLAMP_MIN and umin != 0xFFFFFFFF and umin > UCLAMP_MAX or \
                sflags & SCHED_FLAG_UTIL_CLAMP_MAX and umax != 0xFFFFFFFF and umax > UCLAMP_MAX:
            raise SyscallError(errno.EINVAL)
    target = _thread(task, pid)
    nice = min(max(nice, sc.MIN_NICE), sc.MAX_NICE)
    if sflags & SCHED_FLAG_KEEP_POLICY:
        policy = None
    if sflags & SCHED_FLAG_KEEP_PARAMS:
        priority, nice = target.sched.rt_priority, target.sched.nice
    sc.set_scheduler(task, target, policy, priority, nice=nice,
                     reset_on_fork=bool(sflags & SCHED_FLAG_RESET_ON_FORK),
                     dl=(runtime, deadline, period))
    return 0


def sched_getattr(task, pid, attr, size, flags):
    """Implements sched_getattr(2)."""
    pid, size = i32(pid), u32(size)
    if not attr or pid < 0 or u32(flags):
        raise SyscallError(errno.EINVAL)
    if size < SCHED_ATTR_SIZE_VER0 or size > PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    s = _thread(task, pid).sched
    runtime, deadline, period = s.dl if s.policy == sc.SCHED_DEADLINE else (0, 0, 0)
    out_size = min(size, SCHED_ATTR.size)
    data = SCHED_ATTR.pack(out_size, s.policy,
                           SCHED_FLAG_RESET_ON_FORK if s.reset_on_fork else 0,
                           s.nice if not sc.is_rt(s.policy) else 0, s.rt_priority,
                           runtime, deadline, period, 0, UTIL_MAX_REPORTED)
    task.mm.copy_out(attr, data[:out_size])
    return 0


# --- nice -------------------------------------------------------------------------------
def _prio_targets(task, which, who):
    """The threads get/setpriority acts on."""
    tasks = list(task.kernel.tasks.values())
    if which == PRIO_PROCESS:
        if who == 0:
            return [task]
        t = task.kernel.tasks.get(who)
        return [t] if t is not None else []
    if which == PRIO_PGRP:
        pgid = who or task.group.pgid
        return [t for t in tasks if t.group.pgid == pgid]
    uid = who or task.creds.uid
    return [t for t in tasks if t.creds.uid == uid]


def getpriority(task, which, who):
    """Implements getpriority(2): 20 - nice, the best of the targets."""
    which, who = i32(which), i32(who)
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        raise SyscallError(errno.EINVAL)
    targets = _prio_targets(task, which, who)
    if not targets:
        raise SyscallError(errno.ESRCH)
    return max(20 - t.sched.nice for t in targets)


def setpriority(task, which, who, niceval):
    """Implements setpriority(2)."""
    which, who, niceval = i32(which), i32(who), i32(niceval)
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        raise SyscallError(errno.EINVAL)
    niceval = min(max(niceval, sc.MIN_NICE), sc.MAX_NICE)
    error = errno.ESRCH
    for t in _prio_targets(task, which, who):
        if not sc.same_owner(task, t) and not task.creds.capable(sc.CAP_SYS_NICE):
            error = errno.EPERM
            continue
        if niceval < t.sched.nice and not sc.can_nice(task, t, niceval):
            error = errno.EACCES
            continue
        if error == errno.ESRCH:
            error = 0
        t.sched.nice = niceval
    if error:
        raise SyscallError(error)
    return 0
