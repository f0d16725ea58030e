"""A guest address space: VMAs, the frames behind them, and page tables.

The VMA list is the truth about what the program may touch; `pages` maps
each populated page to its pool frame; the PageTable mirrors both for the
CPU. Small mappings are populated when made (a VM exit per page fault is
far dearer than writing a PTE), large ones on first touch, a window at a
time (mm/fault_ahead.py).

copy_in/copy_out walk VMAs, not page tables, and raise SyscallError(EFAULT)
for anything the program could not access itself: a bad guest pointer is
an errno, never a Python exception.
"""
import errno
from bisect import bisect_left, bisect_right
from collections import Counter
from itertools import compress, filterfalse, repeat
from operator import add, and_, countOf, is_, not_, sub

from kvmsentry.arch.layout import PAGE_SIZE, USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.mm.fault_ahead import PopulateAhead, fault_around, huge_allowed
from kvmsentry.mm.frame_runs import present_runs
from kvmsentry.mm.pagetable import (ADDR_MASK, HUGE_PAGES, HUGE_SIZE, LOWER_HALF_END, PTE_W,
                                    PageTable, leaf_flags)
from kvmsentry.mm.pool import OutOfMemory
from kvmsentry.mm.vma import (MAX_MAP_COUNT, PROT_EXEC, PROT_READ, PROT_WRITE, Vma,
                               VmaList)
from kvmsentry.record import replace
from kvmsentry.vfs import writecount

SIGBUS, SIGSEGV = 7, 11

PAGE_MASK = ~(PAGE_SIZE - 1)
EAGER_POPULATE_BYTES = 1 << 20       # populate mappings up to this at once
EAGER_COPY_PAGES = 128               # fork copies at most this many pages at once
FORK_CACHE_PAGES = 256               # ... and maps at most this many page-cache pages
MMAP_MIN_ADDR = 0x10000              # like vm.mmap_min_addr
MMAP_BASE = 0x7FFF_F7FF_F000         # top-down mmap start (Linux, no ASLR)
STACK_TOP = 0x7FFF_FFFF_F000
STACK_LIMIT = 8 << 20
STACK_GUARD_GAP = 256 * PAGE_SIZE    # Linux's stack_guard_gap default
_ZEROS = bytes(1 << 20)               # what never-written memory reads as


def page_up(n):
    return (n + PAGE_SIZE - 1) & PAGE_MASK


# Leaf PTE bits of each protection (PROT_READ | PROT_WRITE | PROT_EXEC
# combinations), computed once: every mapping and fork asks.
_PTE_FLAGS = tuple(leaf_flags(p & PROT_READ, p & PROT_WRITE, p & PROT_EXEC) for p in range(8))


def pte_flags(prot):
    return _PTE_FLAGS[prot & 7] if not prot & ~7 else \
        leaf_flags(prot & PROT_READ, prot & PROT_WRITE, prot & PROT_EXEC)


def cow_flags(prot):
    """Leaf bits of a writable page shared copy-on-write: readable (x86
    cannot make a page writable but unreadable, so a PROT_WRITE-only
    page is readable too), not writable."""
    if prot & PROT_WRITE:
        prot = prot & ~PROT_WRITE | PROT_READ
    return pte_flags(prot)


def index_runs(indices, step=1):
    """(first, count) of each run of numbers `step` apart in sorted,
    distinct `indices`, with a bisection per run rather than a step per
    number (a library's cached pages are hundreds, in a few runs):
    indices[k] - k * step is the same along a run and grows between runs."""
    n = len(indices)
    if n and indices[-1] - indices[0] == (n - 1) * step:
        return [(indices[0], n)]                    # (one run: the usual case)
    keys = list(map(sub, indices, range(0, n * step, step)))
    runs, i, n = [], 0, len(keys)
    while i < n:
        j = bisect_right(keys, keys[i], i)
        runs.append((indices[i], j - i))
        i = j
    return runs


def _plain_heap(vma):
    """True if a new heap mapping just above `vma` would merge into it
    (VmaList.merge_adjacent's test): brk expands the mapping below the
    break, as Linux's do_brk_flags, whichever call made it."""
    return not vma.name and vma.prot == PROT_READ | PROT_WRITE and \
        vma.cache is None and vma.special is None and not vma.grows_down and \
        not vma.locked and not vma.huge and not vma.fork_flags and not vma.noreserve


