"""The guest-physical page pool: one memfd, mapped once into the sentry.

Frames are handed out above the reserved region. A freed frame's backing is
released with MADV_REMOVE, so the host memory goes back to the system and
the frame reads as zeros when it is handed out again.

Two facts about shadow-paging KVMs (kvm_pvm here, and any KVM without
EPT/NPT) shape this module; both were measured on these machines:

* KVM caches its translation of a guest page-table page by frame number
  and only notices changes the *guest* writes. The sentry writes page
  tables from the host, so a frame that ever held a page table is never
  handed out as a page table again.
* While KVM keeps such a shadow page, it write-protects the frame: every
  guest store to it is trapped and emulated, and KVM cannot emulate
  vector stores (a VEX `vmovdqu` ends KVM_RUN with an internal error,
  suberror 1: the exec-loop crash of issue 13). So a freed page-table
  frame waits in quarantine, not reused at all, across two zaps of the
  shadow MMU (zap_shadow, set by the machine: KVM_SET_NR_MMU_PAGES
  lowered to its minimum and restored zaps the oldest shadow pages, all
  but the newest 64 and the roots vCPUs hold, safely while vCPUs run);
  then it may become a data frame. Should a store still meet a tracked
  frame, the platform moves the page to a clean frame (retire()) and
  runs the instruction again.
* A translation the guest may still hold for a data frame is dropped by
  changing the host's own mapping of that frame: KVM's MMU notifier then
  zaps every guest mapping of it. MADV_REMOVE does that for freed frames;
  revoke() does it, content intact, for frames whose guest PTE lost a
  permission or that moved. On EPT hosts the same notifier flushes the
  guest TLB, so the mechanism is correct everywhere.
"""
import mmap
import os

from kvmsentry.arch.layout import PAGE_SIZE, RESERVED_BYTES

DEFAULT_POOL_BYTES = 4 << 30
QUARANTINE_FRAMES = 512           # freed page-table frames before a shadow zap
MADV_POPULATE_WRITE = 23          # Linux 5.14
HUGE_BYTES = 2 << 20              # a run alloc_huge hands out
READY_RUNS = 32                   # freed runs kept with their host memory (64 MiB)
WARM_FRAMES = 1024                # freed single frames kept with it (4 MiB; warm_frames)


_ZEROS = None                     # HUGE_BYTES of zeros, made on first use


def _zeros():
    """HUGE_BYTES of zeros, made on first use."""
    global _ZEROS
    if _ZEROS is None:
        _ZEROS = bytes(HUGE_BYTES)
    return _ZEROS


class OutOfMemory(Exception):
    """The pool has no free frame left (becomes ENOMEM for the guest)."""


