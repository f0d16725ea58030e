"""SystrapContext moves registers as the struct's bytes where the generic
paths built and set a dict of them: a new program's start (every execve)
gives what Context.start gives, and registers set before the context has
a process reach the thread's first frame."""
import pytest

from kvmsentry.mm.pagetable import leaf_flags
from kvmsentry.platform.context import GPRS, Context
from kvmsentry.platform.events import SYSCALL
from kvmsentry.platform.systrap.machine import SystrapMachine

POOL = 64 << 20
VA = 0x5000_0000
NR_GETPID = 39


@pytest.fixture
def machine():
    machine = SystrapMachine(pool_bytes=POOL)
    yield machine
    machine.close()


def _garbage():
    regs = {n: 0x1111 * (k + 1) for k, n in enumerate(GPRS)}
    regs.update(rip=0xDEAD000, rsp=0xBEEF000, rflags=0x8D5)
    return regs


def test_start_gives_what_context_start_gives(machine):
    ours, generic = machine.new_context(), machine.new_context()
    for ctx in (ours, generic):
        ctx.set_user_regs(_garbage())
        ctx.set_fpu(b"\x5a" * 4096)
        ctx.set_fs_base(0x1234)
    ours.start(0x401000, 0x7FFF_FFFF_E000)
    Context.start(generic, 0x401000, 0x7FFF_FFFF_E000)
    assert ours.user_regs() == generic.user_regs()
    assert ours.user_regs()["rflags"] == 0x202 and ours.regs.cs == 0x33
    assert ours.get_fpu() == generic.get_fpu() and ours.fs_base == generic.fs_base == 0


def test_registers_set_before_a_process_reach_the_first_frame(machine):
    mm = machine.new_address_space()
    frame = machine.pool.alloc()
    machine.pool.view[frame:frame + 2] = b"\x0f\x05"           # syscall
    mm.pt.map(VA, frame, leaf_flags(True, False, True))
    ctx = machine.new_context()
    regs = _garbage()
    regs.update(rax=NR_GETPID, rip=VA, rsp=VA + 4096)
    ctx.set_user_regs(regs)
    try:
        ctx.set_address_space(mm)
        assert ctx.switch() == SYSCALL
        got = ctx.user_regs()
        for name in GPRS:
            if name not in ("rcx", "r11"):                      # (the syscall's own)
                assert got[name] == regs[name], name
        assert got["rip"] == VA + 2
    finally:
        ctx.close()
        mm.destroy()
