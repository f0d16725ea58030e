"""Pure pieces of timers (kernel/timers.py), credentials (kernel/creds.py)
and readiness (kernel/polling.py); no /dev/kvm."""
import errno
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import polling as pl
from kvmsentry.kernel import timers as tm
from kvmsentry.kernel.creds import CAP_FULL, NO_ID, Credentials
from kvmsentry.kernel.locking import KernelLock
from kvmsentry.kernel.pipe import make_pipe

MS = 1_000_000


# --- timer arithmetic ----------------------------------------------------------------
def test_advance_before_deadline_is_unchanged():
    assert tm.advance(100, 10, 99) == (100, 0)


def test_advance_counts_missed_periods():
    assert tm.advance(100, 10, 100) == (110, 0)
    assert tm.advance(100, 10, 135) == (140, 3)


@given(st.integers(0, 10**12), st.integers(1, 10**9), st.integers(0, 10**12))
def test_advance_next_deadline_is_the_first_period_after_now(deadline, interval, now):
    nxt, missed = tm.advance(deadline, interval, now)
    if now < deadline:
        assert (nxt, missed) == (deadline, 0)
    else:
        assert now < nxt <= now + interval
        assert (nxt - deadline) % interval == 0
        assert nxt == deadline + (missed + 1) * interval


def test_remaining():
    assert tm.remaining(None, 0, 5) == 0
    assert tm.remaining(100, 0, 40) == 60
    assert tm.remaining(100, 0, 150) == 1            # expired, signal on its way
    assert tm.remaining(100, 0, 150, expired_value=0) == 0
    assert tm.remaining(100, 30, 150) == 10          # periodic: next expiry at 160


@pytest.mark.parametrize("ns, seconds", [
    (0, 0), (1, 1), (499_999_999, 1), (1_499_999_999, 1), (1_500_000_000, 2),
    (10 * tm.NSEC, 10), (9_600_000_000, 10)])
def test_alarm_seconds_rounds_like_linux(ns, seconds):
    assert tm.alarm_seconds(ns) == seconds


# --- the timer thread ------------------------------------------------------------------
class _Recorder(tm.Timer):
    def __init__(self, procs):
        super().__init__(procs)
        self.fired = []

    def target(self):
        return "task"

    def notify(self, target, missed):
        assert self.procs.thread.kernel.lock.held_here()
        self.fired.append(missed)


def _procs():
    kernel = SimpleNamespace(lock=KernelLock(), tasks={})
    group = SimpleNamespace()
    return tm.ProcessTimers(tm.TimerThread(kernel), group)


def test_timer_thread_fires_one_shot_under_the_kernel_lock():
    procs = _procs()
    timer = _Recorder(procs)
    timer.set(tm.monotonic_ns() + 20 * MS, 0)
    time.sleep(0.2)
    assert timer.fired == [0]
    assert timer.deadline is None


def test_timer_thread_reloads_periodic_timers():
    procs = _procs()
    timer = _Recorder(procs)
    timer.set(tm.monotonic_ns() + 10 * MS, 10 * MS)
    time.sleep(0.25)
    timer.cancel()
    count = len(timer.fired)
    assert 5 <= count + sum(timer.fired) <= 30
    time.sleep(0.05)
    assert len(timer.fired) == count                 # cancelled: no more


def test_rearming_replaces_the_old_deadline():
    procs = _procs()
    timer = _Recorder(procs)
    timer.set(tm.monotonic_ns() + 30 * MS, 0)
    timer.set(tm.monotonic_ns() + 10_000 * MS, 0)     # the first entry is stale now
    time.sleep(0.15)
    assert timer.fired == []


def test_process_timers_ids_and_lookup():
    procs = _procs()
    a = procs.create(tm.CLOCK_MONOTONIC, tm.SIGEV_NONE, 0, 0, 0)
    b = procs.create(tm.CLOCK_MONOTONIC, tm.SIGEV_NONE, 0, 0, 0)
    assert (a.id, b.id) == (0, 1)
    procs.delete(0)
    with pytest.raises(SyscallError) as e:
        procs.lookup(0)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(SyscallError):
        procs.itimer(3)


