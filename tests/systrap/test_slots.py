"""Which thread a systrap slot gets (process.ChildProcess.claim_slot): slot
0's first thread is born with the process and a kept one waits in it for
the next program; once its task left it otherwise (the leader exited
while other threads run), the slot gets a cloned thread like any other.
The threads' own runs are tests/guest/test_processes.py's leader_exit
tests; here the bookkeeping, on a real child process none of whose
threads runs program code. Also which host thread the sentry takes for
the child's mapper (ChildProcess._find_mapper), whose CPU every mapping
call moves it to: the host's answer, whatever tids the program wrote
into its slots (forged here as a program's thread could forge them)."""
import os
import select
import time

import pytest

from kvmsentry._systrap import ffi, lib
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
        # The stub's first thread writes its tid once, early in its set-up.
        deadline = time.monotonic() + WAIT
        while proc.msg(0).tid == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        yield proc
    finally:
        mm.destroy()
        machine.close()


def _clone_slots(proc):
    """The slots of the clone calls queued, from their stack tops."""
    return [(args[1] - 1 - layout.CTL_VA) // layout.SLOT_SIZE
            for nr, args in proc.thread_ops if nr == layout.NR_CLONE]


def test_the_first_thread_is_born_with_the_process(proc):
    assert proc.msg(0).tid != 0
    assert proc.claim_slot() == 0
    assert _clone_slots(proc) == []
    assert proc.claim_slot() == 1
    assert _clone_slots(proc) == [1]


def test_a_slot_0_the_leader_left_gets_a_clone(proc):
    assert (proc.claim_slot(), proc.claim_slot()) == (0, 1)
    proc.drain_threads(layout.MAX_OPS)
    proc.free_slot(0)                         # the leader exits; slot 1's thread runs on
    # Until the kernel clears its tid, the exiting thread may still be on
    # the slot's stacks.
    assert proc.claim_slot() == 2
    proc.msg(0).tid = 0
    assert proc.claim_slot() == 0
    assert _clone_slots(proc) == [2, 0]


def test_a_kept_thread_serves_the_next_program_and_its_cpu_time_stays_its(proc):
    assert proc.claim_slot() == 0
    assert proc.keep_thread(0, 12345)
    proc.free_slot(0)
    assert proc.claim_slot() == 0             # the next program's leader: the kept thread
    assert (_clone_slots(proc), proc.cpu_mark) == ([], 12345)
    assert proc.claim_slot() == 1
    proc.free_slot(0)                         # not kept: it has a second thread
    proc.msg(0).tid = 0
    assert proc.claim_slot() == 0
    # A new thread in slot 0: none of the kept thread's CPU time is its.
    assert (_clone_slots(proc), proc.cpu_mark) == ([1, 0], 0)


def test_a_thread_left_running_keeps_its_slot_until_the_process_ends(proc):
    """A killed task whose thread did not stop (its kick blocked, a vfork
    child still in the process) leaves its slot taken: no execve adopts
    the process with that thread in it, and it dies on the host when the
    last task leaves."""
    assert (proc.claim_slot(), proc.claim_slot()) == (0, 1)
    proc.drain_threads(layout.MAX_OPS)
    proc.abandon(1, True)                     # killed while running; slot 0's task is not
    proc.free_slot(1, stopped=False)
    assert proc.threads() == 2 and proc.claim_slot() == 2
    proc.free_slot(2)
    assert proc.alive and not _readable(proc.pidfd)
    proc.free_slot(0)                         # the last task leaves: the process ends
    deadline = time.monotonic() + WAIT
    while not _readable(proc.pidfd) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _readable(proc.pidfd)


def _readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


def _cpus(pid, tid):
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def _mapper(pid):
    """The thread asleep on the request page's futex, once it is (told
    apart otherwise than the sentry tells it)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                words = f.read().split()
            if words[:2] == ["202", hex(layout.MAPPER_VA)]:
                return int(tid)
        time.sleep(0.01)
    return None


@pytest.mark.parametrize("forged", ["mapper", "junk", "zero"])
def test_forged_slot_tids_do_not_choose_the_pinned_thread(proc, forged):
    # (On one CPU the affinity checks below hold whoever is pinned; the
    # sentry's record of the mapper still tells.)
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


def _run_thread_ops(proc):
    """What a task's _make_threads does: slot 0's stub runs the clone
    calls queued, then posts again."""
    ops = proc.drain_threads(layout.MAX_OPS)
    msg = proc.msg(0)
    base = ffi.cast("struct systrap_op *", ffi.cast("char *", msg) + layout.OPS_OFF)
    for i, (nr, args) in enumerate(ops):
        base[i].nr = nr
        base[i].a[0:len(args)] = args
    msg.nops, msg.again = len(ops), 1
    assert lib.systrap_reply_wait(proc.state_ptr(0), 1, 0, ffi.NULL) == layout.POSTED
    assert msg.op_error == 0


def _host_threads(pid, n):
    deadline = time.monotonic() + WAIT
    while len(os.listdir("/proc/%d/task" % pid)) != n and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(os.listdir("/proc/%d/task" % pid))


def test_a_host_thread_the_sentry_does_not_count_stops_reuse_and_adoption(proc):
    """A program thread can make a host thread the sentry never hears of
    (it jumps to the stub's clone with its own arguments). Made here as a
    clone whose slot the sentry then forgets: neither an execve nor the
    next program may take such a process, whose stray thread could write
    the new program's memory."""
    assert (proc.claim_slot(), proc.claim_slot()) == (0, 1)
    assert proc.one_program_thread()              # slot 0's thread and the mapper
    _run_thread_ops(proc)
    assert _host_threads(proc.pid, 3) == 3
    proc.free_slot(1)
    proc.threaded = False                         # as if the sentry never made it
    assert proc.threads() == 1 and not proc.one_program_thread()
    new = proc.machine.new_address_space()
    try:
        assert not new.pt.adopt(proc.mappings)
        assert new.pt.process is None
    finally:
        new.destroy()
    assert proc.keep_thread(0, 0)
    proc.free_slot(0)
    assert proc.kept and not proc.recyclable()


def test_a_kept_process_is_taken_without_a_second_listing_but_not_once_dead(proc):
    """IdleProcesses: put checks that the process can run another program
    (its threads listed by the host); take only that it is still alive,
    since nothing else about an idle process can change meanwhile."""
    idle = proc.machine.idle
    listings = []
    real = proc.one_program_thread
    proc.one_program_thread = lambda: listings.append(1) or real()
    assert proc.claim_slot() == 0
    assert proc.keep_thread(0, 0)
    proc.free_slot(0)
    idle.put(proc)
    assert idle.take() is proc and len(listings) == 1
    idle.put(proc)
    os.kill(proc.pid, 9)                       # dies while kept: the watcher notices
    deadline = time.monotonic() + WAIT
    while proc.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert idle.take() is None and not proc.kept


def test_an_ended_process_has_no_program_thread(proc):
    """The count is the host's, read through the process's task directory
    held open: once the process has ended it says so (not a thread count
    of whatever took its pid next, nor an error)."""
    assert proc.one_program_thread()              # (the directory is held from here)
    proc.machine.unwatch(proc)                    # (the sentry does not hear of the end)
    os.kill(proc.pid, 9)
    deadline = time.monotonic() + WAIT
    while os.path.exists("/proc/%d" % proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists("/proc/%d" % proc.pid)
    assert proc.alive and not proc.one_program_thread()
