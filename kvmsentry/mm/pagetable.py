"""x86-64 4-level page tables, written by the sentry into pool frames.

One PageTable per address space. Entry 511 of every PML4 points at the
shared kernel PDPT (the reserved region, supervisor-only), entries 0..255
hold the program's lower half. Intermediate entries are always P|RW|US;
permissions are decided by the leaf, so changing a page's protection
touches one word.

Leaves are written with Accessed and Dirty already set: the CPU then never
writes page-table memory itself, which keeps the sentry the only writer.

A 2 MiB run of frames is mapped either by one page-directory entry with
PS set (map_huge) or by a whole last-level table written at once
(map_run). Any 4 KiB operation inside a PS mapping first splits it into a
fresh table holding the same 512 translations, so callers never see the
difference. Only hosts whose hardware walks the guest tables get PS
entries (the machine decides: mm/pool.py's huge_leaves): a shadow-paging
KVM builds a "direct" shadow page for a guest 2 MiB page that assumes
frame i of the run at index i, and a split written by the host, which
such a KVM does not see, would leave it linked while a 4 KiB page of the
range later moves to another frame.
"""
from array import array

from kvmsentry.arch.layout import PAGE_SIZE

PTE_P = 1 << 0
PTE_W = 1 << 1
PTE_U = 1 << 2
PTE_A = 1 << 5
PTE_D = 1 << 6
PTE_PS = 1 << 7
PTE_NX = 1 << 63
ADDR_MASK = 0x000F_FFFF_FFFF_F000
TABLE_FLAGS = PTE_P | PTE_W | PTE_U
LOWER_HALF_END = 1 << 47
HUGE_SIZE = 1 << 21
HUGE_PAGES = HUGE_SIZE // PAGE_SIZE


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
        """Physical address of the last-level table for va, or None (no
        table and not `create`). A PS mapping on the way is split."""
        words = self.words
        table = self.root
        for shift in (39, 30, 21):
            slot = (table >> 3) + ((va >> shift) & 511)
            entry = words[slot]
            if entry & PTE_P:
                if shift == 21 and entry & PTE_PS:
                    return self._split(slot, entry, va)
                table = entry & ADDR_MASK
                continue
            if not create:
                return None
            child = self.pool.alloc_table()
            self.tables[(shift, va >> shift)] = child
            words[slot] = child | TABLE_FLAGS
            table = child
        return table

    def _directory_slot(self, va, create):
        """Word index of the page-directory entry for va, or None."""
        words, table = self.words, self.root
        for shift in (39, 30):
            slot = (table >> 3) + ((va >> shift) & 511)
            entry = words[slot]
            if not entry & PTE_P:
                if not create:
                    return None
                child = self.pool.alloc_table()
                self.tables[(shift, va >> shift)] = child
                words[slot] = entry = child | TABLE_FLAGS
            table = entry & ADDR_MASK
        return (table >> 3) + ((va >> 21) & 511)

    def _split(self, slot, entry, va):
        """Replace the PS entry at `slot` by a fresh table with the same
        512 translations; return the table."""
        child = self.pool.alloc_table()
        self.tables[(21, va >> 21)] = child
        base = entry & ADDR_MASK
        first = base | (entry & ~ADDR_MASK & ~PTE_PS)
        start = child >> 3
        self.words[start:start + HUGE_PAGES] = array(
            "Q", range(first, first + HUGE_SIZE, PAGE_SIZE))
        self.words[slot] = child | TABLE_FLAGS
        return child

    def has_table(self, va):
        """True if the 2 MiB range holding va has a last-level table."""
        slot = self._directory_slot(va, False)
        if slot is None:
            return False
        entry = self.words[slot]
        return bool(entry & PTE_P and not entry & PTE_PS)

    def map_huge(self, va, phys, flags):
        """Map the 2 MiB at va to the run at phys with one PS entry. The
        range must have no table (has_table is False)."""
        if va & (HUGE_SIZE - 1) or phys & (HUGE_SIZE - 1) or not flags \
                or va >= LOWER_HALF_END or va < 0:
            raise ValueError("bad huge mapping %#x -> %#x" % (va, phys))
        slot = self._directory_slot(va, True)
        if self.words[slot] & PTE_P and not self.words[slot] & PTE_PS:
            raise ValueError("2 MiB at %#x already has a table" % va)
        self.words[slot] = phys | flags | PTE_PS

    def map_run(self, va, phys, flags):
        """Map the 2 MiB at va to the contiguous frames at phys, one
        table written in one store (no PS entry)."""
        if va & (HUGE_SIZE - 1) or va >= LOWER_HALF_END or va < 0:
            raise ValueError("bad 2 MiB range %#x" % va)
        start = self._table(va, True) >> 3
        first = (phys & ADDR_MASK) | flags
        self.words[start:start + HUGE_PAGES] = array(
            "Q", range(first, first + HUGE_SIZE, PAGE_SIZE))

    def unmap_huge(self, va):
        """Clear all 2 MiB at va (aligned) in one store, PS entry or
        whole table (the table stays, empty)."""
        slot = self._directory_slot(va, False)
        if slot is None:
            return
        entry = self.words[slot]
        if entry & PTE_PS:
            self.words[slot] = 0
        elif entry & PTE_P:
            start = (entry & ADDR_MASK) >> 3
            self.words[start:start + HUGE_PAGES] = array("Q", bytes(HUGE_SIZE // 512))

    def is_huge(self, va):
        """True if va is mapped by a PS entry."""
        slot = self._directory_slot(va, False)
        return slot is not None and bool(self.words[slot] & PTE_PS)

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
        """The leaf PTE for va, or 0; inside a PS mapping, the 4 KiB
        entry a split would write."""
        slot = self._directory_slot(va, False)
        if slot is None:
            return 0
        entry = self.words[slot]
        if not entry & PTE_P:
            return 0
        if entry & PTE_PS:
            return (entry & ~PTE_PS) + (va & (HUGE_SIZE - 1) & ~(PAGE_SIZE - 1))
        return self.words[((entry & ADDR_MASK) >> 3) + ((va >> 12) & 511)]

    def has_room_for_maps(self, vmas, more):
        """Whether the platform can hold `more` mappings besides `vmas`
        (systrap's host mappings count against the host's vm.max_map_count;
        a KVM guest's page table holds any number)."""
        return True

    def destroy(self):
        """Free every table frame (not the mapped frames: the caller owns them)."""
        for phys in self.tables.values():
            self.pool.free(phys)
        self.pool.free(self.root)
        self.tables = {}
        self.root = None
