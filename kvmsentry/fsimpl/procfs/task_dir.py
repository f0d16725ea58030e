"""/proc/[pid]/ and /proc/[pid]/task/[tid]/: the directory of one process
or thread, with its magic links (exe, cwd, root, fd/N) and fd/, fdinfo/,
ns/ and task/ subdirectories. File texts come from task_files.py and
process_attrs.py, imported at the first read of one: a lookup here (a
static glibc's readlink of /proc/self/exe at its start) needs neither.
"""
import errno
import os
import stat as st
import sys

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.devfs import MEM_DEVICES
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.fsimpl.procfs.nodes import GenDir, GenFile, GenLink
from kvmsentry.fsimpl.procfs.process_view import ProcessView
from kvmsentry.kernel.locking import current
from kvmsentry.vfs.file import File, O_ACCMODE
from kvmsentry.vfs.inode import Inode, Stat

NAMESPACES = (b"cgroup", b"ipc", b"mnt", b"net", b"pid", b"pid_for_children", b"time",
              b"time_for_children", b"user", b"uts")
NS_INO_BASE = 4026531835          # where Linux numbers its initial namespaces
NSFS_DEV = 4                      # nsfs's st_dev (0:4) on Linux
O_CLOEXEC = 0o2000000


def _reader_root(view):
    reader = current()
    return reader.fs.root if reader is not None else view.kernel.mounts.root_location()


def location_path(view, loc):
    """loc's path as the reading task sees it (Linux's d_path, which
    marks a name since removed: "/dir/file (deleted)")."""
    path = view.kernel.mounts.path_of(loc, _reader_root(view))
    return path + b" (deleted)" if loc.dentry.unlinked else path


def file_link_text(view, file):
    """What readlink of /proc/[pid]/fd/N says for `file`: its path, or
    for a file without one, Linux's pipe:[ino], socket:[ino] or
    anon_inode:[kind] (a file class may name its kind in `anon_name`)."""
    if file.location is not None:
        return location_path(view, file.location)
    pipe = sys.modules.get("kvmsentry.kernel.pipe")        # (no pipe yet: not loaded)
    if pipe is not None and isinstance(file, pipe.PipeFile):
        return b"pipe:[%d]" % file.pipe.ino
    try:
        s = file.stat()
    except SyscallError:
        s = None
    kind = st.S_IFMT(s.mode) if s is not None else None
    if kind == st.S_IFIFO:
        return b"pipe:[%d]" % s.ino
    if kind == st.S_IFSOCK:
        return b"socket:[%d]" % s.ino
    if isinstance(file, HostFdFile) and s is not None:
        if kind == st.S_IFCHR:
            if os.isatty(file.host_fd):
                return b"/dev/tty"
            for name, (major, minor, _) in MEM_DEVICES.items():
                if s.rdev == os.makedev(major, minor):
                    return b"/dev/" + name
        # A host file the sandbox was handed but cannot name (it is outside
        # its tree): say what it is, as Linux's anon inodes do.
        return b"host:[%d]" % s.ino
    name = getattr(file, "anon_name", None) or type(file).__name__.lower()
    return b"anon_inode:[%s]" % (name.encode() if isinstance(name, str) else name)


def _fd_mode(file):
    acc = file.flags & O_ACCMODE
    return 0o500 if acc == os.O_RDONLY else 0o300 if acc == os.O_WRONLY else 0o700


def _open_files(view):
    """(fd, file) for each descriptor the task has open now (none for a
    zombie)."""
    t = view.live()
    if t is None:
        return
    fds = t.fds
    for fd in fds.fds():
        try:
            yield fd, fds.get(fd)
        except SyscallError:
            continue                      # closed while we looked


def fd_dir(fs, key, view):
    """fd/: one magic link per open descriptor."""
    def entries():
        return {b"%d" % fd: _fd_link(fs, key + (fd,), view, file)
                for fd, file in _open_files(view)}
    return GenDir(fs, key, entries, 0o500, view.owner, alive=view.check_alive)


