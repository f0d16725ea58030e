"""Opening files: open, openat, openat2, creat, lseek, getdents64."""
import errno
import os
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fs_context import lookup_at, parent_at, start_of, walker
from kvmsentry.syscalls.args import i32, i64, u32
from kvmsentry.vfs import fsnotify, writecount
from kvmsentry.vfs.file import O_PATH, truncate_inode
from kvmsentry.vfs.path import (
    AT_FDCWD, R_OK, RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, W_OK, Walker, dac_overridden, may_access)

O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC = 0o100, 0o200, 0o400, 0o1000
O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC = 0o200000, 0o400000, 0o2000000
O_TMPFILE = 0o20000000 | O_DIRECTORY
O_ACCMODE = 3
O_LARGEFILE = 0o100000        # always set on 64-bit Linux
# Flags open(2) keeps on the file (the rest only steer the open itself).
_KEEP = ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC) & 0xFFFFFFFF
# Linux's VALID_OPEN_FLAGS and VALID_RESOLVE_FLAGS: openat2 refuses others.
_VALID_OPEN_FLAGS = 0o37777703
_VALID_RESOLVE = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | \
    RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED


def check_mount_writable(loc):
    if loc.mount.readonly:
        raise SyscallError(errno.EROFS)


def open_location(task, dirfd, path, flags, mode, w=None):
    """The Location and new File for open(2)-style arguments, the path
    walked by w (default: the task's Walker)."""
    acc = flags & O_ACCMODE
    if flags & O_TMPFILE == O_TMPFILE:
        raise SyscallError(errno.EOPNOTSUPP)
    creds = task.creds
    w = w or walker(task)
    if flags & O_CREAT and not flags & O_PATH:
        parent, name, trailing = parent_at(task, dirfd, path, w)
        if trailing or name in (b".", b".."):
            raise SyscallError(errno.EISDIR)
        try:
            loc = w.walk(parent, name, follow=not flags & (O_EXCL | O_NOFOLLOW))
            if flags & O_EXCL:
                raise SyscallError(errno.EEXIST)
            created = False
        except SyscallError as e:
            if e.errno != errno.ENOENT:
                raise
            if not flags & (O_EXCL | O_NOFOLLOW):
                # A dangling symlink: create what it points to, as Linux does.
                parent, name = _dangling_target(w, parent, name)
            check_mount_writable(parent)
            if not may_access(parent.inode.getattr(), creds, W_OK | 1):
                raise SyscallError(errno.EACCES)
            parent.inode.create(name, 0o100000 | (mode & 0o7777 & ~task.fs.umask),
                                creds.fsuid, creds.fsgid)
            parent.dentry.forget(name)
            loc = w.walk(parent, name, follow=False)
            created = True
            fsnotify.created(parent.inode, name)
    else:
        created = False
        loc = lookup_at(task, dirfd, path, follow=not flags & O_NOFOLLOW, w=w)
    inode = loc.inode
    if flags & O_PATH:
        if flags & O_DIRECTORY and not inode.is_dir():
            raise SyscallError(errno.ENOTDIR)
        from kvmsentry.vfs.file import File
        return loc, File(O_PATH | (flags & (O_DIRECTORY | O_NOFOLLOW)), loc)
    if inode.is_symlink():
        # O_NOFOLLOW on a symlink (O_DIRECTORY is checked first).
        raise SyscallError(errno.ENOTDIR if flags & O_DIRECTORY else errno.ELOOP)
    is_dir = inode.is_dir()
    if flags & O_DIRECTORY and not is_dir:
        raise SyscallError(errno.ENOTDIR)
    if is_dir and (acc != os.O_RDONLY or flags & (O_TRUNC | O_CREAT)):
        raise SyscallError(errno.EISDIR)
    if is_dir and flags & os.O_DIRECT:
        raise SyscallError(errno.EINVAL)          # no direct I/O on directories
    if acc == 3 and not inode.is_reg():
        raise SyscallError(errno.EINVAL)
    # Access mode 3 (Linux's own): read and write permission are checked,
    # and the file can do neither.
    want = (R_OK if acc in (os.O_RDONLY, os.O_RDWR, 3) else 0) | \
        (W_OK if acc in (os.O_WRONLY, os.O_RDWR, 3) or flags & O_TRUNC else 0)
    if not created and want and not dac_overridden(creds, want) \
            and not may_access(inode.getattr(), creds, want):
        raise SyscallError(errno.EACCES)
    if want & W_OK and (is_dir or inode.is_reg()):
        check_mount_writable(loc)
    truncating = flags & O_TRUNC and inode.is_reg() and not created
    if truncating:
        check_mount_writable(loc)
    # Access mode 3 gets no write access (Linux's OPEN_FMODE).
    writes = acc in (os.O_WRONLY, os.O_RDWR) and inode.is_reg()
    if writes:
        writecount.get_write(inode)
    elif truncating:
        writecount.check_writable(inode)
    try:
        file = inode.open(loc, file_flags(flags))
    except BaseException:
        if writes:
            writecount.put_write(inode)
        raise
    if writes:
        file.writes_inode = inode
    if not flags & O_NOCTTY and hasattr(file, "opened_without_noctty"):
        file.opened_without_noctty(task)          # a tty may become the controlling one
    fsnotify.opened(file)
    if truncating:                                # after the open, as handle_truncate
        truncate_inode(inode, 0)
        fsnotify.attrib(loc, fsnotify.IN_MODIFY)
    return loc, file


