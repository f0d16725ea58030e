"""The PageTable of an address space on systrap: the same interface as
mm/pagetable.PageTable (map, map_many, unmap, lookup, destroy), but what it
"maps" becomes host mmaps of the pool memfd in the child process, made by
the stub. Changes are kept as the last state of each page and turned,
when a thread of the child next resumes, into as few mmap/munmap calls as
runs of contiguous pages and frames allow.
"""
from bisect import bisect_left
from collections import deque
from itertools import compress, groupby, repeat
from operator import add, and_, eq, not_, or_, sub

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.mm.pagetable import (ADDR_MASK, HUGE_PAGES, HUGE_SIZE, LOWER_HALF_END, PTE_NX,
                                    PTE_P, PTE_W)
from kvmsentry.platform.systrap import emit_c, layout
from kvmsentry.platform.systrap.host_runs import HostRuns

NR_MMAP, NR_MPROTECT, NR_MUNMAP = 9, 10, 11
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED_FIXED = 0x1 | 0x10
MAP_POPULATE = 0x8000
# Runs this long are mapped with their page-table entries made at once:
# one host call instead of a host page fault per page (a window the sentry
# populated for a fault is about to be touched).
POPULATE_PAGES = 16
POPULATE_BYTES = POPULATE_PAGES * PAGE_SIZE
# A software bit of a PTE (x86 leaves bits 9-11 to the OS): the page was
# populated on speculation (a small new mapping, the stack's top), not for
# an access about to happen; its run is mapped without MAP_POPULATE, and
# the host backs only the pages the program touches, as Linux would.
PTE_SPECULATIVE = 1 << 9
# A child's own host mappings before any of the program's (the stub's
# text and data, its slots, [stack], [vvar], [vdso]: 8 measured), with
# room to spare: the program's limit is the host's minus these.
STUB_MAPS = 64
DEFAULT_MAX_MAP_COUNT = 65530
# At most this many munmaps for the old program's runs the new table does
# not cover (a reused process's wipe); more, and its three whole-range
# munmaps are cheaper.
WIPE_PIECES = 24


def host_max_map_count():
    """The host's vm.max_map_count (read before the sentry confines
    itself; Linux's default if it cannot be read)."""
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return DEFAULT_MAX_MAP_COUNT


HUGE_MASK = ~(HUGE_SIZE - 1)
_RESERVED_LO, _RESERVED_HI = layout.RESERVED_LO, layout.RESERVED_HI
_TABLE_VA, _TABLE_END = layout.TABLE_VA, layout.TABLE_VA + layout.TABLE_SIZE
_POOL_FD = layout.POOL_FD


# prot_of's answer for a present PTE, by its W bit and its NX bit (63):
# [W | NX << 1].
_PROTS = (PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC, PROT_READ,
          PROT_READ | PROT_WRITE)


def prot_of(pte):
    if not pte & PTE_P:
        return 0
    prot = PROT_READ
    if pte & PTE_W:
        prot |= PROT_WRITE
    if not pte & PTE_NX:
        prot |= PROT_EXEC
    return prot


def _add_piece(pieces, a, b):
    """Append [a, b) to the sorted ranges `pieces`, joined to the last if
    it ends at a."""
    if pieces and pieces[-1][1] == a:
        pieces[-1] = (pieces[-1][0], b)
    else:
        pieces.append((a, b))


