"""A forked child's systrap context is settled by its parent's clone
(SystrapContext.settle): its host mappings are made then, on the parent's
thread, so the child's first resume has none to make (its mapper's round
trip under the kernel lock met the parent's next syscall there); a
mapping the host refused is the child's first event all the same. A
child whose thread is stopped already is born then too: its registers
are in its frame, and its first switch runs them.

Also the context's register moves as the struct's bytes, where the
generic paths built and set a dict of them: a new program's start (every
execve) gives what Context.start gives, and registers set before the
context has a process reach the thread's first frame."""
import signal
import time

import pytest

from kvmsentry.mm.pagetable import leaf_flags
from kvmsentry.platform.context import GPRS, Context
from kvmsentry.platform.events import SYSCALL
from kvmsentry.platform.systrap.machine import SystrapMachine

POOL = 64 << 20
VA = 0x5000_0000
ENOMEM = 12
WAIT = 30.0
SYSCALL_INSN = b"\x0f\x05"
NR_GETPID = 39


@pytest.fixture
def machine():
    machine = SystrapMachine(pool_bytes=POOL)
    yield machine
    machine.close()


@pytest.fixture
def child(machine):
    """(mm, ctx): an address space with one page of code that makes a
    syscall, and a fresh context (_entered gives it the address space and
    registers, as a fork's child has them before its task starts)."""
    mm = machine.new_address_space()
    frame = machine.pool.alloc()
    machine.pool.view[frame:frame + 2] = SYSCALL_INSN
    mm.pt.map(VA, frame, leaf_flags(True, False, True))
    ctx = machine.new_context()
    yield mm, ctx
    ctx.close()
    mm.destroy()


def _regs(**changes):
    regs = {n: 0x1111 * (k + 1) for k, n in enumerate(GPRS)}
    regs.update(rip=VA, rsp=VA + 4096, rflags=0x8D5, rax=NR_GETPID, rdi=0x1234)
    regs.update(changes)
    return regs


def _entered(child):
    mm, ctx = child
    ctx.set_address_space(mm)
    ctx.set_user_regs(_regs())
    return ctx


def _host_mapped(pid, va):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= va < hi:
                return True
    return False


def test_settle_makes_the_childs_host_mappings_before_it_runs(machine, child):
    ctx = _entered(child)
    proc = ctx.process
    assert child[0].pt.has_dirty() and not _host_mapped(proc.pid, VA)
    with machine.kernel_lock:
        ctx.settle()
    assert not child[0].pt.has_dirty()
    assert _host_mapped(proc.pid, VA)
    assert not proc.has_ops()               # the child's first resume has none


def test_a_mapping_refused_at_settle_is_the_childs_first_event(machine, child):
    ctx = _entered(child)
    calls = []
    ctx.process.map_now = lambda ops: calls.append(ops) or ENOMEM
    with machine.kernel_lock:
        ctx.settle()
    assert calls
    event = ctx.switch()                    # (after the birth: the stub's first stop)
    assert event.signo == signal.SIGBUS and event.fatal


def test_a_child_whose_thread_is_stopped_is_born_at_settle(machine, child):
    ctx = _entered(child)
    state = ctx.process.state_ptr(0)
    deadline = time.monotonic() + WAIT
    while state[0] & 0xFF != 1 and time.monotonic() < deadline:   # (POSTED: its birth)
        time.sleep(0.001)
    with machine.kernel_lock:
        ctx.settle()
    assert ctx.born
    assert (ctx.regs.rip, ctx.regs.rdi, ctx.regs.cs) == (VA, 0x1234, 0x33)
    assert ctx.switch() == SYSCALL          # runs the code at VA: its syscall
    assert (ctx.regs.rax, ctx.regs.rdi, ctx.regs.rip) == (NR_GETPID, 0x1234, VA + 2)


def test_start_gives_what_context_start_gives(machine):
    ours, generic = machine.new_context(), machine.new_context()
    for ctx in (ours, generic):
        ctx.set_user_regs(_regs(rip=0xDEAD000))
        ctx.set_fpu(b"\x5a" * 4096)
        ctx.set_fs_base(0x1234)
    ours.start(0x401000, 0x7FFF_FFFF_E000)
    Context.start(generic, 0x401000, 0x7FFF_FFFF_E000)
    assert ours.user_regs() == generic.user_regs()
    assert ours.user_regs()["rflags"] == 0x202 and ours.regs.cs == 0x33
    assert ours.get_fpu() == generic.get_fpu() and ours.fs_base == generic.fs_base == 0


def test_registers_set_before_a_process_reach_the_first_frame(child):
    mm, ctx = child
    regs = _regs()
    ctx.set_user_regs(regs)
    ctx.set_address_space(mm)
    assert ctx.switch() == SYSCALL
    got = ctx.user_regs()
    for name in GPRS:
        if name not in ("rcx", "r11"):                  # (the syscall's own)
            assert got[name] == regs[name], name
    assert got["rip"] == VA + 2
