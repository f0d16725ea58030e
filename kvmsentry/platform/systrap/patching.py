"""Syscall-site patching on systrap: a `syscall` that trapped (SIGSYS)
is rewritten, with the instruction(s) before it, into a jump that reaches
the stub without a signal.

The bytes [start, site + 2) (`site`: the syscall; [start, site) a short
known idiom, most often libc's `mov $nr,%eax`) become `jmp *CELL` (ff 24
25 disp32), CELL a pointer in the child's table (layout.TABLE_VA) to the
site's trampoline: the moved instructions, then stores of the program's
rsp and return address (site + 2) in the thread's slot through %gs, and
a jump to the stub's syscall_entry (systrap_stub/stub.c), which takes
the number from rax as the syscall would. No stack is touched (the
program's red zone). Where the old `syscall` was, the bytes are 06 (the
cell address puts it at byte 5; longer idioms are padded with it), which
is invalid in 64-bit mode: a jump there (a restarted call: rip - 2) is a
SIGILL there, which the context takes as the syscall. While other threads
may run the code, the bytes change behind an int3 at start (written
first, replaced last); a thread that meets it is sent back to start.

Patching stops for an address space (SitePatches.off) when its program
sets its own gs base (arch_prctl) or maps over the table: every patched
site gets its original bytes back first. A site single-stepped into
(TF, ptrace) gets its bytes back too, and the step is taken again from
its start; ptrace reads the sites' own bytes, and a write over a site
(a breakpoint) gives it its bytes back first.

What differs from Linux: the program's code reads back patched (as on
the kvm platform), a thread's gs base (which only rdgsbase shows: the
sentry still answers arch_prctl with the program's own) is its slot, and
a program that sets its gs base with wrgsbase, unknown to the sentry,
must run with --no-patch-syscalls.
"""
import re
import struct

from kvmsentry._systrap import ffi
from kvmsentry.platform.systrap import layout

INT3 = b"\xcc"
BAD = b"\x06"                       # invalid in 64-bit mode (see jump())
SYSCALL = b"\x0f\x05"
JUMP_LEN = 7
PROT_WRITE = 2
PAGE_SIZE = 4096
NR_RESTART_SYSCALL = 219

_ENTRY = ffi.offsetof("struct systrap_msg", "entry")
_ENTRY_RSP = ffi.offsetof("struct systrap_msg", "entry_rsp")
_ENTRY_RIP = ffi.offsetof("struct systrap_msg", "entry_rip")

# The code right before a `syscall` that is moved into the trampoline:
# (bytes that must precede it, the bytes moved). Exact byte strings,
# because x86 code cannot be decoded backwards: these are the idioms whose
# first byte is known to start an instruction. `mov $nr,%eax` (its imm32
# checked against the call's number) is the common one: libc's wrappers.
# The others are syscall(2) of Debian's glibc and musl, and musl's
# cancellable calls in a program without threads.
IDIOMS = (
    (b"\x4d\x89\xc8", b"\x4c\x8b\x4c\x24\x08"),   # glibc: mov %r9,%r8; | mov 8(%rsp),%r9
    (b"\xc7\x04\x24\x08\x00\x00\x00",                   # musl: movl $8,(%rsp); |
     b"\x48\x8b\x72\x10\x48\x8b\x52\x18"),          # mov 16(%rdx),%rsi; mov 24(%rdx),%rdx
    (b"\x48\x89\xd6",                                   # musl's __syscall_cp_c (read, write,
     b"\x4c\x8b\x4c\x24\x08\x48\x89\xca"),          # ... without threads): mov %rdx,%rsi; |
)                                                       # mov 8(%rsp),%r9; mov %rcx,%rdx
# glibc's read (2.36, static and shared): `cmpb $0,__libc_single_threaded(%rip);
# je <cancellable path>; xor %eax,%eax; syscall`. The number's own load is 2
# bytes, so the cmp and the branch move too; both are relative (wildcards
# here), and the trampoline re-encodes them for its own address.
GLIBC_READ = re.compile(rb"\x80\x3d(....)\x00\x74(.)\x31\xc0\Z", re.DOTALL)
# ... and its cancellable path (a program with threads): `mov %eax,%r8d;
# mov 8(%rsp),%edi; xor %eax,%eax; syscall`, nothing relative in it.
GLIBC_READ_CP = b"\x41\x89\xc0\x8b\x7c\x24\x08\x31\xc0"
LONGEST = 24                         # (bytes read before a syscall, itself included)