class AddressSpace:
    def __init__(self, pool, kernel_pdpt, make_table=PageTable):
        self.pool = pool
        self.view = pool.view
        # The platform's: a KVM page table, or systrap's host mappings.
        self.pt = make_table(pool, kernel_pdpt)
        self._kernel_pdpt = kernel_pdpt
        self._make_table = make_table
        self.vmas = VmaList()
        self.pages = {}             # page address -> frame phys
        self.cache_pages = {}       # page address -> PageCache, for frames we don't own
        self.patched_sites = set()  # syscall sites rewritten by the platform
        self.syscall_patches = None  # systrap's record of them (platform/systrap/patching.py)
        self.ahead = PopulateAhead()  # the anonymous fault window
        # A PTE bit the platform's table takes as "populated on speculation,
        # not for an access about to happen" (systrap then maps it without
        # making the host allocate it now); 0 where there is none.
        self._speculative = getattr(self.pt, "SPECULATIVE", 0)
        # Mappings up to this size get their frames when made: where a
        # fault is a VM exit (kvm) populating 1 MiB costs less than the
        # faults; where faults are cheap (systrap) only a fault window's
        # worth, as a program touches little of a larger malloc'd block.
        self.eager_bytes = getattr(self.pt, "EAGER_POPULATE_BYTES", EAGER_POPULATE_BYTES)
        self.brk_start = self.brk = 0
        self._revoke = []           # frames whose guest PTE lost a right
        # What exec recorded, for /proc/[pid]: the program's Location and
        # path, where argv and envp strings lie, the auxv bytes.
        self.exe, self.exe_name = None, ""
        self._exe_denied = None     # exe's inode while this mm keeps it from writers
        self.arg_range = self.env_range = (0, 0)
        self.start_stack = 0
        self.auxv = b""

    def set_exe(self, loc):
        """exec's program: kept, and kept from writers (ETXTBSY) as long as
        this address space is (Linux's exe_file)."""
        if loc is not None and loc.inode.is_reg():
            writecount.deny_write(loc.inode)
            self._exe_denied = loc.inode
        self.exe = loc

    def release_exe(self):
        """Writers may open the program again: this address space is going
        away (exit calls this before the exit is seen, as Linux's exit_mm
        comes before exit_notify; destroy again, harmlessly)."""
        if self._exe_denied is not None:
            writecount.allow_write(self._exe_denied)
            self._exe_denied = None

    @property
    def root(self):
        return self.pt.root

    # --- frames and PTEs ----------------------------------------------------
    def _populate(self, start, end, prot, speculative=False, guest=True):
        """Give every page of [start, end) a frame (it must lie in one VMA);
        `speculative`: before any access asked for them (a new small
        mapping, the stack's top), so the host need not back them yet.
        `guest` False: for the sentry's own access (see _populate_file)."""
        vma = self.vmas.find(start)
        if vma is not None and vma.cache is not None:
            self._populate_file(vma, start, min(end, vma.end), guest=guest)
            return
        pages = self.pages
        span = range(start, end, PAGE_SIZE)
        missing = list(span) if pages.keys().isdisjoint(span) else \
            [va for va in span if va not in pages]
        if len(missing) >= HUGE_PAGES and vma is not None and huge_allowed(vma):
            missing = self._populate_huge(missing, pte_flags(prot))
        if missing:
            # Ascending, so runs of pages get runs of frames (one host
            # mapping each on systrap; freed frames come back in any order).
            frames = sorted(self.pool.alloc_many(len(missing)))
            self.pool.back(frames)
            flags = pte_flags(prot) | (self._speculative if speculative else 0)
            self.pt.map_many(missing, frames, flags)
            pages.update(zip(missing, frames))

    def _populated(self, start, end):
        return not self.pages.keys().isdisjoint(range(start, end, PAGE_SIZE))

    def _populate_huge(self, missing, flags):
        """Give each 2 MiB-aligned range all of whose pages are in
        `missing` (sorted) one 2 MiB run of frames; return the pages
        left for 4 KiB frames."""
        rest, i, n = [], 0, len(missing)
        pool, pt, pages = self.pool, self.pt, self.pages
        while i < n:
            va = missing[i]
            if not va & (HUGE_SIZE - 1) and i + HUGE_PAGES <= n and \
                    missing[i + HUGE_PAGES - 1] == va + HUGE_SIZE - PAGE_SIZE:
                phys = pool.alloc_huge()
                if phys is not None:
                    pool.back_run(phys, HUGE_SIZE)
                    if pool.huge_leaves and not pt.has_table(va):
                        pt.map_huge(va, phys, flags)
                    else:
                        pt.map_run(va, phys, flags)
                    pages.update(zip(range(va, va + HUGE_SIZE, PAGE_SIZE),
                                     range(phys, phys + HUGE_SIZE, PAGE_SIZE)))
                    i += HUGE_PAGES
                    continue
            rest.append(va)
            i += 1
        return rest

    def _populate_file(self, vma, start, end, eof_page=None, guest=True):
        """File pages: the cache's frame itself for shared and read-only
        private mappings; a private copy for writable private ones. Pages
        wholly past EOF stay unmapped (touching them is SIGBUS).

        `guest` False: the sentry is about to read or write them (a
        writev from a mapped file, as apache2 sends one): cache frames are
        taken but not put in the guest's page table, which on systrap
        would cost a host mmap now and a munmap later, in the stub, for
        pages the program may never touch. Its first touch of one maps it
        (handle_fault)."""
        cache = vma.cache
        if eof_page is None:
            eof_page = (cache.size() + PAGE_SIZE - 1) >> 12
        first = vma.file_index(start)
        end = min(end, start + max(eof_page - first, 0) * PAGE_SIZE)
        if end <= start:
            return
        flags = pte_flags(vma.prot)
        copy = not vma.shared and vma.prot & PROT_WRITE
        pages, pool = self.pages, self.pool
        span = range(start, end, PAGE_SIZE)
        missing = list(span) if pages.keys().isdisjoint(span) else \
            [va for va in span if va not in pages]
        # A run of missing pages at a time, found by bisection (most often
        # the whole span is one).
        at = 0
        for va, count in index_runs(missing, PAGE_SIZE):
            run = missing[at:at + count]
            at += count
            index = first + ((va - start) >> 12)
            if copy:
                frames = pool.alloc_many(len(run))
                for k, phys in enumerate(frames):
                    pool.write(phys, cache.read_page(index + k))
            else:
                frames = cache.map_run(index, len(run))
                self.cache_pages.update(dict.fromkeys(run, cache))
            pages.update(zip(run, frames))
            if guest or copy:
                self.pt.map_many(run, frames, flags)

    def _drop(self, start, end):
        """Free the frames of [start, end) and clear their PTEs."""
        if self.patched_sites:
            self.patched_sites = {s for s in self.patched_sites if not start <= s < end}
        if self.syscall_patches is not None:
            self.syscall_patches.drop(start, end)
        pages, pt, pool = self.pages, self.pt, self.pool
        # (Both ways with C-level steps: filter calls range's own
        # membership test, and sorting a few thousand ints is cheap.)
        span = range(start, end, PAGE_SIZE)
        if len(span) > len(pages):
            victims = sorted(filter(span.__contains__, pages))
        else:
            victims = list(filter(pages.__contains__, span))
        # Whole 2 MiB ranges are cleared one table (or PS entry) at a time,
        # those that hold pages only (a reservation of terabytes has
        # millions of empty ones; systrap clears a range page by page).
        lo = -(-start // HUGE_SIZE) * HUGE_SIZE
        hi = max(end & ~(HUGE_SIZE - 1), lo)
        inner = victims[bisect_left(victims, lo):bisect_left(victims, hi)]
        for chunk in sorted(set(map(and_, inner, repeat(~(HUGE_SIZE - 1))))):
            pt.unmap_huge(chunk)
        cache_pages, cow = self.cache_pages, pool.cow_refs
        # Pages out of the maps with C-level steps; the PTEs outside the
        # whole ranges one by one.
        caches = list(map(cache_pages.pop, victims, repeat(None))) if cache_pages else None
        frames = list(map(pages.pop, victims))
        inner_lo, inner_hi = bisect_left(victims, lo), bisect_left(victims, hi)
        for va in victims[:inner_lo] + victims[inner_hi:]:
            pt.unmap(va)
        if caches is None or caches.count(None) == len(caches):
            caches = None
        if cow.keys().isdisjoint(frames):
            # (The common case: the vDSO's frames keep cow_refs non-empty.)
            if caches is None:
                freed = frames                      # private pages: all freed
            else:
                own = list(map(is_, caches, repeat(None)))
                freed = list(compress(frames, own))
                # The page cache's frames stay the cache's; the guest loses them.
                self._revoke.extend(compress(frames, map(not_, own)))
                for cache, count in Counter(compress(caches, map(not_, own))).items():
                    cache.unmap_pages(count)
        else:
            freed, unmapped = [], Counter()
            for phys, cache in zip(frames, caches or repeat(None)):
                if cache is None:
                    if phys not in cow or not self._unshare(phys):
                        freed.append(phys)   # MADV_REMOVE also drops KVM's copy
                    else:
                        self._revoke.append(phys)
                else:
                    self._revoke.append(phys)
                    unmapped[cache] += 1
            for cache, count in unmapped.items():
                cache.unmap_pages(count)
        if freed:
            hold = getattr(pt, "hold_frees", None)
            if hold is None or not hold(freed):
                pool.free_many(freed)

    def _reprotect(self, start, end, old_prot, new_prot):
        flags = pte_flags(new_prot)
        lost = old_prot & ~new_prot
        pages, pt = self.pages, self.pt
        for va in range(start, end, PAGE_SIZE):
            phys = pages.get(va)
            if phys is None:
                continue
            if va in self.cache_pages and new_prot & PROT_WRITE and \
                    not self.vmas.find(va).shared:
                phys = self._private_copy(va)
            if phys in self.pool.cow_refs:
                pt.map(va, phys, cow_flags(new_prot))   # copied on write
            else:
                pt.map(va, phys, flags)
            if lost:
                self._revoke.append(phys)

    def _unshare(self, phys):
        """Drop this address space's share of a copy-on-write frame; False
        if the frame was not shared (the caller owns it alone)."""
        refs = self.pool.cow_refs.get(phys)
        if refs is None:
            return False
        if refs <= 2:
            del self.pool.cow_refs[phys]
        else:
            self.pool.cow_refs[phys] = refs - 1
        return True

    def _break_cow(self, va):
        """Give va a frame of its own if it shares one after fork; return
        the (now private) frame. The PTE gets the VMA's full rights."""
        phys = self.pages[va]
        if phys in self.pool.cow_refs:
            new = self.pool.alloc()
            self.view[new:new + PAGE_SIZE] = self.view[phys:phys + PAGE_SIZE]
            self._unshare(phys)
            self._revoke.append(phys)
            self.pages[va] = phys = new
        self.pt.map(va, phys, pte_flags(self.vmas.find(va).prot))
        return phys

    def _private_copy(self, va):
        """Replace a cache frame mapped at va by a private copy of it."""
        cache = self.cache_pages.pop(va)
        old = self.pages[va]
        phys = self.pool.alloc()
        self.pool.write(phys, self.pool.read(old, PAGE_SIZE))
        self.pages[va] = phys
        self._revoke.append(old)
        cache.unmap_page()
        return phys

    def retire_tainted(self):
        """Move every private page on a frame that once held a page table
        to a clean frame, retiring the old one (KVM may still write-track
        it: mm/pool.py); return how many moved."""
        pool, moved = self.pool, 0
        for va, phys in list(self.pages.items()):
            if not pool.is_tainted(phys) or va in self.cache_pages or phys in pool.cow_refs:
                continue
            new = pool.alloc_clean()
            self.view[new:new + PAGE_SIZE] = self.view[phys:phys + PAGE_SIZE]
            self.pages[va] = new
            self.pt.map(va, new, self.pt.lookup(va) & ~ADDR_MASK)
            pool.retire(phys)
            moved += 1
        return moved

    def flush(self):
        """Make the guest see every PTE change made since the last flush.
        Called by the platform before it resumes the guest."""
        if self._revoke:
            self.pool.revoke(self._revoke)
            self._revoke = []

    # --- mappings -----------------------------------------------------------
    def map_anonymous(self, start, length, prot, name="", grows_down=False,
                      populate=None, huge=0, speculative=None, noreserve=False, merge=False):
        """Create a private anonymous mapping at exactly [start, start+len),
        replacing whatever was there (MAP_FIXED semantics). `populate`:
        give it frames now (None: if it is small); `speculative` (default:
        unless populate was asked for): see _populate. `merge`: join the
        neighbours it matches, as a new mapping of mmap(2) does on Linux
        (vma_merge_new_range)."""
        end = start + page_up(length)
        self.check_map_count()
        self.unmap(start, end - start)
        self.vmas.insert(Vma(start, end, prot, name, grows_down, huge=huge, noreserve=noreserve))
        if merge:
            self.vmas.merge_adjacent(start, end)
        if speculative is None:
            speculative = populate is None
        if populate is None:
            populate = end - start <= self.eager_bytes
        if populate and prot:
            self._populate_new(start, end, prot, speculative)
        return start

    def _populate_new(self, start, end, prot, speculative=False):
        """Populate a mapping just made; without the memory, undo it: ENOMEM."""
        try:
            self._populate(start, end, prot, speculative)
        except OutOfMemory:
            self.unmap(start, end - start)
            raise SyscallError(errno.ENOMEM)

    def map_file(self, start, length, prot, cache, offset, shared, name="", may_write=True,
                 populate=False, file_size=None):
        """A file mapping at exactly [start, start+length) (MAP_FIXED
        semantics) of `cache` (a PageCache) from file offset `offset`.
        `file_size`: the file's size if the caller knows it now (exec has
        the bytes), saving a stat of the file for each use."""
        end = start + page_up(length)
        self.check_map_count()
        eof_page = None if file_size is None else (file_size + PAGE_SIZE - 1) >> 12
        kept = self._take_same_pages(start, end, prot, cache, offset, shared, eof_page)
        self.unmap(start, end - start)
        if shared and prot & PROT_WRITE:
            cache.shared_writable = True
        vma = Vma(start, end, prot, name, cache=cache, offset=offset, shared=shared,
                  may_write=may_write)
        self.vmas.insert(vma)
        if kept is not None:
            vas, frames, lost = kept
            self.pages.update(zip(vas, frames))
            self.cache_pages.update(dict.fromkeys(vas, cache))
            self.pt.map_many(vas, frames, pte_flags(prot))
            if lost:
                self._revoke.extend(frames)
        # A read-only shared mapping of a file the program has never
        # touched through a mapping is left to faults, as Linux leaves every
        # mapping: apache2 maps each file it sends and only hands the
        # mapping to writev, which the sentry serves without the guest's
        # page table.
        eager = prot and not (shared and not prot & PROT_WRITE and not populate
                              and not cache.touched)
        if eager and (populate or end - start <= self.eager_bytes):
            if eof_page is None:
                self._populate_new(start, end, prot)
            else:
                try:
                    self._populate_file(vma, start, end, eof_page)
                except OutOfMemory:
                    self.unmap(start, end - start)
                    raise SyscallError(errno.ENOMEM)
        elif eager and (shared or not prot & PROT_WRITE) and cache.frames:
            self._map_cached(vma, eof_page)
        return start

    @staticmethod
    def image_vmas(pieces, name):
        """The Vmas map_image makes of `pieces`."""
        return [Vma(start, end, prot, name) if cache is None else
                Vma(start, end, prot, name, cache=cache, offset=offset)
                for start, end, prot, cache, offset, _, _, _ in pieces]

    def map_image(self, pieces, name, vmas=None):
        """exec's mappings of a program's segments, made in one step into
        this address space while it has none (a map_file or map_anonymous
        each would look for mappings to replace, merge and split, and find
        none). `pieces`: [(start, end, prot, cache, offset, file_size,
        data, speculative)], page-aligned, in address order and apart,
        none of 2 MiB. A piece with a cache is a private mapping of its
        file as map_file makes one; one without gets zeroed frames now (as
        map_anonymous with populate), the bytes of `data` (None: none)
        copied to its start. `vmas`: image_vmas(pieces, name) made before,
        copied here. ENOMEM if the pool runs out (the caller destroys the
        address space)."""
        vmas = self.image_vmas(pieces, name) if vmas is None else [v.copy() for v in vmas]
        self.vmas.fill(vmas)
        pool, pages, view = self.pool, self.pages, self.view
        try:
            for vma, (start, end, prot, cache, _, file_size, data, speculative) in \
                    zip(vmas, pieces):
                if cache is not None:
                    eof_page = (file_size + PAGE_SIZE - 1) >> 12
                    # A read-only piece (the program's text) up to 1 MiB is
                    # filled whole at once, not window by window as faults
                    # come: its cache frames are then one run (alloc_run),
                    # one host mapping and one step of every later fork's
                    # and exec's drain. A later exec maps all the cached
                    # pages anyway (_map_cached).
                    if end - start <= self.eager_bytes or \
                            end - start <= EAGER_POPULATE_BYTES and not prot & PROT_WRITE:
                        self._populate_file(vma, start, end, eof_page)
                    elif cache.frames:
                        self._map_cached(vma, eof_page)
                    continue
                vas = list(range(start, end, PAGE_SIZE))
                frames = sorted(pool.alloc_many(len(vas)))
                pool.back(frames)
                self.pt.map_many(vas, frames,
                                 pte_flags(prot) | (self._speculative if speculative else 0))
                pages.update(zip(vas, frames))
                if data:
                    for at, phys in zip(range(0, len(data), PAGE_SIZE), frames):
                        chunk = data[at:at + PAGE_SIZE]
                        view[phys:phys + len(chunk)] = chunk
        except OutOfMemory:
            raise SyscallError(errno.ENOMEM) from None

    def _take_same_pages(self, start, end, prot, cache, offset, shared, eof_page):
        """The page-cache pages that a private read-only file mapping about
        to replace [start, end) would map again at the same addresses: an
        old private mapping of the same file at the same offsets holds
        them (ld.so maps each library over its own PROT_READ reservation
        of it, hundreds of pages). They are taken out of the maps, for
        unmap to leave alone, and returned as (addresses, frames, whether
        they lose a right) for map_file to put back with the new
        protection; None if there are none."""
        cache_pages = self.cache_pages
        if shared or not prot or prot & PROT_WRITE or not cache_pages:
            return None
        vas, lost = [], False
        for old in self.vmas.overlapping(start, end):
            if old.cache is not cache or old.shared or old.offset - old.start != offset - start:
                continue
            span = range(max(old.start, start), min(old.end, end), PAGE_SIZE)
            same = list(compress(span, map(is_, map(cache_pages.get, span), repeat(cache))))
            if same:
                vas += same
                lost = lost or bool(old.prot & ~prot)
        if not vas:
            return None
        if eof_page is None:
            eof_page = (cache.size() + PAGE_SIZE - 1) >> 12
        # (Not a page wholly past the end of the file now: it is SIGBUS's.)
        del vas[bisect_left(vas, start + ((eof_page - (offset >> 12)) << 12)):]
        list(map(cache_pages.__delitem__, vas))
        return vas, list(map(self.pages.pop, vas)), lost

    def _map_cached(self, vma, eof_page=None):
        """Map the pages of a large file mapping that the page cache holds
        already (a library's, kept from its last use): a fault for each
        16 pages of them would cost far more than mapping them now."""
        first = vma.file_index(vma.start)
        count = (vma.end - vma.start) >> 12
        if eof_page is None:
            eof_page = (vma.cache.size() + PAGE_SIZE - 1) >> 12
        indices = vma.cache.cached(first, count)
        del indices[bisect_left(indices, eof_page):]
        for index, n in index_runs(indices):
            va = vma.start + ((index - first) << 12)
            self._populate_file(vma, va, va + (n << 12), eof_page)

    def check_map_count(self, splits=0):
        """ENOMEM when a new mapping (or `splits` more pieces of existing
        ones) would pass vm.max_map_count, as Linux's do_mmap and
        split_vma refuse; also before the platform's own limit would be
        passed (systrap's host mappings)."""
        more = splits or 1
        count = len(self.vmas)
        if count + more > MAX_MAP_COUNT or not self.pt.has_room_for_maps(count, more):
            raise SyscallError(errno.ENOMEM)

    def find_free(self, length, hint=0, align=PAGE_SIZE):
        """An address for a new mapping: the hint if free, else top-down,
        a multiple of `align` (Linux aligns anonymous mappings of whole
        2 MiB units so that they can hold 2 MiB runs)."""
        length = page_up(length)
        if hint:
            hint &= PAGE_MASK
            if hint >= MMAP_MIN_ADDR and hint + length <= MMAP_BASE and \
                    self.vmas.is_free(hint, hint + length):
                return hint
        pad = align - PAGE_SIZE
        addr = self.vmas.find_gap_top_down(length + pad, MMAP_BASE, MMAP_MIN_ADDR)
        if addr is None and pad:
            return self.find_free(length)
        if addr is None:
            raise SyscallError(errno.ENOMEM)
        return (addr + pad) & ~(align - 1)

    def find_free_below(self, length, limit):
        """An address for a MAP_32BIT mapping (below limit)."""
        addr = self.vmas.find_gap_top_down(page_up(length), limit, MMAP_MIN_ADDR)
        if addr is None:
            raise SyscallError(errno.ENOMEM)
        return addr

    def prefault(self, start, end, write=False, speculative=False):
        """Populate [start, end) now (it must lie inside one VMA); with
        `write`, as a write would: copy-on-write frames are copied."""
        vma = self.vmas.find(start)
        if vma is not None and vma.prot:
            end = min(end, vma.end)
            self._populate(start, end, vma.prot, speculative)
            if write and self.pool.cow_refs:
                for va in range(start, end, PAGE_SIZE):
                    if self.pages.get(va) in self.pool.cow_refs:
                        self._break_cow(va)

    def accessible(self, addr, length, write):
        """How many bytes from addr (at most length) the program could
        access in one run: a transfer stops at the first hole, as Linux's
        copies do. EFAULT if not even the first byte is accessible."""
        if length == 0:
            return 0
        if addr < 0 or addr >= USER_TOP:
            raise SyscallError(errno.EFAULT)
        end = min(addr + length, USER_TOP)
        pos = addr
        while pos < end:
            vma = self.vmas.find(pos)
            if vma is None or not (vma.prot & PROT_WRITE if write else vma.prot):
                break
            pos = vma.end
        if pos == addr:
            raise SyscallError(errno.EFAULT)
        return min(pos, end) - addr

    def check_access(self, addr, length, write):
        """EFAULT unless [addr, addr+length) is all mapped with the access."""
        if length == 0:
            return
        end = addr + length
        if addr < 0 or end > USER_TOP:
            raise SyscallError(errno.EFAULT)
        while addr < end:
            vma = self.vmas.find(addr)
            if vma is None or not (vma.prot & PROT_WRITE if write else vma.prot):
                raise SyscallError(errno.EFAULT)
            addr = vma.end

    def unmap(self, start, length):
        end = start + page_up(length)
        for vma in self.vmas.remove_range(start, end):
            self._drop(vma.start, vma.end)

    def protect(self, start, length, prot):
        """mprotect(2) on [start, start+length). Like Linux, the mapped
        pages before the first hole are changed, then the hole is ENOMEM."""
        end = start + page_up(length)
        covered = start
        for vma in self.vmas.overlapping(start, end):
            if vma.start > covered:
                break
            if prot & PROT_WRITE and not vma.may_write:
                raise SyscallError(errno.EACCES)
            covered = vma.end
        stop = min(covered, end)
        for vma in self.vmas.remove_range(start, stop):
            old = vma.prot
            vma.prot = prot
            self.vmas.insert(vma)
            self._reprotect(vma.start, vma.end, old, prot)
            if prot and vma.end - vma.start <= self.eager_bytes:
                self._populate(vma.start, vma.end, prot)
        self.vmas.merge_adjacent(start, end)
        if stop < end:
            raise SyscallError(errno.ENOMEM)

    def discard(self, start, length):
        """MADV_DONTNEED: private pages read back as zeros (or as the file).
        Mapped pages before the first hole are dropped, then the hole is
        ENOMEM, as Linux does."""
        end = start + page_up(length)
        covered = start
        for vma in self.vmas.overlapping(start, end):
            if vma.start > covered:
                break
            self._drop(max(vma.start, start), min(vma.end, end))
            covered = vma.end
        if covered < end:
            raise SyscallError(errno.ENOMEM)

    def remap(self, old, old_len, new_len, may_move, fixed_addr=None):
        """mremap(2); returns the new address. Frames move with the pages."""
        old_len, new_len = page_up(old_len), page_up(new_len)
        vma = self.vmas.find(old)
        if vma is None or old + old_len > vma.end:
            raise SyscallError(errno.EFAULT)
        if new_len > old_len and vma.special is not None:
            raise SyscallError(errno.EFAULT)      # VM_DONTEXPAND
        if fixed_addr is None and new_len <= old_len:
            self.unmap(old + new_len, old_len - new_len)
            return old
        moved_vma = replace(vma, start=old, end=old + new_len,
                            offset=vma.offset + (old - vma.start))
        if fixed_addr is None and self.vmas.is_free(old + old_len, old + new_len) \
                and old + new_len <= MMAP_BASE:
            self.vmas.remove_range(old, old + old_len)
            self.vmas.insert(moved_vma)
            self.vmas.merge_adjacent(old, old + new_len)
            if new_len - old_len <= self.eager_bytes and vma.prot:
                self._populate(old + old_len, old + new_len, vma.prot)
            return old
        if not may_move:
            raise SyscallError(errno.ENOMEM)
        if fixed_addr is not None and fixed_addr < old + old_len and old < fixed_addr + new_len:
            raise SyscallError(errno.EINVAL)
        if fixed_addr is not None and fixed_addr + new_len > USER_TOP:
            raise SyscallError(errno.EINVAL)
        if fixed_addr is not None and fixed_addr < MMAP_MIN_ADDR:
            raise SyscallError(errno.EPERM)       # Linux's security_mmap_addr
        new = fixed_addr if fixed_addr is not None else self.find_free(new_len)
        if fixed_addr is not None:
            self.unmap(new, new_len)
        moved = {}
        for off in range(0, min(old_len, new_len), PAGE_SIZE):
            phys = self.pages.pop(old + off, None)
            if phys is not None:
                self.pt.unmap(old + off)
                moved[new + off] = (phys, self.cache_pages.pop(old + off, None))
        self._revoke.extend(phys for phys, _ in moved.values())
        self.unmap(old, old_len)
        self.vmas.insert(replace(moved_vma, start=new, end=new + new_len))
        flags = pte_flags(vma.prot)
        for va, (phys, cache) in moved.items():
            self.pages[va] = phys
            if cache is not None:
                self.cache_pages[va] = cache
            self.pt.map(va, phys, flags)
        return new

    def _brk_room(self, old_top, new_top):
        """Whether the heap may grow from old_top to new_top: as Linux's
        brk, a page stays free between the new break and the next
        mapping, and the stack guard gap too below one that grows down
        (vm_start_gap)."""
        above = self.vmas.overlapping(old_top, new_top + PAGE_SIZE + STACK_GUARD_GAP)
        if not above:
            return True
        start = above[0].start
        if above[0].grows_down:
            start = max(start - STACK_GUARD_GAP, 0)
        return new_top + PAGE_SIZE <= start

    def set_brk(self, new):
        """brk(2): returns the break after the call (unchanged on failure)."""
        if new < self.brk_start:
            return self.brk
        old_top, new_top = page_up(self.brk), page_up(new)
        if new_top > old_top:
            if new_top > USER_TOP or not self._brk_room(old_top, new_top):
                return self.brk
            heap = self.vmas.find(old_top - PAGE_SIZE) if old_top > self.brk_start else None
            if heap is not None and _plain_heap(heap):
                # The heap grows in place, as Linux's brk expands the VMA
                # below the break; a mapping just above it stays apart
                # (do_brk_flags merges with none), as does the new one
                # made below otherwise.
                heap.end = new_top
                if new_top - old_top <= self.eager_bytes:
                    try:
                        self._populate_new(old_top, new_top, PROT_READ | PROT_WRITE, True)
                    except SyscallError:
                        return self.brk
                self.brk = new
                return new
            try:
                self.map_anonymous(old_top, new_top - old_top, PROT_READ | PROT_WRITE)
            except SyscallError:
                return self.brk
        elif new_top < old_top:
            self.unmap(new_top, old_top - new_top)
        self.brk = new
        return new

    # --- faults -------------------------------------------------------------
    def handle_fault(self, addr, write, execute):
        """Resolve a guest #PF if the VMA allows the access: return None
        when handled, else the signal to deliver (SIGSEGV, or SIGBUS for a
        file page wholly past the end of the file)."""
        vma = self.vmas.find(addr)
        if vma is None or not vma.prot:
            return SIGSEGV
        if write and not vma.prot & PROT_WRITE:
            return SIGSEGV
        if execute and not vma.prot & PROT_EXEC:
            return SIGSEGV
        page = addr & PAGE_MASK
        if vma.cache is not None:
            vma.cache.touched = True
        if page in self.pages:
            if write and page in self.cache_pages and not vma.shared:
                self._private_copy(page)
                self.pt.map(page, self.pages[page], pte_flags(vma.prot))
                return None
            if page in self.cache_pages and not self.pt.lookup(page):
                # Taken for the sentry only (_populate_file): the guest's
                # first touch maps it and its neighbours.
                self._map_for_guest(vma, *fault_around(page, vma))
                return None
            if write and page not in self.cache_pages and not self.pt.lookup(page) & PTE_W:
                self._break_cow(page)
                return None
            # Present and allowed: a stale guest translation. Drop it, and
            # hand the platform the PTE again: systrap's host process was
            # seen without the mapping (apache2 under ab then faulted on
            # one page forever); on KVM the rewrite is of the same value
            # (not inside a 2 MiB mapping, which map() would split).
            self._revoke.append(self.pages[page])
            if not self.pt.is_huge(page):
                self.pt.map(page, self.pages[page], self.pt.lookup(page) & ~ADDR_MASK)
            return None
        if vma.cache is not None:
            start, end = fault_around(page, vma)
        elif huge_allowed(vma):
            start, end = self.ahead.huge_window(page, vma, self._populated)
        else:
            start, end = self.ahead.window(page, vma)
        try:
            self._populate(start, end, vma.prot)
        except OutOfMemory:
            try:                                # not the window: the page alone
                self._populate(page, page + PAGE_SIZE, vma.prot)
            except OutOfMemory:
                return SIGBUS
        if page not in self.pages:
            return SIGBUS                       # past the end of the file
        return None

    def _map_for_guest(self, vma, start, end):
        """Put the file pages of [start, end) (in vma) in the guest's page
        table: those the sentry took for itself, and those not taken yet."""
        try:
            self._populate(start, end, vma.prot)
        except OutOfMemory:
            pass                                # the faulting page is there
        pages, pt = self.pages, self.pt
        own = [va for va in range(start, end, PAGE_SIZE)
               if va in self.cache_pages and not pt.lookup(va)]
        pt.map_many(own, [pages[va] for va in own], pte_flags(vma.prot))

    # --- copying --------------------------------------------------------------
    def _frame_for(self, va, need):
        """Frame phys of the page holding va, populating it if the VMA allows
        `need` (PROT_READ or PROT_WRITE); EFAULT otherwise."""
        page = va & PAGE_MASK
        phys = self.pages.get(page)
        vma = self.vmas.find(va) if va < LOWER_HALF_END else None
        # x86 cannot make a page writable or executable but unreadable.
        if vma is None or not (vma.prot & PROT_WRITE if need == PROT_WRITE
                               else vma.prot):
            raise SyscallError(errno.EFAULT)
        if phys is None:
            try:
                self._populate(page, page + PAGE_SIZE, vma.prot, guest=False)
            except OutOfMemory:
                raise SyscallError(errno.EFAULT)
            phys = self.pages.get(page)
            if phys is None:
                raise SyscallError(errno.EFAULT)    # past the end of the file: SIGBUS to a load

        elif need == PROT_WRITE and phys in self.pool.cow_refs:
            phys = self._break_cow(page)
        return phys

    def copy_in(self, addr, length):
        """Bytes at guest [addr, addr+length)."""
        if length == 0:
            return b""
        if addr < 0 or length < 0 or addr + length > USER_TOP:
            raise SyscallError(errno.EFAULT)
        page = addr & PAGE_MASK
        if addr + length <= page + PAGE_SIZE:
            # Within one present, readable page (a syscall's struct or
            # pointer): _frame_for's answer without the loop.
            phys = self.pages.get(page)
            if phys is not None and addr < LOWER_HALF_END:
                vma = self.vmas.find(addr)
                if vma is not None and vma.prot:
                    lo = phys + addr - page
                    return self.view[lo:lo + length].tobytes()
        view, out = self.view, []
        while length:
            off = addr & (PAGE_SIZE - 1)
            n = min(length, PAGE_SIZE - off)
            if (addr & PAGE_MASK) not in self.pages and self._untouched_anonymous(addr):
                # Like Linux's zero page: reading memory never written
                # costs no frame (a write of a huge untouched buffer
                # must not allocate it).
                out.append(bytes(n))
            else:
                phys = self._frame_for(addr, PROT_READ)
                out.append(view[phys + off:phys + off + n].tobytes())
            addr += n
            length -= n
        return b"".join(out)

    def _untouched_anonymous(self, addr):
        vma = self.vmas.find(addr) if addr < LOWER_HALF_END else None
        if vma is None or not vma.prot:
            raise SyscallError(errno.EFAULT)
        return vma.cache is None

    def copy_out(self, addr, data):
        """Write data at guest addr; return len(data)."""
        length = len(data)
        if length == 0:
            return 0
        if addr < 0 or addr + length > USER_TOP:
            raise SyscallError(errno.EFAULT)
        page = addr & PAGE_MASK
        if addr + length <= page + PAGE_SIZE and addr < LOWER_HALF_END:
            # Within one present page of its own (a stat buffer, a short
            # read): _frame_for's answer without the loop.
            phys = self.pages.get(page)
            if phys is not None and phys not in self.pool.cow_refs:
                vma = self.vmas.find(addr)
                if vma is not None and vma.prot & PROT_WRITE:
                    lo = phys + addr - page
                    self.view[lo:lo + length] = data if type(data) is bytes \
                        else memoryview(data).cast("B")
                    return length
        view, pos = self.view, 0
        data = memoryview(data).cast("B")
        while pos < length:
            off = addr & (PAGE_SIZE - 1)
            n = min(length - pos, PAGE_SIZE - off)
            phys = self._frame_for(addr, PROT_WRITE)
            view[phys + off:phys + off + n] = data[pos:pos + n]
            addr += n
            pos += n
        return length

    def write_buffers(self, addr, length):
        """Writable memoryviews of the guest frames behind [addr,
        addr+length), frames made ready as copy_out would (populated,
        copy-on-write broken), adjacent frames joined: for reading a host
        file straight into guest memory. EFAULT as copy_out raises it."""
        if addr < 0 or addr + length > USER_TOP:
            raise SyscallError(errno.EFAULT)
        if length == 0:
            return []
        fast = self._present_views(addr, length, write=True)
        if fast is not None:
            return fast
        start, end, runs = addr, addr + length, []
        pages, cow = self.pages, self.pool.cow_refs
        while addr < end:
            vma = self.vmas.find(addr)
            if vma is None or not vma.prot & PROT_WRITE:
                raise SyscallError(errno.EFAULT)
            stop = min(end, vma.end)
            first, last = addr & PAGE_MASK, page_up(stop)
            try:
                self._populate(first, last, vma.prot, guest=False)
            except OutOfMemory:
                raise SyscallError(errno.EFAULT)
            lo = hi = -1
            for va in range(first, last, PAGE_SIZE):
                phys = pages.get(va)
                if phys is None:                 # a file page past its end
                    raise SyscallError(errno.EFAULT)
                if phys in cow:
                    phys = self._break_cow(va)
                if phys != hi:
                    if lo >= 0:
                        runs.append([lo, hi])
                    lo = phys
                hi = phys + PAGE_SIZE
            runs.append([lo, hi])
            addr = stop
        # Only the first and the last page can be partly outside the range.
        runs[0][0] += start & (PAGE_SIZE - 1)
        runs[-1][1] -= page_up(end) - end
        return [self.view[lo:hi] for lo, hi in runs]

    def _present_views(self, addr, length, write):
        """write_buffers() / read_buffers() when [addr, addr+length) lies
        in one VMA that allows the access (for writing, a private
        anonymous one) and every page has a frame (for writing, its own,
        not shared after fork): views of the runs of adjacent frames,
        found with no Python per page. None otherwise."""
        vma = self.vmas.find(addr)
        end = addr + length
        if vma is None or end > vma.end:
            return None
        if write:
            if vma.cache is not None or not vma.prot & PROT_WRITE:
                return None
        elif not vma.prot:
            return None
        first = addr & PAGE_MASK
        if end - first <= PAGE_SIZE:             # within one page: most buffers
            phys = self.pages.get(first)
            if phys is None or write and phys in self.pool.cow_refs:
                return None
            lo = phys + (addr - first)
            return [self.view[lo:lo + length]]
        found = present_runs(self.pages, first, end)
        if found is None:
            return None                          # a page not populated yet
        runs, frames = found
        if write:
            cow = self.pool.cow_refs
            if cow and not cow.keys().isdisjoint(frames):
                return None
        # Only the first and the last page can be partly outside the range.
        view, head, tail = self.view, addr - first, -end & (PAGE_SIZE - 1)   # (page_up(end) - end)
        if len(runs) == 1:
            return [view[runs[0][0] + head:runs[0][1] - tail]]
        views = [view[lo:hi] for lo, hi in runs]
        views[0] = view[runs[0][0] + head:runs[0][1]]
        views[-1] = view[runs[-1][0]:runs[-1][1] - tail]
        return views

    def read_buffers(self, addr, length):
        """Memoryviews of the bytes at [addr, addr+length), in order, for
        writing guest memory to a host file: the frames themselves, and
        for anonymous memory never written a view of zeros (no frame is
        made, as copy_in makes none). EFAULT as copy_in raises it."""
        if addr < 0 or addr + length > USER_TOP:
            raise SyscallError(errno.EFAULT)
        if length == 0:
            return []
        fast = self._present_views(addr, length, write=False)
        if fast is not None:
            return fast
        start, end, runs = addr, addr + length, []   # [phys or None, lo, hi]
        pages = self.pages
        while addr < end:
            vma = self.vmas.find(addr) if addr < LOWER_HALF_END else None
            if vma is None or not vma.prot:
                raise SyscallError(errno.EFAULT)
            stop = min(end, vma.end)
            first, last = addr & PAGE_MASK, page_up(stop)
            if vma.cache is not None:
                try:
                    self._populate(first, last, vma.prot, guest=False)
                except OutOfMemory:
                    raise SyscallError(errno.EFAULT)
            for va in range(first, last, PAGE_SIZE):
                phys = pages.get(va)
                if phys is None and vma.cache is not None:
                    raise SyscallError(errno.EFAULT)  # a file page past its end
                last_run = runs[-1] if runs else None
                if phys is None:
                    if last_run is not None and last_run[0] is None \
                            and last_run[2] < len(_ZEROS):
                        last_run[2] += PAGE_SIZE
                    else:
                        runs.append([None, 0, PAGE_SIZE])
                elif last_run is not None and last_run[0] is not None \
                        and last_run[2] == phys:
                    last_run[2] += PAGE_SIZE
                else:
                    runs.append([phys, phys, phys + PAGE_SIZE])
            addr = stop
        # Only the first and the last page can be partly outside the range.
        runs[0][1] += start & (PAGE_SIZE - 1)
        runs[-1][2] -= page_up(end) - end
        zeros, view = memoryview(_ZEROS), self.view
        return [(view if phys is not None else zeros)[lo:hi] for phys, lo, hi in runs]

    def read_cstring(self, addr, limit=4096):
        """A NUL-terminated string at addr (without the NUL); ENAMETOOLONG
        past limit bytes."""
        # Every path argument comes here: when the string ends in the
        # present, readable page it starts in, find its end in the frame.
        page = addr & PAGE_MASK
        phys = self.pages.get(page)
        if phys is not None and addr < LOWER_HALF_END:
            vma = self.vmas.find(addr)
            if vma is not None and vma.prot:
                mem, start = self.pool.mem, phys + addr - page
                nul = mem.find(b"\0", start, min(phys + PAGE_SIZE, start + limit))
                if nul >= 0:
                    return mem[start:nul]
        out = bytearray()
        while len(out) < limit:
            off = addr & (PAGE_SIZE - 1)
            # One page at a time: the string may end just before a hole.
            chunk = self.copy_in(addr, min(PAGE_SIZE - off, limit - len(out)))
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                return bytes(out)
            out += chunk
            addr += len(chunk)
        raise SyscallError(errno.ENAMETOOLONG)

    def write_code(self, addr, data):
        """Write into a mapped page regardless of its protection (the
        sentry patching a private code page); False if not populated."""
        page = addr & PAGE_MASK
        phys = self.pages.get(page)
        if phys is None or (addr & (PAGE_SIZE - 1)) + len(data) > PAGE_SIZE:
            return False
        if page in self.cache_pages:
            # Never patch the page cache: give this mapping its own copy.
            phys = self._private_copy(page)
            self.pt.map(page, phys, pte_flags(self.vmas.find(page).prot))
        elif phys in self.pool.cow_refs:
            phys = self._break_cow(page)
        off = addr & (PAGE_SIZE - 1)
        self.view[phys + off:phys + off + len(data)] = data
        return True

    def is_writable(self, addr):
        vma = self.vmas.find(addr)
        return vma is not None and bool(vma.prot & PROT_WRITE)

    def read_code(self, addr, length):
        """Bytes of a populated page regardless of protection, or b""."""
        phys = self.pages.get(addr & PAGE_MASK)
        off = addr & (PAGE_SIZE - 1)
        if phys is None:
            return b""
        n = min(length, PAGE_SIZE - off)
        return bytes(self.view[phys + off:phys + off + n])

    # --- fork -------------------------------------------------------------------
    def fork(self, alone=False):
        """A copy of this address space for a forked child. Private pages
        become copy-on-write: both sides map the frame read-only and the
        first write fault (or sentry write) copies it. A small process
        (`alone`: no other thread can write meanwhile) has its writable
        private pages copied now instead: a copy of a page costs about a
        microsecond, a write fault tens, and right after fork both sides
        write to their stack and libc's data at once. Pages a mapping
        holds of its file's page cache are not copied: the child faults
        them in from the cache as it touches them (Linux's fork copies no
        PTEs of a file mapping without private pages either), which after
        a fork that execs is most of them never; but a small process's
        child gets the parent's few (FORK_CACHE_PAGES) pages of code and
        read-only data mapped at once: the code that returns from fork and
        calls execve is on them (its fault was the one round trip left
        between the two), and so is the path it passes."""
        child = AddressSpace(self.pool, self._kernel_pdpt, self._make_table)
        child.brk_start, child.brk = self.brk_start, self.brk
        child.patched_sites = set(self.patched_sites)
        if self.syscall_patches is not None:
            child.syscall_patches = self.syscall_patches.copy()
        child.exe, child.exe_name = self.exe, self.exe_name
        if self._exe_denied is not None:      # (cannot fail: writers are kept out already)
            writecount.deny_write(self._exe_denied)
            child._exe_denied = self._exe_denied
        child.arg_range, child.env_range = self.arg_range, self.env_range
        child.start_stack, child.auxv = self.start_stack, self.auxv
        child.vmas = self.vmas.forked()
        pool, pages, cache_pages = self.pool, self.pages, self.cache_pages
        refs = pool.cow_refs
        # A VMA at a time, its pages found by bisecting the sorted list:
        # one map_many per VMA and side instead of a call per page.
        vas = sorted(pages)
        # (Each VMA's pages bisected once, for both uses below.)
        spans = [(vma, bisect_left(vas, vma.start), bisect_left(vas, vma.end))
                 for vma in self.vmas]
        eager = alone and sum(hi - lo for v, lo, hi in spans
                              if v.prot & PROT_WRITE and not v.shared) <= EAGER_COPY_PAGES
        share_cache = eager and len(cache_pages) <= FORK_CACHE_PAGES
        for vma, lo, hi in spans:
            if lo == hi or vma.fork_flags:
                continue                  # not in the child, or zero-filled there
            flags = pte_flags(vma.prot)
            own, cache = vas[lo:hi], vma.cache
            if cache_pages and not cache_pages.keys().isdisjoint(own):
                # Which cache each page's frame is (None: its own), with
                # C-level steps: a library's VMA has hundreds of pages.
                mine, owners = own, list(map(cache_pages.get, own))
                own, shared = list(compress(mine, map(is_, owners, repeat(None)))), []
                if len(own) + owners.count(cache) != len(mine):
                    for va, other in zip(mine, owners):
                        if other is not None and other is not cache:   # (none expected)
                            other.mapped += 1
                            child.cache_pages[va] = other
                            child.pages[va] = pages[va]
                            child.pt.map(va, pages[va], flags)
                if share_cache and cache is not None and \
                        (vma.prot & PROT_EXEC or vma.prot == PROT_READ):
                    # (Read-only data too: the path execve is given is
                    # there, and the sentry's read of it would fault.)
                    shared = list(compress(mine, map(is_, owners, repeat(cache))))
                # else the page cache's frames: the child faults them in
                if shared:
                    cache.mapped += len(shared)
                    child.cache_pages.update(dict.fromkeys(shared, cache))
                    frames = list(map(pages.__getitem__, shared))
                    child.pages.update(zip(shared, frames))
                    child.pt.map_many(shared, frames, flags | child._speculative)
            if not own:
                continue
            own_frames = list(map(pages.__getitem__, own))
            if eager and vma.prot & PROT_WRITE and not vma.shared:
                copied = self._copies(own, own_frames, vma.cache is None)
                if copied is not None:
                    # (Speculative: a child that execs at once touches
                    # two or three of them.)
                    copied_vas, copies = copied
                    child.pages.update(zip(copied_vas, copies))
                    child.pt.map_many(copied_vas, copies, flags | child._speculative)
                    continue
            refs.update(zip(own_frames, map(add, map(refs.get, own_frames, repeat(1)),
                                            repeat(1))))
            if vma.prot & PROT_WRITE:
                flags = cow_flags(vma.prot)
                self.pt.map_many(own, own_frames, flags)
                self._revoke.extend(own_frames)   # the parent's writable translations
            child.pages.update(zip(own, own_frames))
            child.pt.map_many(own, own_frames, flags)
        # Now, not at the parent's next entry: its other threads may be
        # running with writable translations of the frames just shared.
        self.flush()
        return child

    def _copies(self, vas, frames, anonymous):
        """(pages, new frames) holding what `frames` (at `vas`) hold for
        the child, or None if the pool has too few (copy-on-write will do
        then). A page of zeros (most of a fresh stack, a heap's tail) is
        not copied: of an anonymous mapping the child gets no page at all
        (a touch faults in a zero page, as for memory never written; a
        child that execs never touches them), of a file's private mapping
        a fresh frame (one that reads as zeros, not as the file). Which
        pages those are is found with C-level steps, the copies of the
        others one by one."""
        view = self.view
        pages = list(map(view.__getitem__, map(slice, frames, map(add, frames,
                                                                  repeat(PAGE_SIZE)))))
        data = list(map(not_, map(_ZEROS[:PAGE_SIZE].startswith, pages)))
        if anonymous and not all(data):
            vas, pages = list(compress(vas, data)), list(compress(pages, data))
            data = repeat(True)
        try:
            new = self.pool.alloc_many(len(pages))
        except OutOfMemory:
            return None
        for page, phys in compress(zip(pages, new), data):
            view[phys:phys + PAGE_SIZE] = page
        return vas, new

    # --- lifetime -------------------------------------------------------------
    def take_host_state(self, old):
        """execve, once old is nobody else's: this fresh address space may
        keep what the platform built for old (systrap's child process);
        True if it did."""
        adopt = getattr(self.pt, "adopt", None)
        return adopt is not None and adopt(old.pt)

    def destroy(self):
        """Release every frame at once. No PTE is cleared page by page: the
        page table (or systrap's child process) goes as a whole, and no
        thread runs in this address space any more."""
        self.release_exe()
        pool, pages, cache_pages = self.pool, self.pages, self.cache_pages
        cow = pool.cow_refs
        if cache_pages:
            # (Each cache's count with C-level steps: a program has one to
            # a few caches and hundreds of their pages.)
            owners = list(cache_pages.values())
            for cache in dict.fromkeys(owners):
                cache.unmap_pages(countOf(owners, cache))
            freed = list(map(pages.__getitem__, pages.keys() - cache_pages.keys()))
        else:
            freed = list(pages.values())
        if cow:
            shared = cow.keys() & freed       # copy-on-write frames: one share less
            if shared:
                for phys in shared:           # (_unshare's steps)
                    refs = cow[phys]
                    if refs <= 2:
                        del cow[phys]
                    else:
                        cow[phys] = refs - 1
                freed = list(filterfalse(shared.__contains__, freed))
        self.pages, self.cache_pages, self._revoke = {}, {}, []
        self.patched_sites = set()
        self.syscall_patches = None
        self.pt.destroy()
        if freed:
            pool.free_many(freed)

    def vma_name(self, vma):
        """The name maps shows: "[heap]" for an anonymous mapping over the
        heap (its start to the break), whatever call made it, as Linux's
        vma_is_initial_heap; else the mapping's own."""
        if vma.cache is None and vma.start < self.brk and vma.end > self.brk_start:
            return "[heap]"
        return vma.name

    def maps(self):
        """Text in the shape of /proc/self/maps (for reports and debug)."""
        lines = []
        for v in self.vmas:
            perms = ("r" if v.prot & PROT_READ else "-") + \
                    ("w" if v.prot & PROT_WRITE else "-") + \
                    ("x" if v.prot & PROT_EXEC else "-") + "p"
            lines.append("%012x-%012x %s 00000000 00:00 0 %s"
                         % (v.start, v.end, perms, self.vma_name(v)))
        return "\n".join(lines)
