"""/dev/ptmx and /dev/pts/N: pseudo-terminals implemented by the sentry.

Opening /dev/ptmx makes a Pty (kernel/tty/pty.py) and its slave node
/dev/pts/N (mode 620, owned by the opener, group tty as a container's
devpts mount gid=5), locked until TIOCSPTLCK 0, as Linux's devpts.
The node goes away with the master; the index is reused once no side
is open. mount(2) of devpts makes another instance (as every devpts
mount is since Linux 4.7) with its own ptmx, numbering and options;
/dev/ptmx serves the instance mounted on the "pts" beside it. The ioctls are
Linux's tty_ioctl: termios, window size, and the controlling-terminal
rules (TIOCSCTTY, TIOCNOTTY, TIOCGPGRP,
TIOCSPGRP, TIOCGSID) with their EPERM/ENOTTY answers.
"""
import errno
import os
import stat as st
import struct
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.tmpfs import TmpfsDir, TmpfsFilesystem, TmpfsInode
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.tty import termios as t
from kvmsentry.kernel.tty.pty import (Pty, check_background, check_foreground, controlling_pty,
                                      signal_pgrp)
from kvmsentry.vfs.file import O_NONBLOCK, File

PTY_MASTER_MAJOR, PTY_SLAVE_MAJOR = 5, 136
TTY_GID = 5
SLAVE_MODE = 0o620
CAP_SYS_ADMIN = 21
DEVPTS_SUPER_MAGIC = 0x1CD1
NR_UNIX98_PTY_MAX = 1 << 20

TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TCSBRK, TCXONC, TCFLSH = 0x5409, 0x540A, 0x540B
TIOCSCTTY, TIOCGPGRP, TIOCSPGRP, TIOCOUTQ = 0x540E, 0x540F, 0x5410, 0x5411
TIOCGWINSZ, TIOCSWINSZ, FIONREAD, TIOCNOTTY = 0x5413, 0x5414, 0x541B, 0x5422
TCSBRKP, TIOCGSID = 0x5425, 0x5429
TIOCGPTN, TIOCSPTLCK = 0x80045430, 0x40045431
TIOCPKT, TIOCGPKT = 0x5420, 0x80045438
TCGETS2, TCSETS2, TCSETSW2, TCSETSF2 = 0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D
TIOCGPTPEER = 0x5441


class PtyTable:
    """The ptys of one devpts instance: index allocation and its
    directory. Slave nodes get `mode`, and `uid`/`gid` (None: the
    opener's fsuid/fsgid); at most `max` ptys at once (ENOSPC)."""

    def __init__(self, pts_dir, mode=SLAVE_MODE, uid=None, gid=TTY_GID, max=NR_UNIX98_PTY_MAX):
        # Nodes come and go with masters, not through a syscall that would
        # forget the cached dentry: a reused index must not reach the old pty.
        pts_dir.volatile = True
        self.pts_dir = pts_dir
        self.lock = threading.Lock()
        self.ptys = {}                      # index -> Pty
        self.mode, self.uid, self.gid, self.max = mode, uid, gid, max

    def create(self, fs, task):
        with self.lock:
            if len(self.ptys) >= self.max:
                raise SyscallError(errno.ENOSPC)
            index = next(i for i in range(len(self.ptys) + 1) if i not in self.ptys)
            pty = Pty(index, task.kernel)
            pty.table = self
            self.ptys[index] = pty
        creds = task.creds
        node = PtsInode(fs, pty, self, creds.fsuid if self.uid is None else self.uid,
                        creds.fsgid if self.gid is None else self.gid, self.mode)
        self.pts_dir.insert_node(str(index).encode(), node)
        return pty

    def master_closed(self, pty):
        self.pts_dir.remove_node(str(pty.index).encode())
        self.maybe_free(pty)

    def maybe_free(self, pty):
        with self.lock:
            if not pty.master_open and pty.slave_opens == 0:
                self.ptys.pop(pty.index, None)

    def open_ctty(self, task, location, flags):
        """/dev/tty opened: the caller's controlling terminal, if a pty
        (None otherwise)."""
        pty = controlling_pty(task.kernel, task.group.sid)
        if pty is None:
            return None
        pty.slave_opened()
        return SlaveFile(pty, pty.table, location, flags)


