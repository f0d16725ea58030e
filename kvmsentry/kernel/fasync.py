"""O_ASYNC: the signal a file's owner gets when I/O becomes possible on it
(Linux's fasync lists and fown_struct).

F_SETOWN[_EX] names the owner (a thread, a process or a process group)
and F_SETSIG the signal (0: a plain SIGIO), both kept on the open file;
F_SETFL O_ASYNC arms the file on the object whose readiness changes
(a FasyncList), remembering the fd it was armed through for si_fd.
"""
import threading

from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.waiter import Entry

F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP = 0, 1, 2
POLL_IN, POLL_OUT = 1, 2                          # si_code of the F_SETSIG signal
BAND = {POLL_IN: 0x041, POLL_OUT: 0x304}          # POLLIN|POLLRDNORM, POLLOUT|POLLWRNORM|POLLWRBAND


class FasyncList:
    """The armed files of one side of an object (a pipe's readers, say)."""

    def __init__(self):
        self._lock = threading.Lock()
        # file -> (fd, kernel); callers on a hot path (a pipe's every read
        # and write) test it before calling signal(), a frame saved.
        self.armed = {}

    def arm(self, file, fd, kernel, on):
        with self._lock:
            if on:
                self.armed[file] = (fd, kernel)
            else:
                self.armed.pop(file, None)

    def signal(self, reason):
        """kill_fasync: every armed file's owner gets its signal."""
        if not self.armed:
            return
        with self._lock:
            armed = list(self.armed.items())
        for file, (fd, kernel) in armed:
            send_sigio(kernel, file, fd, reason)


# What makes a socket's kill_fasync(POLL_IN) in Linux: data or a hangup.
INPUT_EVENTS = 0x1 | 0x40 | 0x10 | 0x2000         # POLLIN|POLLRDNORM|POLLHUP|POLLRDHUP


def arm_queue(file, fd, kernel, on):
    """O_ASYNC on a socket kept in the sentry (a Unix socket), which has a
    wait queue but no fasync list: the owner's signal each time input
    arrives, as sock_def_readable sends it."""
    entry = getattr(file, "fasync_entry", None)
    if entry is not None:
        file.queue.unregister(entry)
        file.fasync_entry = None
    if on:
        entry = Entry(lambda mask: send_sigio(kernel, file, fd, POLL_IN), INPUT_EVENTS)
        file.queue.register(entry)
        file.fasync_entry = entry


def _targets(kernel, kind, who):
    if kind == F_OWNER_TID:
        task = kernel.tasks.get(who)
        return [task] if task is not None else []
    if kind == F_OWNER_PID:
        groups = [g for g in [kernel.tree.lookup(who)] if g is not None]
    else:
        groups = kernel.tree.members_of_pgrp(who)
    tasks = list(kernel.tasks.values())
    return [next((t for t in tasks if t.group is g), None) for g in groups]


def send_sigio(kernel, file, fd, reason):
    """send_sigio: the owner's signal, with si_fd and si_band if F_SETSIG chose one."""
    from kvmsentry.kernel import signal_delivery
    kind, who = getattr(file, "owner", None) or (F_OWNER_TID, 0)
    if not who:
        return
    sig = getattr(file, "owner_signal", 0)
    if sig:
        info = sg.SigInfo(sig, code=reason, band=BAND[reason], fd=fd)
    else:
        info = sg.SigInfo(sg.SIGIO, code=sg.SI_KERNEL)
    for task in _targets(kernel, kind, who):
        if task is not None:
            signal_delivery.send(kernel, task, info, thread=kind == F_OWNER_TID)
