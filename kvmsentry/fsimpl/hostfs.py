"""A host directory seen through the sentry (the sandbox root, --volume).

Every HostInode holds an O_PATH | O_NOFOLLOW host fd that was opened
relative to its parent's fd, one component at a time. The host kernel
therefore never resolves a guest path: it never follows a host symlink
(the sentry reads the link and the VFS resolves it inside the sandbox),
never sees `..`, and can reach nothing that is not below the root fd.
Contents are read through a second fd obtained by re-opening the O_PATH fd
via /proc/self/fd, for regular files only, so the sentry never opens a host
FIFO or device: a FIFO on the host is a pipe inside the sentry, shared by
every open of that host inode in the sandbox (as gVisor's gofer mounts do),
so it connects sandboxed processes and never a host one. A read-only mount refuses every mutation with EROFS; a
read-write volume does them with the *at() calls relative to the parent fd.
A host procfs, sysfs or other filesystem of host state
(HOST_STATE_FILESYSTEMS) mounted below the root or a volume shows as an
empty directory that refuses changes: it would show the host's processes,
the sentry's own /proc entry and the kernel's settings.

A directory remembers the names it did not have, as Linux's negative
dentries do, with the stamp (mtime, ctime, size, nlink) it had when they
were missing: a later lookup of one costs a stat of the directory (none
of its own in an unprivileged path walk, whose search check has just
stat()ed it: lookup_seen), not a failed open, and any change to the
directory, the sandbox's or the host's, changes the stamp (Linux gives a
changed directory a fresh fine-grained ctime once one was read, on ext4,
xfs, btrfs and tmpfs). The sandbox's own creations also drop the name at
once.

A cached name is checked against the host at each lookup that finds it
(stale_child, as Linux's d_revalidate and gVisor's revalidating gofer
mounts): a name the host renamed another file onto, or removed and made
again, has another inode number (not reusable while our fd holds the old
one), and the next lookup opens what the name has now; an fd open on the
old file keeps it. This costs one fstatat per host-backed name of a walk.

set_open_audit(callback) lets tests watch every host open this module does.
"""
import errno
import os
import resource
import stat as st
import threading
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl import host_fd_budget
from kvmsentry.fsimpl.hostfd import stat_from_host
from kvmsentry.vfs.inode import RENAME_EXCHANGE, Filesystem, Inode, dtype

V9FS_MAGIC = 0x01021997       # what gVisor reports for its gofer-backed mounts
ST_RDONLY = 1
MAX_RW_COUNT = 0x7FFFF000     # Linux's cap on one read or write
_BIG_READ = 1 << 20
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
ABSENT_KEPT = 1024            # missing names remembered per directory, at most
_IO_FLAGS = os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW
# Filesystems that describe the host (its processes, kernel, devices,
# namespaces) rather than hold files: one mounted below the root or a
# volume shows as an empty, unwritable directory, as the host's /proc and
# /sys are covered by the sandbox's own (statfs f_type values).
HOST_STATE_FILESYSTEMS = frozenset((
    0x9FA0,        # proc
    0x62656572,    # sysfs
    0x64626720,    # debugfs
    0x74726163,    # tracefs
    0x73636673,    # securityfs
    0xCAFE4A11,    # bpf
    0x6E736673,    # nsfs
    0x27E0EB,      # cgroup
    0x63677270,    # cgroup2
    0x1CD1,        # devpts
    0x19800202,    # mqueue
    0x42494E4D,    # binfmt_misc
    0x62656570,    # configfs
    0xDE5E81E4,    # efivarfs
    0x6165676C,    # pstore
    0x65735543,    # fusectl
))

_audit = None
_rlimit_raised = False


def set_open_audit(callback):
    """Call callback(base, name) before every host open; return the old one.

    `base` is the host's own path (bytes) of what the open is relative to
    (the directory fd, or for a re-open the object itself, with name b"");
    the host object opened is base/name. None turns auditing off.
    """
    global _audit
    old, _audit = _audit, callback
    return old


def _fd_path(fd):
    return os.readlink("/proc/self/fd/%d" % fd).encode()


def _host_open(base_fd, name, flags, mode=0o777):
    """os.open(name, dir_fd=base_fd) with the audit hook and errno mapping."""
    if _audit is not None:
        _audit(_fd_path(base_fd), name)
    try:
        return host_fd_budget.admit(os.open(name, flags, mode, dir_fd=base_fd))
    except OSError as e:
        raise SyscallError(e.errno) from None