def jump(cell, length):
    """The patched bytes: jmp *cell, then (past 7) invalid bytes. The
    cell's address (0x7f06xxxx) puts 06 at byte 5, so with a 5-byte prefix
    the old `syscall` is invalid too."""
    return (b"\xff\x24\x25" + struct.pack("<I", layout.TABLE_VA + 8 * cell)).ljust(length, BAD)


def trampoline(moved, ret):
    """The trampoline's bytes; its last byte (never run) is where the
    moved code ends: a kick before there is taken where the thread is
    (the moved code may branch away), one after waits for the entry."""
    code = (moved                                                       # the code moved here
            + b"\x65\x48\x89\x24\x25" + struct.pack("<i", _ENTRY_RSP)   # mov %rsp,%gs:entry_rsp
            + b"\x48\xb9" + struct.pack("<Q", ret)                      # movabs $ret,%rcx
            + b"\x65\x48\x89\x0c\x25" + struct.pack("<i", _ENTRY_RIP)   # mov %rcx,%gs:entry_rip
            + b"\x65\xff\x24\x25" + struct.pack("<i", _ENTRY))          # jmp *%gs:entry
    return code.ljust(layout.TRAMP_SIZE - 1, INT3) + bytes([len(moved)])


def tramp_va(cell):
    return layout.TRAMP_VA + cell * layout.TRAMP_SIZE


def _rel32(target, end):
    """The rel32 that reaches target from an instruction ending at end,
    or None if it is out of reach."""
    rel = target - end
    return struct.pack("<i", rel) if -(1 << 31) <= rel < (1 << 31) else None


def relocated(orig, start, cell):
    """The code moved from [start, site) (orig: its bytes and the
    syscall's) as it runs in cell's trampoline, or None if its relative
    operands do not reach from there."""
    m = GLIBC_READ.match(orig[:-2])
    if m is None:
        return orig[:-2]
    t = tramp_va(cell)
    flag = start + 7 + struct.unpack("<i", m.group(1))[0]
    branch = start + 9 + struct.unpack("<b", m.group(2))[0]
    cmp_disp, je_rel = _rel32(flag, t + 7), _rel32(branch, t + 13)
    if cmp_disp is None or je_rel is None:
        return None
    return (b"\x80\x3d" + cmp_disp + b"\x00"           # cmpb $0,flag(%rip)
            + b"\x0f\x84" + je_rel                     # je branch
            + b"\x31\xc0")                             # xor %eax,%eax


def tramp_cell(rip):
    """The cell whose trampoline starts at rip, or None."""
    off = rip - layout.TRAMP_VA
    if 0 <= off < layout.CELLS * layout.TRAMP_SIZE and not off % layout.TRAMP_SIZE:
        return off // layout.TRAMP_SIZE
    return None


def moved_code(code, nr):
    """How many bytes before the `syscall` at the end of `code` (LONGEST
    bytes up to and including it) move to the trampoline, or 0."""
    before = code[:-2]
    if before[-5:-4] == b"\xb8" and struct.unpack("<I", before[-4:])[0] == nr:
        return 5
    for context, moved in IDIOMS:
        if before.endswith(context + moved):
            return len(moved)
    if nr == 0:
        m = GLIBC_READ.search(before)
        if m is not None:
            return len(m.group(0))
        if before.endswith(GLIBC_READ_CP):
            return len(GLIBC_READ_CP)
    return 0


class SitePatches:
    """The patched syscall sites of one address space (AddressSpace keeps
    it: fork copies it, munmap drops what it covered): the `syscall`'s
    address -> (start of the rewritten bytes, their original, cell).
    `retired`: sites given their bytes back (a thread may still meet the
    int3 or the invalid byte of that change); `refused`: sites looked at
    and left alone."""

    def __init__(self):
        self.sites = {}
        self.starts = {}           # start -> site, of sites and retired ones
        self.cells = {}            # cell -> site
        self.retired = {}
        self.refused = set()
        self.off = False

    def copy(self):
        c = SitePatches()
        c.sites, c.starts, c.cells = dict(self.sites), dict(self.starts), dict(self.cells)
        c.retired, c.refused, c.off = dict(self.retired), set(self.refused), self.off
        return c

    def drop(self, start, end):
        """[start, end) is unmapped: its sites are gone."""
        for table in (self.sites, self.retired):
            for site in [s for s, e in table.items() if e[0] < end and s + 2 > start]:
                first, orig, cell = table.pop(site)
                self.starts.pop(first, None)
                if self.cells.get(cell) == site:
                    del self.cells[cell]
        self.refused = {s for s in self.refused if not start - 2 < s < end}

    def free_cell(self):
        for cell in range(1 + len(self.cells), layout.CELLS):
            if cell not in self.cells:
                return cell
        for cell in range(1, layout.CELLS):
            if cell not in self.cells:
                return cell
        return None

    def entry(self, site):
        return self.sites.get(site) or self.retired.get(site)

    def _overlapping(self, addr, end):
        return [(site, e) for site, e in self.sites.items() if e[0] < end and site + 2 > addr]

    def show_original(self, addr, data):
        """data, read at addr, with the patched sites' own bytes (what
        ptrace reads)."""
        hits = self._overlapping(addr, addr + len(data))
        if not hits:
            return data
        out = bytearray(data)
        for site, (start, orig, cell) in hits:
            for i, byte in enumerate(orig):
                if 0 <= start + i - addr < len(out):
                    out[start + i - addr] = byte
        return bytes(out)

    def restore(self, mm, addr, end):
        """The sites whose bytes overlap [addr, end) get them back (ptrace
        is about to write there: a breakpoint lands in the program's code,
        not in a jump)."""
        for site, e in self._overlapping(addr, end):
            unpatch(mm, site, 2)


