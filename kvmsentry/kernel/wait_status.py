"""Wait status words and wait options as Linux encodes them (wait4(2),
waitid(2), SIGCHLD's siginfo)."""
import errno
import _signal as signal      # (signal.py adds only enums, and imports enum)

from kvmsentry.errors import SyscallError

# wait4/waitid options (guest ABI values; the __W* ones without underscores).
WNOHANG = 0x1
WUNTRACED = WSTOPPED = 0x2
WEXITED = 0x4
WCONTINUED = 0x8
WNOWAIT = 0x01000000
WNOTHREAD = 0x20000000
WALL = 0x40000000
WCLONE = 0x80000000
WAIT4_OPTIONS = WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL
WAITID_OPTIONS = (WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED
                  | WNOTHREAD | WCLONE | WALL)

# waitid idtype
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3

# si_code of SIGCHLD and of waitid's siginfo
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = range(1, 7)

STATUS_CONTINUED = 0xFFFF


def status_exited(code):
    """Wait status of exit(code)."""
    return (code & 0xFF) << 8


def status_signaled(sig, core=False):
    """Wait status of a death by signal sig (with a core dump if core)."""
    return (sig & 0x7F) | (0x80 if core else 0)


def status_stopped(sig):
    """Wait status of a stop by signal sig."""
    return 0x7F | ((sig & 0xFF) << 8)


def siginfo_of_status(status):
    """(si_code, si_status) that waitid and SIGCHLD report for a wait status."""
    if status == STATUS_CONTINUED:
        return CLD_CONTINUED, signal.SIGCONT
    if status & 0xFF == 0x7F:
        return CLD_STOPPED, (status >> 8) & 0xFF
    if status & 0x7F == 0:
        return CLD_EXITED, (status >> 8) & 0xFF
    return (CLD_DUMPED if status & 0x80 else CLD_KILLED), status & 0x7F


def wait4_options(options):
    """Effective options of wait4(2): EINVAL for unknown bits; WEXITED added."""
    if options & ~WAIT4_OPTIONS:
        raise SyscallError(errno.EINVAL)
    return options | WEXITED


def waitid_options(options):
    """Options of waitid(2): EINVAL for unknown bits or nothing to wait for."""
    if options & ~WAITID_OPTIONS or not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise SyscallError(errno.EINVAL)
    return options
