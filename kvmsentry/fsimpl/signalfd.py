"""signalfd: signals in a mask read as signalfd_siginfo records.

As on Linux, the file answers for the task that reads or polls it: a read
takes signals from the reader's own pending queues (the thread's, then
its process's), normally with the signals blocked so no handler runs
first. Senders notify the target tasks' signal queues whether the signal
is blocked or not (kernel/signal_delivery.send), and that is the queue
this file waits on.
"""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.anon import POLLIN, POLLRDNORM, AnonFile
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.waiter import wait_event

SIGINFO = struct.Struct("<IiiIIiIIIIiiQQQQHHiQI")
RECORD_SIZE = 128
ALL_SIGNALS = (1 << 64) - 1


def record(info):
    """struct signalfd_siginfo for a SigInfo (signalfd_copyinfo)."""
    f = dict(pid=0, uid=0, fd=0, tid=0, band=0, overrun=0, status=0, int_=0, ptr=0,
             utime=0, stime=0, addr=0, call_addr=0, syscall=0, arch=0)
    layout = info.layout
    if layout in ("kill", "rt", "chld"):
        f.update(pid=info.pid, uid=info.uid)
    if layout in ("rt", "timer"):
        f.update(ptr=info.value, int_=info.value_int)
    if layout == "timer":
        f.update(tid=info.timerid, overrun=info.overrun)
    elif layout == "chld":
        f.update(status=info.status, utime=info.utime, stime=info.stime)
    elif layout == "fault":
        f.update(addr=info.addr)
    elif layout == "poll":
        f.update(band=info.band, fd=info.fd)
    elif layout == "sys":
        f.update(call_addr=info.call_addr, syscall=info.syscall, arch=info.arch)
    m = 0xFFFFFFFF
    data = SIGINFO.pack(info.signo, info.errno, info.code, f["pid"] & m, f["uid"] & m, f["fd"],
                        f["tid"] & m, f["band"] & m, f["overrun"] & m, 0, f["status"],
                        f["int_"], f["ptr"], f["utime"] & ALL_SIGNALS,
                        f["stime"] & ALL_SIGNALS, f["addr"], 0, 0, f["syscall"],
                        f["call_addr"], f["arch"])
    return data + bytes(RECORD_SIZE - len(data))


class SignalFd(AnonFile):
    def __init__(self, mask, flags, owner):
        super().__init__(flags)
        self.mask = mask
        self._owner = owner           # the creating task: the stand-in reader

    def _task(self):
        return current() or self._owner

    @property
    def queue(self):
        return self._task().signal_queue

    @queue.setter
    def queue(self, value):
        pass                          # the queue is the reader's, not the file's

    def _take(self, task):
        blocked = ~self.mask & ALL_SIGNALS
        return task.pending.dequeue(blocked) or task.group.shared_pending.dequeue(blocked)

    def read(self, length, offset=None):
        self.no_offset(offset)
        count = length // RECORD_SIZE
        if not count:
            raise SyscallError(errno.EINVAL)
        task = self._task()
        out = []

        def take():
            while len(out) < count:
                info = self._take(task)
                if info is None:
                    break
                out.append(record(info))
            return bool(out)

        if not take():
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            wait_event(take, [(task.signal_queue, sg.sigset_events(self.mask))], task=task)
        return b"".join(out)

    def poll_events(self):
        task = self._task()
        pending = task.pending.bits | task.group.shared_pending.bits
        return POLLIN | POLLRDNORM if pending & self.mask else 0

    def fdinfo(self):
        return "sigmask:\t%016x\n" % self.mask


def signalfd_mask(mask):
    """The mask a signalfd keeps: SIGKILL and SIGSTOP silently dropped."""
    return mask & ~(sg.sigbit(sg.SIGKILL) | sg.sigbit(sg.SIGSTOP)) & ALL_SIGNALS
