"""The sentry's own inodes: every filesystem implements this interface.

An Inode answers for one file object of one filesystem. Directory
operations take a single path component (bytes, never containing '/');
the VFS (vfs/path.py) does all path walking, symlink following and
permission checks, so an implementation never sees a whole guest path
and never resolves anything on the host by name beyond one component.

Every operation a filesystem does not support answers as Linux does for
such a file, through the defaults below. Errors are SyscallError(errno).
"""
import errno
import stat as st
import time

from kvmsentry.errors import SyscallError

S_IFMT = 0o170000
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12
DTYPES = {st.S_IFIFO: DT_FIFO, st.S_IFCHR: DT_CHR, st.S_IFDIR: DT_DIR, st.S_IFBLK: DT_BLK,
           st.S_IFREG: DT_REG, st.S_IFLNK: DT_LNK, st.S_IFSOCK: DT_SOCK}

RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def dtype(mode):
    return DTYPES.get(mode & S_IFMT, DT_UNKNOWN)


_InodeFile = None                     # vfs.file.InodeFile, which imports this module


def _inode_file():
    # Imported on first use (every open(2) of a file or directory is
    # here: an import statement per call costs a microsecond).
    global _InodeFile
    from kvmsentry.vfs.file import InodeFile
    _InodeFile = InodeFile
    return InodeFile


def now_ns():
    return time.time_ns()


class Stat:
    """What stat(2) reports; filesystems fill it in getattr()."""
    __slots__ = ("dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size",
                 "blksize", "blocks", "atime_ns", "mtime_ns", "ctime_ns", "btime_ns")

    def __init__(self, *, dev=0, ino=0, mode=0, nlink=1, uid=0, gid=0, rdev=0, size=0,
                 blksize=4096, blocks=0, atime_ns=0, mtime_ns=0, ctime_ns=0, btime_ns=0):
        # Named parameters, not **kw and setattr: every stat and every
        # permission check of a path walk makes one.
        self.dev, self.ino, self.mode, self.nlink, self.uid, self.gid = \
            dev, ino, mode, nlink, uid, gid
        self.rdev, self.size, self.blksize, self.blocks = rdev, size, blksize, blocks
        self.atime_ns, self.mtime_ns, self.ctime_ns, self.btime_ns = \
            atime_ns, mtime_ns, ctime_ns, btime_ns

    def copy(self):
        """A Stat with the same fields (every path walk and stat of an
        overlay file makes one: kept to plain attribute copies)."""
        out = Stat.__new__(Stat)
        (out.dev, out.ino, out.mode, out.nlink, out.uid, out.gid, out.rdev, out.size,
         out.blksize, out.blocks, out.atime_ns, out.mtime_ns, out.ctime_ns, out.btime_ns) = (
            self.dev, self.ino, self.mode, self.nlink, self.uid, self.gid, self.rdev,
            self.size, self.blksize, self.blocks, self.atime_ns, self.mtime_ns,
            self.ctime_ns, self.btime_ns)
        return out