def _fd_link(fs, key, view, file):
    def text():
        view.check_ptrace_read()
        return file_link_text(view, file)

    def resolve():
        view.check_ptrace_read()
        return file
    return lambda: GenLink(fs, key, text, resolve=resolve, mode=_fd_mode(file),
                           owner=view.owner)


def fdinfo_text(view, fd, file):
    t = view.live_task()
    flags = file.flags | (O_CLOEXEC if t.fds.cloexec(fd) else 0)
    try:
        ino = file.stat().ino
    except SyscallError:
        ino = 0
    mnt = 0
    if file.location is not None:
        mounts = view.kernel.mounts.mounts
        mnt = next((i + 20 for i, m in enumerate(mounts) if m is file.location.mount), 0)
    text = "pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n" % (
        getattr(file, "offset", 0), flags, mnt, ino)
    extra = getattr(file, "fdinfo", None)           # epoll/eventfd lines, if a file has them
    if extra is not None:
        text += extra()
    return text.encode()


def fdinfo_dir(fs, key, view):
    def entries():
        return {b"%d" % fd: (lambda fd=fd, file=file: GenFile(
                    fs, key + (fd,), lambda: fdinfo_text(view, fd, file), 0o444, view.owner))
                for fd, file in _open_files(view)}
    return GenDir(fs, key, entries, 0o500, view.owner, alive=view.check_alive)


class NamespaceInode(Inode):
    """What an ns/ link reaches: an nsfs file whose inode number names the
    namespace (the sandbox has one of each). Opening it works; setns(2)
    does not exist here."""

    def __init__(self, fs, ino):
        super().__init__(fs, st.S_IFREG | 0o444)
        self.ino = ino

    def getattr(self):
        return Stat(dev=NSFS_DEV, ino=self.ino, mode=self.mode, nlink=1, blksize=4096)

    def open(self, location, flags):
        return File(flags, location)


def ns_dir(fs, key, view):
    def link(name):
        kind = name.split(b"_")[0]                 # pid_for_children is the pid namespace
        ino = NS_INO_BASE + sorted({n.split(b"_")[0] for n in NAMESPACES}).index(kind)

        def resolve():
            view.check_ptrace_read()
            # A zombie has given up its nsproxy; its pid and user
            # namespaces are still its pid's and creds'.
            if view.live() is None and kind not in (b"pid", b"user"):
                raise SyscallError(errno.ENOENT)
            return NamespaceInode(fs, ino)

        def text():
            resolve()
            return b"%s:[%d]" % (kind, ino)
        return lambda: GenLink(fs, key + (name,), text, resolve=resolve, mode=0o777,
                               owner=view.owner)
    names = {name: link(name) for name in NAMESPACES}
    return GenDir(fs, key, lambda: names, 0o511, view.owner, alive=view.check_alive)


def _listed_threads(view):
    """The threads task/ lists: the live ones, and a leader that has
    exited (Linux keeps it in the thread list until the process is
    reaped)."""
    threads = view.threads()
    leader = view.group.exited_leader
    if leader is not None and leader.tid not in view.group.threads:
        threads.insert(0, leader)
    return threads


def task_subdir(fs, key, view):
    """task/: one directory per thread of the process; its link count
    grows by one per thread (each one's `..`), as Linux's."""
    def entries():
        out = {}
        for t in _listed_threads(view):
            out[b"%d" % t.tid] = (lambda t=t: process_dir(
                fs, ("tid", t.tid), ProcessView(view.kernel, view.group, t, pid=t.tid),
                thread=True))
        return out
    return GenDir(fs, key, entries, 0o555, view.owner, alive=view.check_alive,
                  links=lambda: len(_listed_threads(view)))


class _Texts:
    """module.NAME of a module of file texts, imported at its first call."""

    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        def call(*args):
            return getattr(__import__(self.module, fromlist=("_",)), name)(*args)
        return call


tf = _Texts("kvmsentry.fsimpl.procfs.task_files")
pa = _Texts("kvmsentry.fsimpl.procfs.process_attrs")