class PhysPool:
    def __init__(self, size=DEFAULT_POOL_BYTES, reserved=RESERVED_BYTES):
        if size % PAGE_SIZE or size <= reserved:
            raise ValueError("pool size must be page-aligned and above %d" % reserved)
        self.size = size
        self.fd = os.memfd_create("kvmsentry-pool", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.mem = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.mem)
        self._cmem = None                       # a ctypes view, made on first use
        self.words = self.view.cast("Q")       # 64-bit view for page tables
        self._next = reserved                   # bump pointer (physical)
        self._free = []                         # released, never a page table
        self._free_huge = []                    # released 2 MiB runs, never tables
        self._ready = []                        # ... the same, host memory kept, zeroed
        self._warm = []                         # released frames, host memory kept, zeroed
        self._free_tainted = []                 # released, once a page table, zapped since
        self._quarantine = []                   # released page tables, not zapped yet
        self._zapped_once = []                  # ... zapped once since their release
        self._tainted = set()                   # ever held a page table
        self._tables = set()                    # holds one now
        self.zap_shadow = None                  # empties KVM's shadow MMU (the machine's)
        self.shadow_zaps = 0
        self.retired = 0
        self.frames_in_use = 0
        self.cow_refs = {}                      # frame -> address spaces sharing it (>= 2)
        self._can_back = True                   # MADV_POPULATE_WRITE works here
        # back() single frames too (on KVM the guest's first touch of one
        # is an exit; systrap's child maps them itself, one fault).
        self.back_pages = True
        self._backed_runs = set()               # 2 MiB runs the sentry's mapping maps
        # A KVM maps frames through the sentry's mapping of the memfd (its
        # MMU notifier drops a guest translation when the sentry's goes).
        # Without one (systrap: the child maps the memfd itself, and its
        # mappings change by its own calls) that is not needed.
        self.kvm_translations = True
        # How many freed single frames keep their host memory, zeroed here,
        # instead of an MADV_REMOVE (the machine sets it where no KVM needs
        # the removal to drop its translations: systrap). A fork + exec +
        # exit frees and takes again some 25-40 frames (stacks, data,
        # copies); a removed one costs the host its freeing and then a
        # shared-memory allocation at the next first touch (~1.5 us a page
        # here), a kept one a memset (~0.05 us) and a minor fault.
        self.warm_frames = 0
        # Map 2 MiB runs with one PS entry (the machine sets it where the
        # hardware walks guest page tables: mm/pagetable.py says why).
        self.huge_leaves = False

    def host_address(self):
        """The sentry-side address of guest physical 0 (for the memslot)."""
        from kvmsentry._kvm import ffi
        return int(ffi.cast("uintptr_t", ffi.from_buffer(self.mem)))

    def alloc(self):
        """Return the physical address of a zeroed data frame."""
        self.frames_in_use += 1
        if self._free_tainted:
            return self._free_tainted.pop()
        if self._warm:
            return self._warm.pop()
        if self._free:
            return self._free.pop()
        if self._next >= self.size and (self._release_quarantine()
                                        or self._release_quarantine()):
            return self._free_tainted.pop()
        return self._bump()

    def alloc_many(self, count):
        """Physical addresses of `count` zeroed data frames (freed frames
        first, then a contiguous run from the bump pointer); all or none."""
        # The tail of a free list, in its (mostly ascending) order:
        # adjacent frames make one run for preadv (mm.write_buffers).
        taken = []
        if not self._free_tainted:
            for free in (self._warm, self._free):
                if 0 < count - len(taken) <= len(free):
                    n = count - len(taken)
                    taken += free[-n:]
                    del free[-n:]
                    break
        while len(taken) < count and (self._free_tainted or self._warm or self._free):
            taken.append(self._free_tainted.pop() if self._free_tainted
                         else self._warm.pop() if self._warm else self._free.pop())
        need = count - len(taken)
        if need and self._next + need * PAGE_SIZE <= self.size:
            start = self._next
            self._next += need * PAGE_SIZE
            taken.extend(range(start, self._next, PAGE_SIZE))
        self.frames_in_use += len(taken)
        try:
            while len(taken) < count:
                taken.append(self.alloc())
        except OutOfMemory:
            for phys in taken:
                self.free(phys)
            raise
        return taken

    def alloc_run(self, count):
        """alloc_many, but the frames one ascending run where the pool has
        one: a free list's tail in order, else fresh frames from the bump
        pointer (a page cache's, kept for as long as the file is used: a
        program's text that is one run of frames is one host mapping, and
        one step of a drain, in every process that maps it)."""
        if count > 1 and not self._free_tainted:
            for free in (self._warm, self._free):
                if len(free) >= count and free[-1] - free[-count] == (count - 1) * PAGE_SIZE \
                        and free[-count:] == list(range(free[-count], free[-1] + 1, PAGE_SIZE)):
                    taken = free[-count:]
                    del free[-count:]
                    self.frames_in_use += count
                    return taken
            if self._next + count * PAGE_SIZE <= self.size:
                start = self._next
                self._next += count * PAGE_SIZE
                self.frames_in_use += count
                return list(range(start, self._next, PAGE_SIZE))
        return self.alloc_many(count)

    def alloc_huge(self):
        """The first frame of a 2 MiB-aligned run of 512 zeroed frames
        that never held a page table, or None if there is none left."""
        if self._ready:
            start = self._ready.pop()
        elif self._free_huge:
            start = self._free_huge.pop()
        else:
            start = -(-self._next // HUGE_BYTES) * HUGE_BYTES
            if start + HUGE_BYTES > self.size:
                return None
            self._free.extend(range(self._next, start, PAGE_SIZE))   # the alignment gap
            self._next = start + HUGE_BYTES
        self.frames_in_use += HUGE_BYTES // PAGE_SIZE
        return start

    def back_run(self, start, length):
        """back() for one contiguous run. A whole 2 MiB run so backed is
        zeroed through the sentry's mapping when freed (a memset, ~0.05 us
        a page), not by a write to the memfd (~0.7-0.9 us a page): giving
        a page its first host mapping costs ~1.5 us here whichever process
        maps it first, and a later mapping in another process (systrap's
        child, MAP_POPULATE) ~0.4 us."""
        if self._can_back and start not in self._backed_runs:
            try:
                self.mem.madvise(MADV_POPULATE_WRITE, start, length)
            except OSError:
                self._can_back = False
                return
            if length == HUGE_BYTES:
                self._backed_runs.add(start)

    def back(self, frames):
        """Give these frames host memory now, one madvise per run, rather
        than one host page fault each on the guest's first touch (which
        on a shadow-paging KVM is also a fault KVM itself must serve).
        Hosts before Linux 5.14 lack the advice: then the guest's touch
        does it, as before."""
        if not (self._can_back and self.back_pages):
            return
        try:
            for start, count in _runs(sorted(frames)):
                self.mem.madvise(MADV_POPULATE_WRITE, start, count * PAGE_SIZE)
        except OSError:
            self._can_back = False

    def alloc_clean(self):
        """A zeroed data frame that never held a page table."""
        self.frames_in_use += 1
        return self._warm.pop() if self._warm else self._free.pop() if self._free \
            else self._bump()

    def is_tainted(self, phys):
        return phys in self._tainted

    def retire(self, phys):
        """Free a frame KVM still write-tracks, never to be used again."""
        self.mem.madvise(mmap.MADV_REMOVE, phys, PAGE_SIZE)
        self.frames_in_use -= 1
        self.retired += 1

    def alloc_table(self):
        """Return a zeroed frame that has never held a page table."""
        self.frames_in_use += 1
        phys = self._free.pop() if self._free else self._bump()
        self._tainted.add(phys)
        self._tables.add(phys)
        return phys

    def _release_quarantine(self):
        """Empty KVM's shadow MMU, after which quarantined frames are no
        longer write-tracked and may hold data; True if any was released.
        A frame is released at its second zap: the first one may spare it
        as one of the newest shadow pages. KVM never zaps a root a vCPU
        holds (its current or cached previous CR3s): zap_shadow returns
        those, and they start over."""
        if self.zap_shadow is None or not (self._quarantine or self._zapped_once):
            return False
        held = self.zap_shadow()
        self.shadow_zaps += 1
        older = self._zapped_once + self._quarantine
        self._free_tainted.extend(p for p in self._zapped_once if p not in held)
        self._zapped_once = [p for p in self._quarantine if p not in held]
        self._quarantine = [p for p in older if p in held]
        return bool(self._free_tainted)

    def _bump(self):
        phys = self._next
        if phys >= self.size and (self._free_huge or self._ready):
            # No single frame left: break a run.
            run = self._free_huge.pop() if self._free_huge else self._ready.pop()
            self._free.extend(range(run + HUGE_BYTES - PAGE_SIZE, run, -PAGE_SIZE))
            return run
        if phys >= self.size:
            self.frames_in_use -= 1
            raise OutOfMemory("guest physical pool exhausted (%d MiB)"
                              % (self.size >> 20))
        self._next = phys + PAGE_SIZE
        return phys

    def free(self, phys):
        if self._keep_warm(phys, phys + PAGE_SIZE) == phys:
            self.mem.madvise(mmap.MADV_REMOVE, phys, PAGE_SIZE)
            self._file(phys)
        self.frames_in_use -= 1

    def _file(self, phys):
        """Put a released frame on the list its history calls for."""
        if phys in self._tables:
            self._tables.discard(phys)
            self._quarantine.append(phys)
            if len(self._quarantine) >= QUARANTINE_FRAMES:
                self._release_quarantine()
        elif phys in self._tainted:
            self._free_tainted.append(phys)     # a table once, data since
        else:
            self._free.append(phys)

    def free_many(self, frames):
        """free() for many frames, one MADV_REMOVE per run; whole aligned
        2 MiB runs of frames that never held a table go back as runs, the
        first READY_RUNS of them keeping their host memory: a program that
        maps and unmaps large regions in turn then pays neither the host's
        freeing nor its allocating of shared memory (together more than
        native first-touch costs) but a zeroing here."""
        tainted = self._tainted
        for start, count in _runs(sorted(frames)):
            end = start + count * PAGE_SIZE
            lo = -(-start // HUGE_BYTES) * HUGE_BYTES
            while lo + HUGE_BYTES <= end:
                hi = lo + HUGE_BYTES
                if not any(lo <= p < hi for p in tainted) if len(tainted) < 512 \
                        else tainted.isdisjoint(range(lo, hi, PAGE_SIZE)):
                    self._remove(start, lo)
                    if len(self._ready) < READY_RUNS:
                        # Translations first (KVM's MMU notifier), so that
                        # no vCPU can store into the run after it is zeroed.
                        if self.kvm_translations:
                            self.mem.madvise(mmap.MADV_DONTNEED, lo, HUGE_BYTES)
                            self._backed_runs.discard(lo)
                            self.back_run(lo, HUGE_BYTES)     # one call, not 512 faults
                            self._zero(lo, HUGE_BYTES)
                        elif lo in self._backed_runs:
                            self._zero(lo, HUGE_BYTES)
                        else:
                            self._zero_unmapped(lo, HUGE_BYTES)
                        self._ready.append(lo)
                    else:
                        self.mem.madvise(mmap.MADV_REMOVE, lo, HUGE_BYTES)
                        self._backed_runs.discard(lo)
                        self._free_huge.append(lo)
                    start = hi
                lo = hi
            self._remove(start, end)
        self.frames_in_use -= len(frames)

    def _keep_warm(self, start, end):
        """Keep the first frames of [start, end) with their host memory,
        zeroed, while warm_frames allows (never one that held a page
        table); returns where the rest, to be removed, starts."""
        room = self.warm_frames - len(self._warm)
        if room <= 0 or end <= start or self._tainted:
            return start
        stop = min(end, start + room * PAGE_SIZE)
        # Zeroed through the sentry's mapping: most of these the sentry
        # wrote (fork's copies, a new image's data and stack), so its
        # mapping has them, and its next write to one is no fault either.
        # A copy of zeros, not _zero's memset: most runs free frames here
        # (a child's exit, an exec), and ctypes is no module to import at
        # every start. The zeros are one buffer never written (the host's
        # zero page: no allocation and zeroing of its own per call).
        zeros = memoryview(_zeros())
        for at in range(start, stop, HUGE_BYTES):
            end = min(stop, at + HUGE_BYTES)
            self.view[at:end] = zeros[:end - at]
        self._warm.extend(range(start, stop, PAGE_SIZE))
        return stop

    def _remove(self, start, end):
        """Release the frames of [start, end) with their host memory (the
        first few kept, warm_frames)."""
        start = self._keep_warm(start, end)
        if end > start:
            self.mem.madvise(mmap.MADV_REMOVE, start, end - start)
            if self._backed_runs:
                self._backed_runs.difference_update(
                    range(start & ~(HUGE_BYTES - 1), end, HUGE_BYTES))
            self._release(range(start, end, PAGE_SIZE))

    def _release(self, frames):
        """File released frames (MADV_REMOVE done) on their free lists."""
        tables, tainted = self._tables, self._tainted
        if not tainted:
            self._free.extend(frames)
            return
        for phys in frames:
            if phys in tables or phys in tainted:
                self._file(phys)
            else:
                self._free.append(phys)

    def revoke(self, frames):
        """Make KVM forget every guest translation of these frames, keeping
        their contents: MADV_DONTNEED on the sentry's shared mapping of the
        memfd drops its page-table entries (the data stays in the memfd),
        and KVM's MMU notifier zaps the guest's. Unlike cycling mprotect,
        this never makes a frame read-only for a vCPU running meanwhile."""
        if not self.kvm_translations:
            return
        for start, count in _runs(sorted(set(frames))):
            self.mem.madvise(mmap.MADV_DONTNEED, start, count * PAGE_SIZE)
            if self._backed_runs:
                self._backed_runs.difference_update(
                    range(start & ~(HUGE_BYTES - 1), start + count * PAGE_SIZE, HUGE_BYTES))

    def _zero_unmapped(self, start, length):
        """Zero frames the sentry's own mapping may not map: a write to
        the memfd (the kernel copies through its own map of the pages),
        ~0.7 us a page here, where a first store through the sentry's
        mapping costs a host page fault, ~1.4 us, for each page."""
        zeros, done = memoryview(_zeros()), 0
        while done < length:
            done += os.pwrite(self.fd, zeros[:length - done], start + done)

    def _zero(self, start, length):
        # memset: a third cheaper than copying zeros in (measured, 2 MiB).
        import ctypes                           # (on first use: start-up cost)
        if self._cmem is None:
            self._cmem = ctypes.c_char.from_buffer(self.mem)
        ctypes.memset(ctypes.addressof(self._cmem) + start, 0, length)

    def read(self, phys, length):
        return bytes(self.view[phys:phys + length])

    def write(self, phys, data):
        self.view[phys:phys + len(data)] = data

    def close(self):
        from kvmsentry.mm import page_cache      # (it imports this module)
        page_cache.forget(self)
        self._cmem = None                       # (its export would keep mem open)
        self.words.release()
        self.view.release()
        self.mem.close()
        os.close(self.fd)


def _runs(sorted_frames):
    """Group sorted, distinct frame addresses into (start, count) runs
    (a 2 MiB step at a time where a run is that long)."""
    frames, i, n = sorted_frames, 0, len(sorted_frames)
    while i < n:
        start, j = frames[i], i + 1
        while j + 511 < n and frames[j + 511] == start + (j + 511 - i) * PAGE_SIZE:
            j += 512
        while j < n and frames[j] == start + (j - i) * PAGE_SIZE:
            j += 1
        yield start, j - i
        i = j