class HostMappings:
    root = None                    # no page table of ours: the host kernel's
    SPECULATIVE = PTE_SPECULATIVE
    EAGER_POPULATE_BYTES = POPULATE_BYTES    # (mm/address_space.py)
    # A new table's runs drained in C (emit_c.py); False: by _emit_past,
    # the reference the C is tested against.
    emit_in_c = True

    def __init__(self, machine):
        self.machine = machine
        self.ptes = {}             # page -> phys | leaf flags, as a PageTable holds them
        self.huge = {}             # 2 MiB-aligned va -> pte of a whole 2 MiB run of frames
        self.dirty = {}            # page -> pte the child has not been told yet
        self.dirty_huge = {}       # 2 MiB-aligned va -> pte (or 0) of a whole range, ditto
        self.process = None        # the child (process.ChildProcess), made on first use
        # What the child's host mappings hold, as the host kernel's VMAs:
        # each counts against the host's vm.max_map_count, and the program
        # must get ENOMEM from its mmap before the stub's mmap would
        # (check_map_count).
        self.host = HostRuns()
        self.wipe = False          # unmap the old program's host mappings first
        # The old program's host runs (a HostRuns) when the wipe may keep
        # those the new table maps alike (same pages, frames and rights):
        # fork's child and a new image share the program's code, the
        # vDSO's, often a stack frame; each kept is a host mmap and its
        # page faults fewer.
        self.stale = None
        self.held = []             # unmapped frames the pool gets back after the host munmap
        self.table_hit = False     # a mapping is about to go over the patched sites' table

    def ensure_process(self):
        if self.process is None:
            proc = self.machine.idle.take()
            if proc is not None:
                # A process an address space ended in: what the old
                # program's mappings hold that ours do not goes before the
                # first of ours runs (as adopt).
                proc.mappings, proc.kept = self, False
                self.process, self.wipe = proc, True
                self.stale, proc.host_runs = proc.host_runs, None
            else:
                from kvmsentry.platform.systrap.process import ChildProcess
                self.process = ChildProcess(self.machine, self)
        return self.process

    def has_dirty(self):
        return bool(self.dirty or self.dirty_huge or self.wipe)

    def adopt(self, old):
        """execve: this new table takes over old's child process, whose one
        thread is the exec'ing task's, instead of a fresh one from the
        zygote (Linux keeps the process too): its old mappings are
        unmapped (but those this table maps alike) before the first of
        ours runs. False (nothing changed) when
        the process is shared, has other threads (the sentry's or the
        host's count), or is gone."""
        proc = getattr(old, "process", None)
        if proc is None or self.process is not None or not proc.alive or \
                proc.threads() != 1 or proc.thread_ops or not proc.one_program_thread():
            return False
        old.process = None
        old.dirty, old.dirty_huge = {}, {}
        proc.mappings = self
        self.process = proc
        self.wipe = True
        # (what the host holds, unless the old table's wipe is not done)
        self.stale = None if old.wipe or old.stale is not None else old.host
        old.host = HostRuns()
        return True

    def pages(self):
        """page -> pte of every page mapped (runs expanded)."""
        out = dict(self.ptes)
        for va, pte in self.huge.items():
            for k in range(HUGE_PAGES):
                out[va + k * PAGE_SIZE] = pte + k * PAGE_SIZE
        return out

    # --- PageTable's interface ---------------------------------------------------
    def map(self, va, phys, flags):
        if va & (PAGE_SIZE - 1) or va >= LOWER_HALF_END or va < 0:
            raise ValueError("bad user page address %#x" % va)
        if self.huge and va & HUGE_MASK in self.huge:
            self._split(va & HUGE_MASK)
        pte = (phys & ADDR_MASK) | flags
        old = self.ptes.get(va, 0)
        self.ptes[va] = pte
        self.dirty[va] = pte
        return old

    def map_many(self, vas, frames, flags):
        ptes, dirty, huge = self.ptes, self.dirty, self.huge
        if not huge:
            # (frames are page-aligned pool addresses: phys & ADDR_MASK is phys)
            new = dict(zip(vas, map(or_, frames, repeat(flags))))
            ptes.update(new)
            dirty.update(new)
            return
        for va, phys in zip(vas, frames):
            if huge and va & HUGE_MASK in huge:
                self._split(va & HUGE_MASK)
            pte = (phys & ADDR_MASK) | flags
            ptes[va] = pte
            dirty[va] = pte

    def unmap(self, va):
        if self.huge and va & HUGE_MASK in self.huge:
            self._split(va & HUGE_MASK)
        old = self.ptes.pop(va, 0)
        if old:
            self.dirty[va] = 0
        return old

    def lookup(self, va):
        pte = self.ptes.get(va)
        if pte is not None:
            return pte
        pte = self.huge.get(va & HUGE_MASK) if self.huge else None
        return pte + (va & (HUGE_SIZE - 1) & ~(PAGE_SIZE - 1)) if pte else 0

    def _split(self, chunk):
        """A run becomes 512 page entries (a 4 KiB change inside it). The
        child's mapping is the same either way: nothing to tell it, and a
        run it was not told yet stays queued before the page's change."""
        pte = self.huge.pop(chunk)
        ptes = self.ptes
        for k in range(HUGE_PAGES):
            ptes[chunk + k * PAGE_SIZE] = pte + k * PAGE_SIZE

    # 2 MiB ranges: no PS entries here (the host maps what the stub asks);
    # a run is one entry, and one host call.
    def has_table(self, va):
        return True

    def is_huge(self, va):
        return False

    def map_run(self, va, phys, flags):
        if va & (HUGE_SIZE - 1) or va >= LOWER_HALF_END or va < 0:
            raise ValueError("bad 2 MiB address %#x" % va)
        self._clear_pages(va)
        self.huge[va] = (phys & ADDR_MASK) | flags
        self.dirty_huge[va] = self.huge[va]

    def unmap_huge(self, va):
        had = self.huge.pop(va, None) is not None
        if self._clear_pages(va) or had:
            self.dirty_huge[va] = 0

    def _clear_pages(self, chunk):
        """Forget the page entries of [chunk, chunk + 2 MiB), told or
        not: a call for the whole range follows. True if any was mapped."""
        span, mapped = range(chunk, chunk + HUGE_SIZE, PAGE_SIZE), False
        for table in (self.ptes, self.dirty):
            if table.keys().isdisjoint(span):
                continue                    # (the common case, checked in C)
            for page in span:
                if table.pop(page, None) is not None:
                    mapped = True
        return mapped

    def has_room_for_maps(self, vmas, more):
        """Room for `more` mappings: the program's VMAs become at least as
        many host mappings once touched, and holes or scattered frames in
        one become more, so the larger of the two counts is checked."""
        return max(vmas, self.host_maps) + more <= self.machine.map_limit

    def hold_frees(self, frames):
        """Frames just unmapped, which another thread of the child can
        still reach through its host mapping until the stub's munmap runs
        (Linux frees a page only after the TLB shootdown): they go back to
        the pool after the calls ran (release_held). Held with one thread
        the sentry knows of too: a thread the program made through the
        stub's clone runs unseen and would read and write the frames while
        another process gets them. False: free them now (no child)."""
        proc = self.process
        if proc is None or not proc.alive:
            return False
        self.held.extend(frames)
        return True

    def release_held(self):
        held, self.held = self.held, []
        if held:
            self.machine.pool.free_many(held)

    def destroy(self):
        self.release_held()
        pending = self.wipe or self.stale is not None     # (host state unknown)
        self.ptes, self.dirty, self.huge, self.dirty_huge = {}, {}, {}, {}
        host, self.host = self.host, HostRuns()
        self.stale = None
        if self.process is not None:
            # (what its host mappings are, for the next table's wipe)
            self.process.host_runs = None if pending else host
            self.machine.idle.put(self.process)
            self.process = None

    # --- what the child must do ------------------------------------------------
    def drain(self, limit):
        """Up to `limit` (nr, args) host calls that bring the child's
        mappings up to date; what does not fit stays for the next call.
        Entries go in address order, a 2 MiB one before the pages inside
        it (changed after it), and runs of neighbours with contiguous
        frames and the same rights (or all unmapped) become one call.
        Called under the kernel lock, which every change to the table is
        made under too (systrap/context.py), so threads of one child
        drain one at a time."""
        ops, vas = [], None
        if self.wipe:
            self.wipe = False
            stale, self.stale = self.stale, None
            pieces = None
            if stale is not None and not self.dirty_huge and \
                    self.process is not None and self.process.mappings_known:
                vas = sorted(self.dirty)           # (_drain_pages's too)
                pieces = self._stale_pieces(stale, vas)
            if pieces is None:
                ops += self._wipe_all()
            else:
                ops += [(NR_MUNMAP, (a, b - a)) for a, b in pieces]
                self.stale = stale             # (_drain_new drops what it still maps)
        if self.stale is None:
            return self._drain_new(ops, limit)[1]
        done = len(ops)
        huge, ops = self._drain_new(ops, limit, vas)
        stale = self.stale
        if not self.dirty and not self.dirty_huge:
            self.stale = None
        if huge:
            ops[done:] = _without_alike(stale, ops[done:])
        return ops

    def _wipe_all(self):
        """The ranges the stub clears at its start: everything but itself.
        The patched sites' table stays (patching.py), unless the program's
        mappings had replaced it."""
        lo, hi = layout.RESERVED_LO, layout.RESERVED_HI
        t_lo, t_hi = layout.TABLE_VA, layout.TABLE_VA + layout.TABLE_SIZE
        if self.process is not None and not self.process.table_ok:
            t_lo = t_hi
        return [(NR_MUNMAP, (layout.USER_LO, t_lo - layout.USER_LO)),
                (NR_MUNMAP, (t_hi, lo - t_hi)),
                (NR_MUNMAP, (hi, layout.USER_HI - hi))]

    def _stale_pieces(self, stale, vas):
        """The parts of the old program's host runs that no page of this
        (new, wholly unsent, without 2 MiB entries, whose calls could
        overlap its pages' and undo a kept mapping) table covers: they are
        unmapped; the rest is replaced or, mapped alike, kept. vas: the
        table's pages, sorted. None if there are too many pieces. Pieces
        that meet are one (old runs side by side: [vvar] and [vdso] at
        an old exec's random address, a stack's runs): one munmap."""
        pieces = []
        runs = stale.runs
        for s in stale.starts:
            e = runs[s][0]
            lo, hi = bisect_left(vas, s), bisect_left(vas, e)
            if hi - lo == (e - s) // PAGE_SIZE:
                continue                        # (every page of it is in the table)
            a = s
            for va in vas[lo:hi]:
                if va > a:
                    _add_piece(pieces, a, va)
                a = va + PAGE_SIZE
            if a < e:
                _add_piece(pieces, a, e)
            if len(pieces) > WIPE_PIECES:
                return None
        return pieces

    def _drain_new(self, ops, limit, vas=None):
        """drain()'s calls for the table's changes (after any wipe); vas:
        the changed pages sorted, if known. True if 2 MiB entries were
        among them: the mmaps of what stale maps alike are still in ops
        (page entries alone leave them out as they go); and ops, or what
        replaced them (_drain_pages)."""
        dirty, dirty_huge = self.dirty, self.dirty_huge
        if not dirty and not dirty_huge:
            return False, ops
        if not dirty_huge:
            return False, self._drain_pages(ops, limit, vas)
        entries = [(va, 0, PAGE_SIZE) for va in dirty]
        entries += [(va, -1, HUGE_SIZE) for va in dirty_huge]
        entries.sort()
        i, n = 0, len(entries)
        while i < n and len(ops) < limit:
            start, kind, size = entries[i]
            pte = (dirty_huge if kind else dirty).pop(start)
            phys = pte & ADDR_MASK
            end = start + size
            i += 1
            while i < n and entries[i][0] == end:
                va, kind, size = entries[i]
                table = dirty_huge if kind else dirty
                nxt = table[va]
                if pte & PTE_P:
                    if nxt != (pte & ~ADDR_MASK) | (phys + (end - start)):
                        break
                elif nxt & PTE_P:
                    break
                del table[va]
                end += size
                i += 1
            self._emit(ops, start, end, pte)
        return True, ops

    def _drain_pages(self, ops, limit, vas=None):
        """drain() with page entries only (the common case): the runs are
        found with whole-list steps, not a Python step per page. Returns
        ops with the calls after them (a new table's as emit_c.PackedOps)."""
        dirty = self.dirty
        if vas is None:
            vas = sorted(dirty)
        ptes = list(map(dirty.__getitem__, vas))
        n = len(vas)
        host = self.host
        past = not host.starts or vas[0] >= host.runs[host.starts[-1]][0]
        done = None
        if past and self.emit_in_c:
            packed = emit_c.emit_past(self, ops, limit, vas, ptes)
            if packed is not None:
                ops, done = packed
        if done is None:
            bounds = _run_bounds(vas, ptes)
            if past:
                done = self._emit_past(ops, limit, vas, ptes, bounds)
            else:
                done = self._emit_runs(ops, limit, vas, ptes, bounds)
        if done == n:
            dirty.clear()
        else:
            deque(map(dirty.pop, vas[:done]), maxlen=0)
        return ops

    def _emit_runs(self, ops, limit, vas, ptes, bounds):
        """The runs' calls, each by _emit (the host's mappings reach past
        the first: a change may be a mprotect, a set may split a run).
        Returns how many pages were sent."""
        stale, done = self.stale, len(ops)
        for k in range(len(bounds) - 1):
            if len(ops) >= limit:
                break
            first, last = bounds[k], bounds[k + 1] - 1
            self._emit(ops, vas[first], vas[last] + PAGE_SIZE, ptes[first])
        else:
            k = len(bounds) - 1
        if stale is not None:
            ops[done:] = _without_alike(stale, ops[done:])
        return bounds[k]

    def _emit_past(self, ops, limit, vas, ptes, bounds):
        """_emit_runs for runs that all lie past the host's last mapping
        (a new table's, filled in address order: a fork's child, a new
        image): each mapped run is an mmap appended to the host's runs,
        none a mprotect, less the parts the old program's host mappings
        (stale) hold alike. One loop, no call per run."""
        host, stale = self.host, self.stale
        starts, runs = host.starts, host.runs
        if stale is not None:
            s_starts, s_runs = stale.starts, stale.runs
            s_n, j = len(s_starts), 0
        speculative = PTE_SPECULATIVE
        for k in range(len(bounds) - 1):
            if len(ops) >= limit:
                return bounds[k]
            i = bounds[k]
            start, end, pte = vas[i], vas[bounds[k + 1] - 1] + PAGE_SIZE, ptes[i]
            if start < _TABLE_END and end > _TABLE_VA or \
                    end > _RESERVED_LO and start < _RESERVED_HI:
                at = len(ops)
                self._emit(ops, start, end, pte)
                if stale is not None:
                    ops[at:] = _without_alike(stale, ops[at:])
                continue
            if not pte & PTE_P:
                ops.append((NR_MUNMAP, (start, end - start)))
                continue
            prot = _PROTS[(pte & PTE_W) >> 1 | pte >> 62 & 2]
            phys = pte & ADDR_MASK
            first = phys | prot
            # (the host's runs: this one continues the last, or follows it)
            if starts:
                s = starts[-1]
                e, f = runs[s]
                if e == start and f + (e - s) == first:
                    runs[s] = (end, f)
                else:
                    starts.append(start)
                    runs[start] = (end, first)
            else:
                starts.append(start)
                runs[start] = (end, first)
            flags = MAP_SHARED_FIXED
            if end - start >= POPULATE_BYTES and not pte & speculative:
                flags |= MAP_POPULATE
            if stale is None:
                ops.append((NR_MMAP, (start, end - start, prot, flags, _POOL_FD, phys)))
                continue
            # Only the parts the old mappings do not map alike: a program's
            # text, one run of 100+ pages, differs from the last program's
            # by the pages a syscall-site patch copied.
            while j < s_n and s_runs[s_starts[j]][0] <= start:
                j += 1
            pieces, at, m = [], start, j
            while m < s_n and s_starts[m] < end:
                s = s_starts[m]
                e, f = s_runs[s]
                lo = s if s > start else start
                if f + (lo - s) == first + (lo - start):
                    if lo > at:
                        pieces.append((at, lo))
                    at = e if e < end else end
                m += 1
            if at < end:
                pieces.append((at, end))
            if len(ops) + len(pieces) > limit:
                pieces = ((start, end),)        # (one call fits: the caller's margin)
            for a, b in pieces:
                ops.append((NR_MMAP, (a, b - a, prot, flags, _POOL_FD, phys + (a - start))))
        return bounds[-1]

    def _emit(self, ops, start, end, pte):
        """The host calls for [start, end) mapped from pte's frame on (or
        unmapped), never over the stub and its slots (the program may ask)."""
        if start < _TABLE_END and end > _TABLE_VA:
            self.table_hit = True          # (systrap/context.py turns patching off)
        prot = prot_of(pte)
        phys = pte & ADDR_MASK
        if end <= _RESERVED_LO or start >= _RESERVED_HI:
            # (the common case: one piece, nowhere near the stub)
            pieces = ((start, end),)
        else:
            pieces = ((start, min(end, _RESERVED_LO)), (max(start, _RESERVED_HI), end))
        set_host = self.host.set
        for a, b in pieces:
            if a >= b:
                continue
            if prot and self.stale is None and self.host.maps_frames(a, b, phys + (a - start)) \
                    and self.process is not None and self.process.mappings_known:
                # Only the rights change (a fork's copy-on-write, a RELRO):
                # the host keeps its page-table entries, where an mmap over
                # the range would drop them and the program fault each again.
                ops.append((NR_MPROTECT, (a, b - a, prot)))
                set_host(a, b, phys + (a - start) | prot)
            elif prot:
                flags = MAP_SHARED_FIXED
                if b - a >= POPULATE_BYTES and not pte & PTE_SPECULATIVE:
                    flags |= MAP_POPULATE
                first = phys + (a - start)
                ops.append((NR_MMAP, (a, b - a, prot, flags, _POOL_FD, first)))
                set_host(a, b, first | prot)
            else:
                ops.append((NR_MUNMAP, (a, b - a)))
                set_host(a, b, 0)

    @property
    def host_maps(self):
        """How many host mappings (VMAs) the child holds of the pool."""
        return len(self.host)


