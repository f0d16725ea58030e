"""The open files of the sandbox's pseudo-terminals (devpts.py): a pty's
master and slave sides and its /dev/pts/N node, with Linux's tty_ioctl
(termios, window size, the controlling-terminal rules) on both."""
import errno
import os
import stat as st
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.devpts import PTY_SLAVE_MAJOR
from kvmsentry.fsimpl.tmpfs import TmpfsInode
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.tty import termios as t
from kvmsentry.kernel.tty.pty import check_background, check_foreground, controlling_pty, \
    signal_pgrp
from kvmsentry.vfs.file import O_NONBLOCK, File

CAP_SYS_ADMIN = 21
TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TCSBRK, TCXONC, TCFLSH = 0x5409, 0x540A, 0x540B
TIOCSCTTY, TIOCGPGRP, TIOCSPGRP, TIOCOUTQ = 0x540E, 0x540F, 0x5410, 0x5411
TIOCGWINSZ, TIOCSWINSZ, FIONREAD, TIOCNOTTY = 0x5413, 0x5414, 0x541B, 0x5422
TCSBRKP, TIOCGSID = 0x5425, 0x5429
TIOCGPTN, TIOCSPTLCK = 0x80045430, 0x40045431
TIOCPKT, TIOCGPKT = 0x5420, 0x80045438
TCGETS2, TCSETS2, TCSETSW2, TCSETSF2 = 0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D
TIOCGPTPEER = 0x5441


class PtsInode(TmpfsInode):
    """/dev/pts/N."""

    def __init__(self, fs, pty, table, uid, gid, mode):
        super().__init__(fs, st.S_IFCHR | mode, uid, gid, os.makedev(PTY_SLAVE_MAJOR, pty.index))
        self.pty = pty
        self.table = table

    def open(self, location, flags):
        self.pty.slave_opened()
        return SlaveFile(self.pty, self.table, location, flags)


