"""Syscall-site patching on systrap: a `syscall` that trapped (SIGSYS)
is rewritten, with the instruction(s) before it, into a jump that reaches
the stub without a signal.

The bytes [start, site + 2) (`site`: the syscall; [start, site) a short
known idiom (idioms.py), most often libc's `mov $nr,%eax`) become `jmp
*CELL` (ff 24 25 disp32), CELL a pointer in the child's table
(layout.TABLE_VA) to the site's trampoline: the moved instructions
(re-encoded where relative), then stores of the program's rsp and return
address (site + 2) in the thread's slot through %gs, and a jump to the
stub's syscall_entry (systrap_stub/stub.c), which takes the number from
rax as the syscall would. No stack is touched (the program's red zone).
Where the old `syscall` was, and where each moved instruction after the
first began, the bytes are an opcode invalid in 64-bit mode (the cell is
chosen so; past the jump they are 06): a jump there is a SIGILL there,
which the context takes as the syscall (a restarted call: rip - 2) or
sends on to the same instruction in the trampoline. While other threads
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
import struct

from kvmsentry._systrap import ffi
from kvmsentry.platform.systrap import idioms, layout

INT3 = b"\xcc"
BAD = b"\x06"                       # invalid in 64-bit mode (see jump())
# One-byte opcodes invalid in 64-bit mode: where a jump's bytes start an
# instruction the thread could run (the old `syscall`, or a moved
# instruction after the first), one of these must be (cell_fits()).
INVALID = frozenset(b"\x06\x07\x0e\x16\x17\x1e\x1f\x27\x2f\x37\x3f\x60\x61\xd4\xd5\xd6")
SYSCALL = b"\x0f\x05"
PROT_WRITE = 2
PAGE_SIZE = 4096
NR_RESTART_SYSCALL = 219

_ENTRY = ffi.offsetof("struct systrap_msg", "entry")
_ENTRY_RSP = ffi.offsetof("struct systrap_msg", "entry_rsp")
_ENTRY_RIP = ffi.offsetof("struct systrap_msg", "entry_rip")

def jump(cell, length):
    """The patched bytes: jmp *cell, then (past 7) invalid bytes. The
    cell's address (0x7f06xxxx) puts 06 at byte 5, so with a 5-byte prefix
    the old `syscall` is invalid too."""
    return (b"\xff\x24\x25" + struct.pack("<I", layout.TABLE_VA + 8 * cell)).ljust(length, BAD)


def cell_fits(cell, idiom, length):
    """Whether cell's jump over `length` bytes of idiom's code leaves an
    invalid opcode at the old `syscall` and at each moved instruction
    after the first (a thread there, or a jump there, faults exactly
    where it was: see SitePatches.resume_at)."""
    code = jump(cell, length)
    return code[length - 2] in INVALID and all(code[b] in INVALID for b in idiom.starts())


def trampoline(moved, ret):
    """The trampoline's bytes; its last byte (never run) is where the
    moved code ends: a kick before there is taken where the thread is
    (the moved code may branch away), one after waits for the entry."""
    code = (moved                                                       # the code moved here
            + b"\x65\x48\x89\x24\x25" + struct.pack("<i", _ENTRY_RSP)   # mov %rsp,%gs:entry_rsp
            + b"\x48\xb9" + struct.pack("<Q", ret)                      # movabs $ret,%rcx
            + b"\x65\x48\x89\x0c\x25" + struct.pack("<i", _ENTRY_RIP)   # mov %rcx,%gs:entry_rip
            + b"\x65\xff\x24\x25" + struct.pack("<i", _ENTRY))          # jmp *%gs:entry
    if len(code) >= layout.TRAMP_SIZE:
        raise ValueError("a trampoline of %d bytes" % len(code))
    return code.ljust(layout.TRAMP_SIZE - 1, INT3) + bytes([len(moved)])


def tramp_va(cell):
    return layout.TRAMP_VA + cell * layout.TRAMP_SIZE


def tramp_cell(rip):
    """The cell whose trampoline starts at rip, or None."""
    off = rip - layout.TRAMP_VA
    if 0 <= off < layout.CELLS * layout.TRAMP_SIZE and not off % layout.TRAMP_SIZE:
        return off // layout.TRAMP_SIZE
    return None


class SitePatches:
    """The patched syscall sites of one address space (AddressSpace keeps
    it: fork copies it, munmap drops what it covered): the `syscall`'s
    address -> (start of the rewritten bytes, their original, cell).
    `retired`: sites given their bytes back (a thread may still meet the
    int3 or the invalid byte of that change); `refused`: sites looked at
    and left alone; `trapped`: sites that trapped once. A site is patched
    when it traps the second time: most sites of a short-lived process
    (a fork+exec'd child's start-up and exit) run once, and patching costs
    a private copy of the code page, more than the trap it would save."""

    def __init__(self):
        self.sites = {}
        self.starts = {}           # start -> site, of sites and retired ones
        self.cells = {}            # cell -> site
        self.retired = {}
        self.refused = set()
        self.trapped = set()
        self.off = False

    def copy(self):
        c = SitePatches()
        c.sites, c.starts, c.cells = dict(self.sites), dict(self.starts), dict(self.cells)
        c.retired, c.refused, c.off = dict(self.retired), set(self.refused), self.off
        c.trapped = set(self.trapped)
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
        # From a copy (set() is one step under the GIL): a first trap is
        # noted without the kernel lock (SystrapContext._trapped_syscall),
        # and a note added during the look made it fail; one added to the
        # old set meanwhile is lost, and the site is noted at its next trap.
        self.trapped = {s for s in set(self.trapped) if not start - 2 < s < end}

    def free_cell(self, fits):
        for cell in range(1 + len(self.cells), layout.CELLS):
            if cell not in self.cells and fits(cell):
                return cell
        for cell in range(1, layout.CELLS):
            if cell not in self.cells and fits(cell):
                return cell
        return None

    def entry(self, site):
        return self.sites.get(site) or self.retired.get(site)

    def origin(self, rip):
        """The program's own address of the moved instruction at rip, in a
        trampoline: a thread stopped there (a kick, a fault) is shown at
        it, as natively, and resumed there, whose invalid byte sends it
        back (resume_at). None if rip is at no moved instruction."""
        off = rip - layout.TRAMP_VA
        if not 0 <= off < layout.CELLS * layout.TRAMP_SIZE:
            return None
        cell, at = divmod(off, layout.TRAMP_SIZE)
        site = self.cells.get(cell)
        if site is None or self.entry(site) is None:
            return None
        start, starts, code, offsets, cell = self._moved(site)
        if at >= len(code):
            return None
        return start + max(b for b, t in zip([0] + starts, [0] + offsets) if t <= at)

    def _moved(self, site):
        """(start, the moved instructions' starts, their code in the
        trampoline, where those start in it, cell) of a site."""
        start, orig, cell = self.entry(site)
        idiom = idioms.of(orig[:-2])
        code, offsets = idiom.relocate(orig[:-2], start, tramp_va(cell))
        return start, idiom.starts(), code, offsets, cell

    def resume_at(self, rip):
        """Where a thread that faulted at rip (an invalid byte of a jump,
        see cell_fits) goes on: the same instruction of the moved code,
        in the trampoline (or, the site given its bytes back since, at
        rip itself); None if rip starts no moved instruction."""
        for back in range(1, idioms.LONGEST):
            site = self.starts.get(rip - back)
            if site is None:
                continue
            start, starts, code, offsets, cell = self._moved(site)
            if back not in starts:
                return None
            return tramp_va(cell) + offsets[starts.index(back)] if site in self.sites else rip
        return None

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
    first: the cell is what makes it reachable); `moved` as the idiom
    relocates it for the cell."""
    t = layout.TABLE_OFF + 0x10000 + cell * layout.TRAMP_SIZE
    proc.ctl[t:t + layout.TRAMP_SIZE] = trampoline(moved, ret)
    c = layout.TABLE_OFF + 8 * cell
    proc.ctl[c:c + 8] = struct.pack("<Q", tramp_va(cell))


