"""POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK) and open file
description locks (F_OFD_*), per inode and byte range.

An owner is a process (its tgid) for POSIX locks and an open file for OFD
locks. Ranges are [start, end) with end None meaning "to the end of the
file, however it grows". Callers hold the kernel lock.

LOCKS_CHANGED is the wait queue of every blocked lock request (F_SETLKW,
flock): notified whenever a lock may have gone (an unlock, a release, an
open file's last close), after which the waiters try again.
"""
from kvmsentry.kernel.waiter import ALL_EVENTS, Queue

LOCKS_CHANGED = Queue()
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2


def _overlaps(a_start, a_end, b_start, b_end):
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)


def lock_target(f):
    """What an open file's record locks hang on: its inode, or for a pipe
    or socket without one here, the pipe or the socket itself (Linux locks
    their inodes too)."""
    return f.inode if f.inode is not None else getattr(f, "pipe", f)


class RecordLocks:
    def __init__(self):
        self._locks = {}              # inode -> [(owner, type, start, end, pid)]

    def conflict(self, inode, owner, ltype, start, end):
        """The first lock another owner holds that stops ltype on the range."""
        for lock in self._locks.get(inode, ()):
            o, t, s, e, _ = lock
            if o != owner and _overlaps(start, end, s, e) and (F_WRLCK in (t, ltype)):
                return lock
        return None

    def set(self, inode, owner, ltype, start, end, pid):
        """Apply owner's lock (or unlock) of the range, splitting its
        existing locks around it (the caller checked for conflicts)."""
        kept = []
        for lock in self._locks.get(inode, ()):
            o, t, s, e, p = lock
            if o != owner or not _overlaps(start, end, s, e):
                kept.append(lock)
                continue
            if s < start:
                kept.append((o, t, s, start, p))
            if end is not None and (e is None or e > end):
                kept.append((o, t, end, e, p))
        if ltype != F_UNLCK:
            kept.append((owner, ltype, start, end, pid))
        if kept:
            self._locks[inode] = kept
        else:
            self._locks.pop(inode, None)
        LOCKS_CHANGED.notify(ALL_EVENTS)

    def release(self, owner, inode=None):
        """Drop owner's locks (on one inode, or everywhere)."""
        if inode is not None and inode not in self._locks:
            return                    # every close(2) asks: nothing changes, nobody to wake
        for key in [inode] if inode is not None else list(self._locks):
            rest = [l for l in self._locks.get(key, ()) if l[0] != owner]
            if rest:
                self._locks[key] = rest
            else:
                self._locks.pop(key, None)
        LOCKS_CHANGED.notify(ALL_EVENTS)