def _dangling_target(w, parent, name):
    """(parent, name) where O_CREAT through a chain of symlinks ending in
    nothing should create its file; (parent, name) itself if `name` does
    not exist at all (w: the Walker of the open)."""
    for _ in range(40):
        try:
            loc = w.walk(parent, name, follow=False)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                return parent, name
            raise
        if not loc.inode.is_symlink():
            return parent, name
        if w.resolve & RESOLVE_NO_SYMLINKS:
            raise SyscallError(errno.ELOOP)
        target = loc.inode.readlink()
        if target.endswith(b"/"):
            raise SyscallError(errno.EISDIR)
        parent, name, _ = w.walk_parent(parent, target)
    raise SyscallError(errno.ELOOP)


def file_flags(flags):
    """The flags an open file keeps of open(2)'s."""
    return (flags & _KEEP) | O_LARGEFILE


def install_opened(task, file, flags):
    """The fd of a file opened with open(2)'s flags (O_CLOEXEC, RLIMIT_NOFILE)."""
    try:
        return task.fds.install(file, cloexec=bool(flags & O_CLOEXEC),
                                limit=task.rlimits[7][0])
    except SyscallError:
        writecount.file_released(file)
        raise


def openat(task, dirfd, pathname, flags, mode):
    """Implements openat(2)."""
    flags = u32(flags)
    path = task.mm.read_cstring(pathname)
    _, file = open_location(task, i32(dirfd), path, flags, u32(mode))
    return install_opened(task, file, flags)


def open_(task, pathname, flags, mode):
    """Implements open(2)."""
    return openat(task, AT_FDCWD, pathname, flags, mode)


def creat(task, pathname, mode):
    """Implements creat(2)."""
    return openat(task, AT_FDCWD, pathname, O_CREAT | os.O_WRONLY | O_TRUNC, mode)


def openat2(task, dirfd, pathname, how, size):
    """Implements openat2(2): open_how checked in build_open_flags' order,
    then the path walked under how.resolve (vfs/path.py's Walker)."""
    if size < 24:
        raise SyscallError(errno.EINVAL)
    if size > 4096:
        raise SyscallError(errno.E2BIG)
    raw = task.mm.copy_in(how, size)
    flags, mode, resolve = struct.unpack_from("<QQQ", raw)
    if any(raw[24:]):
        raise SyscallError(errno.E2BIG)
    if flags & ~_VALID_OPEN_FLAGS or resolve & ~_VALID_RESOLVE:
        raise SyscallError(errno.EINVAL)
    if resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT:
        raise SyscallError(errno.EINVAL)             # one scope at a time
    if mode & ~0o7777 if flags & (O_CREAT | 0o20000000) else mode:
        raise SyscallError(errno.EINVAL)
    if flags & O_PATH and flags & ~(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC):
        raise SyscallError(errno.EINVAL)             # open(2) ignores them, openat2 not
    if resolve & RESOLVE_CACHED and flags & (O_TRUNC | O_CREAT | 0o20000000):
        raise SyscallError(errno.EAGAIN)             # would write: never from the cache
    path = task.mm.read_cstring(pathname)
    dirfd = i32(dirfd)
    scope = None
    if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT):
        # The dirfd is the walk's root (b"." makes start_of look at it).
        scope = start_of(task, dirfd, b".")
    w = Walker(task.kernel.mounts, task.fs, task.creds, resolve, scope)
    _, file = open_location(task, dirfd, path, flags, mode, w)
    return install_opened(task, file, flags)


def lseek(task, fd, offset, whence):
    """Implements lseek(2)."""
    f = task.fds.get(i32(fd))
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    return f.seek(i64(offset), i32(whence))


def getdents64(task, fd, dirp, count):
    """Implements getdents64(2)."""
    f = task.fds.get(i32(fd))
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    inode = f.inode
    if inode is not None and inode.is_dir() and inode.getattr().nlink == 0:
        raise SyscallError(errno.ENOENT)              # removed directory
    data = dirents_for(task, f, dirp, count)
    task.mm.copy_out(dirp, data)
    return len(data)


def dirents_for(task, f, dirp, count):
    """The linux_dirent64 records a getdents call returns. As Linux's
    filldir: the count is an int (past INT_MAX nothing fits: EINVAL), and
    records go in while the buffer is writable, so a buffer that ends early
    gets the records that fit (EFAULT only when not even one does)."""
    count = u32(count)
    if count > 0x7FFFFFFF:
        count = 0
    usable = task.mm.accessible(dirp, count, write=True) if count else 0
    try:
        return f.getdents(usable)
    except SyscallError as e:
        if e.errno == errno.EINVAL and usable < count:
            raise SyscallError(errno.EFAULT) from None
        raise
