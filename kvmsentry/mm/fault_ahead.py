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

Only pages inside the faulting VMA are ever chosen: its protection is the
one every page of the window gets.
"""
from kvmsentry.arch.layout import PAGE_SIZE

FAULT_AROUND_PAGES = 16
AHEAD_START_PAGES = 16
AHEAD_MAX_PAGES = 512


def fault_around(page, vma):
    """[start, end) of file pages to map for a fault at `page` in `vma`."""
    span = FAULT_AROUND_PAGES * PAGE_SIZE
    base = page & ~(span - 1)
    return max(vma.start, base), min(vma.end, base + span)


class PopulateAhead:
    """The anonymous-memory window of one address space."""
    __slots__ = ("next_up", "next_down", "pages")

    def __init__(self):
        self.next_up = self.next_down = None
        self.pages = 0

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
