"""Calls that need a capability of the host's initial user namespace:
clock setting, kernel modules, kexec, swap, accounting, reboot, I/O
ports, the kernel log.

The sandbox's root answers them as root of a Linux user namespace
(a container) does: each call validates its arguments in Linux's order,
then the capability check fails with EPERM. What such a root may do
without that capability - read the clock's adjustment state, drop I/O
privileges it does not have - works.
"""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.syscalls.sys_read_write import access_ok

USEC_PER_SEC = 1_000_000
NSEC_PER_SEC = 1_000_000_000
KTIME_SEC_MAX = (1 << 63) // NSEC_PER_SEC
CLOCK_REALTIME = 0
CLOCK_TAI = 11
_VALID_CLOCKS = set(range(0, 10)) | {CLOCK_TAI}

# struct timex: modes (u32 + pad), then 14 longs, a struct timeval, more
# longs and ints; 208 bytes in all.
TIMEX_SIZE = 208
ADJ_OFFSET_SINGLESHOT, ADJ_OFFSET_READONLY, ADJ_ADJTIME = 0x0001, 0x2000, 0x8000
ADJ_OFFSET_SS_READ = ADJ_OFFSET_SINGLESHOT | ADJ_OFFSET_READONLY
# The kernel's NTP state while nothing has synchronized the clock: what
# an idle Linux reports (TIME_ERROR, STA_UNSYNC | STA_NANO).
TIME_ERROR = 5
STA_UNSYNC, STA_NANO = 0x0040, 0x2000
NTP_PHASE_LIMIT = 16_000_000        # maxerror and esterror, in us
MAXFREQ_SCALED = 500 << 16          # tolerance: 500 ppm, scaled
USER_TICK_US = 10_000               # 1 s / USER_HZ (100)
SHIFT_PLL, PRECISION = 2, 1

SYSLOG_ACTION_CLOSE, SYSLOG_ACTION_OPEN, SYSLOG_ACTION_READ = 0, 1, 2
SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_READ_CLEAR, SYSLOG_ACTION_CLEAR = 3, 4, 5
SYSLOG_ACTION_CONSOLE_OFF, SYSLOG_ACTION_CONSOLE_ON, SYSLOG_ACTION_CONSOLE_LEVEL = 6, 7, 8
SYSLOG_ACTION_SIZE_UNREAD, SYSLOG_ACTION_SIZE_BUFFER = 9, 10
LOG_BUF_LEN = 1 << 17               # CONFIG_LOG_BUF_SHIFT=17, Debian's

SWAP_FLAGS_VALID = 0x7FFFF
IO_BITMAP_BITS = 65536


# --- the clock -------------------------------------------------------------------------
def settimeofday(task, tv, tz):
    """Implements settimeofday(2): EFAULT/EINVAL for bad arguments, then
    EPERM (CAP_SYS_TIME of the initial namespace)."""
    if tv:
        sec, usec = struct.unpack("<qq", task.mm.copy_in(tv, 16))
        if usec < 0 or usec > USEC_PER_SEC:
            raise SyscallError(errno.EINVAL)
        if sec < 0 or sec >= KTIME_SEC_MAX:
            raise SyscallError(errno.EINVAL)
    if tz:
        task.mm.copy_in(tz, 8)
    raise SyscallError(errno.EPERM)


def clock_settime(task, clockid, tp):
    """Implements clock_settime(2): EINVAL for clocks that cannot be set,
    EFAULT, then EPERM for the settable ones."""
    clockid = i32(clockid)
    if clockid not in _VALID_CLOCKS:
        raise SyscallError(errno.EINVAL)
    if clockid != CLOCK_REALTIME:
        raise SyscallError(errno.EINVAL)            # no clock_set method
    sec, nsec = struct.unpack("<qq", task.mm.copy_in(tp, 16))
    if clockid == CLOCK_REALTIME and (sec < 0 or sec >= KTIME_SEC_MAX
                                      or not 0 <= nsec < NSEC_PER_SEC):
        raise SyscallError(errno.EINVAL)
    raise SyscallError(errno.EPERM)