def _text(fn, mode=0o444, write=None):
    def make(fs, key, view, name):
        return GenFile(fs, key + (name,), lambda: fn(view), mode, view.owner,
                       None if write is None else (lambda d: write(view, d)))
    return make


def _mm_text(fn):
    """A file read from the address space it was opened on (Linux's
    proc_mem_open): none for a zombie."""
    def make(fs, key, view, name):
        t = view.live()
        mm = t.mm if t is not None else None
        return GenFile(fs, key + (name,), lambda: fn(mm, view.kernel), 0o400, view.owner)
    return make


def _link(target_loc):
    def make(fs, key, view, name):
        def resolve():
            view.check_ptrace_read()
            t = view.live()              # a zombie has no mm or fs: ENOENT
            loc = target_loc(t) if t is not None else None
            if loc is None:
                raise SyscallError(errno.ENOENT)
            return loc
        return GenLink(fs, key + (name,), lambda: location_path(view, resolve()),
                       resolve=resolve, owner=view.owner)
    return make


def _mem_inode(fs, key, view):
    from kvmsentry.fsimpl.procfs.mem_file import MemInode    # (only a debugger opens it)
    return MemInode(fs, key, view)


def _sub(builder):
    return lambda fs, key, view, name: builder(fs, key + (name,), view)


# What /proc/[pid]/ holds: name -> make(fs, dir key, view, name). Made
# once; a lookup builds only the entry asked for.
_ENTRIES = {
    b"stat": None,                    # (process_dir: it depends on `thread`)
    b"statm": _text(tf.statm),
    b"status": _text(tf.status),
    b"maps": _text(tf.maps),
    b"smaps": _text(tf.smaps),
    b"smaps_rollup": _text(tf.smaps_rollup),
    b"cmdline": _text(tf.cmdline),
    b"environ": _mm_text(tf.environ),
    b"auxv": _mm_text(tf.auxv),
    b"comm": _text(tf.comm, 0o644, tf.write_comm),
    b"limits": _text(tf.limits),
    b"mounts": _text(tf.mounts),
    b"mountinfo": _text(tf.mountinfo),
    b"oom_score_adj": _text(pa.oom_score_adj, 0o644, pa.write_oom_score_adj),
    b"oom_score": _text(pa.oom_score),
    b"cgroup": _text(pa.cgroup),
    b"io": None,                      # (process_dir: it depends on `thread`)
    b"uid_map": _text(pa.id_map),
    b"gid_map": _text(pa.id_map),
    b"coredump_filter": _text(pa.coredump_filter, 0o644, pa.write_coredump_filter),
    b"children": _text(pa.children),  # (a thread's, not a process's)
    b"mem": lambda fs, key, view, name: _mem_inode(fs, key + (name,), view),
    b"exe": _link(lambda t: t.mm.exe),
    b"cwd": _link(lambda t: t.fs.cwd),
    b"root": _link(lambda t: t.fs.root),
    b"fd": _sub(fd_dir),
    b"fdinfo": _sub(fdinfo_dir),
    b"ns": _sub(ns_dir),
    b"task": _sub(task_subdir),       # (a process's, not a thread's)
}


def process_dir(fs, key, view, thread=False):
    """The directory of a process (or, with `thread`, of one thread)."""
    def make_stat(fs, key, view, name):
        return GenFile(fs, key + (name,), lambda: tf.stat(view, thread), 0o444, view.owner)

    def make_io(fs, key, view, name):
        return GenFile(fs, key + (name,), lambda: pa.io(view, thread), 0o400, view.owner)

    def maker(name):
        if name == (b"task" if thread else b"children"):
            return None
        make = {b"stat": make_stat, b"io": make_io}.get(name) or _ENTRIES.get(name)
        if make is None:
            return None
        return lambda: make(fs, key, view, name)

    def entries():
        return {name: m for name, m in ((n, maker(n)) for n in _ENTRIES) if m is not None}
    return GenDir(fs, key, entries, 0o555, view.owner, find=maker, alive=view.check_alive)
