"""Which host thread the sentry takes for a systrap child's mapper
(process.ChildProcess._find_mapper), whose CPU every mapping call moves
it to: the host's answer, whatever tids the program wrote into its slots.
On a real child process none of whose threads runs program code; the
slot is forged here as a program's thread could forge it."""
import os
import time

import pytest

from kvmsentry.platform.systrap import layout
from kvmsentry.platform.systrap.machine import SystrapMachine

POOL = 64 << 20
WAIT = 30.0


@pytest.fixture
def proc():
    machine = SystrapMachine(pool_bytes=POOL)
    mm = machine.new_address_space()
    try:
        proc = mm.pt.ensure_process()
        # Born: slot 0's thread has posted its first stop, the mapper exists.
        deadline = time.monotonic() + WAIT
        while proc.state_ptr(0)[0] & ~layout.WAITING != layout.POSTED \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        yield proc
    finally:
        mm.destroy()
        machine.close()


def _cpus(pid, tid):
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def _mapper(pid):
    """The thread asleep on the request page's futex (independent of the
    sentry's own way of telling)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
            words = f.read().split()
        if words[:2] == ["202", hex(layout.MAPPER_VA)]:
            return int(tid)
    return None


@pytest.mark.parametrize("forged", ["mapper", "junk", "zero"])
def test_forged_slot_tids_do_not_choose_the_pinned_thread(proc, forged):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: a pinned thread looks like any other")
    assert proc.claim_slot() == 0             # (a task's, as the sentry claims it)
    first = proc.msg(0).tid
    mapper = _mapper(proc.pid)
    assert first and mapper and mapper != first
    before = _cpus(proc.pid, first)
    proc.msg(0).tid = {"mapper": mapper, "junk": 12345, "zero": 0}[forged]
    cpu = sorted(os.sched_getaffinity(0))[-1]
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        assert proc.map_now([]) == 0
    finally:
        os.sched_setaffinity(0, old)
    assert proc._mapper_tid == mapper
    assert _cpus(proc.pid, mapper) == str(cpu)
    assert _cpus(proc.pid, first) == before
    assert not proc.owns_thread(mapper) and proc.owns_thread(first)