def _adjust(task, buf):
    raw = task.mm.copy_in(buf, TIMEX_SIZE)
    (modes,) = struct.unpack_from("<I", raw)
    if modes & ADJ_ADJTIME:
        if not modes & ADJ_OFFSET_SINGLESHOT:
            raise SyscallError(errno.EINVAL)
        if not modes & ADJ_OFFSET_READONLY:
            raise SyscallError(errno.EPERM)
    elif modes:
        raise SyscallError(errno.EPERM)
    now = time.time_ns()
    out = bytearray(TIMEX_SIZE)
    # modes, offset, freq, maxerror, esterror, status, constant, precision,
    # tolerance, time (sec, nsec under STA_NANO), tick.
    struct.pack_into("<I4xqqqqi4xqqqqqq", out, 0, modes, 0, 0, NTP_PHASE_LIMIT,
                     NTP_PHASE_LIMIT, STA_UNSYNC | STA_NANO, SHIFT_PLL, PRECISION,
                     MAXFREQ_SCALED, now // NSEC_PER_SEC, now % NSEC_PER_SEC, USER_TICK_US)
    task.mm.copy_out(buf, bytes(out))
    return TIME_ERROR


def adjtimex(task, buf):
    """Implements adjtimex(2): reading (modes 0, ADJ_OFFSET_SS_READ)
    returns the state of a clock nothing synchronizes; changes are EPERM."""
    return _adjust(task, buf)


def clock_adjtime(task, clockid, buf):
    """Implements clock_adjtime(2): CLOCK_REALTIME as adjtimex; the other
    clocks cannot be adjusted (EOPNOTSUPP)."""
    clockid = i32(clockid)
    if clockid not in _VALID_CLOCKS:
        raise SyscallError(errno.EINVAL)
    if clockid != CLOCK_REALTIME:
        raise SyscallError(errno.EOPNOTSUPP)
    return _adjust(task, buf)


# --- the kernel log ----------------------------------------------------------------------
def syslog(task, action, buf, length):
    """Implements syslog(2) over a kernel log that is empty, as a kernel
    with dmesg_restrict=0 that logged nothing would answer."""
    action, length = i32(action), i32(length)
    if action in (SYSLOG_ACTION_CLOSE, SYSLOG_ACTION_OPEN):
        return 0
    if action in (SYSLOG_ACTION_READ, SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_READ_CLEAR):
        if not buf or length < 0:
            raise SyscallError(errno.EINVAL)
        if length == 0:
            return 0
        access_ok(buf, length)               # nothing is copied: only the range is checked
        if action == SYSLOG_ACTION_READ:
            # An empty log: Linux sleeps until a message comes; none will.
            from kvmsentry.kernel.waiter import block_until
            block_until(task, lambda: False, [])
        return 0
    if action in (SYSLOG_ACTION_CLEAR, SYSLOG_ACTION_CONSOLE_OFF, SYSLOG_ACTION_CONSOLE_ON):
        return 0
    if action == SYSLOG_ACTION_CONSOLE_LEVEL:
        if length < 1 or length > 8:
            raise SyscallError(errno.EINVAL)
        return 0
    if action == SYSLOG_ACTION_SIZE_UNREAD:
        return 0
    if action == SYSLOG_ACTION_SIZE_BUFFER:
        return LOG_BUF_LEN
    raise SyscallError(errno.EINVAL)


# --- the rest of the family: validate, then EPERM ------------------------------------------
def vhangup(task):
    """Implements vhangup(2): EPERM (CAP_SYS_TTY_CONFIG)."""
    raise SyscallError(errno.EPERM)


def acct(task, filename):
    """Implements acct(2): EPERM (CAP_SYS_PACCT)."""
    raise SyscallError(errno.EPERM)


def swapon(task, path, flags):
    """Implements swapon(2): EINVAL for unknown flags, else EPERM."""
    if i32(flags) & ~SWAP_FLAGS_VALID:
        raise SyscallError(errno.EINVAL)
    raise SyscallError(errno.EPERM)


def swapoff(task, path):
    """Implements swapoff(2): EPERM (CAP_SYS_ADMIN)."""
    raise SyscallError(errno.EPERM)


def reboot(task, magic1, magic2, cmd, arg):
    """Implements reboot(2): EPERM, checked before the magic numbers as
    Linux does (CAP_SYS_BOOT over the sandbox's pid namespace, which it
    does not own)."""
    raise SyscallError(errno.EPERM)


def iopl(task, level):
    """Implements iopl(2): level 0, the only one a task has, may be set
    again; raising it is EPERM (CAP_SYS_RAWIO)."""
    level = u32(level)
    if level > 3:
        raise SyscallError(errno.EINVAL)
    if level > 0:
        raise SyscallError(errno.EPERM)
    return 0


def ioperm(task, start, num, turn_on):
    """Implements ioperm(2): clearing permissions a task never had is a
    no-op; granting is EPERM (CAP_SYS_RAWIO)."""
    if start + num <= start or start + num > IO_BITMAP_BITS:
        raise SyscallError(errno.EINVAL)
    if i32(turn_on):
        raise SyscallError(errno.EPERM)
    return 0


def init_module(task, image, length, params):
    """Implements init_module(2): EPERM (CAP_SYS_MODULE)."""
    raise SyscallError(errno.EPERM)


def finit_module(task, fd, params, flags):
    """Implements finit_module(2): EPERM (CAP_SYS_MODULE)."""
    raise SyscallError(errno.EPERM)


def delete_module(task, name, flags):
    """Implements delete_module(2): EPERM (CAP_SYS_MODULE)."""
    raise SyscallError(errno.EPERM)


def kexec_load(task, entry, nr_segments, segments, flags):
    """Implements kexec_load(2): EPERM (CAP_SYS_BOOT)."""
    raise SyscallError(errno.EPERM)


def kexec_file_load(task, kernel_fd, initrd_fd, cmdline_len, cmdline, flags):
    """Implements kexec_file_load(2): EPERM (CAP_SYS_BOOT)."""
    raise SyscallError(errno.EPERM)