def test_sigev_none_timer_counts_down_without_the_thread():
    procs = _procs()
    timer = procs.create(tm.CLOCK_MONOTONIC, tm.SIGEV_NONE, 0, 0, 0)
    now = tm.monotonic_ns()
    timer.set(now + 100 * MS, 0)
    assert procs.thread._heap == []
    assert timer.get(now + 40 * MS) == (60 * MS, 0)
    assert timer.get(now + 200 * MS) == (0, 0)


# --- credentials -------------------------------------------------------------------------
def test_construction_defaults():
    c = Credentials(1000, 1000, 100, 100)
    assert (c.suid, c.sgid, c.fsuid, c.fsgid) == (1000, 100, 1000, 100)
    assert c.cap_effective == c.cap_permitted == 0
    root = Credentials(0, 0, 0, 0)
    assert root.cap_effective == CAP_FULL
    assert Credentials.of_host().uid >= 0


def test_changes_make_new_objects():
    root = Credentials(0, 0, 0, 0)
    user = root.setuid(1000)
    assert (root.uid, root.euid) == (0, 0)
    assert (user.uid, user.euid, user.suid, user.fsuid) == (1000,) * 4
    assert user.cap_effective == user.cap_permitted == 0


def test_unprivileged_setuid_only_among_real_and_saved():
    c = Credentials(1000, 1001, 0, 0, suid=1002)
    assert c.setuid(1002).euid == 1002
    assert c.setuid(1000).euid == 1000
    with pytest.raises(SyscallError) as e:
        c.setuid(1001)                # the effective uid is not a candidate for setuid
    assert e.value.errno == errno.EPERM
    with pytest.raises(SyscallError) as e:
        c.setuid(NO_ID)
    assert e.value.errno == errno.EINVAL


def test_setreuid_saved_uid_rule():
    c = Credentials(1000, 1001, 0, 0, suid=1002)
    d = c.setreuid(NO_ID, 1002)       # euid != ruid: suid follows the new euid
    assert (d.uid, d.euid, d.suid) == (1000, 1002, 1002)
    d = c.setreuid(NO_ID, 1000)       # euid == ruid and ruid unchanged: suid stays
    assert (d.uid, d.euid, d.suid) == (1000, 1000, 1002)
    with pytest.raises(SyscallError):
        c.setreuid(1002, NO_ID)       # new ruid must be the old ruid or euid


def test_setresuid_root_keeps_caps_while_a_uid_is_zero():
    root = Credentials(0, 0, 0, 0)
    c = root.setresuid(1000, 1001, 0)
    assert c.cap_effective == 0 and c.cap_permitted == CAP_FULL
    back = c.setreuid(NO_ID, 0)
    assert back.euid == 0 and back.cap_effective == CAP_FULL
    gone = back.setresuid(5, 5, 5)
    assert gone.cap_permitted == 0
    with pytest.raises(SyscallError):
        gone.setresuid(0, NO_ID, NO_ID)


def test_keep_caps_survives_dropping_root():
    from kvmsentry.record import replace
    root = replace(Credentials(0, 0, 0, 0), keep_caps=True)
    c = root.setresuid(1, 1, 1)
    assert c.cap_permitted == CAP_FULL and c.cap_effective == 0


def test_setfsuid_never_fails():
    c = Credentials(1000, 1000, 0, 0)
    assert c.setfsuid(5) == (c, 1000)
    d, old = c.setfsuid(1000)
    assert old == 1000


def test_groups_sorted_and_privileged():
    root = Credentials(0, 0, 0, 0)
    assert root.setgroups([5, 3, 5, 1]).groups == (1, 3, 5)
    with pytest.raises(SyscallError) as e:
        Credentials(1, 1, 1, 1).setgroups([1])
    assert e.value.errno == errno.EPERM


def test_capset_rules():
    root = Credentials(0, 0, 0, 0)
    less = root.capset(effective=1, permitted=3, inheritable=0)
    assert (less.cap_effective, less.cap_permitted) == (1, 3)
    with pytest.raises(SyscallError):
        less.capset(effective=1, permitted=7, inheritable=0)      # no new permitted caps
    with pytest.raises(SyscallError):
        less.capset(effective=4, permitted=3, inheritable=0)      # effective within permitted


# --- readiness ----------------------------------------------------------------------------
def test_poll_mask_of_pipe_ends():
    r, w = make_pipe()
    assert pl.poll_mask(r) == 0
    assert pl.poll_mask(w) & pl.POLLOUT
    w.write(b"x")
    assert pl.poll_mask(r) & pl.POLLIN

