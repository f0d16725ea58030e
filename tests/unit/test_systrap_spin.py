"""The adaptive spin rule of the systrap handshake (cdefs/systrap_spin.h),
called through cffi: the stub includes the same header, so these are the
stub's rule and the sentry's. A side spins while the share of its recent
waits (a moving share, weight 1/8) whose answer came later than the bound
is under 5/16; the answer's time is the other side's stamp, so a wait
that slept learns from it as one that spun. A call about to sleep in the
sentry tells its stub to stop spinning at once."""
import types

from hypothesis import given, settings, strategies as st

from kvmsentry._systrap import ffi, lib
from kvmsentry.kernel import locking
from kvmsentry.platform.systrap.context import SystrapContext

MAX = 150_000                       # 50 us at 3 GHz
QUICK, SLOW = MAX // 30, MAX * 100  # a getpid's reply; a read that blocks
WAKE = MAX * 3                      # a wake-up from the futex on a loaded host
START = 10**9                       # (a TSC reading)


def _fresh():
    return ffi.new("struct systrap_spin *")    # (a claimed slot's message is zeroed)


def _wait(s, answer):
    """One wait answered `answer` cycles after it began (stamped by the
    other side): whether it spun."""
    spun = bool(lib.systrap_spin_next(s))
    caught = spun and answer <= MAX
    s.ready_at = START + answer
    lib.systrap_spin_learn(s, START, START + answer + (0 if caught else WAKE), MAX, int(caught))
    return spun


def test_a_fresh_slot_spins_and_keeps_spinning_while_answers_are_quick():
    s = _fresh()
    assert all(_wait(s, QUICK) for _ in range(100))
    assert s.caught == 100 and s.miss == 0


def test_a_blocking_call_now_and_then_leaves_the_spin_on():
    s = _fresh()
    assert all(_wait(s, SLOW if i % 5 == 4 else QUICK) for i in range(200))


def test_three_blocking_calls_in_a_row_turn_it_off_and_quick_answers_back_on():
    s = _fresh()
    assert [_wait(s, t) for t in (SLOW, SLOW, SLOW, QUICK)] == [True, True, True, False]
    assert _wait(s, QUICK)     # the sleeping waits learnt from the stamps


def test_waits_that_keep_blocking_stop_spinning():
    s = _fresh()
    spins = [_wait(s, SLOW) for _ in range(100)]
    assert spins[:3] == [True] * 3 and not any(spins[3:])


def test_a_slow_wake_up_is_not_taken_for_a_slow_answer():
    s = _fresh()
    for _ in range(3):
        _wait(s, SLOW)
    s.ready_at = START + QUICK
    lib.systrap_spin_learn(s, START, START + WAKE, MAX, 0)
    lib.systrap_spin_learn(s, START, START + WAKE, MAX, 0)
    assert lib.systrap_spin_next(s)


def test_a_stamp_from_outside_the_wait_is_not_believed():
    s = _fresh()
    for stamp in (START - 1, START + WAKE + 1):     # stale; or scribbled by the program
        s.ready_at = stamp
        lib.systrap_spin_learn(s, START, START + WAKE, MAX, 0)
    assert s.miss > 0


def test_a_share_the_program_scribbled_is_clamped():
    s = _fresh()
    s.miss = 0xFFFF_FFFF               # the slot is writable by the program
    _wait(s, SLOW)
    assert s.miss == 256
    for _ in range(20):
        _wait(s, QUICK)
    assert lib.systrap_spin_next(s)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_the_share_stays_a_share(slow):
    s = _fresh()
    for is_slow in slow:
        _wait(s, SLOW if is_slow else QUICK)
        assert s.miss <= 256


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
