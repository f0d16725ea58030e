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
import time

CPUCLOCK_PERTHREAD = 4
CPUCLOCK_SCHED = 2


def thread_cpu_ns(task):
    """The task's CPU time so far (0 if its host thread is not running)."""
    tid = task.host_tid
    own = 0
    if tid is not None:
        try:
            own = time.clock_gettime_ns((~tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED)
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
    task.group.utime_ns += time.thread_time_ns() + task.ctx.guest_cpu_ns()