class DevptsDir(TmpfsDir):
    """A devpts root: it holds ptmx and the ptys' nodes, which only the
    table adds and removes; a program can create, link, rename or remove
    nothing there (devpts has simple_dir_inode_operations: creat is
    EACCES, the rest EPERM)."""

    def insert_node(self, name, inode):
        return TmpfsDir.insert(self, name, inode)

    def remove_node(self, name):
        try:
            TmpfsDir.unlink(self, name)
        except SyscallError:
            pass

    def create(self, name, mode, uid, gid):
        raise SyscallError(errno.EACCES)

    def _refuse(self, *args, **kwargs):
        raise SyscallError(errno.EPERM)

    mkdir = mknod = symlink = link = unlink = rmdir = rename = _refuse


def _devpts_options(data):
    """devpts's uid=, gid=, mode=, ptmxmode=, max= and newinstance (every
    mount is a new instance); anything else is EINVAL."""
    opts = {"uid": None, "gid": None, "mode": 0o600, "ptmxmode": 0, "max": NR_UNIX98_PTY_MAX}
    for item in (data or b"").split(b","):
        key, _, value = item.partition(b"=")
        if key in (b"", b"newinstance"):
            continue
        try:
            if key in (b"mode", b"ptmxmode"):
                opts[key.decode()] = int(value, 8) & 0o7777
            elif key in (b"uid", b"gid", b"max"):
                opts[key.decode()] = int(value)
            else:
                raise SyscallError(errno.EINVAL)
        except ValueError:
            raise SyscallError(errno.EINVAL) from None
    if not 0 <= opts["max"] <= NR_UNIX98_PTY_MAX:
        raise SyscallError(errno.EINVAL)
    return opts


class DevptsFilesystem(TmpfsFilesystem):
    """A devpts mount: ptmx (mode ptmxmode=) and a node per pty."""

    name = "devpts"
    magic = DEVPTS_SUPER_MAGIC

    def __init__(self, dev, data=None):
        o = _devpts_options(data)
        super().__init__(dev, mode=0o755)
        self._root = root = DevptsDir(self, 0o755, 0, 0, parent=None)
        self.ptys = PtyTable(root, mode=o["mode"], uid=o["uid"], gid=o["gid"], max=o["max"])
        root.insert_node(b"ptmx", PtmxInode(self, self.ptys, o["ptmxmode"]))

    def statfs(self):
        return dict(type=self.magic, bsize=4096, blocks=0, bfree=0, bavail=0, files=0,
                    ffree=0, namelen=255, frsize=4096, flags=0)


class PtmxInode(TmpfsInode):
    """/dev/ptmx: every open is a new master."""

    def __init__(self, fs, table, mode=0o666):
        super().__init__(fs, st.S_IFCHR | mode, 0, 0, os.makedev(PTY_MASTER_MAJOR, 2))
        self.table = table

    def open(self, location, flags):
        task = current()
        if task is None:
            raise SyscallError(errno.ENXIO)
        fs, table = self._instance(task, location)
        return MasterFile(table.create(fs, task), table, location, flags)

    def _instance(self, task, location):
        """The devpts instance a master opened here belongs to (Linux's
        devpts_acquire). A devpts root's own ptmx serves its instance;
        another ptmx node serves the devpts mounted on the "pts" beside it,
        so a container that mounts a new instance on /dev/pts gets its ptys
        there, and the sandbox's own /dev/pts when nothing is mounted on
        it. No "pts" there is ENOENT (so is a bind mount of the node alone:
        its parent is outside the mount), anything else there ENODEV."""
        if isinstance(self.fs, DevptsFilesystem) or location is None:
            return self.fs, self.table
        mount, dentry = location
        parent = dentry.parent
        if parent is None or dentry is mount.root:
            raise SyscallError(errno.ENOENT)
        pts = parent.child(b"pts")
        pts_mount, pts = task.kernel.mounts.mounted_on(type(location)(mount, pts))
        if pts is pts_mount.root and isinstance(pts_mount.fs, DevptsFilesystem):
            return pts_mount.fs, pts_mount.fs.ptys
        if pts.inode is self.table.pts_dir:
            return self.fs, self.table
        raise SyscallError(errno.ENODEV)


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
