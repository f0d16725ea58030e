"""A finished task's host thread parks for the next task (kernel/task.py's
_Parked): a task handed over inside a syscall wakes that thread only with
the syscall's other deferred wakes (kernel/waiter.py), once the caller
lets go of the kernel lock and the GIL; one parked too long leaves."""
import threading
import time
import types

from kvmsentry.kernel import task as task_mod
from kvmsentry.kernel import waiter as w

WAIT = 30.0


def _park(parked):
    got = []
    thread = threading.Thread(target=lambda: got.append(parked.wait(w.Waiter())), daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not parked._threads and time.monotonic() < deadline:
        time.sleep(0.001)
    assert parked._threads
    return thread, got


def test_a_task_handed_over_in_a_syscall_wakes_its_thread_with_the_deferred_wakes():
    parked = task_mod._Parked()
    thread, got = _park(parked)
    task = types.SimpleNamespace()
    w.defer_wakes()
    try:
        assert parked.hand_over(task)
        deferral = w.this_thread()
        assert len(deferral.waiters) == 1       # held back until the syscall's end
        assert thread.is_alive() and got == []
    finally:
        w.flush_wakes()
    thread.join(WAIT)
    assert got == [task] and task.thread is thread
    assert not parked.hand_over(types.SimpleNamespace())   # (nobody parked now)


def test_a_task_handed_over_outside_a_syscall_wakes_its_thread_at_once():
    parked = task_mod._Parked()
    thread, got = _park(parked)
    task = types.SimpleNamespace()
    assert parked.hand_over(task)
    thread.join(WAIT)
    assert got == [task]


def test_a_thread_parked_past_its_time_leaves(monkeypatch):
    monkeypatch.setattr(task_mod, "PARK_NS", 1_000_000)
    parked = task_mod._Parked()
    got = []
    thread = threading.Thread(target=lambda: got.append(parked.wait(w.Waiter())), daemon=True)
    thread.start()
    thread.join(WAIT)
    assert got == [None] and parked._threads == []
    assert not parked.hand_over(types.SimpleNamespace())


def test_a_thread_parks_again_on_its_own_waiter():
    """The parked thread's Waiter is its own for good: each wake it gets
    is read before it parks again, so the next park waits for the next
    task, not an old wake."""
    parked = task_mod._Parked()
    waiter = w.Waiter()
    got, handed = [], threading.Semaphore(0)

    def thread_main():
        for _ in range(3):
            got.append(parked.wait(waiter))
            handed.release()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    tasks = [types.SimpleNamespace() for _ in range(3)]
    for n, task in enumerate(tasks):
        deadline = time.monotonic() + WAIT
        while not parked._threads and time.monotonic() < deadline:
            time.sleep(0.001)
        assert parked.hand_over(task)
        assert handed.acquire(timeout=WAIT)
        assert got == tasks[:n + 1]
    thread.join(WAIT)
