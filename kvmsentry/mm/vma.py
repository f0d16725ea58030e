"""Virtual memory areas: the sorted, non-overlapping list of mappings."""
import bisect
from dataclasses import dataclass, replace

PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4


@dataclass
class Vma:
    start: int
    end: int
    prot: int
    name: str = ""          # "[heap]", "[stack]", a path, or ""
    grows_down: bool = False
    cache: object = None    # PageCache of the mapped file, None if anonymous
    offset: int = 0         # file offset of `start`
    shared: bool = False    # MAP_SHARED
    may_write: bool = True  # False: a shared mapping of a file opened read-only

    def split_at(self, addr):
        """Return (low, high) copies cut at addr (start < addr < end)."""
        return (replace(self, end=addr),
                replace(self, start=addr, offset=self.offset + (addr - self.start)))

    def file_index(self, va):
        """Page index in the file of the page holding va."""
        return (self.offset + (va - self.start)) >> 12


class VmaList:
    """Sorted list of disjoint Vmas with split-on-edit semantics."""

    def __init__(self):
        self._starts = []
        self._vmas = []

    def __iter__(self):
        return iter(list(self._vmas))

    def __len__(self):
        return len(self._vmas)

    def find(self, addr):
        """The Vma containing addr, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            vma = self._vmas[i]
            if addr < vma.end:
                return vma
        return None

    def overlapping(self, start, end):
        """Vmas intersecting [start, end), in order."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        for vma in self._vmas[i:]:
            if vma.start >= end:
                break
            if vma.end > start:
                out.append(vma)
        return out

    def insert(self, vma):
        i = bisect.bisect_left(self._starts, vma.start)
        self._starts.insert(i, vma.start)
        self._vmas.insert(i, vma)

    def remove_range(self, start, end):
        """Cut [start, end) out of every Vma; return the removed pieces."""
        removed = []
        for vma in self.overlapping(start, end):
            self._remove(vma)
            if vma.start < start:
                low, vma = vma.split_at(start)
                self.insert(low)
            if vma.end > end:
                vma, high = vma.split_at(end)
                self.insert(high)
            removed.append(vma)
        return removed

    def _remove(self, vma):
        i = self._vmas.index(vma)
        del self._vmas[i]
        del self._starts[i]

    def is_free(self, start, end):
        return not self.overlapping(start, end)

    def find_gap_top_down(self, length, below, above):
        """Highest start s with [s, s+length) free and above <= s,
        s + length <= below; or None."""
        hi = below
        for vma in reversed(self._vmas):
            if vma.start >= hi:
                continue
            if hi - max(vma.end, above) >= length:
                return hi - length
            hi = vma.start
            if hi - above < length:
                return None
        return hi - length if hi - above >= length else None

    def merge_adjacent(self):
        """Join neighbours with identical attributes (keeps the list short)."""
        out_s, out_v = [], []
        for vma in self._vmas:
            if out_v:
                last = out_v[-1]
                if last.end == vma.start and last.prot == vma.prot and \
                        last.name == vma.name and last.grows_down == vma.grows_down \
                        and last.cache is None and vma.cache is None:
                    last.end = vma.end
                    continue
            out_v.append(vma)
            out_s.append(vma.start)
        self._vmas, self._starts = out_v, out_s
