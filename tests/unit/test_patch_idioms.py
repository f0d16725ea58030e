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

from kvmsentry.platform.systrap import idioms, layout, patching

# Each idiom's moved bytes, as libc has them (wildcards filled in).
SAMPLES = {
    "mov $nr,%eax": (bytes.fromhex("b827000000"), 39),
    "glibc syscall(2)": (bytes.fromhex("4c8b4c2408"), 20),
    "musl syscall(2)": (bytes.fromhex("488b7210488b5218"), 20),
    "musl cancellable": (bytes.fromhex("4c8b4c240848 89ca".replace(" ", "")), 0),
    "glibc read": (bytes.fromhex("803de1e70700007417 31c0".replace(" ", "")), 0),
    "glibc read, cancellable": (bytes.fromhex("4189c08b7c240831c0"), 0),
}
CONTEXT = {"glibc syscall(2)": bytes.fromhex("4d89c8"),
           "musl syscall(2)": bytes.fromhex("c7042408000000"),
           "musl cancellable": bytes.fromhex("4889d6")}
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


def test_glibc_read_relocated_reaches_the_same_addresses():
    moved, _ = SAMPLES["glibc read"]
    idiom = idioms.of(moved)
    tramp = patching.tramp_va(12)
    code = idiom.relocate(moved, START, tramp)
    orig = _decode(moved, START)
    new = _decode(code, tramp)
    assert [m for _, _, m, _ in new] == ["cmp", "je", "xor"]
    flag = START + 7 + struct.unpack("<i", moved[2:6])[0]
    assert _rip_target(orig[0]) == _rip_target(new[0]) == flag
    assert orig[1][3] == new[1][3] == hex(START + 9 + moved[8])
    assert [(b, t) for b, t in idiom.boundaries()] == [
        (orig[1][0] - START, new[1][0] - tramp), (orig[2][0] - START, new[2][0] - tramp)]
    # Out of a rel32's reach: not patched.
    assert idiom.relocate(moved, 0x7F00_0000_0000, tramp) is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cells_leave_invalid_bytes_where_instructions_began(name):
    moved, nr = SAMPLES[name]
    idiom = idioms.of(moved)
    length = len(moved) + 2
    patches = patching.SitePatches()
    cell = patches.free_cell(lambda c: patching.cell_fits(c, idiom, length))
    assert cell is not None
    jump = patching.jump(cell, length)
    for at in [b for b, _ in idiom.boundaries()] + [length - 2]:
        assert jump[at] in patching.INVALID
        assert _decode(jump[at:], START + at)[:1] == [], (name, at, jump[at:].hex())

    site = START + len(moved)
    patches.sites[site] = (START, moved + patching.SYSCALL, cell)
    patches.starts[START] = site
    patches.cells[cell] = site
    tramp = patching.tramp_va(cell)
    assert patches.origin(tramp) == START
    for b, t in idiom.boundaries():
        assert patches.resume_at(START + b) == tramp + t
        assert patches.origin(tramp + t) == START + b
    assert patches.origin(tramp + 60) is None
    assert patches.resume_at(site + 1) is None
