"""Event files: eventfd, timerfd, signalfd, pidfd and inotify
(fsimpl/eventfd.py, timerfd.py, signalfd.py, pidfd.py, inotify.py). Each
is an anonymous-inode file with a wait queue, so read, poll, select and
epoll all wait on it alike."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.eventfd import EventFd
from kvmsentry.fsimpl.inotify import IN_ONESHOT, InotifyFile
from kvmsentry.fsimpl.pidfd import PidFd
from kvmsentry.fsimpl.signalfd import SignalFd, signalfd_mask
from kvmsentry.fsimpl.timerfd import CLOCKS, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, TimerFd
from kvmsentry.kernel import signal_delivery as sd
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel import timers as tm
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.vfs import fsnotify as fn
from kvmsentry.vfs.path import R_OK, may_access

O_RDONLY, O_RDWR = 0, 2
O_NONBLOCK, O_CLOEXEC = 0o4000, 0o2000000
EFD_SEMAPHORE = 1
RLIMIT_NOFILE = 7
CAP_WAKE_ALARM = 35
NSEC = 1_000_000_000
ITIMERSPEC = struct.Struct("<qqqq")            # it_interval, it_value


def _install(task, file, flags):
    return task.fds.install(file, cloexec=bool(flags & O_CLOEXEC),
                            limit=task.rlimits[RLIMIT_NOFILE][0])


# --- eventfd ------------------------------------------------------------------------
def eventfd2(task, initval, flags):
    """Implements eventfd2(2)."""
    flags = i32(flags)
    if flags & ~(EFD_SEMAPHORE | O_NONBLOCK | O_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    file = EventFd(u32(initval), O_RDWR | (flags & O_NONBLOCK), bool(flags & EFD_SEMAPHORE))
    return _install(task, file, flags)


def eventfd(task, initval):
    """Implements eventfd(2)."""
    return eventfd2(task, initval, 0)


# --- timerfd ------------------------------------------------------------------------
def timerfd_create(task, clockid, flags):
    """Implements timerfd_create(2)."""
    clockid, flags = i32(clockid), i32(flags)
    if clockid not in CLOCKS or flags & ~(O_NONBLOCK | O_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    if clockid in (tm.CLOCK_REALTIME_ALARM, tm.CLOCK_BOOTTIME_ALARM) and \
            not task.creds.capable(CAP_WAKE_ALARM):
        raise SyscallError(errno.EPERM)
    file = TimerFd(clockid, O_RDWR | (flags & O_NONBLOCK), tm.timer_thread(task.kernel))
    return _install(task, file, flags)


def _timerfd(task, fd):
    file = task.fds.get(i32(fd))
    if not isinstance(file, TimerFd):
        raise SyscallError(errno.EINVAL)
    return file


def _write_itimerspec(task, addr, value, interval):
    task.mm.copy_out(addr, ITIMERSPEC.pack(interval // NSEC, interval % NSEC,
                                           value // NSEC, value % NSEC))


def timerfd_settime(task, fd, flags, new, old):
    """Implements timerfd_settime(2)."""
    flags = i32(flags)
    isec, insec, vsec, vnsec = ITIMERSPEC.unpack(task.mm.copy_in(new, ITIMERSPEC.size))
    if flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET):
        raise SyscallError(errno.EINVAL)
    file = _timerfd(task, fd)
    for sec, nsec in ((isec, insec), (vsec, vnsec)):
        if sec < 0 or not 0 <= nsec < NSEC:
            raise SyscallError(errno.EINVAL)
    value, interval = file.settime(flags, vsec * NSEC + vnsec, isec * NSEC + insec)
    if old:
        _write_itimerspec(task, old, value, interval)
    return 0


def timerfd_gettime(task, fd, cur):
    """Implements timerfd_gettime(2)."""
    value, interval = _timerfd(task, fd).gettime()
    _write_itimerspec(task, cur, value, interval)
    return 0


# --- signalfd -----------------------------------------------------------------------
def signalfd4(task, fd, mask, sizemask, flags):
    """Implements signalfd4(2); an fd of -1 makes a new signalfd, else the
    signalfd's mask is replaced."""
    fd, flags = i32(fd), i32(flags)
    if flags & ~(O_NONBLOCK | O_CLOEXEC) or u32(sizemask) != 8:
        raise SyscallError(errno.EINVAL)
    (bits,) = struct.unpack("<Q", task.mm.copy_in(mask, 8))
    bits = signalfd_mask(bits)
    if fd != -1:
        file = task.fds.get(fd)
        if not isinstance(file, SignalFd):
            raise SyscallError(errno.EINVAL)
        file.mask = bits
        task.signal_queue.notify(sg.signal_events(1) | sg.sigset_events(bits))
        return fd
    return _install(task, SignalFd(bits, O_RDWR | (flags & O_NONBLOCK), task), flags)


