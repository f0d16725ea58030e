"""Virtual memory areas: the sorted, non-overlapping list of mappings."""
import bisect

from kvmsentry.record import record

PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
VM_DONTCOPY = 1             # MADV_DONTFORK: the child does not get the mapping
VM_WIPEONFORK = 2           # MADV_WIPEONFORK: the child gets it zeroed


@record
class Vma:
    start: int
    end: int
    prot: int
    name: str = ""          # "[stack]", a path, or "" (maps labels the heap by address)
    grows_down: bool = False
    cache: object = None    # PageCache of the mapped file, None if anonymous
    offset: int = 0         # file offset of `start`
    shared: bool = False    # MAP_SHARED
    may_write: bool = True  # False: a shared mapping of a file opened read-only
    locked: int = 0         # VM_LOCKED / VM_LOCKONFAULT (kernel/mlock.py)
    huge: int = 0           # MADV_HUGEPAGE 1, MADV_NOHUGEPAGE (or MAP_STACK) -1
    special: object = None  # owner of a special mapping (an AIO ring): never expanded
    fork_flags: int = 0     # VM_DONTCOPY / VM_WIPEONFORK (madvise)
    may_exec: bool = True   # False: a file on a noexec mount (VM_MAYEXEC clear)
    noreserve: bool = False  # MAP_NORESERVE (VM_NORESERVE: never merged with others)

    def copy(self):
        """A shallow copy (fork's), without copy.copy's generic protocol."""
        new = Vma.__new__(Vma)
        new.__dict__.update(self.__dict__)
        return new

    def split_at(self, addr):
        """Return (low, high) copies cut at addr (start < addr < end)."""
        low, high = self.copy(), self.copy()
        low.end = addr
        high.start, high.offset = addr, self.offset + (addr - self.start)
        return low, high

    def file_index(self, va):
        """Page index in the file of the page holding va."""
        return (self.offset + (va - self.start)) >> 12


MAX_MAP_COUNT = 65530       # Linux's vm.max_map_count default


class VmaList:
    """Sorted list of disjoint Vmas with split-on-edit semantics.

    Lookups bisect a parallel sorted list of start addresses: O(log n),
    plus an O(n) memmove of pointers per insert or removal, which is tiny
    next to a syscall even at Linux's 65,530 mappings. Finding free space
    top-down starts from `_full_from`: everything in [_full_from, top of
    the search) is known to be mapped, so a program that maps page after
    page (each new one just below the last) finds its gap at once instead
    of walking every mapping above it (the free_area_cache of Linux before
    its gap-augmented tree).
    """

    def __init__(self):
        self._starts = []
        self._vmas = []
        self._full_from = None      # [this, _full_top) has no free byte
        self._full_top = None

    def __iter__(self):
        return iter(list(self._vmas))

    def __len__(self):
        return len(self._vmas)

    def _index(self, addr):
        """Index of the last Vma starting at or below addr (-1 if none)."""
        return bisect.bisect_right(self._starts, addr) - 1

    def find(self, addr):
        """The Vma containing addr, or None."""
        # (_index inlined: every copy_in and fault asks)
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            vma = self._vmas[i]
            if addr < vma.end:
                return vma
        return None

    def overlapping(self, start, end):
        """Vmas intersecting [start, end), in order."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out, vmas = [], self._vmas
        while i < len(vmas) and vmas[i].start < end:
            if vmas[i].end > start:
                out.append(vmas[i])
            i += 1
        return out

    def splits(self, start, end):
        """How many Vmas cutting out or changing [start, end) adds: one for
        each end that falls strictly inside a mapping."""
        n = 0
        for addr in (start, end):
            vma = self.find(addr)
            n += vma is not None and vma.start < addr
        return n

    def forked(self):
        """The child's list at fork: a copy of each Vma the child gets
        (not MADV_DONTFORK ones; mlock is not inherited), built in one
        step (they are in order already)."""
        child = VmaList()
        vmas = [v.copy() for v in self._vmas if not v.fork_flags & VM_DONTCOPY]
        for v in vmas:
            if v.locked:
                v.locked = 0
        child._vmas, child._starts = vmas, [v.start for v in vmas]
        return child

    def fill(self, vmas):
        """Make this empty list `vmas` (in address order, apart) in one
        step: a new program's image."""
        if self._vmas:
            raise ValueError("VmaList.fill: the list is not empty")
        self._vmas, self._starts = list(vmas), [v.start for v in vmas]

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
        if removed and self._full_from is not None and start < self._full_top \
                and end > self._full_from:
            # Space was freed inside the known-full run: it now ends there.
            self._full_from = min(max(end, self._full_from), self._full_top)
        return removed

    def _remove(self, vma):
        i = self._index(vma.start)
        assert self._vmas[i] is vma
        del self._vmas[i]
        del self._starts[i]

    def is_free(self, start, end):
        return not self.overlapping(start, end)

    def find_gap_top_down(self, length, below, above):
        """Highest start s with [s, s+length) free and above <= s,
        s + length <= below; or None."""
        if self._full_top != below:
            self._full_from = self._full_top = below
        hi = self._full_from
        i = self._index(hi - 1)
        vmas = self._vmas
        # Extend the known-full run down over mappings that touch it.
        while i >= 0 and vmas[i].end >= hi and vmas[i].start < hi:
            hi = vmas[i].start
            i -= 1
        self._full_from = hi
        while True:
            low = max(vmas[i].end, above) if i >= 0 else above
            if hi - low >= length:
                return hi - length
            if i < 0 or vmas[i].end <= above:
                return None
            hi = vmas[i].start
            i -= 1
            if hi - above < length:
                return None

    def merge_adjacent(self, start=None, end=None):
        """Join neighbours with identical attributes (keeps the list short),
        around [start, end) if given, else everywhere."""
        lo, hi = 0, len(self._vmas)
        if start is not None:
            lo = max(self._index(start - 1), 0)
            hi = min(self._index(end) + 2, len(self._vmas))
        out_s, out_v = [], []
        for vma in self._vmas[lo:hi]:
            if out_v:
                last = out_v[-1]
                if last.end == vma.start and last.prot == vma.prot and \
                        last.name == vma.name and last.grows_down == vma.grows_down \
                        and last.cache is None and vma.cache is None \
                        and last.locked == vma.locked and last.huge == vma.huge \
                        and last.fork_flags == vma.fork_flags \
                        and last.noreserve == vma.noreserve \
                        and last.special is None and vma.special is None:
                    last.end = vma.end
                    continue
            out_v.append(vma)
            out_s.append(vma.start)
        self._vmas[lo:hi] = out_v
        self._starts[lo:hi] = out_s
