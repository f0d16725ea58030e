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

The open files of a pty and its slave node are in pty_files.py, imported
with the first pty: most runs open none.
"""
import errno
import os
import stat as st
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.tmpfs import TmpfsDir, TmpfsFilesystem, TmpfsInode
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.tty.pty import Pty, controlling_pty

PTY_MASTER_MAJOR, PTY_SLAVE_MAJOR = 5, 136
TTY_GID = 5
SLAVE_MODE = 0o620
DEVPTS_SUPER_MAGIC = 0x1CD1
NR_UNIX98_PTY_MAX = 1 << 20



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
        from kvmsentry.fsimpl.pty_files import PtsInode
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
        from kvmsentry.fsimpl.pty_files import SlaveFile
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
        from kvmsentry.fsimpl.pty_files import MasterFile
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