def _reopen(path_fd, flags):
    """A real fd for the object an O_PATH fd names (never by a host name)."""
    proc = "/proc/self/fd/%d" % path_fd
    if _audit is not None:
        _audit(_fd_path(path_fd), b"")
    try:
        return host_fd_budget.admit(os.open(proc, flags | os.O_CLOEXEC | os.O_NOCTTY))
    except OSError as e:
        raise SyscallError(e.errno) from None


def _call(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except OSError as e:
        raise SyscallError(e.errno) from None


def _check_name(name):
    # The VFS walks paths itself; this is the last line of defence against
    # a caller that hands a whole path or a dot-name to the host.
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise SyscallError(errno.EINVAL)


def _raise_nofile_limit():
    """Each inode in use holds an O_PATH fd: allow as many as the host lets us."""
    global _rlimit_raised
    if _rlimit_raised:
        return
    _rlimit_raised = True
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


_c = None


def _libc():
    """(ctypes, the C library) for the two calls os lacks: ctypes is
    imported at the first of them (most runs make neither)."""
    global _c
    if _c is None:
        import ctypes
        _c = ctypes, ctypes.CDLL(None, use_errno=True)
    return _c


def _renameat2(old_fd, old, new_fd, new, flags):
    """renameat2(2), which os.rename cannot do (no flags argument)."""
    if not flags:
        return _call(os.rename, old, new, src_dir_fd=old_fd, dst_dir_fd=new_fd)
    ctypes, libc = _libc()
    if libc.renameat2(old_fd, old, new_fd, new, ctypes.c_uint(flags)) != 0:
        raise SyscallError(ctypes.get_errno())


def _fs_type(fd):
    """statfs(2)'s f_type of the filesystem fd lies on (os has no fstatfs;
    the cffi helper, as ctypes would cost every run its import)."""
    from kvmsentry._sandbox import lib
    t = lib.kvmsentry_fs_type(fd)
    if t < 0:
        raise SyscallError(-t)
    return t


class _Ids:
    """A host object's mode and owner, for a permission check, and the
    stamp (_dir_stamp) the same stat gave, for a lookup right after it."""
    __slots__ = ("mode", "uid", "gid", "of", "stamp")

    def __init__(self, s, of):
        self.mode, self.uid, self.gid = s.st_mode, s.st_uid, s.st_gid
        self.of, self.stamp = of, _stamp_of(s)


def _stamp_of(s):
    return s.st_mtime_ns, s.st_ctime_ns, s.st_size, s.st_nlink


def _dir_stamp(fd):
    """What changes whenever a directory's entries do (see above)."""
    return _stamp_of(_call(os.stat, fd))


class _Fds:
    """The host fds of one inode, closed when the inode is collected."""

    def __init__(self, path_fd):
        self.path = path_fd
        self.io = {}                  # O_RDONLY / O_RDWR -> fd
        # The fd reads and the fd writes go to (-1: none made yet): every
        # read(2) and write(2) of the file asks, with no lock and no lookup.
        self.reader = self.writer = -1

    def __del__(self):
        # The inode holding this went (no weakref.finalize per inode: a
        # lookup of a new name makes one, and finalize costs microseconds).
        self.close()

    def close(self, _close=os.close, _error=OSError):
        # (os.close bound here: at interpreter exit __del__ may run after
        # the module's globals are gone.)
        fds = [self.path, *self.io.values()] if self.path >= 0 else []
        self.path = self.reader = self.writer = -1   # closed once: the numbers may be reused
        self.io.clear()
        for fd in fds:
            try:
                _close(fd)
            except _error:
                pass


class HostInode(Inode):
    """One host object, named by the O_PATH fd it holds."""

    revalidates = True                # the host may rename or remove our names

    def __init__(self, fs, path_fd, parent, name):
        try:
            s = os.stat(path_fd)
        except OSError as e:
            os.close(path_fd)
            raise SyscallError(e.errno) from None
        self._fds = _Fds(path_fd)
        self._ids = (s.st_ino, s.st_dev)     # which host object: stale_child compares
        super().__init__(fs, s.st_mode)
        self.parent = parent          # HostInode (strong: we need its fd) or None
        self.name = name              # our name in parent; None once removed
        # The root of a host filesystem in HOST_STATE_FILESYSTEMS mounted
        # here: shown empty and unwritable (checked only where a lookup
        # crosses onto another device).
        self.hidden = (parent is not None and st.S_ISDIR(s.st_mode)
                       and s.st_dev != parent.host_dev
                       and _fs_type(path_fd) in HOST_STATE_FILESYSTEMS)
        self.host_dev = s.st_dev
        # Looked-up children, for directories only (made on first lookup).
        self._children = None
        # (stamp, names) of names found missing while the directory had
        # that stamp (_dir_stamp); None: none known.
        self._absent = None

    @property
    def fd(self):
        return self._fds.path

    # --- helpers ------------------------------------------------------------
    def _writable(self):
        if self.fs.readonly or self.hidden:
            raise SyscallError(errno.EROFS)

    def _creating(self, name):
        """Checks before making `name`: Linux says EEXIST before EROFS."""
        _check_name(name)
        if not self.is_dir():
            raise SyscallError(errno.ENOTDIR)
        if self.hidden:
            raise SyscallError(errno.EROFS)
        if self.fs.readonly:
            try:
                os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                raise SyscallError(errno.EROFS) from None
            raise SyscallError(errno.EEXIST)

    def _io_fd(self, write):
        """The cached host I/O fd for this regular file (O_RDWR for writes,
        which then serves reads too)."""
        fds = self._fds
        # Once made, an I/O fd stays until the inode goes: every read and
        # write finds it here without the lock.
        fd = fds.writer if write else fds.reader
        if fd >= 0:
            return fd
        if not self.is_reg():
            raise SyscallError(errno.EINVAL)
        with self.fs.lock:
            fd = fds.writer if write else fds.reader
            if fd < 0:
                acc = os.O_RDWR if write else os.O_RDONLY
                fd = fds.io[acc] = _reopen(fds.path, acc)
                if write:
                    fds.writer = fds.reader = fd
                else:
                    fds.reader = fd
            return fd

    # --- extended attributes: the host file's user.* ones; the trusted.*
    # and security.* namespaces of host files stay the host's -------------
    def _xattr_call(self, fn, *args):
        try:
            return fn("/proc/self/fd/%d" % self.fd, *args)
        except OSError as e:
            raise SyscallError(e.errno) from None

    def getxattr(self, name):
        if not name.startswith(b"user."):
            raise SyscallError(errno.ENODATA)
        return self._xattr_call(os.getxattr, name)

    def listxattr(self):
        return [n.encode() for n in self._xattr_call(os.listxattr) if n.startswith("user.")]

    def setxattr(self, name, value, flags):
        if not name.startswith(b"user."):
            raise SyscallError(errno.EOPNOTSUPP)
        self._writable()
        self._xattr_call(os.setxattr, name, value, flags)

    def removexattr(self, name):
        if not name.startswith(b"user."):
            raise SyscallError(errno.ENODATA)
        self._writable()
        self._xattr_call(os.removexattr, name)

    def _named(self):
        """(parent fd, name) for calls that only exist as *at(name)."""
        if self.parent is None:
            raise SyscallError(errno.ENOENT if self.name is None else errno.EBUSY)
        return self.parent.fd, self.name

    def _child_map(self):
        if self._children is None:
            self._children = weakref.WeakValueDictionary()
        return self._children

    def _forget(self, name):
        child = self._children.pop(name, None) if self._children is not None else None
        if child is not None:
            child.parent = child.name = None
        return child

    # --- attributes ---------------------------------------------------------
    def access_ids(self):
        s = _call(os.stat, self.fd)
        self.mode = s.st_mode
        return _Ids(s, self)

    def getattr(self):
        s = stat_from_host(_call(os.stat, self.fd))
        self.mode = s.mode
        s.dev = self.fs.dev
        return s

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        self._writable()
        proc = "/proc/self/fd/%d" % self.fd   # the object itself, no host name
        if size is not None:
            if self.is_dir():
                raise SyscallError(errno.EISDIR)
            if not self.is_reg():
                raise SyscallError(errno.EINVAL)
            if size < 0:
                raise SyscallError(errno.EINVAL)
            _call(os.ftruncate, self._io_fd(True), size)
        if mode is not None:
            if self.is_symlink():
                raise SyscallError(errno.EOPNOTSUPP)
            _call(os.chmod, proc, st.S_IMODE(mode))
        if uid is not None or gid is not None:
            ids = (-1 if uid is None else uid, -1 if gid is None else gid)
            if self.is_symlink():
                pfd, name = self._named()
                _call(os.chown, name, *ids, dir_fd=pfd, follow_symlinks=False)
            else:
                _call(os.chown, proc, *ids)
        if atime_ns is not None or mtime_ns is not None:
            cur = _call(os.stat, self.fd)
            ns = (cur.st_atime_ns if atime_ns is None else atime_ns,
                  cur.st_mtime_ns if mtime_ns is None else mtime_ns)
            if self.is_symlink():
                pfd, name = self._named()
                _call(os.utime, name, ns=ns, dir_fd=pfd, follow_symlinks=False)
            else:
                _call(os.utime, proc, ns=ns)
        self.mode = _call(os.stat, self.fd).st_mode

    # --- directories --------------------------------------------------------
    def lookup(self, name, stamp=None):
        """The child `name`; `stamp`: this directory's, read just before
        (lookup_seen), standing for a stat of it now."""
        _check_name(name)
        if not self.is_dir():
            raise SyscallError(errno.ENOTDIR)
        if self.hidden:
            raise SyscallError(errno.ENOENT)
        with self.fs.lock:
            children = self._child_map()
            child = children.get(name)
            if child is not None and self._same(name, child):
                return child
            absent = self._absent
            if absent is not None and name in absent[1]:
                if (stamp or _dir_stamp(self.fd)) == absent[0]:
                    raise SyscallError(errno.ENOENT)
                self._absent = None
            try:
                fd = _host_open(self.fd, name, _PATH_FLAGS)
            except SyscallError as e:
                if e.errno != errno.ENOENT:
                    raise
                fd = self._missing(name, stamp)
            child = HostInode(self.fs, fd, self, name)
            children[name] = child
            return child

    def _same(self, name, child):
        """Whether the host's `name` here is still `child` (the same
        object: a host inode number is not reused while our fd holds it);
        else forget the child (the sandbox keeps it as a removed file)."""
        try:
            s = os.stat(name, dir_fd=self._fds.path, follow_symlinks=False)
            if (s.st_ino, s.st_dev) == child._ids:
                return True
        except OSError:
            pass              # gone, or unreadable: the next lookup says which
        with self.fs.lock:
            if self._children is not None and self._children.get(name) is child:
                self._forget(name)
        return False

    def stale_child(self, name, child, seen=None):
        # A name the host pointed at another object (mv new prog; rm prog
        # and a new prog) names the new one at the next lookup, as on
        # Linux; an open fd keeps the old. One fstatat per cached name.
        return not self._same(name, child)

    def lookup_seen(self, name, seen):
        # A path walk's search check stat()ed this directory just now.
        return self.lookup(name, seen.stamp if type(seen) is _Ids and seen.of is self
                           else None)

    def _missing(self, name, stamp=None):
        """After an open of `name` failed with ENOENT: remember the name
        with a stamp taken before a failed open (a name made after the
        stamp changes it): `stamp` if given (read before the open), else
        one read now and a second open, whose fd is returned if it
        succeeds."""
        if stamp is None:
            stamp = _dir_stamp(self.fd)
            try:
                return _host_open(self.fd, name, _PATH_FLAGS)
            except SyscallError as e:
                if e.errno != errno.ENOENT:
                    raise
        absent = self._absent
        if absent is None or absent[0] != stamp or len(absent[1]) >= ABSENT_KEPT:
            absent = self._absent = (stamp, set())
        absent[1].add(name)
        raise SyscallError(errno.ENOENT)

    def note_made(self, name):
        """`name` was just made here by the sandbox: not missing any more,
        whatever the directory's timestamps' granularity."""
        with self.fs.lock:                 # (not while a lookup adds it)
            if self._absent is not None:
                self._absent[1].discard(name)

    def readdir(self):
        if not self.is_dir():
            raise SyscallError(errno.ENOTDIR)
        if self.hidden:
            return []
        dfd = _host_open(self.fd, b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            out = []
            with os.scandir(dfd) as it:
                for e in it:
                    if e.is_symlink():
                        mode = st.S_IFLNK
                    elif e.is_dir(follow_symlinks=False):
                        mode = st.S_IFDIR
                    elif e.is_file(follow_symlinks=False):
                        mode = st.S_IFREG
                    else:
                        mode = _call(os.stat, e.name, dir_fd=dfd, follow_symlinks=False).st_mode
                    out.append((os.fsencode(e.name), e.inode(), dtype(mode)))
            return out
        except OSError as e:
            raise SyscallError(e.errno) from None
        finally:
            os.close(dfd)

    def _made(self, name, uid, gid, mode=None):
        """Finish a creation: exact mode (the sentry's umask must not apply)
        and the guest's owner when the host lets us; return the new inode.
        A set-group-ID directory hands its group to the new entry and its
        S_ISGID bit to a new subdirectory (inode_init_owner()), which the
        exact-mode chmod and the chown must keep."""
        self.note_made(name)
        child = self.lookup(name)
        here = _call(os.stat, self.fd)
        if here.st_mode & st.S_ISGID:
            gid = here.st_gid
            if mode is not None and child.is_dir():
                mode |= st.S_ISGID
        if mode is not None:
            _call(os.chmod, "/proc/self/fd/%d" % child.fd, st.S_IMODE(mode))
        s = _call(os.stat, child.fd)
        if (s.st_uid, s.st_gid) != (uid, gid):
            try:
                os.chown(name, uid, gid, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                pass                  # an unprivileged sentry keeps its own ids
        child.mode = _call(os.stat, child.fd).st_mode
        return child

    def create(self, name, mode, uid, gid):
        self._creating(name)
        fd = _host_open(self.fd, name, os.O_CREAT | os.O_EXCL | os.O_RDWR | _IO_FLAGS,
                        st.S_IMODE(mode))
        os.close(fd)
        return self._made(name, uid, gid, mode)

    def mkdir(self, name, mode, uid, gid):
        self._creating(name)
        _call(os.mkdir, name, st.S_IMODE(mode), dir_fd=self.fd)
        return self._made(name, uid, gid, mode)

    def mknod(self, name, mode, rdev, uid, gid):
        self._creating(name)
        if st.S_IFMT(mode) in (0, st.S_IFREG):
            return self.create(name, mode, uid, gid)
        if st.S_IFMT(mode) != st.S_IFIFO:
            raise SyscallError(errno.EPERM)   # no host device nodes from a guest
        _call(os.mknod, name, st.S_IFIFO | st.S_IMODE(mode), dir_fd=self.fd)
        return self._made(name, uid, gid, mode)

    def symlink(self, name, target, uid, gid):
        self._creating(name)
        _call(os.symlink, target, name, dir_fd=self.fd)
        return self._made(name, uid, gid)

    def link(self, name, inode):
        self._creating(name)
        if not isinstance(inode, HostInode) or inode.fs is not self.fs:
            raise SyscallError(errno.EXDEV)
        if inode.is_dir():
            raise SyscallError(errno.EPERM)
        pfd, old = inode._named()
        _call(os.link, old, name, src_dir_fd=pfd, dst_dir_fd=self.fd,
              follow_symlinks=False)
        self.note_made(name)
        return self.lookup(name)

    def unlink(self, name):
        _check_name(name)
        self._writable()
        _call(os.unlink, name, dir_fd=self.fd)
        with self.fs.lock:
            self._forget(name)

    def rmdir(self, name):
        _check_name(name)
        self._writable()
        _call(os.rmdir, name, dir_fd=self.fd)
        with self.fs.lock:
            self._forget(name)

    def rename(self, name, new_dir, new_name, flags=0):
        _check_name(name)
        _check_name(new_name)
        self._writable()
        if not isinstance(new_dir, HostInode) or new_dir.fs is not self.fs:
            raise SyscallError(errno.EXDEV)
        _renameat2(self.fd, name, new_dir.fd, new_name, flags)
        with self.fs.lock:
            new_dir.note_made(new_name)
            moved = self._forget(name)
            other = new_dir._forget(new_name)
            if moved is not None:
                moved.parent, moved.name = new_dir, new_name
                new_dir._child_map()[new_name] = moved
            if flags & RENAME_EXCHANGE and other is not None:
                other.parent, other.name = self, name
                self._child_map()[name] = other

    # --- symlinks and contents ----------------------------------------------
    def open(self, location, flags):
        if st.S_ISFIFO(self.mode):
            return self.fs.fifo_of(self).open(flags, location)
        return super().open(location, flags)

    def readlink(self):
        if not self.is_symlink():
            raise SyscallError(errno.EINVAL)
        # readlinkat(fd, "") reads the link the O_PATH fd itself names.
        return _call(os.readlink, b"", dir_fd=self.fd)

    def read_at(self, offset, length):
        if self.is_dir():
            raise SyscallError(errno.EISDIR)
        if offset < 0 or length < 0:
            raise SyscallError(errno.EINVAL)
        fd = self._io_fd(False)
        length = min(length, MAX_RW_COUNT)
        if length > _BIG_READ:
            # pread allocates `length` up front: bound it by what is there.
            size = _call(os.fstat, fd).st_size
            length = min(length, max(size - offset, _BIG_READ))
        return _call(os.pread, fd, length, offset)

    def readinto_at(self, offset, buffers):
        """read_at() into memoryviews with one preadv: the host kernel
        copies the file's bytes straight into guest frames."""
        fd = self._fds.reader
        if fd < 0:                      # (a file with an I/O fd is no directory)
            if self.is_dir():
                raise SyscallError(errno.EISDIR)
            fd = self._io_fd(False)
        if offset < 0:
            raise SyscallError(errno.EINVAL)
        try:
            return os.preadv(fd, buffers, offset)
        except OSError as e:
            raise SyscallError(e.errno) from None

    def writefrom_at(self, offset, buffers):
        """write_at() from memoryviews with one pwritev."""
        if self.fs.readonly:
            raise SyscallError(errno.EROFS)
        fd = self._fds.writer
        if fd < 0:
            if self.is_dir():
                raise SyscallError(errno.EISDIR)
            fd = self._io_fd(True)
        if offset < 0:
            raise SyscallError(errno.EINVAL)
        try:
            return os.pwritev(fd, buffers, offset)
        except OSError as e:
            raise SyscallError(e.errno) from None

    def write_at(self, offset, data):
        self._writable()
        if self.is_dir():
            raise SyscallError(errno.EISDIR)
        if offset < 0:
            raise SyscallError(errno.EINVAL)
        return _call(os.pwrite, self._io_fd(True), data, offset)

    def seek_data(self, offset, hole):
        """SEEK_DATA / SEEK_HOLE answered by the host file itself."""
        if offset < 0:
            raise SyscallError(errno.ENXIO)
        return _call(os.lseek, self._io_fd(False), offset,
                     os.SEEK_HOLE if hole else os.SEEK_DATA)

    def reserve(self, offset, length):
        """fallocate(2) on the host file with KEEP_SIZE: the host
        filesystem's own answer (EFBIG past its s_maxbytes, ENOSPC)."""
        self._writable()
        fd = self._io_fd(True)
        ctypes, libc = _libc()
        if libc.fallocate(fd, 1, ctypes.c_int64(offset), ctypes.c_int64(length)) != 0:
            raise SyscallError(ctypes.get_errno())


class HostFilesystem(Filesystem):
    """host_path as a sandbox filesystem (read-only unless asked)."""

    name = "hostfs"
    magic = V9FS_MAGIC

    def __init__(self, dev, host_path, readonly=True):
        super().__init__(dev)
        _raise_nofile_limit()
        self.readonly = readonly
        self.host_path = os.path.abspath(host_path)
        self.lock = threading.RLock()
        self._fifos = weakref.WeakValueDictionary()
        path = os.fsencode(self.host_path)
        if _audit is not None:
            _audit(path, b".")
        # The operator's path may go through host symlinks; nothing else does.
        fd = _call(os.open, path, os.O_PATH | os.O_CLOEXEC)
        self._root = HostInode(self, fd, None, None)

    def root(self):
        return self._root

    def fifo_of(self, inode):
        """The sentry's pipe for a host FIFO, one per host inode (hard
        links share it) while any open or opener holds it."""
        s = _call(os.stat, inode.fd)
        with self.lock:
            fifo = self._fifos.get((s.st_dev, s.st_ino))
            if fifo is None:
                from kvmsentry.kernel.pipe import Fifo    # (pipes load with the first one)
                fifo = self._fifos[(s.st_dev, s.st_ino)] = Fifo(s.st_uid, s.st_gid)
            return fifo

    def statfs(self):
        s = _call(os.statvfs, self._root.fd)
        return dict(type=self.magic, bsize=s.f_bsize, blocks=s.f_blocks,
                    bfree=s.f_bfree, bavail=s.f_bavail, files=s.f_files,
                    ffree=s.f_ffree, namelen=s.f_namemax, frsize=s.f_frsize,
                    flags=s.f_flag | (ST_RDONLY if self.readonly else 0))

