"""Timers and CPU-time accounting: alarm, setitimer/getitimer, the POSIX
timer_* calls, getrusage and times. The timers themselves live in
kernel/timers.py, CPU time in kernel/cputime.py."""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import cputime
from kvmsentry.kernel import signal_delivery as sd
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel import timers as tm
from kvmsentry.syscalls.args import i32, u32

NSEC = 1_000_000_000
USEC = 1_000
TIMER_ABSTIME = 1
RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1
RUSAGE_SIZE = 144
CLOCK_TICK_NS = 10_000_000          # USER_HZ = 100
SIGEVENT_SIZE = 64
_TIMEVAL = struct.Struct("<qq")
_TIMESPEC = struct.Struct("<qq")


# --- struct helpers ------------------------------------------------------------
def _read_timeval(task, addr):
    """A timeval as ns; EINVAL unless 0 <= tv_usec < 10^6 and tv_sec >= 0."""
    sec, usec = _TIMEVAL.unpack(task.mm.copy_in(addr, 16))
    if sec < 0 or not 0 <= usec < NSEC // USEC:
        raise SyscallError(errno.EINVAL)
    return sec * NSEC + usec * USEC


def _timeval(ns):
    return _TIMEVAL.pack(ns // NSEC, ns % NSEC // USEC)


def _read_timespec(data):
    sec, nsec = _TIMESPEC.unpack(data)
    if sec < 0 or not 0 <= nsec < NSEC:
        raise SyscallError(errno.EINVAL)
    return sec * NSEC + nsec


def _timespec(ns):
    return _TIMESPEC.pack(ns // NSEC, ns % NSEC)


# --- interval timers -----------------------------------------------------------
def _itimer_value(value, interval):
    """getitimer reports a pending timer as at least 1 us (it_real_fn's rule)."""
    if 0 < value < USEC:
        value = USEC
    return _timeval(interval) + _timeval(value)


def getitimer(task, which, curr):
    """Implements getitimer(2)."""
    timer = tm.process_timers(task).itimer(i32(which))
    value, interval = timer.get()
    task.mm.copy_out(curr, _itimer_value(value, interval))
    return 0


def setitimer(task, which, new, old):
    """Implements setitimer(2); a NULL new value disarms, as Linux allows."""
    timer = tm.process_timers(task).itimer(i32(which))
    interval = value = 0
    if new:
        interval = _read_timeval(task, new)
        value = _read_timeval(task, new + 16)
    previous = timer.get()
    timer.set(timer.now() + value if value else None, interval if value else 0)
    if old:
        task.mm.copy_out(old, _itimer_value(*previous))
    return 0


def alarm(task, seconds):
    """Implements alarm(2): ITIMER_REAL without an interval."""
    timer = tm.process_timers(task).itimer(tm.ITIMER_REAL)
    left, _ = timer.get()
    seconds = u32(seconds)
    timer.set(tm.monotonic_ns() + seconds * NSEC if seconds else None, 0)
    return tm.alarm_seconds(left)


# --- POSIX timers ----------------------------------------------------------------
def _sigevent(task, sevp):
    """(notify, signo, value, tid) of a struct sigevent (good_sigevent's rules)."""
    value, signo, notify, tid = struct.unpack_from("<Qiii", task.mm.copy_in(sevp, SIGEVENT_SIZE))
    if notify == tm.SIGEV_SIGNAL | tm.SIGEV_THREAD_ID:
        target = task.kernel.tasks.get(tid)
        if target is None or target.group is not task.group:
            raise SyscallError(errno.EINVAL)
    elif notify not in (tm.SIGEV_SIGNAL, tm.SIGEV_THREAD, tm.SIGEV_NONE):
        raise SyscallError(errno.EINVAL)
    if notify != tm.SIGEV_NONE and not 1 <= signo <= sg.SIGRTMAX:
        raise SyscallError(errno.EINVAL)
    if notify == tm.SIGEV_THREAD:
        notify = tm.SIGEV_SIGNAL             # the kernel's view: glibc runs the thread
    return notify, signo, value, tid


def _cpu_clock(task, cid):
    """A timer's CPU-time clock (None for the others). A CPU-time clock may
    come as clock_getcpuclockid's encoding (glibc sends
    CLOCK_PROCESS_CPUTIME_ID so), decoded by cputime.clock_of; kind 3
    names a clock by fd (a PTP device's), which has no timers: EOPNOTSUPP."""
    if cid >= 0:
        if cid not in tm.TIMER_CLOCKS:
            raise SyscallError(errno.EINVAL)
        if cid not in (tm.CLOCK_PROCESS_CPUTIME_ID, tm.CLOCK_THREAD_CPUTIME_ID):
            return None
    elif cid & 3 == 3:
        raise SyscallError(errno.EOPNOTSUPP)
    return cputime.clock_of(task, cid)


def timer_create(task, clockid, sevp, created_timer_id):
    """Implements timer_create(2), on the real-time and CPU-time clocks."""
    cid = i32(clockid)
    cpu = _cpu_clock(task, cid)
    procs = tm.process_timers(task)
    if sevp:
        notify, signo, value, tid = _sigevent(task, sevp)
    else:
        notify, signo, value, tid = tm.SIGEV_SIGNAL, sg.SIGALRM, None, 0
    # Each timer's preallocated signal counts against RLIMIT_SIGPENDING.
    count = sd.user_signal_count(task)
    if not count.charge(task.rlimits[sg.RLIMIT_SIGPENDING][0]):
        raise SyscallError(errno.EAGAIN)
    timer = procs.create(cid, notify, signo, value or 0, tid, cpu)
    timer.charge = count
    if value is None:
        timer.value = timer.id                  # sival_int is the timer's id
    try:
        task.mm.copy_out(created_timer_id, struct.pack("<i", timer.id))
    except SyscallError:
        procs.delete(timer.id)
        raise
    return 0


def _timer_setting(timer):
    value, interval = timer.get()
    return _timespec(interval) + _timespec(value)


def timer_settime(task, timer_id, flags, new_value, old_value):
    """Implements timer_settime(2), relative or TIMER_ABSTIME."""
    if not new_value:
        raise SyscallError(errno.EINVAL)
    data = task.mm.copy_in(new_value, 32)
    timer = tm.process_timers(task).lookup(i32(timer_id))
    interval, value = _read_timespec(data[:16]), _read_timespec(data[16:])
    if old_value:
        task.mm.copy_out(old_value, _timer_setting(timer))
    if not value:
        timer.set(None, interval)
        return 0
    if timer.cpu is not None:                      # a CPU-time clock's own deadline
        deadline = value if i32(flags) & TIMER_ABSTIME else timer.now() + value
    else:
        clock_now, mono_now = tm.clock_now(timer.clockid)
        if i32(flags) & TIMER_ABSTIME:
            deadline = mono_now + (value - clock_now)
        else:
            deadline = mono_now + value
    timer.set(deadline, interval)
    return 0


def timer_gettime(task, timer_id, curr_value):
    """Implements timer_gettime(2)."""
    timer = tm.process_timers(task).lookup(i32(timer_id))
    task.mm.copy_out(curr_value, _timer_setting(timer))
    return 0


def timer_getoverrun(task, timer_id):
    """Implements timer_getoverrun(2)."""
    return tm.process_timers(task).lookup(i32(timer_id)).overrun()


def timer_delete(task, timer_id):
    """Implements timer_delete(2)."""
    tm.process_timers(task).delete(i32(timer_id))
    return 0


# --- CPU time --------------------------------------------------------------------
def _rusage(utime_ns, stime_ns, maxrss_kb=0):
    def tv(ns):
        return struct.pack("<qq", ns // 10**9, (ns % 10**9) // 1000)
    return tv(utime_ns) + tv(stime_ns) + struct.pack("<q", maxrss_kb) + bytes(144 - 40)


def getrusage(task, who, usage):
    """Implements getrusage(2): CPU times (see kernel/cputime.py) and the
    peak resident set size; the other counters read 0."""
    who = i32(who)
    group = task.group
    group.note_rss(task.mm)
    maxrss = group.maxrss_kb
    if who == RUSAGE_SELF:
        utime, stime = cputime.process_cpu_ns(task)
    elif who == RUSAGE_CHILDREN:
        utime, stime = group.cutime_ns, group.cstime_ns
        maxrss = group.cmaxrss_kb
    elif who == RUSAGE_THREAD:
        utime, stime = cputime.thread_cpu_ns(task), 0
    else:
        raise SyscallError(errno.EINVAL)
    task.mm.copy_out(usage, _rusage(utime, stime, maxrss))
    return 0


def times(task, buf):
    """Implements times(2): clock ticks (USER_HZ) of the process and its
    reaped children; returns ticks since an arbitrary point (boot)."""
    if buf:
        utime, stime = cputime.process_cpu_ns(task)
        group = task.group
        ticks = (v // CLOCK_TICK_NS for v in (utime, stime, group.cutime_ns, group.cstime_ns))
        task.mm.copy_out(buf, struct.pack("<qqqq", *ticks))
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // CLOCK_TICK_NS
