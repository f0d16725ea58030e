"""arch/insn.py: the instruction facts the platform decides exits with."""
import pytest

from kvmsentry.arch import insn

END = 0x401000


@pytest.mark.parametrize("before, start", [
    ("9090e64a", END - 2),        # out $0x4a, %al
    ("9090e74a", END - 2),        # out %eax, $0x4a
    ("9090e44a", END - 2),        # in $0x4a, %al
    ("909090ee", END - 1),        # out %al, (%dx)
    ("909090ec", END - 1),        # in (%dx), %al
    ("9090906e", END - 1),        # outsb
    ("9090906c", END - 1),        # insb
    ("90909090", None),           # no I/O instruction ends here
])
def test_io_start(before, start):
    assert insn.io_start(bytes.fromhex(before), END) == start


@pytest.mark.parametrize("code, is_io", [
    ("e44a", True), ("ec", True), ("6c", True), ("e64a", True), ("ee", True),
    ("0f05", False), ("90", False), ("", False),
])
def test_is_io(code, is_io):
    assert insn.is_io(bytes.fromhex(code)) is is_io


@pytest.mark.parametrize("code, gp", [
    ("cd80", True),               # int $0x80: the gate is ring 0 only
    ("cd0e", True),
    ("ff6c240a", True),           # ljmp *0xa(%rsp) (FF /5)
    ("ff5c240a", True),           # lcall *0xa(%rsp) (FF /3)
    ("48ff6c240a", True),         # ljmp with REX.W
    ("ff642408", False),          # near jmp *8(%rsp) (FF /4)
    ("ffd0", False),              # call *%rax
    ("0f0b", False),              # ud2 is a real #UD
    ("cc", False),                # int3 is #BP
    ("ce", False),                # into: #UD in 64-bit mode
])
def test_ud_is_gp(code, gp):
    assert insn.ud_is_gp(bytes.fromhex(code)) is gp


@pytest.mark.parametrize("code", [
    "cd80", "ff6c240a", "48ff6c240a", "0f0b", "f4", "e64a", "0f05", "c3",
    "488b0425281000000000", "c4e27d58c0", "62f1fd48100424", "f3480fb8c0",
    "66f30fb8c0", "0f", "ffff", "",
])
def test_disasm_agrees_with_capstone_package(code):
    """arch/disasm.py's ctypes binding decodes as the capstone package does."""
    from capstone import CS_ARCH_X86, CS_MODE_64, Cs
    from kvmsentry.arch import disasm
    raw = bytes.fromhex(code)
    theirs = next(Cs(CS_ARCH_X86, CS_MODE_64).disasm(raw, 0x401000, 1), None)
    ours = disasm.first(raw, 0x401000)
    if theirs is None:
        assert ours is None
        return
    assert (ours.address, ours.size, ours.bytes, ours.mnemonic, ours.op_str) == \
        (theirs.address, theirs.size, bytes(theirs.bytes), theirs.mnemonic, theirs.op_str)
    assert str(ours) == ("%s %s" % (theirs.mnemonic, theirs.op_str)).strip()
