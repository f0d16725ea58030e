"""The PageTable of an address space on systrap: the same interface as
mm/pagetable.PageTable (map, map_many, unmap, lookup, destroy), but what it
"maps" becomes host mmaps of the pool memfd in the child process, made by
the stub. Changes are kept as the last state of each page and turned,
when a thread of the child next resumes, into as few mmap/munmap calls as
runs of contiguous pages and frames allow.
"""
from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.mm.pagetable import ADDR_MASK, HUGE_SIZE, LOWER_HALF_END, PTE_NX, PTE_P, PTE_W
from kvmsentry.platform.systrap import layout

NR_MMAP, NR_MUNMAP = 9, 11
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED_FIXED = 0x1 | 0x10
MAP_POPULATE = 0x8000
# Runs this long are mapped with their page-table entries made at once:
# one host call instead of a host page fault per page (a window the sentry
# populated for a fault is about to be touched).
POPULATE_PAGES = 16


def prot_of(pte):
    if not pte & PTE_P:
        return 0
    prot = PROT_READ
    if pte & PTE_W:
        prot |= PROT_WRITE
    if not pte & PTE_NX:
        prot |= PROT_EXEC
    return prot


class HostMappings:
    root = None                    # no page table of ours: the host kernel's

    def __init__(self, machine):
        self.machine = machine
        self.ptes = {}             # page -> phys | leaf flags, as a PageTable holds them
        self.dirty = {}            # page -> pte the child has not been told yet
        self.process = None        # the child (process.ChildProcess), made on first use

    def ensure_process(self):
        if self.process is None:
            from kvmsentry.platform.systrap.process import ChildProcess
            self.process = ChildProcess(self.machine, self)
        return self.process

    # --- PageTable's interface ---------------------------------------------------
    def map(self, va, phys, flags):
        if va & (PAGE_SIZE - 1) or va >= LOWER_HALF_END or va < 0:
            raise ValueError("bad user page address %#x" % va)
        pte = (phys & ADDR_MASK) | flags
        old = self.ptes.get(va, 0)
        self.ptes[va] = pte
        self.dirty[va] = pte
        return old

    def map_many(self, vas, frames, flags):
        ptes, dirty = self.ptes, self.dirty
        for va, phys in zip(vas, frames):
            pte = (phys & ADDR_MASK) | flags
            ptes[va] = pte
            dirty[va] = pte

    def unmap(self, va):
        old = self.ptes.pop(va, 0)
        if old:
            self.dirty[va] = 0
        return old

    def lookup(self, va):
        return self.ptes.get(va, 0)

    # 2 MiB ranges: no PS entries here (the host maps what the stub asks);
    # a run of frames is a run of pages, coalesced like any other.
    def has_table(self, va):
        return True

    def is_huge(self, va):
        return False

    def map_run(self, va, phys, flags):
        self.map_many(range(va, va + HUGE_SIZE, PAGE_SIZE),
                      range(phys, phys + HUGE_SIZE, PAGE_SIZE), flags)

    def unmap_huge(self, va):
        ptes, dirty = self.ptes, self.dirty
        for page in range(va, va + HUGE_SIZE, PAGE_SIZE):
            if ptes.pop(page, 0):
                dirty[page] = 0

    def destroy(self):
        self.ptes, self.dirty = {}, {}
        if self.process is not None:
            self.process.kill()
            self.process = None

    # --- what the child must do ------------------------------------------------
    def drain(self, limit):
        """Up to `limit` (nr, args) host calls that bring the child's
        mappings up to date; what does not fit stays for the next call."""
        dirty = self.dirty
        if not dirty:
            return []
        ops = []
        pages = sorted(dirty)
        lo, hi = layout.RESERVED_LO, layout.RESERVED_HI
        i, n = 0, len(pages)
        while i < n and len(ops) < limit:
            start = pages[i]
            pte = dirty.pop(start)
            prot = prot_of(pte)
            phys = pte & ADDR_MASK
            j = i + 1
            if not prot:
                # A run of unmapped pages: only contiguity matters.
                while j < n and pages[j] == start + (j - i) * PAGE_SIZE \
                        and not dirty[pages[j]] & PTE_P:
                    del dirty[pages[j]]
                    j += 1
            else:
                same = pte & ~ADDR_MASK
                while j < n and pages[j] == start + (j - i) * PAGE_SIZE \
                        and dirty[pages[j]] == same | (phys + (j - i) * PAGE_SIZE):
                    del dirty[pages[j]]
                    j += 1
            end = start + (j - i) * PAGE_SIZE
            i = j
            # Never over the stub and its slots (the program may ask).
            for a, b in ((start, min(end, lo)), (max(start, hi), end)):
                if a >= b:
                    continue
                if prot:
                    flags = MAP_SHARED_FIXED
                    if b - a >= POPULATE_PAGES * PAGE_SIZE:
                        flags |= MAP_POPULATE
                    ops.append((NR_MMAP, (a, b - a, prot, flags, layout.POOL_FD,
                                          phys + (a - start))))
                else:
                    ops.append((NR_MUNMAP, (a, b - a)))
        return ops