def sync_table(proc, patches):
    """Give proc's table every cell of patches (a forked address space's
    first process), once; a cell it holds already (a reused process's,
    from the same parent's last fork) is not written again."""
    if proc.table_owner is patches:
        return
    held = proc.table_cells
    for site, entry in patches.sites.items():
        start, orig, cell = entry
        if held.get(cell) != (site, start, orig):
            moved = idioms.of(orig[:-2]).relocate(orig[:-2], start, tramp_va(cell))[0]
            write_table(proc, cell, moved, site + 2)
            held[cell] = (site, start, orig)
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
    if site not in patches.trapped:
        patches.trapped.add(site)
        return False
    patches.refused.add(site)            # (looked at once, whatever comes of it)
    lo = max(site + 2 - idioms.LONGEST, site & ~(PAGE_SIZE - 1))
    code = mm.read_code(lo, site + 2 - lo)
    if not code.endswith(SYSCALL):
        return False
    idiom, n = idioms.find(code[:-2], nr)
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
    orig = code[len(code) - 2 - n:]
    cell = patches.free_cell(lambda c: cell_fits(c, idiom, len(orig)))
    if cell is None:
        return False
    moved = idiom.relocate(orig[:-2], start, tramp_va(cell))[0]
    sync_table(proc, patches)
    write_table(proc, cell, moved, site + 2)
    proc.table_cells[cell] = (site, start, orig)
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
