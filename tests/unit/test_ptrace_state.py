"""ptrace's pure pieces without a guest: a debugger's view of memory
(forced writes to read-only pages, patched syscall sites shown as the
program's `syscall`) and the register layouts (user_regs_struct, struct
user offsets, the XSAVE header checks)."""
import errno
import struct

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import ptrace_mem
from kvmsentry.kernel import ptrace_regs as pr
from kvmsentry.kernel.ptrace import Tracee
from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.mm.pool import PhysPool
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE

P = 4096
PATCHED = b"\xe6\x4c"          # what the platform writes over a `syscall`


@pytest.fixture
def mm():
    pool = PhysPool(64 << 20)
    space = AddressSpace(pool, None)
    yield space
    space.destroy()
    pool.close()


def test_forced_write_to_read_only_code(mm):
    mm.map_anonymous(0x10000, P, PROT_READ | PROT_EXEC)
    ptrace_mem.write(mm, 0x10000 + 10, b"\xcc")
    assert mm.copy_in(0x10000 + 8, 4) == b"\0\0\xcc\0"
    with pytest.raises(SyscallError) as e:
        mm.copy_out(0x10000, b"x")                      # still read-only for the program
    assert e.value.errno == errno.EFAULT
    with pytest.raises(SyscallError) as e:
        ptrace_mem.write(mm, 0x30000, b"x")              # unmapped
    assert e.value.errno == errno.EFAULT


def test_write_across_pages_of_different_protection(mm):
    mm.map_anonymous(0x10000, P, PROT_READ | PROT_EXEC)
    mm.map_anonymous(0x11000, P, PROT_READ | PROT_WRITE)
    ptrace_mem.write(mm, 0x11000 - 4, b"abcdefgh")
    assert ptrace_mem.read(mm, 0x11000 - 4, 8) == b"abcdefgh"


def test_patched_sites_read_as_syscall(mm):
    mm.map_anonymous(0x10000, P, PROT_READ | PROT_EXEC)
    mm.write_code(0x10000 + 100, b"\x90" + PATCHED + b"\x90")
    mm.patched_sites.add(0x10000 + 101)
    assert ptrace_mem.read(mm, 0x10000 + 100, 4) == b"\x90\x0f\x05\x90"
    assert ptrace_mem.read(mm, 0x10000 + 102, 2) == b"\x05\x90"    # starts mid-site


def test_breakpoint_over_a_patched_site_and_back(mm):
    site = 0x10000 + 200
    mm.map_anonymous(0x10000, P, PROT_READ | PROT_EXEC)
    mm.write_code(site, PATCHED)
    mm.patched_sites.add(site)
    original = ptrace_mem.read(mm, site, 8)
    ptrace_mem.write(mm, site, b"\x0f\x05")        # the program's bytes: stays patched
    assert site in mm.patched_sites and mm.read_code(site, 2) == PATCHED
    ptrace_mem.write(mm, site, b"\xcc")            # a breakpoint: the site is gone
    assert site not in mm.patched_sites
    assert mm.read_code(site, 2) == b"\xcc\x4c"
    ptrace_mem.write(mm, site, original)           # a debugger restores what it read
    assert mm.read_code(site, 2) == b"\x0f\x05"


def _tracee():
    tr = Tracee(tracer=None, seized=False, options=0)
    names = [n for n in pr.USER_REGS if n not in pr.SELECTORS and not n.endswith("_base")]
    tr.regs = {n: 0x1000 + i for i, n in enumerate(names)}
    tr.regs["rflags"] = 0x246
    tr.fpu = bytes(4096)
    return tr


def test_user_regs_struct_layout_and_selectors():
    tr = _tracee()
    tr.fs_base = 0x7000
    raw = pr.pack_regs(tr)
    assert len(raw) == 27 * 8
    words = struct.unpack("<27Q", raw)
    assert words[pr.USER_REGS.index("rip")] == tr.regs["rip"]
    assert words[pr.USER_REGS.index("cs")] == 0x33
    assert words[pr.USER_REGS.index("fs_base")] == 0x7000
    assert pr.peek_user(tr, 16 * 8) == tr.regs["rip"]            # offsetof(rip)


def test_setregs_masks_flags_and_checks_bases():
    tr = _tracee()
    words = list(struct.unpack("<27Q", pr.pack_regs(tr)))
    words[pr.USER_REGS.index("rflags")] = 0xFFFFFFFF          # IOPL, VM, IF... are not the tracer's
    words[pr.USER_REGS.index("rax")] = 42
    pr.unpack_regs(tr, struct.pack("<27Q", *words))
    assert tr.regs["rax"] == 42 and tr.regs_dirty
    assert tr.regs["rflags"] & 0x3000 == 0 and tr.regs["rflags"] & 0x20000 == 0
    words[pr.USER_REGS.index("gs_base")] = 1 << 63
    with pytest.raises(SyscallError) as e:
        pr.unpack_regs(tr, struct.pack("<27Q", *words))
    assert e.value.errno == errno.EIO


def test_struct_user_offsets():
    tr = _tracee()
    pr.poke_user(tr, pr.DEBUGREG_OFFSET + 7 * 8, 0x401)
    assert pr.peek_user(tr, pr.DEBUGREG_OFFSET + 7 * 8) == 0x401
    assert pr.peek_user(tr, 304) == 0                 # the FP area's words read as 0
    for bad in (3, pr.USER_SIZE, -8):
        with pytest.raises(SyscallError) as e:
            pr.peek_user(tr, bad)
        assert e.value.errno == errno.EIO


def test_xstate_header_is_validated():
    tr = _tracee()
    image = bytearray(pr.xstate(tr, 1024, 0x7))
    assert struct.unpack_from("<Q", image, pr.XSTATE_XCR0_OFFSET)[0] == 0x7
    struct.pack_into("<Q", image, 512, 0x3)
    pr.set_xstate(tr, bytes(image), 1024, 0x7)
    assert tr.fpu_dirty
    for offset, value in ((512, 0x80), (520, 1 << 63), (540, 1)):
        bad = bytearray(image)
        struct.pack_into("<Q", bad, offset, value)
        with pytest.raises(SyscallError) as e:
            pr.set_xstate(tr, bytes(bad), 1024, 0x7)
        assert e.value.errno == errno.EINVAL


class _Queue:
    def notify(self, mask):
        pass


class _NoScan(dict):
    """kernel.tasks that fails the test if a wait scans it."""

    def values(self):
        raise AssertionError("scanned every task")


class _Task:
    def __init__(self, kernel, tid):
        self.kernel, self.tid, self.ptrace = kernel, tid, None

    def kick(self):
        pass


def test_tracer_groups_keep_their_tracees():
    from types import SimpleNamespace
    from kvmsentry.kernel import ptrace
    from kvmsentry.kernel.process_tree import ProcessTree
    tree = ProcessTree(pid_max=64, reserved=2)
    tracer_group = tree.create_init()
    other_group = tree.fork(tracer_group)
    kernel = SimpleNamespace(child_queue=_Queue(), tasks={}, traced_exits=[])
    tracee = _Task(kernel, 5)
    kernel.tasks[5] = tracee
    ptrace.link(tracee, tracer_group, False, 0)
    assert tracer_group.tracees == {tracee: None}
    assert ptrace.tracees_of(kernel, tracer_group) == [tracee]
    kernel.tasks = _NoScan(kernel.tasks)
    assert ptrace.tracees_of(kernel, other_group) == []
    ptrace.unlink(tracee)
    assert tracee.ptrace is None and tracer_group.tracees == {}
    assert ptrace.tracees_of(kernel, tracer_group) == []
