"""A host file descriptor the sandbox inherited (stdin/stdout/stderr).

Like `runsc do`, the sandbox's stdio are the caller's: reads and writes go
to the same host fds; nothing else about the host is reachable through
them. Terminal ioctls are answered from the host terminal.
"""
import errno
import fcntl
import os
import select
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.locking import blocking, current
from kvmsentry.kernel.tty.pty import check_background
from kvmsentry.kernel.waiter import wait_event
from kvmsentry.vfs.file import File
from kvmsentry.vfs.inode import Stat

TCGETS = 0x5401
TCSETS, TCSETSW, TCSETSF = 0x5402, 0x5403, 0x5404
TIOCGWINSZ = 0x5413
TIOCGPGRP, TIOCSPGRP, TIOCGSID = 0x540F, 0x5410, 0x5429
FIONREAD = 0x541B
TERMIOS_SIZE = 36          # struct termios as the kernel copies it (no speeds)
TOSTOP = 0o400
LFLAG_OFFSET = 12          # c_lflag in struct termios


def _host_call(fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        raise SyscallError(e.errno) from None


class HostFdFile(File):
    def __init__(self, host_fd, flags):
        super().__init__(flags)
        self.host_fd = host_fd
        self._is_tty = None

    def is_tty(self):
        if self._is_tty is None:
            try:
                self._is_tty = os.isatty(self.host_fd)
            except OSError:
                self._is_tty = False
        return self._is_tty

    def _check_job_control(self, task, sig):
        """A background process group of the terminal's session that reads
        it (SIGTTIN), writes it under TOSTOP or changes its settings
        (SIGTTOU) is stopped, as Linux's tty_check_change does; the host
        never sees the sandbox's process groups, so the sentry decides."""
        if task is None or not self.is_tty():
            return
        control = task.kernel.host_terminal
        if control.is_tty:
            check_background(task, control.session, control.pgrp, sig)

    def _tostop(self):
        try:
            attrs = fcntl.ioctl(self.host_fd, TCGETS, bytes(TERMIOS_SIZE))
        except OSError:
            return False
        return bool(struct.unpack_from("<I", attrs, LFLAG_OFFSET)[0] & TOSTOP)

    def read(self, length, offset=None):
        if offset is None:             # a terminal or pipe read may wait
            if self.is_tty():
                self._check_job_control(current(), sg.SIGTTIN)
            _wait_readable(self.host_fd)
        with blocking():
            if offset is None:
                return _host_call(os.read, self.host_fd, length)
            return _host_call(os.pread, self.host_fd, length, offset)

    def write(self, data, offset=None):
        if self.is_tty() and self._tostop():
            self._check_job_control(current(), sg.SIGTTOU)
        with blocking():
            if offset is None:
                return _host_call(os.write, self.host_fd, data)
            return _host_call(os.pwrite, self.host_fd, data, offset)

    def seekable(self):
        try:
            os.lseek(self.host_fd, 0, os.SEEK_CUR)
            return True
        except OSError:
            return False

    def stat(self):
        return stat_from_host(_host_call(os.fstat, self.host_fd))

    def ioctl(self, task, request, arg):
        mm = task.mm
        if request == TCGETS:
            buf = _host_call(fcntl.ioctl, self.host_fd, TCGETS, bytes(TERMIOS_SIZE))
            mm.copy_out(arg, buf)
            return 0
        if request == TIOCGWINSZ:
            buf = _host_call(fcntl.ioctl, self.host_fd, TIOCGWINSZ, bytes(8))
            mm.copy_out(arg, buf)
            return 0
        if request == FIONREAD:
            buf = _host_call(fcntl.ioctl, self.host_fd, FIONREAD, bytes(4))
            mm.copy_out(arg, buf)
            return 0
        if request in (TCSETS, TCSETSW, TCSETSF):
            if not os.isatty(self.host_fd):
                raise SyscallError(errno.ENOTTY)
            self._check_job_control(task, sg.SIGTTOU)
            data = mm.copy_in(arg, TERMIOS_SIZE)
            _host_call(fcntl.ioctl, self.host_fd, request, data)
            return 0
        if request in (TIOCGPGRP, TIOCSPGRP, TIOCGSID):
            if not os.isatty(self.host_fd):
                raise SyscallError(errno.ENOTTY)
            # Job control on the user's terminal is the sentry's (kernel/tty/host_terminal.py).
            control = task.kernel.host_terminal
            if request == TIOCSPGRP:
                self._check_job_control(task, sg.SIGTTOU)
                control.set_pgrp(task, struct.unpack("<i", mm.copy_in(arg, 4))[0])
            else:
                value = control.get_pgrp(task) if request == TIOCGPGRP else control.get_sid(task)
                mm.copy_out(arg, struct.pack("<i", value))
            return 0
        raise SyscallError(errno.ENOTTY)


def _wait_readable(fd):
    """Wait until fd has data (or EOF): the host fd goes into the task's
    host poll set, so a signal for the task ends the wait with EINTR
    (a host read itself would not notice)."""
    events = select.POLLIN | select.POLLPRI

    def ready():
        poller = select.poll()
        poller.register(fd, events)
        return bool(poller.poll(0))

    wait_event(ready, host_fds=[(fd, events)])


def stat_from_host(s):
    """A vfs Stat from an os.stat_result (filled in place: every getattr
    of a host file, each stat and open of one, is here)."""
    out = _new_stat(Stat)
    (out.dev, out.ino, out.mode, out.nlink, out.uid, out.gid, out.rdev, out.size,
     out.blksize, out.blocks, out.atime_ns, out.mtime_ns, out.ctime_ns, out.btime_ns) = (
        s.st_dev, s.st_ino, s.st_mode, s.st_nlink, s.st_uid, s.st_gid, s.st_rdev, s.st_size,
        s.st_blksize, s.st_blocks, s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns, 0)
    return out


_new_stat = object.__new__