class Inode:
    """Base inode. `fs` is the owning Filesystem; `mode` includes the type.
    A `volatile` directory's children are looked up afresh every time,
    never cached in dentries (procfs: they come and go with processes).
    A `revalidates` directory is asked (stale_child) whether a cached
    child still has its name: another party (the host) can change it."""

    volatile = False
    revalidates = False

    def __init__(self, fs, mode):
        self.fs = fs
        self.mode = mode

    # --- type ----------------------------------------------------------------
    def is_dir(self):
        return st.S_ISDIR(self.mode)

    def is_symlink(self):
        return st.S_ISLNK(self.mode)

    def is_reg(self):
        return st.S_ISREG(self.mode)

    # --- attributes ----------------------------------------------------------
    def getattr(self):
        """A new Stat for this inode (the caller may change it)."""
        raise NotImplementedError

    def access_ids(self):
        """What a permission check reads (.mode, .uid, .gid), current:
        every directory of a non-root path walk is asked. A full getattr
        unless the filesystem has them cheaper."""
        return self.getattr()

    def setattr(self, mode=None, uid=None, gid=None, size=None,
                atime_ns=None, mtime_ns=None):
        """Change attributes (None = keep); size truncates or extends."""
        raise SyscallError(errno.EPERM)

    def statfs(self):
        return self.fs.statfs()

    # --- directories -----------------------------------------------------------
    def lookup(self, name):
        """The child called `name`, or SyscallError(ENOENT)."""
        raise SyscallError(errno.ENOTDIR)

    def lookup_seen(self, name, seen):
        """lookup(name), where `seen` is what access_ids() of this
        directory answered moments ago, in the same path walk: a
        filesystem may take it for a fresh look at the directory."""
        return self.lookup(name)

    def stale_child(self, name, child, seen=None):
        """Whether `child`, cached under `name`, no longer has that name
        (Linux's d_revalidate); a stale child is forgotten here too, so
        the next lookup finds what the name has now. `seen`: as for
        lookup_seen, or None. Only asked when `revalidates` is set."""
        return False

    def readdir(self):
        """[(name, ino, dtype)] of the children, without '.' and '..'."""
        raise SyscallError(errno.ENOTDIR)

    def create(self, name, mode, uid, gid):
        """Create a regular file; EEXIST if the name is taken."""
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def mkdir(self, name, mode, uid, gid):
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def mknod(self, name, mode, rdev, uid, gid):
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def symlink(self, name, target, uid, gid):
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def link(self, name, inode):
        """Add a hard link to inode (same filesystem, not a directory)."""
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def unlink(self, name):
        """Remove a non-directory entry (EISDIR for a directory)."""
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def rmdir(self, name):
        """Remove an empty directory entry (ENOTEMPTY, ENOTDIR)."""
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    def rename(self, name, new_dir, new_name, flags=0):
        """Move entry `name` to new_dir/new_name (same filesystem), with
        rename(2)'s replacement rules (flags: RENAME_NOREPLACE/EXCHANGE)."""
        raise SyscallError(errno.ENOTDIR if not self.is_dir() else errno.EPERM)

    # --- symlinks --------------------------------------------------------------
    def readlink(self):
        raise SyscallError(errno.EINVAL)

    def follow_magic(self, location):
        """For a magic link (procfs's exe, cwd, fd/N) followed from
        `location`: the Location it reaches, whatever its text says.
        None: an ordinary symlink, followed by walking its text."""
        return None

    # --- contents --------------------------------------------------------------
    def open(self, location, flags):
        """A new open File (vfs/file.py) for this inode at `location` with
        open(2) flags (O_TRUNC already applied by the VFS). Regular files
        and directories get the generic InodeFile; special files (devices,
        FIFOs) override this."""
        if self.is_reg() or self.is_dir():
            return (_InodeFile or _inode_file())(location, flags)
        raise SyscallError(errno.ENXIO)

    def read_at(self, offset, length):
        """Bytes of a regular file's contents (short at EOF)."""
        raise SyscallError(errno.EINVAL)

    def write_at(self, offset, data):
        """Write into a regular file; return bytes written."""
        raise SyscallError(errno.EINVAL)

    def readinto_at(self, offset, buffers):
        """read_at() into `buffers` (writable memoryviews, e.g. guest
        frames); returns the count. Filesystems that can fill memory
        themselves (a host file's preadv) override this."""
        data = self.read_at(offset, len(buffers[0]) if len(buffers) == 1
                            else sum(map(len, buffers)))
        pos = 0
        for buf in buffers:
            n = min(len(buf), len(data) - pos)
            if n <= 0:
                break
            buf[:n] = data[pos:pos + n]
            pos += n
        return len(data)

    def writefrom_at(self, offset, buffers):
        """write_at() of the bytes in `buffers` (memoryviews); filesystems
        that can write from memory themselves override this."""
        return self.write_at(offset, b"".join(buffers))

    def seek_data(self, offset, hole):
        """lseek SEEK_DATA (hole False) / SEEK_HOLE (True) from offset: a
        filesystem that does not track holes has one, at the end."""
        size = self.getattr().size
        if offset < 0 or offset >= size:
            raise SyscallError(errno.ENXIO)
        return size if hole else offset

    def reserve(self, offset, length):
        """fallocate(2)'s space check for [offset, offset+length)."""

    opens = 0                 # open files of this inode (InodeFile), for fsnotify
    delete_self_deferred = None   # fsnotify's key while IN_DELETE_SELF waits for the last close

    def touch_atime(self):
        """A read or listing happened: filesystems that keep atime update
        it (a host file's is the host's business)."""

    # --- extended attributes: none, as a tmpfs without xattr support -------------
    def getxattr(self, name):
        raise SyscallError(errno.ENODATA)

    def listxattr(self):
        return []

    def setxattr(self, name, value, flags):
        raise SyscallError(errno.ENOTSUP)

    def removexattr(self, name):
        raise SyscallError(errno.ENODATA)


class Filesystem:
    """A mounted filesystem instance."""

    name = "none"
    magic = 0

    def __init__(self, dev):
        self.dev = dev
        self.readonly = False

    def root(self):
        raise NotImplementedError

    def statfs(self):
        """dict for statfs(2): type, bsize, blocks, bfree, bavail, files,
        ffree, namelen, frsize, flags."""
        return dict(type=self.magic, bsize=4096, blocks=0, bfree=0, bavail=0,
                    files=0, ffree=0, namelen=255, frsize=4096, flags=0)
