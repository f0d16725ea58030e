"""Scheduling attributes of a task: policy, real-time priority, nice,
reset-on-fork, and the SCHED_DEADLINE parameters.

The sentry does not schedule guest threads itself (each is a host thread
the host kernel schedules), so these are recorded and reported as Linux
would, with Linux's validation and permission rules; they do not change
how the host runs the thread.
"""
import errno
import os
from dataclasses import dataclass, replace

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_SYS_NICE

SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
SCHED_EXT = 7                       # Linux 6.12+: known to the priority ranges only
POLICIES = (SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE)
MIN_NICE, MAX_NICE = -20, 19
MAX_RT_PRIO = 100
RLIMIT_NICE, RLIMIT_RTPRIO = 13, 14
DL_SCALE = 10
RR_TIMESLICE_NS = 100_000_000       # sched_rr_timeslice_ms default
FAIR_SLICE_NS = 4_000_000           # one 250 Hz jiffy, what EEVDF's 0.75 ms base slice rounds to


def is_rt(policy):
    return policy in (SCHED_FIFO, SCHED_RR)


@dataclass
class SchedState:
    policy: int = SCHED_OTHER
    rt_priority: int = 0
    nice: int = 0
    reset_on_fork: bool = False
    dl: tuple = (0, 0, 0)           # runtime, deadline, period (ns)

    @classmethod
    def of_host(cls):
        """The sentry's own policy and nice: what the sandbox's first
        process inherits, as a process started by `runsc do` would."""
        return replace(_HOST)

    def forked(self):
        """The child's copy: reset-on-fork drops RT/deadline and negative nice."""
        if not self.reset_on_fork:
            return replace(self)
        policy = SCHED_OTHER if is_rt(self.policy) or self.policy == SCHED_DEADLINE \
            else self.policy
        return SchedState(policy, 0, max(self.nice, 0), False)

    @property
    def prio(self):
        """task_prio(): what /proc/[pid]/stat shows as priority."""
        if is_rt(self.policy):
            return -1 - self.rt_priority
        if self.policy == SCHED_DEADLINE:
            return -101
        return 20 + self.nice


def _read_host():
    try:
        policy = os.sched_getscheduler(0) & ~SCHED_RESET_ON_FORK
        rt = os.sched_getparam(0).sched_priority
        nice = os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        return SchedState()
    if policy not in POLICIES or policy == SCHED_DEADLINE:
        policy, rt = SCHED_OTHER, 0
    return SchedState(policy, rt if is_rt(policy) else 0, nice)


# Read at import, before the sentry confines itself (its seccomp filter
# refuses these calls afterwards).
_HOST = _read_host()


def can_nice(caller, target, nice):
    """Linux's can_nice(): nice within the target's RLIMIT_NICE, or the
    caller has CAP_SYS_NICE."""
    return 20 - nice <= target.rlimits[RLIMIT_NICE][0] or caller.creds.capable(CAP_SYS_NICE)


def same_owner(caller, target):
    """check_same_owner(): the caller's euid is the target's uid or euid."""
    return caller.creds.euid in (target.creds.uid, target.creds.euid)


def check_dl(runtime, deadline, period):
    """__checkparam_dl()."""
    if deadline == 0 or runtime < (1 << DL_SCALE):
        raise SyscallError(errno.EINVAL)
    if deadline & (1 << 63) or period & (1 << 63):
        raise SyscallError(errno.EINVAL)
    if period and period < deadline or deadline < runtime:
        raise SyscallError(errno.EINVAL)


def set_scheduler(caller, target, policy, priority, nice=None, reset_on_fork=None,
                  dl=None):
    """__sched_setscheduler(): validate, check permissions, apply. policy
    None keeps the target's (sched_setparam); nice None keeps it."""
    s = target.sched
    if policy is None:
        policy = s.policy
    if reset_on_fork is None:
        reset_on_fork = s.reset_on_fork
    if policy not in POLICIES:
        raise SyscallError(errno.EINVAL)
    if priority < 0 or priority > MAX_RT_PRIO - 1:
        raise SyscallError(errno.EINVAL)
    if policy == SCHED_DEADLINE:
        check_dl(*(dl or (0, 0, 0)))
    if is_rt(policy) != (priority != 0):
        raise SyscallError(errno.EINVAL)
    if not caller.creds.capable(CAP_SYS_NICE):
        if nice is not None and policy not in (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE) and \
                nice < s.nice and not can_nice(caller, target, nice):
            raise SyscallError(errno.EPERM)
        if is_rt(policy):
            limit = target.rlimits[RLIMIT_RTPRIO][0]
            if policy != s.policy and not limit:
                raise SyscallError(errno.EPERM)
            if priority > max(s.rt_priority, limit):
                raise SyscallError(errno.EPERM)
        if policy == SCHED_DEADLINE:
            raise SyscallError(errno.EPERM)
        if s.policy == SCHED_IDLE and policy != SCHED_IDLE and not can_nice(caller, target, s.nice):
            raise SyscallError(errno.EPERM)
        if not same_owner(caller, target):
            raise SyscallError(errno.EPERM)
        if s.reset_on_fork and not reset_on_fork:
            raise SyscallError(errno.EPERM)
    s.policy, s.rt_priority, s.reset_on_fork = policy, priority, reset_on_fork
    if policy == SCHED_DEADLINE:
        s.dl = dl
    if nice is not None and not is_rt(policy) and policy != SCHED_DEADLINE:
        s.nice = nice
