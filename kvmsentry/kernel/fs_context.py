"""A task's filesystem context: root, working directory and umask
(what CLONE_FS shares)."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.vfs.path import AT_FDCWD, SLASH, Walker


class FsContext:
    def __init__(self, root, cwd, umask=0o022):
        self.root = root
        self.cwd = cwd
        self.umask = umask

    def copy(self):
        return FsContext(self.root, self.cwd, self.umask)


def walker(task):
    return Walker(task.kernel.mounts, task.fs, task.creds)


def start_of(task, dirfd, path):
    """Where a relative path starts for an *at() call."""
    if path.startswith(b"/") or dirfd == AT_FDCWD:
        return task.fs.cwd
    f = task.fds.get(dirfd)
    if f.location is None:
        raise SyscallError(errno.ENOTDIR)
    return f.location


def lookup_at(task, dirfd, path, follow=True, empty_path=False, w=None):
    """Location of path relative to dirfd (AT_EMPTY_PATH: dirfd itself),
    walked by w (default: the task's Walker)."""
    if not path:
        if not empty_path:
            raise SyscallError(errno.ENOENT)
        if dirfd == AT_FDCWD:
            return task.fs.cwd
        f = task.fds.get(dirfd)
        if f.location is None:
            raise SyscallError(errno.EBADF)
        return f.location
    start = task.fs.cwd if dirfd == AT_FDCWD or path[0] == SLASH else start_of(task, dirfd, path)
    return (w or Walker(task.kernel.mounts, task.fs, task.creds)).walk(start, path, follow)


def parent_at(task, dirfd, path, w=None):
    """(parent Location, name, trailing slash) for create/remove calls."""
    return (w or walker(task)).walk_parent(start_of(task, dirfd, path), path)