class TtyFile(File):
    """What both sides of a pty answer alike."""

    is_master = False

    def __init__(self, pty, table, location, flags):
        super().__init__(flags, location)
        self.pty = pty
        self.table = table

    def nonblocking(self):
        return bool(self.flags & O_NONBLOCK)

    @staticmethod
    def _no_offset(offset):
        if offset is not None:
            raise SyscallError(errno.ESPIPE)

    def ioctl(self, task, request, arg):
        pty, mm = self.pty, task.mm
        if request == TCGETS:
            mm.copy_out(arg, pty.termios.to_bytes())
        elif request == TCGETS2:
            mm.copy_out(arg, pty.termios.to_bytes2())
        elif request in (TCSETS, TCSETSW, TCSETSF):
            new = t.Termios.from_bytes(mm.copy_in(arg, t.SIZE))
            self._check_change(task)
            pty.set_termios(new, flush=request == TCSETSF)
        elif request in (TCSETS2, TCSETSW2, TCSETSF2):
            new = t.Termios.from_bytes2(mm.copy_in(arg, t.SIZE2))
            self._check_change(task)
            pty.set_termios(new, flush=request == TCSETSF2)
        elif request == TIOCGWINSZ:
            mm.copy_out(arg, pty.winsize)
        elif request == TIOCSWINSZ:
            pty.set_winsize(mm.copy_in(arg, 8))
        elif request == FIONREAD:
            n = pty.output_count() if self.is_master else pty.input_count()
            mm.copy_out(arg, struct.pack("<i", n))
        elif request == TIOCOUTQ:
            n = 0 if self.is_master else pty.output_count()
            mm.copy_out(arg, struct.pack("<i", n))
        elif request == TCFLSH:
            pty.flush(arg, from_master=self.is_master)
        elif request in (TCSBRK, TCSBRKP, TCXONC):
            pass                                  # no line to drain, break or stop
        elif request == TIOCSCTTY:
            self._set_ctty(task, arg)
        elif request == TIOCNOTTY:
            self._drop_ctty(task)
        elif request == TIOCGPGRP:
            self._require_ctty(task)
            mm.copy_out(arg, struct.pack("<i", pty.pgrp or 0))
        elif request == TIOCSPGRP:
            self._set_pgrp(task, arg)
        elif request == TIOCGPTPEER:
            return self._open_peer(task, arg & 0xFFFFFFFF)
        elif request == TIOCGSID:
            self._require_ctty(task)
            if pty.session is None:
                raise SyscallError(errno.ENOTTY)
            mm.copy_out(arg, struct.pack("<i", pty.session))
        else:
            return self.side_ioctl(task, request, arg)
        return 0

    def side_ioctl(self, task, request, arg):
        raise SyscallError(errno.ENOTTY)

    def _open_peer(self, task, flags):
        """TIOCGPTPEER: the master opens its slave without a path walk (so
        a /dev/pts another mount hides cannot mislead it), opened as by
        open(2) with these flags; EIO asked of a slave or while locked."""
        if not self.is_master:
            raise SyscallError(errno.EIO)
        pty = self.pty
        dev = self.location.dentry.parent
        loc = type(self.location)(self.location.mount,
                                  dev.child(b"pts").child(str(pty.index).encode()))
        # (imported here: the syscall modules load at their first call)
        from kvmsentry.syscalls.sys_file import file_flags, install_opened
        pty.slave_opened()
        peer = SlaveFile(pty, self.table, loc, file_flags(flags))
        if not flags & os.O_NOCTTY:
            peer.opened_without_noctty(task)
        return install_opened(task, peer, flags)

    # --- job control -------------------------------------------------------------
    def _is_ctty(self, task):
        return self.pty.session is not None and self.pty.session == task.group.sid

    def _require_ctty(self, task):
        """On the slave, the pgrp/sid requests need it to be the caller's
        controlling terminal; the master answers for its slave."""
        if not self.is_master and not self._is_ctty(task):
            raise SyscallError(errno.ENOTTY)

    def _set_ctty(self, task, arg):
        group, pty = task.group, self.pty
        if group.session_leader and pty.session == group.sid:
            return
        if not group.session_leader or controlling_pty(task.kernel, group.sid) is not None:
            raise SyscallError(errno.EPERM)
        if pty.session is not None and not (arg == 1 and task.creds.capable(CAP_SYS_ADMIN)):
            raise SyscallError(errno.EPERM)
        pty.session, pty.pgrp = group.sid, group.pgid

    def _drop_ctty(self, task):
        if self.is_master or not self._is_ctty(task):   # the master is not the terminal
            raise SyscallError(errno.ENOTTY)
        group, pty = task.group, self.pty
        if group.session_leader:
            pgrp = pty.pgrp
            pty.session = pty.pgrp = None
            if pgrp is not None:
                signal_pgrp(task.kernel, pgrp, sg.SIGHUP)
                signal_pgrp(task.kernel, pgrp, sg.SIGCONT)

    def _set_pgrp(self, task, arg):
        if not self._is_ctty(task):
            raise SyscallError(errno.ENOTTY)
        self._check_change(task)
        (pgid,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
        check_foreground(task, pgid)
        self.pty.pgrp = pgid

    def _check_change(self, task, sig=sg.SIGTTOU):
        if not self.is_master:
            check_background(task, self.pty.session, self.pty.pgrp, sig)


class MasterFile(TtyFile):
    """The ptmx side: reads what the slave wrote, writes typed input."""

    is_master = True

    @property
    def queue(self):
        return self.pty.master_queue

    def read(self, length, offset=None):
        self._no_offset(offset)
        return self.pty.master_read(length, self.nonblocking())

    def write(self, data, offset=None):
        self._no_offset(offset)
        return self.pty.master_write(bytes(data), self.nonblocking())

    def poll_events(self):
        return self.pty.master_events()

    def side_ioctl(self, task, request, arg):
        if request == TIOCGPTN:
            task.mm.copy_out(arg, struct.pack("<I", self.pty.index))
        elif request == TIOCSPTLCK:
            (lock,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
            self.pty.locked = bool(lock)
        elif request == TIOCPKT:
            (on,) = struct.unpack("<i", task.mm.copy_in(arg, 4))
            self.pty.set_packet(bool(on))
        elif request == TIOCGPKT:
            task.mm.copy_out(arg, struct.pack("<i", int(self.pty.packet)))
        else:
            raise SyscallError(errno.ENOTTY)
        return 0

    def release(self):
        self.pty.master_closed()
        self.table.master_closed(self.pty)


class SlaveFile(TtyFile):
    """/dev/pts/N opened: the terminal a program sees."""

    @property
    def queue(self):
        return self.pty.slave_queue

    def read(self, length, offset=None):
        self._no_offset(offset)
        self._check_change(current(), sg.SIGTTIN)
        return self.pty.slave_read(length, self.nonblocking())

    def write(self, data, offset=None):
        self._no_offset(offset)
        if self.pty.termios.lflag & t.TOSTOP:
            self._check_change(current(), sg.SIGTTOU)
        return self.pty.slave_write(data, self.nonblocking())

    def poll_events(self):
        return self.pty.slave_events()

    def opened_without_noctty(self, task):
        """A session leader without a controlling terminal that opens a
        free tty without O_NOCTTY acquires it (tty_open_proc_set_tty)."""
        group, pty = task.group, self.pty
        if group.session_leader and pty.session is None and \
                controlling_pty(task.kernel, group.sid) is None:
            pty.session, pty.pgrp = group.sid, group.pgid

    def release(self):
        self.pty.slave_closed()
        self.table.maybe_free(self.pty)
