"""CPU time of tasks and processes, for getrusage(2), times(2), the
CPU-time clocks and /proc.

The sentry does not count guest CPU time itself. Each task has a host
thread of its own, which spends its time serving the task's syscalls and,
on KVM, in KVM_RUN running the guest's code: that thread's CPU clock,
plus whatever the platform reports the program's code took elsewhere
(systrap: the child process's thread, ctx.guest_cpu_ns()), is the task's
CPU time. It is all reported as user time; system time stays 0, since
the host cannot tell the guest's work from the sentry's for it.

A live task's clock is read through its host tid (Linux's per-thread
CPU clock id, ~tid << 3 | PERTHREAD | SCHED): unlike a pthread_t, a tid
that has exited only makes the read fail. A process's time is what its
exited threads left in ThreadGroup.utime_ns plus its live threads'
clocks; the kernel calls account_thread_exit(task) on the exiting
task's own thread so its time is kept.
"""
import errno
import time
import weakref

from kvmsentry.errors import SyscallError

CPUCLOCK_PERTHREAD = 4
CPUCLOCK_SCHED = 2
CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 2, 3


def thread_cpu_ns(task):
    """The task's CPU time so far (0 if its host thread is not running)."""
    tid = task.host_tid
    own = 0
    if tid is not None:
        try:
            # (minus what the host thread spent on tasks it ran before)
            own = time.clock_gettime_ns((~tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED) \
                - task.cpu_base_ns
        except OSError:
            pass
    return own + task.ctx.guest_cpu_ns()


def process_cpu_ns(task):
    """(user, system) ns of task's whole process: its exited threads' and
    its live ones'."""
    return group_cpu_ns(task.kernel, task.group)


def group_cpu_ns(kernel, group):
    """(user, system) ns of a process, live or a zombie."""
    live = sum(thread_cpu_ns(t) for t in list(kernel.tasks.values()) if t.group is group)
    return group.utime_ns + live, group.stime_ns


def account_thread_exit(task):
    """The task's thread is ending (called on that thread, kernel lock
    held, before the task leaves kernel.tasks): keep its CPU time in
    its process's total."""
    task.group.utime_ns += time.thread_time_ns() - task.cpu_base_ns + task.ctx.guest_cpu_ns()


class ProcessClock:
    """A process's CPU time, read on each call."""

    def __init__(self, kernel, group):
        self.kernel, self.group = kernel, group

    def __call__(self):
        return sum(group_cpu_ns(self.kernel, self.group))


class ThreadClock:
    """A thread's CPU time; it stands still once the thread is gone (a
    timer on it then never fires, as Linux's)."""

    def __init__(self, task):
        self.task = weakref.ref(task)
        self.last = 0

    def __call__(self):
        task = self.task()
        if task is not None and task.kernel.tasks.get(task.tid) is task:
            self.last = thread_cpu_ns(task)
        return self.last


def clock_of(task, cid):
    """The CPU-time clock a clock id names for the caller task:
    CLOCK_THREAD/PROCESS_CPUTIME_ID, or clock_getcpuclockid's encoding
    (~pid << 3 | per-thread << 2 | kind, pid 0 the caller). A thread's
    clock only within the caller's process, as Linux; EINVAL otherwise."""
    if cid == CLOCK_THREAD_CPUTIME_ID:
        return ThreadClock(task)
    if cid == CLOCK_PROCESS_CPUTIME_ID:
        return ProcessClock(task.kernel, task.group)
    pid, kind, per_thread = ~cid >> 3, cid & 3, cid & 4
    if cid >= 0 or kind == 3:
        raise SyscallError(errno.EINVAL)
    if per_thread:
        thread = task if pid == 0 else task.kernel.tasks.get(pid)
        if thread is None or thread.group is not task.group:
            raise SyscallError(errno.EINVAL)
        return ThreadClock(thread)
    group = task.group if pid == 0 else task.kernel.tree.groups.get(pid)
    if group is None:
        raise SyscallError(errno.EINVAL)
    return ProcessClock(task.kernel, group)
