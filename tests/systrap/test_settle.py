"""A forked child's systrap context is settled by its parent's clone
(SystrapContext.settle): its host mappings are made then, on the parent's
thread, so the child's first resume has none to make (its mapper's round
trip under the kernel lock met the parent's next syscall there); a
mapping the host refused is the child's first event all the same. A
child whose thread is stopped already is born then too: its registers
are in its frame, and its first switch runs them."""
import signal
import time

import pytest

from kvmsentry.mm.pagetable import leaf_flags
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


def _host_mapped(pid, va):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= va < hi:
                return True
    return False


def _child_context(machine):
    """A context of a new address space with one page of its own, code
    that makes a syscall, as a fork's child is before its task starts."""
    mm = machine.new_address_space()
    frame = machine.pool.alloc()
    machine.pool.view[frame:frame + 2] = SYSCALL_INSN
    mm.pt.map(VA, frame, leaf_flags(True, False, True))
    ctx = machine.new_context()
    ctx.set_address_space(mm)
    regs = dict.fromkeys(("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9",
                          "r10", "r11", "r12", "r13", "r14", "r15"), 0)
    regs.update(rip=VA, rsp=VA + 4096, rflags=0x202, rax=NR_GETPID, rdi=0x1234)
    ctx.set_user_regs(regs)
    return mm, ctx


def test_settle_makes_the_childs_host_mappings_before_it_runs(machine):
    mm, ctx = _child_context(machine)
    try:
        proc = ctx.process
        assert mm.pt.has_dirty() and not _host_mapped(proc.pid, VA)
        with machine.kernel_lock:
            ctx.settle()
        assert not mm.pt.has_dirty()
        assert _host_mapped(proc.pid, VA)
        assert not proc.has_ops()               # the child's first resume has none
    finally:
        ctx.close()
        mm.destroy()


def test_a_mapping_refused_at_settle_is_the_childs_first_event(machine):
    mm, ctx = _child_context(machine)
    try:
        proc = ctx.process
        calls = []
        proc.map_now = lambda ops: calls.append(ops) or ENOMEM
        with machine.kernel_lock:
            ctx.settle()
        assert calls
        event = ctx.switch()                    # (after the birth: the stub's first stop)
        assert event.signo == signal.SIGBUS and event.fatal
    finally:
        ctx.close()
        mm.destroy()


def test_a_child_whose_thread_is_stopped_is_born_at_settle(machine):
    mm, ctx = _child_context(machine)
    try:
        state = ctx.process.state_ptr(0)
        deadline = time.monotonic() + WAIT
        while state[0] & 0xFF != 1 and time.monotonic() < deadline:   # (POSTED: its birth)
            time.sleep(0.001)
        with machine.kernel_lock:
            ctx.settle()
        assert ctx.born
        assert (ctx.regs.rip, ctx.regs.rdi, ctx.regs.cs) == (VA, 0x1234, 0x33)
        event = ctx.switch()                    # runs the code at VA: its syscall
        assert event == SYSCALL
        assert (ctx.regs.rax, ctx.regs.rdi, ctx.regs.rip) == (NR_GETPID, 0x1234, VA + 2)
    finally:
        ctx.close()
        mm.destroy()
