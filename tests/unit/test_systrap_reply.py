"""SystrapContext.resume's one C call: the result lands in the frame's rax
as Linux puts it there (a negative errno as its two's complement, a value
at or above 2^63 as is, None leaves rax alone) and the deferred wakes are
made. The thread's slot says DEAD, so the call returns at once and the
context reports the death (no child process is needed)."""
import os
import select

import pytest

from kvmsentry._systrap import ffi
from kvmsentry.kernel.waiter import Waiter
from kvmsentry.platform.events import Fault
from kvmsentry.platform.systrap import layout
from kvmsentry.platform.systrap.context import SystrapContext

MASK64 = (1 << 64) - 1
OLD_RAX = 0x1234


class _Mappings:
    dirty, dirty_huge, wipe = {}, {}, False


class _Process:
    thread_ops = []
    mappings = _Mappings()
    alive = False                  # (the slot says DEAD: the process is gone)


class _Machine:
    spin_cycles = 0


def _stopped_context():
    """A context bound to a frame whose thread has died: resume's C call
    writes rax, makes the wakes and returns DEAD without waiting."""
    ctx = SystrapContext.__new__(SystrapContext)
    ctx.machine, ctx.kicked, ctx.born = _Machine(), False, True
    ctx.process = _Process()
    ctx._own = ffi.new("struct systrap_regs *")
    frame = ffi.new("struct systrap_regs *")
    frame.rax = OLD_RAX
    ctx.regs = frame[0]
    ctx._msg_keep = ffi.new("struct systrap_msg *")
    ctx._msg_keep.state = layout.DEAD
    ctx._state = ffi.cast("uint32_t *", ctx._msg_keep)
    ctx._frame_uctx = ctx._entry_uctx = 0x1000
    ctx._view = ffi.new("struct systrap_view *")
    ctx._view.state, ctx._view.regs, ctx._view.uctx = ctx._state, frame, 0x1000
    ctx._frame_keep = frame
    return ctx, frame


@pytest.mark.parametrize("value, rax", [
    (0, 0),
    (-38, (1 << 64) - 38),                   # -ENOSYS
    (0x7FFF_FFFF_F000, 0x7FFF_FFFF_F000),    # an mmap address
    ((1 << 63) + 5, (1 << 63) + 5),          # at or above 2^63: the Python way
    (None, OLD_RAX),                         # execve, rt_sigreturn: left alone
])
def test_resume_writes_rax_as_linux_does(value, rax):
    ctx, frame = _stopped_context()
    event = ctx.resume(value, None)
    assert isinstance(event, Fault) and event.fatal
    assert frame.rax == rax


@pytest.mark.parametrize("value", [0, (1 << 63) + 5, None])
def test_resume_makes_the_deferred_wakes(value):
    ctx, frame = _stopped_context()
    waiters = [Waiter(), Waiter()]
    ctx.resume(value, waiters)
    for w in waiters:
        ready, _, _ = select.select([w.fd], [], [], 0)
        assert ready == [w.fd]
        assert os.eventfd_read(w.fd) == 1
