"""A killed task's wait for its thread (cdefs/systrap_helpers.c,
systrap_wait with its context's stop word): it ends once the stop word
is set, whatever the program keeps in the slot's word, and a thread that
posts within the grace is served as usual. machine.rewake wakes the wait
again until it has returned, for the wake that came before the waiter
slept. No child process: the slot is a message in the sentry's memory."""
import threading

from kvmsentry._systrap import ffi, lib
from kvmsentry.platform.systrap import layout
from kvmsentry.platform.systrap.machine import SystrapMachine

POOL = 64 << 20
HANG = 30.0                  # (a wait still running by then is a hang)


class _Slot:
    """A context's view of its slot, as machine.rewake sees it."""

    def __init__(self, state):
        self.msg = ffi.new("struct systrap_msg *")
        self.msg.state = state
        self.state = ffi.cast("uint32_t *", self.msg)
        self.stop = ffi.new("uint32_t *")
        self.process, self.slot = self, 0

    def state_ptr(self, slot):
        return self.state


def _wait_in_thread(slot):
    out = []
    t = threading.Thread(target=lambda: out.append(lib.systrap_wait(slot.state, 0, slot.stop)),
                         daemon=True)
    t.start()
    return t, out


def _asleep(t):
    """Until the waiter is (very likely) asleep on the futex."""
    t.join(0.2)
    assert t.is_alive()


def test_a_killed_wait_ends_whatever_the_slot_says():
    slot = _Slot(layout.RUNNING)              # the thread runs, its kick blocked
    t, out = _wait_in_thread(slot)
    _asleep(t)
    lib.systrap_stop(slot.stop, slot.state)
    t.join(HANG)
    assert out == [layout.ABANDONED]


def test_a_thread_that_stops_within_the_grace_is_served():
    slot = _Slot(layout.RUNNING)
    slot.stop[0] = 1                          # killed; the kick is on its way
    t, out = _wait_in_thread(slot)
    slot.state[0] = layout.POSTED             # ... and the thread stops
    lib.systrap_wake_all(slot.state)
    t.join(HANG)
    assert out == [layout.POSTED]


def test_rewake_ends_a_wait_whose_wake_came_too_early():
    machine = SystrapMachine(pool_bytes=POOL)
    try:
        slot = _Slot(layout.REPLIED)
        t, out = _wait_in_thread(slot)
        _asleep(t)
        slot.stop[0] = 1                      # set, but its wake lost
        machine.rewake(slot, slot, 0)
        t.join(HANG)
        assert out == [layout.ABANDONED]
    finally:
        slot.process = None                   # (left: the machine stops waking it)
        machine.close()
