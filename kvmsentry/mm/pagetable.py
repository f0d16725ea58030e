"""x86-64 4-level page tables, written by the sentry into pool frames.

One PageTable per address space. Entry 511 of every PML4 points at the
shared kernel PDPT (the reserved region, supervisor-only), entries 0..255
hold the program's lower half. Intermediate entries are always P|RW|US;
permissions are decided by the leaf, so changing a page's protection
touches one word.

Leaves are written with Accessed and Dirty already set: the CPU then never
writes page-table memory itself, which keeps the sentry the only writer.
"""
from kvmsentry.arch.layout import PAGE_SIZE

PTE_P = 1 << 0
PTE_W = 1 << 1
PTE_U = 1 << 2
PTE_A = 1 << 5
PTE_D = 1 << 6
PTE_NX = 1 << 63
ADDR_MASK = 0x000F_FFFF_FFFF_F000
TABLE_FLAGS = PTE_P | PTE_W | PTE_U
LOWER_HALF_END = 1 << 47


def leaf_flags(read, write, execute, user=True):
    """Leaf PTE bits for a protection; 0 for no access at all."""
    if not (read or write or execute):
        return 0
    flags = PTE_P | PTE_A | PTE_D
    if write:
        flags |= PTE_W
    if user:
        flags |= PTE_U
    if not execute:
        flags |= PTE_NX
    return flags


def indices(va):
    return ((va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511)


class PageTable:
    def __init__(self, pool, kernel_pdpt=None):
        self.pool = pool
        self.words = pool.words
        self.root = pool.alloc_table()
        self.tables = {}          # (level, va prefix) -> table phys, for reuse/free
        if kernel_pdpt is not None:
            self.words[(self.root >> 3) + 511] = kernel_pdpt | TABLE_FLAGS

    def _table(self, va, create):
        """Physical address of the last-level table for va, or None."""
        words = self.words
        table = self.root
        for shift in (39, 30, 21):
            slot = (table >> 3) + ((va >> shift) & 511)
            entry = words[slot]
            if entry & PTE_P:
                table = entry & ADDR_MASK
                continue
            if not create:
                return None
            child = self.pool.alloc_table()
            self.tables[(shift, va >> shift)] = child
            words[slot] = child | TABLE_FLAGS
            table = child
        return table

    def map(self, va, phys, flags):
        """Point the page at va to frame phys with leaf flags (0 leaves it
        not present but remembers the frame); return the old PTE."""
        if va & (PAGE_SIZE - 1) or va >= LOWER_HALF_END or va < 0:
            raise ValueError("bad user page address %#x" % va)
        table = self._table(va, True)
        slot = (table >> 3) + ((va >> 12) & 511)
        old = self.words[slot]
        self.words[slot] = (phys & ADDR_MASK) | flags
        return old

    def map_many(self, vas, frames, flags):
        """map() for many pages at once (ascending addresses), walking
        the upper levels once per last-level table."""
        words, region, base = self.words, None, 0
        for va, phys in zip(vas, frames):
            if va >> 21 != region:
                if va & (PAGE_SIZE - 1) or va >= LOWER_HALF_END or va < 0:
                    raise ValueError("bad user page address %#x" % va)
                region = va >> 21
                base = self._table(va, True) >> 3
            words[base + ((va >> 12) & 511)] = (phys & ADDR_MASK) | flags

    def unmap(self, va):
        """Clear the page at va; return the old PTE (0 if none)."""
        table = self._table(va, False)
        if table is None:
            return 0
        slot = (table >> 3) + ((va >> 12) & 511)
        old = self.words[slot]
        self.words[slot] = 0
        return old

    def lookup(self, va):
        """The leaf PTE for va, or 0."""
        table = self._table(va, False)
        if table is None:
            return 0
        return self.words[(table >> 3) + ((va >> 12) & 511)]

    def destroy(self):
        """Free every table frame (not the mapped frames: the caller owns them)."""
        for phys in self.tables.values():
            self.pool.free(phys)
        self.pool.free(self.root)
        self.tables = {}
        self.root = None
