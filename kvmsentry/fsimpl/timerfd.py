"""timerfd: a timer whose expirations are read as a count.

Deadlines are kept on CLOCK_MONOTONIC, converted when the timer is armed
(an absolute CLOCK_REALTIME time included: the sandbox cannot set the
clock, so TFD_TIMER_CANCEL_ON_SET is accepted and never fires). The count
is computed from the clock when asked; a blocked read sleeps until the
next deadline, and for poll/epoll the kernel's timer thread
(kernel/timers.py) notifies the file's queue at each deadline while the
timer is armed.
"""
import errno
import struct
import time

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.anon import POLLIN, POLLRDNORM, AnonFile
from kvmsentry.kernel import timers as tm
from kvmsentry.kernel.waiter import wait_event

TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET = 1, 2
TFD_IOC_SET_TICKS = 0x40085400            # _IOW('T', 0, u64)
CLOCKS = (tm.CLOCK_REALTIME, tm.CLOCK_MONOTONIC, tm.CLOCK_BOOTTIME,
          tm.CLOCK_REALTIME_ALARM, tm.CLOCK_BOOTTIME_ALARM)


class _Alarm:
    """What the timer thread fires: a notify of the timerfd's queue."""

    def __init__(self, file):
        self.file = file
        self.deadline = None
        self.generation = 0

    def expire(self, now):
        """Called by the timer thread (kernel lock held) at the deadline:
        count it, wake the waiters, and be back for the next period."""
        self.deadline = None
        file = self.file
        with file.lock:
            file._count(now)
        file.queue.notify(POLLIN | POLLRDNORM)
        file._arm_alarm()


class TimerFd(AnonFile):
    def __init__(self, clockid, flags, thread):
        super().__init__(flags)
        self.clockid = clockid
        self.deadline = None          # CLOCK_MONOTONIC ns of the next expiry; None: disarmed
        self.interval = 0
        self.ticks = 0                # expirations counted but not read yet
        self._thread = thread
        self._alarm = _Alarm(self)

    def settime(self, flags, value, interval):
        """timerfd_settime: arm (value ns, absolute on the timer's clock
        with TFD_TIMER_ABSTIME) or disarm (value 0); returns the old
        setting as (value left, interval)."""
        with self.lock:
            old = self._get(tm.monotonic_ns())
            self.ticks = 0
            self.interval = interval
            if not value:
                self.deadline = None
            elif flags & TFD_TIMER_ABSTIME:
                host = tm.TIMER_CLOCKS[self.clockid]
                self.deadline = tm.monotonic_ns() + value - time.clock_gettime_ns(host)
            else:
                self.deadline = tm.monotonic_ns() + value
            self._alarm.generation += 1
            self._alarm.deadline = None
        self._arm_alarm()
        return old

    def gettime(self):
        with self.lock:
            return self._get(tm.monotonic_ns())

    def _get(self, now):
        self._count(now)
        if self.deadline is None:
            return 0, self.interval
        return max(1, self.deadline - now), self.interval

    def _count(self, now):
        """Move expirations that passed into ticks (lock held)."""
        if self.deadline is None or now < self.deadline:
            return
        if self.interval:
            self.deadline, missed = tm.advance(self.deadline, self.interval, now)
            self.ticks += missed + 1
        else:
            self.deadline = None
            self.ticks += 1

    def _arm_alarm(self):
        """Have the timer thread notify the queue at the next deadline."""
        with self.lock:
            due = self.deadline
            if due is None or self._alarm.deadline == due:
                return
            self._alarm.generation += 1
            self._alarm.deadline = due
        self._thread.arm(self._alarm)

    def read(self, length, offset=None):
        self.no_offset(offset)
        if length < 8:
            raise SyscallError(errno.EINVAL)

        def take():
            with self.lock:
                self._count(tm.monotonic_ns())
                ticks, self.ticks = self.ticks, 0
            return ticks

        ticks = take()
        while not ticks:
            if self.nonblocking():
                raise SyscallError(errno.EAGAIN)
            ticks = wait_event(take, [(self.queue, POLLIN)], deadline=self.deadline)
        return struct.pack("<Q", ticks)

    def poll_events(self):
        with self.lock:
            self._count(tm.monotonic_ns())
            ready = self.ticks
        return POLLIN | POLLRDNORM if ready else 0

    def ioctl(self, task, request, arg):
        """TFD_IOC_SET_TICKS: set the count of expirations to read (0: EINVAL)."""
        if request != TFD_IOC_SET_TICKS:
            raise SyscallError(errno.ENOTTY)
        (ticks,) = struct.unpack("<Q", task.mm.copy_in(arg, 8))
        if not ticks:
            raise SyscallError(errno.EINVAL)
        with self.lock:
            self.ticks = ticks
        self.queue.notify(POLLIN | POLLRDNORM)
        return 0

    def fdinfo(self):
        value, interval = self.gettime()
        return ("clockid: %d\nticks: %d\nsettime flags: 0\nit_value: (%d, %d)\n"
                "it_interval: (%d, %d)\n" % (self.clockid, self.ticks, value // tm.NSEC,
                                             value % tm.NSEC, interval // tm.NSEC,
                                             interval % tm.NSEC))
