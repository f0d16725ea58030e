"""The adaptive spin rule of the systrap handshake (cdefs/systrap_spin.h),
called through cffi: the stub includes the same header, so these are the
stub's rule and the sentry's. A side spins while the share of its recent
waits (a moving share, weight 1/8) that took longer than the bound, timed
whether it spun or slept, is under 3/16, and probes every 16th wait: a
probe caught turns the spin back on. A call about to sleep in the sentry
tells its stub to stop spinning at once."""
from hypothesis import given, settings, strategies as st

import types

from kvmsentry._systrap import ffi, lib
from kvmsentry.kernel import locking
from kvmsentry.platform.systrap.context import SystrapContext

MAX = 150_000                       # 50 us at 3 GHz
QUICK, SLOW = MAX // 30, MAX * 100  # a getpid's reply; a read that blocks


def _fresh():
    return ffi.new("struct systrap_spin *")    # (a claimed slot's message is zeroed)


def _wait(s, took):
    """One wait that took `took` cycles: whether it spun."""
    spun = lib.systrap_spin_next(s)
    lib.systrap_spin_learn(s, took, MAX, int(spun and took <= MAX))
    return bool(spun)


def test_a_fresh_slot_spins_and_keeps_spinning_while_replies_are_quick():
    s = _fresh()
    assert all(_wait(s, QUICK) for _ in range(100))
    assert s.caught == 100 and s.miss == 0


def test_one_blocking_call_among_quick_ones_leaves_the_spin_on():
    s = _fresh()
    spins = [_wait(s, SLOW if i % 10 == 9 else QUICK) for i in range(200)]
    assert all(spins)


def test_two_blocking_calls_in_a_row_turn_it_off_and_quick_waits_back_on():
    s = _fresh()
    assert [_wait(s, t) for t in (SLOW, SLOW, QUICK)] == [True, True, False]
    back = 1
    while not _wait(s, QUICK):
        back += 1
    assert back == 2            # timed while asleep: the quick replies count


def test_waits_that_keep_blocking_spin_only_every_16th():
    s = _fresh()
    spins = [_wait(s, SLOW) for _ in range(320)]
    assert spins[:2] == [True, True]
    assert sum(spins[16:]) == 19 and all(spins[i] for i in range(31, 320, 16))


def test_replies_slow_only_by_the_wake_up_come_back_through_the_probes():
    """A side that stopped spinning measures its replies after a slow
    wake-up (longer than the bound); a probe's spin sees them quick."""
    s = _fresh()
    for _ in range(3):
        _wait(s, SLOW)
    spins = []
    for _ in range(200):
        spun = lib.systrap_spin_next(s)
        lib.systrap_spin_learn(s, QUICK if spun else MAX * 2, MAX, int(spun))
        spins.append(bool(spun))
    assert all(spins[-100:])


def test_a_share_the_program_scribbled_is_clamped():
    s = _fresh()
    s.miss = 0xFFFF_FFFF               # the slot is writable by the program
    lib.systrap_spin_learn(s, SLOW, MAX, 0)
    assert s.miss == 256
    for _ in range(40):
        lib.systrap_spin_learn(s, QUICK, MAX, 0)
    assert lib.systrap_spin_next(s)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_the_share_stays_a_share_and_probes_never_stop(slow):
    s = _fresh()
    spins = []
    for is_slow in slow:
        spins.append(_wait(s, SLOW if is_slow else QUICK))
        assert s.miss <= 256
    for i in range(15, len(spins), 16):
        assert spins[i]


def test_a_call_about_to_sleep_in_the_sentry_tells_its_stub_to_stop_spinning():
    """Every blocked wait's sleep goes through locking.unlocked, which
    releases the task's context first: a systrap context marks its slot."""
    ctx = SystrapContext.__new__(SystrapContext)
    ctx.msg = ffi.new("struct systrap_msg *")
    seen = []
    locking.set_current(types.SimpleNamespace(ctx=ctx))
    try:
        locking.unlocked(lambda a, b: seen.append(ctx.msg.stub_spin.stop), None, None)
    finally:
        locking.set_current(None)
    assert seen == [1]
