"""The adaptive spin rule of the systrap handshake (cdefs/systrap_spin.h),
called through cffi: the stub includes the same header, so these are the
stub's rule and the sentry's. A spin the other side answered within
doubles the next bound up to the configured one; one that ran out
quarters it; below an eighth the side rests (no spin) for 1, 2, 4 ... 256
waits, then probes with a quarter."""
from hypothesis import given, settings, strategies as st

from kvmsentry._systrap import ffi, lib

MAX = 150_000                       # 50 us at 3 GHz


def _fresh():
    return ffi.new("struct systrap_spin *")


def _wait(s, caught):
    """One wait: the bound it spins for; it learns if it spun."""
    bound = lib.systrap_spin_bound(s, MAX)
    if bound:
        lib.systrap_spin_learn(s, caught)
    return bound


def test_a_fresh_slot_spins_the_whole_bound_and_keeps_it_while_caught():
    s = _fresh()                     # (a claimed slot's message is zeroed)
    assert [_wait(s, True) for _ in range(5)] == [MAX] * 5
    assert s.caught == 5


def test_spins_that_run_out_shrink_fast_then_rest_with_doubling_backoff():
    s = _fresh()
    bounds = [_wait(s, False) for _ in range(20)]
    # max, a quarter, then rest 1, probe a quarter, rest 2, probe, rest 4...
    assert bounds == [MAX, MAX // 4,
                      0, MAX // 4,
                      0, 0, MAX // 4,
                      0, 0, 0, 0, MAX // 4,
                      0, 0, 0, 0, 0, 0, 0, 0]


def test_the_rest_stops_doubling_at_256_waits():
    s = _fresh()
    for _ in range(5000):
        _wait(s, False)
    rests = []
    run = 0
    for _ in range(2000):
        if _wait(s, False):
            rests.append(run)
            run = 0
        else:
            run += 1
    assert set(rests[1:]) == {256}


def test_a_caught_probe_grows_back_to_the_whole_bound_and_resets_the_backoff():
    s = _fresh()
    for _ in range(40):
        _wait(s, False)                    # resting, backoff grown
    while not _wait(s, True):              # the next probe is answered
        pass
    assert [_wait(s, True) for _ in range(3)] == [MAX // 2, MAX, MAX]
    assert s.backoff == 0
    # A blocking call among quick ones costs one spin, then one rest at most.
    assert [_wait(s, c) for c in (False, True, True, True)] == [MAX, MAX // 4, MAX // 2, MAX]


def test_fields_the_program_scribbled_are_clamped():
    s = _fresh()
    s.cut, s.backoff = 1000, 1000          # the slot is writable by the program
    assert lib.systrap_spin_bound(s, MAX) == MAX >> 3
    lib.systrap_spin_learn(s, False)
    assert s.rest == 256 and s.cut == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_every_bound_is_the_configured_one_shifted_or_none(answers):
    s = _fresh()
    for caught in answers:
        bound = _wait(s, caught)
        assert bound in (0, MAX, MAX >> 1, MAX >> 2, MAX >> 3)
        assert s.rest <= 256 and s.cut <= 3 and s.backoff <= 8
