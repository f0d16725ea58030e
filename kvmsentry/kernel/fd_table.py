"""The file descriptor table of a process.

A File may sit in several tables at once (fork copies tables, dup adds
entries): each File counts the fd entries that refer to it, in all tables,
and is released when the last one goes.
"""
import errno
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fasync import arm_queue
from kvmsentry.kernel.record_locks import LOCKS_CHANGED
from kvmsentry.kernel.waiter import ALL_EVENTS
from kvmsentry.vfs import fsnotify, writecount

RLIMIT_NOFILE_DEFAULT = 1024
_refs_lock = threading.Lock()


def _ref(file):
    with _refs_lock:
        file.fd_refs = getattr(file, "fd_refs", 0) + 1


def _unref(file):
    with _refs_lock:
        file.fd_refs -= 1
        last = file.fd_refs == 0
    if last:
        if getattr(file, "fasync_entry", None) is not None:
            arm_queue(file, None, None, False)     # a closed file signals no one
        fsnotify.closed(file)                      # before release: an inode's end comes after
        file.release()
        writecount.file_released(file)
        ofd_locks = getattr(file, "ofd_locks", None)
        if ofd_locks is not None:
            ofd_locks.release(("ofd", id(file)))
        if file.__dict__.get("epoll_items"):       # (only epoll.py sets them)
            from kvmsentry.kernel.epoll import eventpoll_release
            eventpoll_release(file)
        if LOCKS_CHANGED.entries:                  # (no frame when no lock request waits)
            LOCKS_CHANGED.notify(ALL_EVENTS)      # flock holders go with their file


class FdTable:
    def __init__(self):
        self._files = {}        # fd -> (File, cloexec)
        # Every fd below _next is in use (Linux's next_fd): the lowest-free
        # search starts there, so opening thousands of files stays linear.
        self._next = 0

    def copy(self):
        """A new table with the same entries (fork without CLONE_FILES)."""
        t = FdTable()
        for fd, (file, cloexec) in self._files.items():
            _ref(file)
            t._files[fd] = (file, cloexec)
        t._next = self._next
        return t

    def files(self):
        """Every open file in the table (umount's busy check)."""
        return [file for file, _ in self._files.values()]

    def get(self, fd):
        entry = self._files.get(fd)
        if entry is None:
            raise SyscallError(errno.EBADF)
        return entry[0]

    def install(self, file, cloexec=False, lowest=0, limit=RLIMIT_NOFILE_DEFAULT):
        files, fd = self._files, self._next
        if lowest <= fd:
            while fd in files:
                fd += 1
            self._next = fd
        else:
            fd = lowest
            while fd in files:
                fd += 1
        if fd >= limit:
            raise SyscallError(errno.EMFILE)
        with _refs_lock:                           # _ref inline: every socket, pipe, open
            file.fd_refs = getattr(file, "fd_refs", 0) + 1
        files[fd] = (file, cloexec)
        return fd

    def install_at(self, fd, file, cloexec=False):
        _ref(file)
        old = self._files.get(fd)
        self._files[fd] = (file, cloexec)
        if old is not None:
            _unref(old[0])

    def cloexec(self, fd):
        return self._files[fd][1] if fd in self._files else False

    def set_cloexec(self, fd, value):
        file, _ = self._files[fd]
        self._files[fd] = (file, value)

    def close(self, fd):
        """Drop fd; the file it held (released if that was its last fd)."""
        entry = self._files.pop(fd, None)
        if entry is None:
            raise SyscallError(errno.EBADF)
        if fd < self._next:
            self._next = fd
        _unref(entry[0])
        return entry[0]

    def close_on_exec(self):
        for fd in [fd for fd, (_, cloexec) in self._files.items() if cloexec]:
            self.close(fd)

    def fds(self):
        return sorted(self._files)

    def close_all(self):
        for fd in list(self._files):
            self.close(fd)
