"""The code right before a `syscall` that syscall-site patching
(patching.py) moves into the site's trampoline: exact byte patterns,
because x86 code cannot be decoded backwards, so these are the sequences
whose first byte is known to start an instruction. Each knows its
instructions' lengths (a thread stopped between two of them while the
site changes, or a jump there, goes on at the same instruction in the
trampoline) and re-encodes what is relative to its address.
"""
import itertools
import struct


def _rel32(target, end):
    """The rel32 that reaches target from an instruction ending at end,
    or None if it is out of reach."""
    rel = target - end
    return struct.pack("<i", rel) if -(1 << 31) <= rel < (1 << 31) else None


class Idiom:
    """`pattern`: the moved bytes, as parts: bytes (literal) and ints
    (that many bytes of any value); `context`: bytes that must come
    before them; `lengths`: their instructions; `nr`: the call's number
    they load (None: any, as syscall(2))."""

    def __init__(self, name, pattern, lengths, nr=None, context=b""):
        self.name = name
        self.pattern = pattern
        self.size = sum(p if isinstance(p, int) else len(p) for p in pattern)
        self.context = context
        self.lengths = lengths
        self.nr = nr

    def is_moved(self, moved):
        """Whether `moved` is this idiom's moved bytes."""
        if len(moved) != self.size:
            return False
        at = 0
        for p in self.pattern:
            if not isinstance(p, int) and moved[at:at + len(p)] != p:
                return False
            at += p if isinstance(p, int) else len(p)
        return True

    def match(self, before, nr):
        """How many bytes at the end of `before` move, or 0."""
        if self.nr is not None and nr != self.nr:
            return 0
        n, c = self.size, len(self.context)
        if len(before) < n + c or before[len(before) - n - c:len(before) - n] != self.context:
            return 0
        return n if self.is_moved(before[len(before) - n:]) else 0

    def starts(self):
        """Where each moved instruction after the first begins."""
        return list(itertools.accumulate(self.lengths[:-1]))

    def relocate(self, moved, start, tramp):
        """(the moved code (from start) as it runs at tramp, where each of
        starts() begins in it). Each instruction's code there may be run
        again from its start (a thread stopped in it is resumed so)."""
        return moved, self.starts()


class MovNr(Idiom):
    """`mov $nr,%eax`: libc's wrappers, the common one (its imm32 is
    checked against the call's number)."""

    def __init__(self):
        super().__init__("mov $nr,%eax", (b"\xb8", 4), (5,))

    def match(self, before, nr):
        return 5 if before[-5:-4] == b"\xb8" and before[-4:] == struct.pack("<I", nr) else 0


class GlibcRead(Idiom):
    """glibc's read (2.36, static and shared): `cmpb $0,__libc_single_threaded(%rip);
    je <cancellable path>; xor %eax,%eax`. The number's own load is 2
    bytes, so the compare and the branch move too, re-encoded for the
    trampoline's address (rip-relative disp32, je rel8 -> rel32, or
    absolute addresses where those cannot reach)."""

    def __init__(self):
        super().__init__("glibc read", (b"\x80\x3d", 4, b"\x00\x74", 1, b"\x31\xc0"), (7, 2, 2),
                         nr=0)

    def relocate(self, moved, start, tramp):
        flag = start + 7 + struct.unpack("<i", moved[2:6])[0]
        branch = start + 9 + struct.unpack("<b", moved[8:9])[0]
        disp, rel = _rel32(flag, tramp + 7), _rel32(branch, tramp + 13)
        if disp is not None and rel is not None:        # (a static program's)
            return (b"\x80\x3d" + disp + b"\x00"       # cmpb $0,flag(%rip)
                    + b"\x0f\x84" + rel                 # je branch
                    + b"\x31\xc0"), [7, 13]             # xor %eax,%eax
        # Out of rel32's reach (a shared libc, far above the table): through
        # %r11, dead at read's entry (a scratch register, no argument), on
        # both paths, and clobbered by the syscall anyway.
        return (b"\x49\xbb" + struct.pack("<Q", flag)      # movabs $flag,%r11
                + b"\x41\x80\x3b\x00"                     # cmpb $0,(%r11)
                + b"\x75\x0d"                               # jne 1f
                + b"\x49\xbb" + struct.pack("<Q", branch)  # movabs $branch,%r11
                + b"\x41\xff\xe3"                          # jmp *%r11
                + b"\x31\xc0"), [14, 29]                    # 1: xor %eax,%eax


IDIOMS = (
    MovNr(),
    # glibc's syscall(2): mov %r9,%r8; | mov 8(%rsp),%r9
    Idiom("glibc syscall(2)", (b"\x4c\x8b\x4c\x24\x08",), (5,), context=b"\x4d\x89\xc8"),
    # musl's syscall(2): movl $8,(%rsp); | mov 16(%rdx),%rsi; mov 24(%rdx),%rdx
    Idiom("musl syscall(2)", (b"\x48\x8b\x72\x10\x48\x8b\x52\x18",), (4, 4),
          context=b"\xc7\x04\x24\x08\x00\x00\x00"),
    # musl's __syscall_cp_c (read, write, ... without threads):
    # mov %rdx,%rsi; | mov 8(%rsp),%r9; mov %rcx,%rdx
    Idiom("musl cancellable", (b"\x4c\x8b\x4c\x24\x08\x48\x89\xca",), (5, 3),
          context=b"\x48\x89\xd6"),
    # musl's __syscall_cp_asm (cancellable calls of a program that links
    # pthread_cancel): mov 16(%rsp),%r9; | mov %r11,8(%rsp)
    Idiom("musl cancellable, threads", (b"\x4c\x89\x5c\x24\x08",), (5,),
          context=b"\x4c\x8b\x4c\x24\x10"),
    GlibcRead(),
    # glibc's read with threads (its cancellable path): mov %eax,%r8d;
    # mov 8(%rsp),%edi; xor %eax,%eax
    Idiom("glibc read, cancellable", (b"\x41\x89\xc0\x8b\x7c\x24\x08\x31\xc0",), (3, 4, 2),
          nr=0),
)
LONGEST = 24                         # (bytes read before a syscall, itself included)


def find(before, nr):
    """(the idiom, how many bytes move) for the code before a syscall, or
    (None, 0)."""
    for idiom in IDIOMS:
        n = idiom.match(before, nr)
        if n:
            return idiom, n
    return None, 0


def of(moved):
    """The idiom of bytes once moved."""
    for idiom in IDIOMS:
        if idiom.is_moved(moved):
            return idiom
    return None
