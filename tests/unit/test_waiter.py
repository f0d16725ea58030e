"""The wait-queue model: notify wakes exactly the matching waiters, a
blocked waiter sleeps on one eventfd plus host fds, and block_until ends
on its condition, a signal, a kill or its deadline."""
import errno
import os
import threading
import time

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import waiter as w

POLLIN, POLLOUT = 0x1, 0x4


class FakeTask:
    def __init__(self):
        self.waiter = w.Waiter()
        self.interrupt = threading.Event()
        self.kill_status = None
        self.pending_signal = False


@pytest.fixture(autouse=True)
def fake_signals(monkeypatch):
    monkeypatch.setattr(w, "signal_pending", lambda task: task.pending_signal)


def test_notify_runs_only_matching_entries():
    q = w.Queue()
    seen = []
    q.register(w.Entry(lambda m: seen.append(("in", m)), POLLIN))
    q.register(w.Entry(lambda m: seen.append(("out", m)), POLLOUT))
    q.notify(POLLOUT)
    assert seen == [("out", POLLOUT)]


def test_exclusive_entries_wake_one_per_notify():
    q = w.Queue()
    seen = []
    for name in "abc":
        q.register(w.Entry(lambda m, n=name: seen.append(n), POLLIN, exclusive=True))
    q.register(w.Entry(lambda m: seen.append("shared"), POLLIN))
    q.notify(POLLIN)
    assert sorted(seen) == ["a", "shared"]


def test_unregistered_entry_is_not_called():
    q = w.Queue()
    seen = []
    e = w.Entry(lambda m: seen.append(m))
    q.register(e)
    q.unregister(e)
    q.unregister(e)                     # twice is harmless
    q.notify(POLLIN)
    assert seen == [] and not q.has_waiters()


def test_block_until_wakes_on_notify_from_another_thread():
    task, q, box = FakeTask(), w.Queue(), []

    def producer():
        time.sleep(0.05)
        box.append(1)
        q.notify(POLLIN)
    threading.Thread(target=producer).start()
    assert w.block_until(task, lambda: bool(box), [(q, POLLIN)]) is True
    assert not q.has_waiters()


def test_block_until_wakes_on_host_fd():
    task = FakeTask()
    r, wr = os.pipe()
    threading.Timer(0.05, os.write, (wr, b"x")).start()
    got = w.block_until(task, lambda: os.read(r, 1) if _readable(r) else None,
                        host_fds=[(r, POLLIN)])
    assert got == b"x"
    os.close(r)
    os.close(wr)


def _readable(fd):
    import select
    return bool(select.select([fd], [], [], 0)[0])


def test_block_until_deadline_returns_false_answer():
    task = FakeTask()
    t0 = time.monotonic_ns()
    assert w.block_until(task, lambda: 0, deadline=w.deadline_after(20_000_000)) == 0
    assert time.monotonic_ns() - t0 >= 20_000_000


def test_block_until_checked_sleeps_before_the_first_look():
    """checked= is the false answer the caller just got: a deadline
    already past returns that answer with no look at all, and otherwise
    the wait sleeps (here, takes the wake already made) before it looks."""
    task, looks = FakeTask(), []

    def check():
        looks.append(1)
        return "ready"
    nothing = []
    assert w.block_until(task, check, deadline=time.monotonic_ns() - 1,
                         checked=nothing) is nothing
    assert looks == []
    task.waiter.wake()                  # the wake the caller's own list made
    assert w.block_until(task, check, checked=nothing) == "ready"
    assert looks == [1] and not _readable(task.waiter.fd)


def test_signal_interrupts_with_eintr_and_condition_wins_first():
    task = FakeTask()
    task.pending_signal = True
    assert w.block_until(task, lambda: "ready") == "ready"
    with pytest.raises(SyscallError) as e:
        w.block_until(task, lambda: None)
    assert e.value.errno == errno.EINTR and task.interrupt.is_set()


def test_kick_during_sleep_ends_uninterruptible_wait_when_killed():
    task = FakeTask()

    def kill():
        time.sleep(0.05)
        task.kill_status = 9
        task.waiter.wake()
    threading.Thread(target=kill).start()
    assert w.block_until(task, lambda: None, interruptible=False) is None
