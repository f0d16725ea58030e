"""CPU time of tasks and processes, for getrusage(2) and times(2).

The sentry does not count guest CPU time itself. Each task runs on a
host thread of its own, which spends its time in KVM_RUN (the guest's
code) or in the sentry serving the task's syscalls, so that host
thread's CPU clock is the task's CPU time. It is all reported as user
time; system time stays 0, since the host cannot tell the guest's work
from the sentry's on the same thread.

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
    if tid is None:
        return 0
    try:
        return time.clock_gettime_ns((~tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED) \
            - task.cpu_base_ns           # (the host thread may have run tasks before)
    except OSError:
        return 0


def process_cpu_ns(task):
    """(user, system) ns of task's whole process: its exited threads' and
    its live ones'."""
    group = task.group
    live = sum(thread_cpu_ns(t) for t in list(task.kernel.tasks.values())
               if t.group is group)
    return group.utime_ns + live, group.stime_ns


def account_thread_exit(task):
    """The task's thread is ending (called on that thread, kernel lock
    held, before the task leaves kernel.tasks): keep its CPU time in
    its process's total."""
    task.group.utime_ns += time.thread_time_ns() - task.cpu_base_ns
