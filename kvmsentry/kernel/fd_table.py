"""The file descriptor table of a process."""
import errno

from kvmsentry.errors import SyscallError

RLIMIT_NOFILE_DEFAULT = 1024


class FdTable:
    def __init__(self):
        self._files = {}        # fd -> (File, cloexec)

    def get(self, fd):
        entry = self._files.get(fd)
        if entry is None:
            raise SyscallError(errno.EBADF)
        return entry[0]

    def install(self, file, cloexec=False, lowest=0, limit=RLIMIT_NOFILE_DEFAULT):
        fd = lowest
        while fd in self._files:
            fd += 1
        if fd >= limit:
            raise SyscallError(errno.EMFILE)
        self._files[fd] = (file, cloexec)
        return fd

    def install_at(self, fd, file, cloexec=False):
        old = self._files.get(fd)
        self._files[fd] = (file, cloexec)
        if old is not None:
            self._drop(old[0])

    def cloexec(self, fd):
        return self._files[fd][1] if fd in self._files else False

    def set_cloexec(self, fd, value):
        file, _ = self._files[fd]
        self._files[fd] = (file, value)

    def close(self, fd):
        entry = self._files.pop(fd, None)
        if entry is None:
            raise SyscallError(errno.EBADF)
        self._drop(entry[0])

    def _drop(self, file):
        if not any(f is file for f, _ in self._files.values()):
            file.release()

    def fds(self):
        return sorted(self._files)

    def close_all(self):
        for fd in list(self._files):
            self.close(fd)