def _run_bounds(vas, ptes):
    """Where the runs of pages vas (sorted) with ptes start: [0, ..., n],
    each run one host call. Found with C-level steps, no Python step per
    page."""
    n = len(vas)
    if n == 1:
        return [0, 1]
    bounds = _bounds_mapped(vas, ptes)
    if bounds is not None:
        return bounds
    # Page i+1 joins page i's run if it is the next page, and either
    # maps the next frame with the same rights or neither is mapped.
    follows = map(eq, vas[1:], map(add, vas, repeat(PAGE_SIZE)))
    same = map(eq, ptes[1:], map(add, ptes, repeat(PAGE_SIZE)))
    unmapped = list(map(not_, map(and_, ptes, repeat(PTE_P))))
    joins = map(and_, follows, map(or_, same, map(and_, unmapped, unmapped[1:])))
    bounds = [0]
    bounds += compress(range(1, n), map(not_, joins))
    bounds.append(n)
    return bounds


def _bounds_mapped(vas, ptes):
    """_run_bounds if every page is mapped (a fork's or an exec's table;
    else None): a run's pages have one pte - va, so the runs are the
    groups of equal ones (found in C, a Python step per run, not per
    page), split again where pages are missing between two of a group
    (its frames skip as far: rare). A group's ptes differ by whole
    pages, so they share their flags: its first tells if it is mapped."""
    bounds, at = [0], 0
    for _, group in groupby(map(sub, ptes, vas)):
        if not ptes[at] & PTE_P:
            return None
        last = at + len(list(group))
        if vas[last - 1] - vas[at] != (last - 1 - at) * PAGE_SIZE:
            bounds += [i for i in range(at + 1, last) if vas[i] != vas[i - 1] + PAGE_SIZE]
        bounds.append(last)
        at = last
    return bounds


def _without_alike(stale, ops):
    """ops less the mmaps of what stale's runs (the host's mappings before
    a wipe, kept where no piece was unmapped) already map: the same pages
    of the same frames, with the same rights. The mmaps come in address
    order (drain's), so one walk along the runs finds them."""
    starts, runs = stale.starts, stale.runs
    n, j, kept = len(starts), 0, []
    for op in ops:
        if op[0] == NR_MMAP:
            args = op[1]
            a = args[0]
            while j < n and runs[starts[j]][0] <= a:
                j += 1
            if j < n and starts[j] <= a:
                e, f = runs[starts[j]]
                if a + args[1] <= e and f + (a - starts[j]) == args[5] | args[2]:
                    continue
        kept.append(op)
    return kept
