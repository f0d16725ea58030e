"""Clocks and sleeping."""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import cputime
from kvmsentry.kernel.waiter import wait_event
from kvmsentry.syscalls.args import i32

CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 2, 3
TIMER_ABSTIME = 1
NSEC = 1_000_000_000

# Guest clock id -> host clock id. The CPU-time clocks read the sentry's
# own thread and process CPU time, which includes the guest's.
_CLOCKS = {
    0: time.CLOCK_REALTIME,
    1: time.CLOCK_MONOTONIC,
    2: time.CLOCK_PROCESS_CPUTIME_ID,
    3: time.CLOCK_THREAD_CPUTIME_ID,
    4: time.CLOCK_MONOTONIC_RAW,
    5: getattr(time, "CLOCK_REALTIME_COARSE", 5),
    6: getattr(time, "CLOCK_MONOTONIC_COARSE", 6),
    7: time.CLOCK_BOOTTIME,
    8: time.CLOCK_REALTIME,          # CLOCK_REALTIME_ALARM
    9: time.CLOCK_BOOTTIME,          # CLOCK_BOOTTIME_ALARM
    11: time.CLOCK_TAI,
}
_SLEEP_CLOCKS = {0, 1, 7, 8, 9, 11, 2}


def _clock(clockid):
    cid = i32(clockid)
    if cid < 0:
        return _cpu_clock(cid)
    host = _CLOCKS.get(cid)
    if host is None:
        raise SyscallError(errno.EINVAL)
    return host


def _cpu_clock(cid):
    """The host's clock of the same kind for the sentry's own thread or
    process (its resolution is the answer for a CPU-time clock)."""
    if cid & 3 == 3:
        raise SyscallError(errno.EINVAL)
    return (~0 << 3) | (cid & 7)


def _cpu_now(task, cid):
    """A CPU-time clock's reading (kernel/cputime.py)."""
    return cputime.clock_of(task, cid)()


def _pack_timespec(ns):
    return struct.pack("<qq", ns // NSEC, ns % NSEC)


def read_timespec(mm, addr):
    sec, nsec = struct.unpack("<qq", mm.copy_in(addr, 16))
    if sec < 0 or not 0 <= nsec < NSEC:
        raise SyscallError(errno.EINVAL)
    return sec * NSEC + nsec


def _now(task, clockid):
    """The clock's time in ns: the vDSO's line for the clocks it computes
    (so vDSO and syscall readings form one clock), else the host's. A
    time syscall is also when the vDSO's time base is brought up to date."""
    cid = i32(clockid)
    if cid < 0 or cid in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID):
        return _cpu_now(task, cid)
    host = _CLOCKS.get(cid)              # (_clock's answer for cid >= 0)
    if host is None:
        raise SyscallError(errno.EINVAL)
    vdso = getattr(task.kernel.machine, "vdso", None)
    if vdso is not None:
        vdso.refresh()
        ns = vdso.clock_ns(cid)
        if ns is not None:
            return ns
    return time.clock_gettime_ns(host)


def clock_gettime(task, clockid, tp):
    """Implements clock_gettime(2)."""
    ns = _now(task, clockid)
    task.mm.copy_out(tp, _pack_timespec(ns))
    return 0


def clock_getres(task, clockid, res):
    """Implements clock_getres(2) with the host clock's resolution."""
    if i32(clockid) < 0:
        _cpu_now(task, i32(clockid))          # EINVAL unless it names a thread or process
    r = time.clock_getres(_clock(clockid))
    if res:
        task.mm.copy_out(res, _pack_timespec(round(r * NSEC)))
    return 0


def gettimeofday(task, tv, tz):
    """Implements gettimeofday(2); the timezone is always UTC."""
    ns = _now(task, CLOCK_REALTIME)
    if tv:
        task.mm.copy_out(tv, struct.pack("<qq", ns // NSEC, (ns % NSEC) // 1000))
    if tz:
        task.mm.copy_out(tz, struct.pack("<ii", 0, 0))
    return 0


def time_(task, tloc):
    """Implements time(2)."""
    now = _now(task, CLOCK_REALTIME) // NSEC
    if tloc:
        task.mm.copy_out(tloc, struct.pack("<q", now))
    return now


def _sleep_until(task, host_clock, deadline_ns, rem=0):
    """Sleep without the kernel lock; EINTR if the task gets a signal to
    handle, after writing the time left to `rem` (if given) as Linux's
    relative sleeps do. The task's waiter sleeps until the deadline,
    converted to CLOCK_MONOTONIC (and looked at again on the real clock
    when it ends)."""
    def done():
        return time.clock_gettime_ns(host_clock) >= deadline_ns

    try:
        while not done():
            left = deadline_ns - time.clock_gettime_ns(host_clock)
            wait_event(done, deadline=time.monotonic_ns() + left, task=task)
    except SyscallError as e:
        if e.errno == errno.EINTR and rem:
            left = max(0, deadline_ns - time.clock_gettime_ns(host_clock))
            task.mm.copy_out(rem, struct.pack("<qq", left // NSEC, left % NSEC))
        raise


def nanosleep(task, req, rem):
    """Implements nanosleep(2)."""
    ns = read_timespec(task.mm, req)
    _sleep_until(task, time.CLOCK_MONOTONIC, time.clock_gettime_ns(time.CLOCK_MONOTONIC) + ns,
                 rem)
    return 0


def clock_nanosleep(task, clockid, flags, req, rem):
    """Implements clock_nanosleep(2), relative or TIMER_ABSTIME."""
    cid = i32(clockid)
    host = _clock(clockid)
    if cid == CLOCK_THREAD_CPUTIME_ID or (cid < 0 and cid & 4):
        raise SyscallError(errno.EOPNOTSUPP)
    if cid >= 0 and cid not in _SLEEP_CLOCKS:
        raise SyscallError(errno.EOPNOTSUPP)
    ns = read_timespec(task.mm, req)
    if i32(flags) & TIMER_ABSTIME:
        _sleep_until(task, host, ns)
    else:
        _sleep_until(task, host, time.clock_gettime_ns(host) + ns, rem)
    return 0
