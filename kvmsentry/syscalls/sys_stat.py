"""The stat family, access checks, statfs and the working directory."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fs_context import lookup_at
from kvmsentry.record import replace
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.vfs.path import AT_FDCWD, W_OK, may_access

AT_SYMLINK_NOFOLLOW = 0x100
AT_EACCESS = 0x200
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000
NSEC = 1_000_000_000
STATX_BASIC_STATS = 0x7FF
PATH_MAX = 4096
PIPEFS_STATFS = dict(type=0x50495045, bsize=4096, blocks=0, bfree=0, bavail=0, files=0,
                     ffree=0, namelen=255, frsize=4096, flags=0)
SOCKFS_STATFS = dict(PIPEFS_STATFS, type=0x534F434B)
STATX_BTIME = 0x800
# struct statx (256 bytes): mask, blksize, attributes, nlink, uid, gid,
# mode, pad, ino, size, blocks, attributes_mask, a/b/c/mtime (sec, nsec,
# pad), rdev and dev major/minor, then spare space.
_STATX = struct.Struct("<IIQIIIHHQQQQ" + "qI4x" * 4 + "IIII" + "112x")


_STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")


def pack_stat(st):
    """struct stat for x86-64 (144 bytes) from a vfs Stat."""
    atime, mtime, ctime = st.atime_ns, st.mtime_ns, st.ctime_ns
    return _STAT.pack(
        st.dev, st.ino, st.nlink, st.mode, st.uid, st.gid, 0,
        st.rdev, st.size, st.blksize, st.blocks,
        atime // NSEC, atime % NSEC, mtime // NSEC, mtime % NSEC,
        ctime // NSEC, ctime % NSEC)


def _stat_of(task, dirfd, pathname, flags):
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE):
        raise SyscallError(errno.EINVAL)
    path = task.mm.read_cstring(pathname)
    if not path and flags & AT_EMPTY_PATH and dirfd != AT_FDCWD:
        return task.fds.get(dirfd).stat()
    return lookup_at(task, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW,
                     flags & AT_EMPTY_PATH).dentry.inode.getattr()


def fstat(task, fd, statbuf):
    """Implements fstat(2)."""
    task.mm.copy_out(statbuf, pack_stat(task.fds.get(i32(fd)).stat()))
    return 0


def newfstatat(task, dirfd, pathname, statbuf, flags):
    """Implements newfstatat(2)."""
    st = _stat_of(task, i32(dirfd), pathname, i32(flags) & ~AT_STATX_SYNC_TYPE)
    task.mm.copy_out(statbuf, pack_stat(st))
    return 0


def stat(task, pathname, statbuf):
    """Implements stat(2)."""
    task.mm.copy_out(statbuf, pack_stat(_stat_of(task, AT_FDCWD, pathname, 0)))
    return 0


def lstat(task, pathname, statbuf):
    """Implements lstat(2)."""
    task.mm.copy_out(statbuf, pack_stat(_stat_of(task, AT_FDCWD, pathname,
                                                  AT_SYMLINK_NOFOLLOW)))
    return 0


def statx(task, dirfd, pathname, flags, mask, buf):
    """Implements statx(2) (basic stats; no birth time)."""
    flags = i32(flags)
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or u32(mask) & 0x80000000:
        raise SyscallError(errno.EINVAL)
    st = _stat_of(task, i32(dirfd), pathname, flags)
    rdev_major, rdev_minor = (st.rdev >> 8) & 0xFFF, (st.rdev & 0xFF) | ((st.rdev >> 12) & ~0xFF)
    dev_major, dev_minor = (st.dev >> 8) & 0xFFF, (st.dev & 0xFF) | ((st.dev >> 12) & ~0xFF)
    atime, ctime, mtime = st.atime_ns, st.ctime_ns, st.mtime_ns
    task.mm.copy_out(buf, _STATX.pack(
        STATX_BASIC_STATS, st.blksize, 0, st.nlink, st.uid, st.gid, st.mode & 0xFFFF, 0,
        st.ino, st.size, st.blocks, 0,
        atime // NSEC, atime % NSEC, 0, 0, ctime // NSEC, ctime % NSEC,
        mtime // NSEC, mtime % NSEC, rdev_major, rdev_minor, dev_major, dev_minor))
    return 0


def faccessat2(task, dirfd, pathname, mode, flags):
    """Implements faccessat2(2)."""
    mode, flags = i32(mode), i32(flags)
    if mode & ~7 or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    loc = lookup_at(task, i32(dirfd), task.mm.read_cstring(pathname),
                    follow=not flags & AT_SYMLINK_NOFOLLOW,
                    empty_path=bool(flags & AT_EMPTY_PATH))
    if mode & W_OK and loc.mount.readonly:
        raise SyscallError(errno.EROFS)
    creds = task.creds
    if not flags & AT_EACCESS:
        # access(2) checks with the real ids, and (access_override_creds)
        # with the permitted capabilities if the real uid is 0, else none.
        creds = replace(
            creds, fsuid=creds.uid, fsgid=creds.gid,
            cap_effective=creds.cap_permitted if creds.uid == 0 else 0)
    if mode and not may_access(loc.inode.getattr(), creds, mode):
        raise SyscallError(errno.EACCES)
    return 0


def faccessat(task, dirfd, pathname, mode):
    """Implements faccessat(2)."""
    return faccessat2(task, dirfd, pathname, mode, 0)


def access(task, pathname, mode):
    """Implements access(2)."""
    return faccessat2(task, AT_FDCWD, pathname, mode, 0)


def getcwd(task, buf, size):
    """Implements getcwd(2)."""
    if task.fs.cwd.inode.getattr().nlink == 0:
        raise SyscallError(errno.ENOENT)              # cwd was removed
    # A cwd outside the task's root (fchdir after chroot): Linux answers
    # "(unreachable)/..." and the C libraries turn that into ENOENT.
    path = task.kernel.mounts.path_of(task.fs.cwd, task.fs.root, b"(unreachable)") + b"\0"
    if len(path) > PATH_MAX:
        raise SyscallError(errno.ENAMETOOLONG)
    if size < len(path):
        raise SyscallError(errno.ERANGE)
    task.mm.copy_out(buf, path)
    return len(path)


def _pack_statfs(info, readonly):
    flags = info.get("flags", 0) | (1 if readonly else 0)       # ST_RDONLY
    return struct.pack("<qqQQQQQiiqqqqqqq", info["type"], info["bsize"], info["blocks"],
                       info["bfree"], info["bavail"], info["files"], info["ffree"],
                       0, 0, info["namelen"], info["frsize"], flags, 0, 0, 0, 0)


def statfs(task, pathname, buf):
    """Implements statfs(2)."""
    loc = lookup_at(task, AT_FDCWD, task.mm.read_cstring(pathname))
    task.mm.copy_out(buf, _pack_statfs(loc.inode.statfs(), loc.mount.readonly))
    return 0


def fstatfs(task, fd, buf):
    """Implements fstatfs(2)."""
    f = task.fds.get(i32(fd))
    if f.location is None:
        # Sockets, pipes (and the inherited stdio) have no sandbox
        # filesystem; answer as for Linux's sockfs or pipefs.
        info = SOCKFS_STATFS if hasattr(f, "family") else PIPEFS_STATFS
        task.mm.copy_out(buf, _pack_statfs(info, False))
        return 0
    task.mm.copy_out(buf, _pack_statfs(f.inode.statfs(), f.location.mount.readonly))
    return 0
