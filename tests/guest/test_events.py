"""Wait queues seen from programs, compared with native Linux: epoll
(level vs edge on a pipe with partial reads, EPOLLONESHOT re-arm,
EPOLLEXCLUSIVE waking one of two waiters, one edge waking one of two
threads in epoll_wait on one instance, nested instances, an item that
outlives its fd, epoll_pwait2, a zero timeout with a signal pending), poll on both ends of a pipe around a
close, eventfd (semaphore), timerfd (periodic ticks counted), signalfd
(SIGCHLD of a child), pidfd and inotify (a file created, written, renamed,
chmodded and removed, a directory made and removed).

tests/eventprograms/events.c has one mode per case; it prints only what
must be identical natively and in the sandbox (timings only as coarse
bounds)."""
import os

import pytest
from progbuild import FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "eventprograms")
MODES = ["level_edge", "oneshot", "exclusive", "threads", "pipe_hup", "eventfd", "timerfd",
         "signalfd", "pidfd", "nested", "inotify", "sleep_rem", "pwait_zero",
         "wide_args", "ctl_args"]


@pytest.fixture(scope="module")
def eventprogs(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("events"))


def same(argv):
    native, boxed = run(argv, False), run(argv, True)
    assert boxed[1].decode() == native[1].decode(), boxed[2].decode()[-3000:]
    assert boxed[0] == native[0], boxed[2].decode()[-3000:]
    return boxed[1].decode()


@pytest.mark.parametrize("flavour", list(FLAVOURS))
@pytest.mark.parametrize("mode", MODES)
def test_event_program(eventprogs, flavour, mode):
    out = same([eventprogs[("events", flavour)], mode])
    assert "FAIL" not in out and out.strip()


WAKEUP_CASES = ["pipe_write_spin", "pipe_write_block", "futex_wake_spin", "eventfd_epoll_spin",
                "signal_spin", "write_then_exit", "process_write_spin"]


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_wakeups_reach_the_sleeper(eventprogs, flavour):
    """A task that wakes another inside a syscall and at once spins in
    user space, blocks, or ends: the sleeper still wakes (the sentry makes
    such wakes when the waker's thread lets go of the kernel lock)."""
    out = same([eventprogs[("wakeups", flavour)]])
    assert out.split("\n")[:-1] == ["%s ok" % case for case in WAKEUP_CASES]


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_pipe_transfers(eventprogs, flavour):
    """Pipe reads and writes straight between guest frames and the pipe:
    readv/writev order, page-crossing buffers, EFAULT leaving the data,
    EOF, EAGAIN, a write larger than the pipe (tests/eventprograms/pipe_io.c)."""
    out = same([eventprogs[("pipe_io", flavour)]])
    assert "big: got 300000, same 1, writer status 0" in out


def test_python_eventfd():
    """os.eventfd from Python, semaphore mode and a blocking read woken by
    a forked writer."""
    code = ("import os, time\n"
            "fd = os.eventfd(2, os.EFD_SEMAPHORE)\n"
            "print(os.eventfd_read(fd), os.eventfd_read(fd))\n"
            "if os.fork() == 0:\n"
            "    time.sleep(0.05); os.eventfd_write(fd, 5); os._exit(0)\n"
            "print(os.eventfd_read(fd)); os.wait()\n"
            "e = os.eventfd(0, os.EFD_NONBLOCK)\n"
            "try:\n"
            "    os.eventfd_read(e)\n"
            "except BlockingIOError:\n"
            "    print('EAGAIN')\n")
    out = same(["/usr/bin/python3", "-c", code])
    assert out == "1 1\n1\nEAGAIN\n"


def test_node_timers_crypto_and_fs_watch():
    """Node.js (libuv: epoll, eventfd2, inotify behind fs.watch) with
    timers, an interval, a hash and a watched directory."""
    out = same(["/usr/bin/node", os.path.join(SOURCES, "node_events.js")])
    assert out.splitlines()[1:] == ["watch: rename file.txt", "t10 t50 interval ticks 3"]
