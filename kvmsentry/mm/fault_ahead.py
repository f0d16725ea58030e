"""How much one page fault maps: Linux's fault-around for file pages and
a populate-ahead window for anonymous memory.

A fault costs a VM exit (25-35 us on kvm_pvm, about 1 us on bare metal)
while mapping one more page costs the sentry a microsecond or two, so a
fault maps more than the page it asked for:

* file pages: the 64 KiB-aligned window around the fault (16 pages,
  Linux's default fault_around_bytes), clipped to the VMA; the caller
  stops at the end of the file.
* anonymous pages: a window that starts at 16 pages and doubles, up to
  2 MiB (what a transparent huge page gives natively), while faults keep
  arriving just past the last window (or just below it, for memory used
  top-down such as a stack); a fault anywhere else starts over, so
  scattered touches of a large region cost at most 16 pages each.

* anonymous pages in a 2 MiB-aligned range that lies wholly inside the
  VMA and has no page yet: the whole range, as one 2 MiB run of frames
  (a transparent huge page), once the window has grown to 2 MiB (memory
  used in order; scattered touches keep costing 16 pages, not 512) or
  at once after MADV_HUGEPAGE; never for stacks (MAP_STACK, growing
  down) nor after MADV_NOHUGEPAGE. Windows of such a VMA stop at 2 MiB
  boundaries so that the next range stays empty for its run.

Only pages inside the faulting VMA are ever chosen: its protection is the
one every page of the window gets.
"""
from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.mm.pagetable import HUGE_SIZE

FAULT_AROUND_PAGES = 16
AHEAD_START_PAGES = 16
AHEAD_MAX_PAGES = 512


def fault_around(page, vma):
    """[start, end) of file pages to map for a fault at `page` in `vma`."""
    span = FAULT_AROUND_PAGES * PAGE_SIZE
    base = page & ~(span - 1)
    return max(vma.start, base), min(vma.end, base + span)


def huge_allowed(vma):
    """True if anonymous `vma` may hold 2 MiB runs."""
    return vma.cache is None and vma.prot and not vma.grows_down and vma.huge >= 0


class PopulateAhead:
    """The anonymous-memory window of one address space."""
    __slots__ = ("next_up", "next_down", "pages")

    def __init__(self):
        self.next_up = self.next_down = None
        self.pages = 0

    def huge_window(self, page, vma, populated):
        """[start, end) for a fault at `page` in anonymous `vma` that may
        hold 2 MiB runs; populated(start, end) says if any page of a
        range has a frame."""
        start, end = self.window(page, vma)
        lo = page & ~(HUGE_SIZE - 1)
        hi = lo + HUGE_SIZE
        if (self.pages == AHEAD_MAX_PAGES or vma.huge > 0) and vma.start <= lo \
                and hi <= vma.end and not populated(lo, hi):
            start, end = lo, hi
        start, end = max(start, lo), min(end, hi)
        self.next_up, self.next_down = end, start - PAGE_SIZE
        return start, end

    def window(self, page, vma):
        """[start, end) of anonymous pages to populate for a fault at `page`."""
        down = page == self.next_down
        if down or page == self.next_up:
            self.pages = min(self.pages * 2, AHEAD_MAX_PAGES)
        else:
            self.pages = AHEAD_START_PAGES
            down = vma.grows_down
        span = self.pages * PAGE_SIZE
        if down:
            start, end = max(vma.start, page + PAGE_SIZE - span), page + PAGE_SIZE
        else:
            start, end = page, min(vma.end, page + span)
        self.next_up, self.next_down = end, start - PAGE_SIZE
        return start, end
