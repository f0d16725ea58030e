"""Syscall-site patching's idioms and cells (platform/systrap/idioms.py,
patching.py), checked with capstone: every idiom's instruction lengths
are what the bytes decode to, a relocated idiom's trampoline code
reaches the same addresses, a chosen cell leaves an invalid opcode at the
old `syscall` and at each moved instruction after the first, and a thread
at such an instruction is sent to the same one in the trampoline and
shown back at the program's."""
import struct

import pytest
from capstone import CS_ARCH_X86, CS_MODE_64, Cs

from kvmsentry.platform.systrap import idioms, patching

# Each idiom's moved bytes, as libc has them (wildcards filled in).
SAMPLES = {
    "mov $nr,%eax": (bytes.fromhex("b827000000"), 39),
    "glibc syscall(2)": (bytes.fromhex("4c8b4c2408"), 20),
    "musl syscall(2)": (bytes.fromhex("488b7210488b5218"), 20),
    "musl cancellable": (bytes.fromhex("4c8b4c240848 89ca".replace(" ", "")), 0),
    "musl cancellable, threads": (bytes.fromhex("4c895c2408"), 0),
    "glibc read": (bytes.fromhex("803de1e70700007417 31c0".replace(" ", "")), 0),
    "glibc read, cancellable": (bytes.fromhex("4189c08b7c240831c0"), 0),
}
CONTEXT = {"glibc syscall(2)": bytes.fromhex("4d89c8"),
           "musl syscall(2)": bytes.fromhex("c7042408000000"),
           "musl cancellable": bytes.fromhex("4889d6"),
           "musl cancellable, threads": bytes.fromhex("4c8b4c2410")}
START = 0x43D8B0
CS = Cs(CS_ARCH_X86, CS_MODE_64)


def _decode(code, at):
    return [(i.address, i.size, i.mnemonic, i.op_str) for i in CS.disasm(code, at)]


def _rip_target(insn):
    """The address a decoded `[rip +- disp]` operand names."""
    at, size, _, ops = insn
    sign, disp = ops.split("[rip ")[1].split("]")[0].split()
    return at + size + (int(disp, 16) if sign == "+" else -int(disp, 16))


def test_every_idiom_has_a_sample():
    assert sorted(SAMPLES) == sorted(i.name for i in idioms.IDIOMS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_idiom_found_and_decoded(name):
    moved, nr = SAMPLES[name]
    before = b"\x90" + CONTEXT.get(name, b"") + moved
    idiom, n = idioms.find(before, nr)
    assert idiom.name == name and n == len(moved)
    assert idioms.of(moved) is idiom
    assert [size for _, size, _, _ in _decode(moved + patching.SYSCALL, START)] == \
        list(idiom.lengths) + [2]
    if idiom.nr is not None:
        assert idioms.find(before, idiom.nr + 1) == (None, 0)


@pytest.mark.parametrize("start", [START, 0x7F12_3456_7000])   # static; a shared libc
def test_glibc_read_relocated_reaches_the_same_addresses(start):
    moved, _ = SAMPLES["glibc read"]
    idiom = idioms.of(moved)
    tramp = patching.tramp_va(12)
    code, offsets = idiom.relocate(moved, start, tramp)
    assert patching.trampoline(code, 0)[:len(code)] == code     # (it fits)
    orig = _decode(moved, start)
    new = _decode(code, tramp)
    assert sum(size for _, size, _, _ in new) == len(code)
    flag = start + 7 + struct.unpack("<i", moved[2:6])[0]
    branch = int(orig[1][3], 16)
    assert _rip_target(orig[0]) == flag and branch == start + 9 + moved[8]
    if start == START:
        assert [m for _, _, m, _ in new] == ["cmp", "je", "xor"]
        assert _rip_target(new[0]) == flag and int(new[1][3], 16) == branch
    else:
        assert [(m, o) for _, _, m, o in new] == [
            ("movabs", "r11, %s" % hex(flag)), ("cmp", "byte ptr [r11], 0"),
            ("jne", hex(tramp + 29)), ("movabs", "r11, %s" % hex(branch)), ("jmp", "r11"),
            ("xor", "eax, eax")]
    starts = [at - tramp for at, _, _, _ in new]
    assert offsets == [starts[1], starts[-1]] if start == START else [starts[2], starts[-1]]
    assert idiom.starts() == [orig[1][0] - start, orig[2][0] - start]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cells_leave_invalid_bytes_where_instructions_began(name):
    moved, nr = SAMPLES[name]
    idiom = idioms.of(moved)
    length = len(moved) + 2
    patches = patching.SitePatches()
    cell = patches.free_cell(lambda c: patching.cell_fits(c, idiom, length))
    assert cell is not None
    jump = patching.jump(cell, length)
    for at in idiom.starts() + [length - 2]:
        assert jump[at] in patching.INVALID
        assert _decode(jump[at:], START + at)[:1] == [], (name, at, jump[at:].hex())

    site = START + len(moved)
    patches.sites[site] = (START, moved + patching.SYSCALL, cell)
    patches.starts[START] = site
    patches.cells[cell] = site
    tramp = patching.tramp_va(cell)
    assert patches.origin(tramp) == START
    code, offsets = idiom.relocate(moved, START, tramp)
    for b, t in zip(idiom.starts(), offsets):
        assert patches.resume_at(START + b) == tramp + t
        assert patches.origin(tramp + t) == START + b
    assert patches.origin(tramp + len(code)) is None
    assert patches.resume_at(site + 1) is None


class _Ctl:
    """A child's control memory, recording which table bytes are written."""

    def __init__(self):
        self.writes = []

    def __setitem__(self, where, data):
        self.writes.append(where.start)


def test_a_reused_process_keeps_the_cells_it_holds():
    """A fork's child in a kept process gets only the table cells that
    differ from those its last address space left there (the same
    parent's sites, most often: none)."""
    from types import SimpleNamespace
    moved, _ = SAMPLES[sorted(SAMPLES)[0]]
    patches = patching.SitePatches()
    for k in range(3):
        start = START + 0x1000 * k
        cell = patches.free_cell(lambda c: patching.cell_fits(c, idioms.of(moved),
                                                              len(moved) + 2))
        site = start + len(moved)
        patches.sites[site] = (start, moved + patching.SYSCALL, cell)
        patches.cells[cell] = site
    proc = SimpleNamespace(ctl=_Ctl(), table_owner=None, table_cells={})
    patching.sync_table(proc, patches)
    assert len(proc.ctl.writes) == 3 * 2                 # trampoline and cell each
    patching.sync_table(proc, patches.copy())            # the next fork's child
    assert len(proc.ctl.writes) == 3 * 2
    other = patches.copy()
    site, (start, orig, cell) = next(iter(other.sites.items()))
    del other.sites[site]
    other.sites[site + 0x100] = (start + 0x100, orig, cell)
    patching.sync_table(proc, other)
    assert len(proc.ctl.writes) == 4 * 2
