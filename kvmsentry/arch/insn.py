"""The few x86 instruction facts the platform needs at an exit, decoded
with capstone (arch/disasm.py): which I/O instruction ended at rip, and
which #UDs are really #GPs that a KVM reported wrongly (kvm_pvm raises
#UD for `int N` and for far jmp/call through a system descriptor, where
the CPU raises #GP and Linux sends SIGSEGV)."""
from kvmsentry.arch.disasm import first as _first

_IO_MNEMONICS = {"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"}


def io_start(code_before, end):
    """Address of the I/O instruction that ends at `end`, given the bytes
    just before it (at most 15); None if none decodes there. The shortest
    match wins: a longer one would need the bytes before it as prefixes."""
    for length in range(1, len(code_before) + 1):
        insn = _first(code_before[-length:], end - length)
        if insn is not None and insn.size == length and \
                insn.mnemonic.split()[-1] in _IO_MNEMONICS:
            return end - length
    return None


def is_io(code):
    """True if `code` starts with an in/out/ins/outs instruction."""
    insn = _first(code, 0)
    return insn is not None and insn.mnemonic.split()[-1] in _IO_MNEMONICS


def ud_is_gp(code):
    """True if the instruction at the start of `code` cannot raise #UD on
    a real CPU in 64-bit mode, only #GP: `int N` and far jmp/call through
    memory (opcode FF /3 or /5)."""
    insn = _first(code, 0)
    if insn is None:
        return False
    if insn.mnemonic == "int":
        return True
    raw = insn.bytes
    i = 0
    while i < len(raw) and (raw[i] in _PREFIXES or 0x40 <= raw[i] <= 0x4F):
        i += 1
    return i + 1 < len(raw) and raw[i] == 0xFF and (raw[i + 1] >> 3) & 7 in (3, 5)


_PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3}