def write_table(proc, cell, moved, ret):
    """Write a cell and its trampoline into proc's table (the trampoline
    first: the cell is what makes it reachable); `moved` as relocated()
    gives it for the cell."""
    t = layout.TABLE_OFF + 0x10000 + cell * layout.TRAMP_SIZE
    proc.ctl[t:t + layout.TRAMP_SIZE] = trampoline(moved, ret)
    c = layout.TABLE_OFF + 8 * cell
    proc.ctl[c:c + 8] = struct.pack("<Q", layout.TRAMP_VA + cell * layout.TRAMP_SIZE)


def sync_table(proc, patches):
    """Give proc's table every cell of patches (a forked address space's
    first process), once."""
    if proc.table_owner is patches:
        return
    for site, (start, orig, cell) in patches.sites.items():
        write_table(proc, cell, relocated(orig, start, cell), site + 2)
    proc.table_owner = patches


def rewrite(mm, start, new, threads):
    """Replace the bytes at start by `new`. With other threads that may
    be running them: an int3 first, the rest, then the first byte (a
    thread that meets the int3 is sent back to start by the context).
    False if the page is not there to write."""
    if threads <= 1:
        return mm.write_code(start, new)
    return (mm.write_code(start, INT3) and mm.write_code(start + 1, new[1:])
            and mm.write_code(start, new[:1]))


def try_patch(mm, proc, site, nr, threads):
    """Patch the `syscall` at site (which trapped with number nr) if the
    rules allow; True if it was."""
    patches = mm.syscall_patches
    if patches is None:
        patches = mm.syscall_patches = SitePatches()
    if patches.off or site in patches.refused or site in patches.sites:
        return False
    patches.refused.add(site)            # (looked at once, whatever comes of it)
    lo = max(site + 2 - LONGEST, site & ~(PAGE_SIZE - 1))
    code = mm.read_code(lo, site + 2 - lo)
    if not code.endswith(SYSCALL):
        return False
    n = moved_code(code, nr)
    start = site - n
    if not n or start // PAGE_SIZE != (site + 1) // PAGE_SIZE:
        return False                     # (the bytes must change in one page)
    vma = mm.vmas.find(site)
    # A writable mapping (a JIT) would see its code change, a shared one
    # would lose its sharing: both keep their bytes and trap every time.
    if vma is None or vma.prot & PROT_WRITE or vma.shared or start < vma.start:
        return False
    if not proc.table_ok or mm.vmas.overlapping(layout.TABLE_VA,
                                                layout.TABLE_VA + layout.TABLE_SIZE):
        return False
    cell = patches.free_cell()
    if cell is None:
        return False
    orig = code[len(code) - 2 - n:]
    moved = relocated(orig, start, cell)
    if moved is None:
        return False
    sync_table(proc, patches)
    write_table(proc, cell, moved, site + 2)
    if not rewrite(mm, start, jump(cell, len(orig)), threads):
        return False
    patches.refused.discard(site)
    patches.sites[site] = (start, orig, cell)
    patches.starts[start] = site
    patches.cells[cell] = site
    return True


def unpatch(mm, site, threads):
    """Give one site its own bytes back."""
    patches = mm.syscall_patches
    start, orig, cell = patches.sites.pop(site)
    rewrite(mm, start, orig, threads)
    patches.retired[site] = (start, orig, cell)
    patches.refused.add(site)


def unpatch_all(mm, threads):
    """Turn patching off for mm: every site gets its own bytes back."""
    patches = mm.syscall_patches
    if patches is None:
        patches = mm.syscall_patches = SitePatches()
    patches.off = True
    for site in list(patches.sites):
        unpatch(mm, site, threads)