def signalfd(task, fd, mask, sizemask):
    """Implements signalfd(2)."""
    return signalfd4(task, fd, mask, sizemask, 0)


# --- pidfd --------------------------------------------------------------------------
def pidfd_open(task, pid, flags):
    """Implements pidfd_open(2): pid must be a process (thread-group
    leader); the fd is always close-on-exec."""
    pid, flags = i32(pid), u32(flags)
    if flags & ~O_NONBLOCK or pid <= 0:
        raise SyscallError(errno.EINVAL)
    group = task.kernel.tree.groups.get(pid)
    if group is None:
        if task.kernel.tree.lookup(pid) is not None:
            raise SyscallError(errno.EINVAL)        # a thread, not a process
        raise SyscallError(errno.ESRCH)
    return _install(task, PidFd(group, O_RDWR | flags, task.kernel), O_CLOEXEC)


def pidfd_send_signal(task, pidfd, sig, info, flags):
    """Implements pidfd_send_signal(2) (info must be NULL: no
    program-supplied siginfo through a pidfd here)."""
    sig = i32(sig)
    if u32(flags) or not 0 <= sig <= sg.NSIG:
        raise SyscallError(errno.EINVAL)
    file = task.fds.get(i32(pidfd))
    if not isinstance(file, PidFd):
        raise SyscallError(errno.EBADF)
    if info:
        raise SyscallError(errno.EINVAL)
    if file.exited():
        raise SyscallError(errno.ESRCH)
    target = next((t for t in task.kernel.tasks.values() if t.group is file.group), None)
    if target is None:
        raise SyscallError(errno.ESRCH)
    sd.check_signal(task, target, sig)
    sd.send(task.kernel, target, sg.SigInfo.user(sig, task.tgid, task.creds.uid))
    return 0



PTRACE_CAP = 19                                 # CAP_SYS_PTRACE


def pidfd_getfd(task, pidfd, targetfd, flags):
    """Implements pidfd_getfd(2): a copy (close-on-exec) of an fd of the
    process a pidfd names; the caller must be allowed to ptrace it (same
    user, or CAP_SYS_PTRACE)."""
    if u32(flags):
        raise SyscallError(errno.EINVAL)
    file = task.fds.get(i32(pidfd))
    if not isinstance(file, PidFd):
        raise SyscallError(errno.EBADF)
    target = next((t for t in task.kernel.tasks.values() if t.group is file.group), None)
    if target is None or file.exited():
        raise SyscallError(errno.ESRCH)
    if target.creds.uid != task.creds.uid and not task.creds.capable(PTRACE_CAP):
        raise SyscallError(errno.EPERM)
    return _install(task, target.fds.get(i32(targetfd)), O_CLOEXEC)

# --- inotify ------------------------------------------------------------------------
IN_ALL_EVENTS = 0xFFF
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK = 0x01000000, 0x02000000, 0x04000000
IN_MASK_CREATE, IN_MASK_ADD = 0x10000000, 0x20000000
IN_VALID = (IN_ALL_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE
            | IN_MASK_ADD | IN_ONESHOT)


def inotify_init1(task, flags):
    """Implements inotify_init1(2)."""
    flags = i32(flags)
    if flags & ~(O_NONBLOCK | O_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    return _install(task, InotifyFile(O_RDONLY | (flags & O_NONBLOCK)), flags)


def inotify_init(task):
    """Implements inotify_init(2)."""
    return inotify_init1(task, 0)


def _inotify(task, fd):
    file = task.fds.get(i32(fd))
    if not isinstance(file, InotifyFile):
        raise SyscallError(errno.EINVAL)
    return file


def inotify_add_watch(task, fd, pathname, mask):
    """Implements inotify_add_watch(2)."""
    mask = u32(mask)
    if not mask & IN_ALL_EVENTS or mask & ~IN_VALID & 0xFFFFFFFF or \
            mask & IN_MASK_ADD and mask & IN_MASK_CREATE:
        raise SyscallError(errno.EINVAL)
    file = _inotify(task, fd)
    loc = lookup_at(task, -100, task.mm.read_cstring(pathname),
                    follow=not mask & IN_DONT_FOLLOW)
    if mask & IN_ONLYDIR and not loc.inode.is_dir():
        raise SyscallError(errno.ENOTDIR)
    if not may_access(loc.inode.getattr(), task.creds, R_OK):
        raise SyscallError(errno.EACCES)
    return file.add_watch(fn.key_of(loc.inode), mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK),
                          bool(mask & IN_MASK_ADD), bool(mask & IN_MASK_CREATE))


def inotify_rm_watch(task, fd, wd):
    """Implements inotify_rm_watch(2)."""
    _inotify(task, fd).rm_watch(i32(wd))
    return 0
