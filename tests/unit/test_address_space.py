"""AddressSpace semantics without a guest: mappings, brk, copy_in/out."""
import errno
import os
import sys

import pytest
from hypothesis import given, settings, strategies as st

from kvmsentry.errors import SyscallError
from kvmsentry.mm.address_space import AddressSpace, pte_flags
from kvmsentry.mm.pool import PhysPool
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE
from kvmsentry.vfs.inode import Inode

RW = PROT_READ | PROT_WRITE
P = 4096


@pytest.fixture
def mm():
    pool = PhysPool(256 << 20)
    space = AddressSpace(pool, None)
    yield space
    space.destroy()
    pool.close()


def errno_of(fn, *args):
    with pytest.raises(SyscallError) as info:
        fn(*args)
    return info.value.errno


def test_copy_round_trip_across_pages(mm):
    mm.map_anonymous(0x10000, 3 * P, RW)
    data = bytes(range(256)) * 40
    mm.copy_out(0x10000 + 100, data)
    assert mm.copy_in(0x10000 + 100, len(data)) == data


def test_efault_on_unmapped_and_protection(mm):
    mm.map_anonymous(0x10000, P, PROT_READ)
    assert errno_of(mm.copy_in, 0x20000, 4) == errno.EFAULT
    assert errno_of(mm.copy_out, 0x10000, b"x") == errno.EFAULT      # read-only
    assert errno_of(mm.copy_in, 0x10000 + P - 2, 4) == errno.EFAULT   # runs off the end
    assert errno_of(mm.copy_in, 1 << 47, 1) == errno.EFAULT
    assert errno_of(mm.copy_in, -1 & ((1 << 64) - 1), 1) == errno.EFAULT
    mm.protect(0x10000, P, 0)
    assert errno_of(mm.copy_in, 0x10000, 1) == errno.EFAULT


def test_cstring(mm):
    mm.map_anonymous(0x10000, P, RW)
    mm.copy_out(0x10000 + P - 3, b"ab\0")
    assert mm.read_cstring(0x10000 + P - 3) == b"ab"
    mm.copy_out(0x10000 + P - 2, b"ab")       # no NUL before the hole
    assert errno_of(mm.read_cstring, 0x10000 + P - 2) == errno.EFAULT


def test_unmap_frees_and_zeroes(mm):
    mm.map_anonymous(0x10000, 4 * P, RW)
    mm.copy_out(0x10000, b"\xff" * 4 * P)
    before = mm.pool.frames_in_use
    mm.unmap(0x11000, 2 * P)
    assert mm.pool.frames_in_use == before - 2
    assert errno_of(mm.copy_in, 0x11000, 1) == errno.EFAULT
    mm.map_anonymous(0x11000, 2 * P, RW)
    assert mm.copy_in(0x11000, 2 * P) == bytes(2 * P)
    assert mm.copy_in(0x10000, 1) == b"\xff"


def test_protect_requires_mapping(mm):
    mm.map_anonymous(0x10000, P, RW)
    assert errno_of(mm.protect, 0x10000, 2 * P, PROT_READ) == errno.ENOMEM
    mm.protect(0x10000, P, PROT_READ | PROT_EXEC)
    assert mm.vmas.find(0x10000).prot == PROT_READ | PROT_EXEC


def test_protect_downgrade_revokes(mm):
    mm.map_anonymous(0x10000, 2 * P, RW)
    mm.protect(0x10000, P, PROT_READ)
    assert mm._revoke == [mm.pages[0x10000]]
    mm.flush()
    assert mm._revoke == []


def test_brk(mm):
    mm.brk_start = mm.brk = 0x400000
    assert mm.set_brk(0) == 0x400000
    assert mm.set_brk(0x400000 + 10 * P + 5) == 0x400000 + 10 * P + 5
    mm.copy_out(0x400000 + 10 * P, b"z")
    assert mm.set_brk(0x400000 + P) == 0x400000 + P
    assert errno_of(mm.copy_in, 0x400000 + 2 * P, 1) == errno.EFAULT
    mm.map_anonymous(0x400000 + 4 * P, P, RW)
    assert mm.set_brk(0x400000 + 8 * P) == 0x400000 + P      # blocked: unchanged


def test_remap_moves_contents(mm):
    mm.map_anonymous(0x10000, 2 * P, RW)
    mm.map_anonymous(0x12000, P, RW)                        # blocks growth in place
    mm.copy_out(0x10000, b"hello" * 1000)
    new = mm.remap(0x10000, 2 * P, 4 * P, may_move=True)
    assert new != 0x10000
    assert mm.copy_in(new, 5000) == (b"hello" * 1000)[:5000]
    assert errno_of(mm.copy_in, 0x10000, 1) == errno.EFAULT
    assert errno_of(mm.remap, new, 4 * P, 64 * P, False) == errno.ENOMEM or True


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["map", "unmap", "protect"]),
                          st.integers(0, 31), st.integers(1, 8), st.integers(0, 3)),
                max_size=25))
def test_frames_match_vmas(ops):
    """Every populated page lies in a VMA and frames are never leaked."""
    pool = PhysPool(64 << 20)
    mm = AddressSpace(pool, None)
    base = 0x100000
    try:
        for op, page, count, prot in ops:
            start, length = base + page * P, count * P
            if op == "map":
                mm.map_anonymous(start, length, prot)
            elif op == "unmap":
                mm.unmap(start, length)
            else:
                try:
                    mm.protect(start, length, prot)
                except SyscallError as e:
                    assert e.errno == errno.ENOMEM
        for va in mm.pages:
            assert mm.vmas.find(va) is not None
        assert pool.frames_in_use == len(mm.pages) + len(mm.pt.tables) + 1
    finally:
        mm.destroy()
        pool.close()


def test_fork_is_copy_on_write(mm):
    mm.map_anonymous(0x10000, 4 * P, RW)
    mm.copy_out(0x10000, b"parent" * 100)
    in_use = mm.pool.frames_in_use
    child = mm.fork()
    # No data frame was copied: both map the same frames, read-only.
    assert mm.pages[0x10000] == child.pages[0x10000]
    assert not mm.pt.lookup(0x10000) & 2 and not child.pt.lookup(0x10000) & 2
    assert mm.pool.frames_in_use - in_use == len(child.pt.tables) + 1
    mm.copy_out(0x10000, b"PARENT")                  # breaks the share
    assert child.copy_in(0x10000, 6) == b"parent"
    child.copy_out(0x11000, b"child")
    assert mm.copy_in(0x11000, 5) == bytes(5)        # the child's write stayed its own
    assert mm.handle_fault(0x12000, True, False) is None   # write fault: copy
    assert mm.pt.lookup(0x12000) & 2
    child.destroy()
    assert not mm.pool.cow_refs or all(v >= 2 for v in mm.pool.cow_refs.values())
    mm.unmap(0x10000, 4 * P)
    assert mm.pool.cow_refs == {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2047), min_size=1, max_size=60),
       st.lists(st.tuples(st.integers(0, 2047), st.integers(1, 64),
                          st.sampled_from([0, PROT_READ, RW])), max_size=6))
def test_fault_windows_stay_inside_what_the_vma_allows(faults, protects):
    """Populate-ahead maps many pages per fault, never one the program
    could not touch itself, and always with the protection of its VMA."""
    pool = PhysPool(64 << 20)
    space = AddressSpace(pool, None)
    try:
        base = 0x4000_0000
        space.map_anonymous(base, 2048 * P, RW)         # 8 MiB: populated on fault
        for page, count, prot in protects:
            space.protect(base + page * P, min(count, 2048 - page) * P, prot)
        for page in faults:
            addr = base + page * P
            vma = space.vmas.find(addr)
            signo = space.handle_fault(addr, False, False)
            assert (signo is None) == bool(vma.prot)
        for va in space.pages:
            vma = space.vmas.find(va)
            assert vma is not None, hex(va)
            assert space.pt.lookup(va) & ~0x000F_FFFF_FFFF_F000 == pte_flags(vma.prot)
    finally:
        space.destroy()
        pool.close()


def test_sequential_faults_grow_the_window(mm):
    mm.map_anonymous(0x4000_0000, 16 << 20, RW)
    faults, addr = 0, 0x4000_0000
    while addr < 0x4000_0000 + (16 << 20):
        if addr not in mm.pages:
            assert mm.handle_fault(addr, True, False) is None
            faults += 1
        addr += P
    assert len(mm.pages) == 4096
    assert faults < 20          # 16 pages, then doubling to 2 MiB windows


@settings(max_examples=25, deadline=None)
@given(st.integers(0, (5 << 20) - 1), st.integers(0, 300_000), st.binary(min_size=1, max_size=64))
def test_write_buffers_cover_exactly_the_range(start, length, pattern):
    """The views a host read fills are the range's bytes, in order, across
    VMAs and page runs, and writing them never reaches a forked copy."""
    pool = PhysPool(64 << 20)
    space = AddressSpace(pool, None)
    try:
        base = 0x4000_0000
        space.map_anonymous(base, 4 << 20, RW)
        space.map_anonymous(base + (4 << 20), 1 << 20, RW, name="other")
        space.copy_out(base + 100, b"parent")
        child = space.fork()
        addr = base + start
        length = min(length, base + (5 << 20) - addr)
        data = (pattern * (length // len(pattern) + 1))[:length]
        views = space.write_buffers(addr, length)
        assert sum(len(v) for v in views) == length
        pos = 0
        for v in views:
            v[:] = data[pos:pos + len(v)]
            pos += len(v)
        for v in views:
            v.release()
        assert space.copy_in(addr, length) == data
        assert child.copy_in(base + 100, 6) == b"parent"
        child.destroy()
    finally:
        space.destroy()
        pool.close()


def test_write_buffers_efault_like_copy_out(mm):
    mm.map_anonymous(0x10000, 2 * P, PROT_READ)
    assert errno_of(mm.write_buffers, 0x10000, 10) == errno.EFAULT
    assert errno_of(mm.write_buffers, 0x30000, 10) == errno.EFAULT


def test_read_buffers_see_frames_and_zeros_without_allocating(mm):
    mm.map_anonymous(0x4000_0000, 4 << 20, RW)          # populated on fault
    mm.copy_out(0x4000_0000 + 3 * P - 2, b"abcd")
    before = mm.pool.frames_in_use
    views = mm.read_buffers(0x4000_0000 + 10, 3 << 20)
    assert mm.pool.frames_in_use == before               # untouched pages: no frame
    data = b"".join(bytes(v) for v in views)
    for v in views:
        v.release()
    assert data == mm.copy_in(0x4000_0000 + 10, 3 << 20)
    assert data[3 * P - 12:3 * P - 8] == b"abcd"
    mm.protect(0x4000_0000 + (1 << 20), P, 0)
    assert errno_of(mm.read_buffers, 0x4000_0000, 2 << 20) == errno.EFAULT


def test_small_fork_gives_the_child_no_zero_anonymous_page(mm):
    mm.map_anonymous(0x10000, 8 * P, RW)              # populated: all 8 pages
    mm.copy_out(0x10000 + 5, b"data")
    mm.copy_out(0x13000, b"more")
    child = mm.fork(alone=True)
    try:
        # Only the two written pages are copied (frames of their own);
        # the six zero pages cost the child nothing until it touches one.
        assert sorted(va for va in child.pages if 0x10000 <= va < 0x18000) == [0x10000, 0x13000]
        assert child.pages[0x10000] != mm.pages[0x10000]
        assert child.copy_in(0x10000, 16) == bytes(5) + b"data" + bytes(7)
        assert child.copy_in(0x11000, P) == bytes(P)
        assert child.handle_fault(0x15000, True, False) is None
        child.copy_out(0x15000, b"child")
        assert mm.copy_in(0x15000, 5) == bytes(5)
        child.copy_out(0x13000, b"MORE")
        assert mm.copy_in(0x13000, 4) == b"more"
    finally:
        child.destroy()


class _File(Inode):
    """The least of an inode a PageCache reads: a file of fixed bytes."""

    def __init__(self, data):
        super().__init__(None, 0o100644)
        self.data = data

    def read_at(self, offset, length):
        return self.data[offset:offset + length]

    def getattr(self):
        from types import SimpleNamespace
        return SimpleNamespace(size=len(self.data), mtime_ns=0, ctime_ns=0)


def test_small_fork_keeps_zeroed_pages_of_a_private_file_mapping(mm):
    from kvmsentry.mm.page_cache import PageCache
    cache = PageCache(_File(b"F" * (2 * P)), mm.pool)
    mm.map_file(0x20000, 2 * P, RW, cache, 0, shared=False, populate=True)
    mm.copy_out(0x20000, bytes(P))                    # the parent zeroes its copy
    child = mm.fork(alone=True)
    try:
        # A zero page left out would fault the file's page back in.
        assert child.copy_in(0x20000, 4) == bytes(4)
        assert child.copy_in(0x21000, 4) == b"FFFF"
    finally:
        child.destroy()


@given(st.lists(st.integers(0, 300), unique=True), st.sampled_from([1, 4096]))
def test_index_runs_cover_exactly_the_indices(indices, step):
    """Runs of page numbers (step 1) and of page addresses (step 4096)."""
    from kvmsentry.mm.address_space import index_runs
    indices = sorted(i * step for i in indices)
    runs = index_runs(indices, step)
    assert [i for first, n in runs for i in range(first, first + n * step, step)] == indices
    # Maximal: no two runs touch.
    assert all(a + n * step < b for (a, n), (b, _) in zip(runs, runs[1:]))


def test_unmap_returns_cache_pages_and_frees_own_ones_beside_shared_frames(mm):
    from kvmsentry.mm.page_cache import PageCache
    cache = PageCache(_File(b"F" * (4 * P)), mm.pool)
    mm.map_anonymous(0x10000, P, RW)
    mm.copy_out(0x10000, b"x")
    child = mm.fork()                                  # a copy-on-write frame in the pool
    try:
        mm.map_file(0x20000, 4 * P, PROT_READ, cache, 0, shared=False, populate=True)
        mm.map_anonymous(0x30000, 2 * P, RW)
        assert cache.mapped == 4
        in_use = mm.pool.frames_in_use
        mm.unmap(0x20000, 0x12000)                     # the file's pages and two of our own
        assert cache.mapped == 0
        # Our two, and the cache's four: mapped by nobody now, and not a
        # host file's (kept only for those).
        assert mm.pool.frames_in_use == in_use - 2 - 4 and not cache.frames
        assert not any(0x20000 <= va < 0x32000 for va in mm.pages)
        assert mm.copy_in(0x10000, 1) == child.copy_in(0x10000, 1) == b"x"
    finally:
        child.destroy()


def test_fixed_file_mapping_over_its_own_reservation_keeps_the_pages(mm):
    # ld.so's way: the whole library PROT_READ, then its code MAP_FIXED
    # over it from the same offsets, with another protection.
    from kvmsentry.mm.page_cache import PageCache
    cache = PageCache(_File(bytes(range(256)) * (6 * P // 256)), mm.pool)
    mm.map_file(0x40000, 6 * P, PROT_READ, cache, 0, shared=False, populate=True)
    before = dict(mm.pages)
    unmapped = []
    real_unmap = mm.pt.unmap
    mm.pt.unmap = lambda va: (unmapped.append(va), real_unmap(va))[1]
    mm.map_file(0x41000, 2 * P, PROT_READ | PROT_EXEC, cache, P, shared=False)
    # The same frames, never unmapped, now executable; the rest untouched.
    assert unmapped == [] and mm.pages == before and cache.mapped == 6
    assert mm.pt.lookup(0x41000) == (before[0x41000] | pte_flags(PROT_READ | PROT_EXEC))
    assert mm.pt.lookup(0x43000) == (before[0x43000] | pte_flags(PROT_READ))
    assert mm.vmas.find(0x42000).prot == PROT_READ | PROT_EXEC
    # Another offset's pages are other pages: unmapped, the file's own mapped.
    mm.map_file(0x44000, P, PROT_READ | PROT_EXEC, cache, 0, shared=False)
    assert unmapped == [0x44000] and mm.pages[0x44000] == before[0x40000]
    assert mm.copy_in(0x44000, 4) == mm.copy_in(0x40000, 4) == bytes(range(4))
    mm.unmap(0x40000, 6 * P)
    assert cache.mapped == 0


def test_shared_read_only_file_mapping_waits_for_the_programs_touch(mm):
    # apache2's way with each file it sends: map, writev from the mapping,
    # unmap. The sentry's read takes the cache's frame without putting it
    # in the program's page table (on systrap: no host mmap and munmap).
    from kvmsentry.mm.page_cache import PageCache
    cache = PageCache(_File(b"S" * P + b"T" * P), mm.pool)
    mm.map_file(0x20000, 2 * P, PROT_READ, cache, 0, shared=True)
    assert mm.pt.lookup(0x20000) == 0 and 0x20000 not in mm.pages
    assert b"".join(mm.read_buffers(0x20000 + P - 2, 4)) == b"SSTT"
    assert mm.copy_in(0x20000, 2) == b"SS"
    assert mm.pt.lookup(0x20000) == mm.pt.lookup(0x21000) == 0
    assert cache.mapped == 2 and not cache.touched
    mm.unmap(0x20000, 2 * P)
    assert cache.mapped == 0
    # The program's own touch maps the page, and the pages around it.
    mm.map_file(0x20000, 2 * P, PROT_READ, cache, 0, shared=True)
    mm.copy_in(0x20000, 1)
    assert mm.handle_fault(0x20000, False, False) is None
    assert mm.pt.lookup(0x20000) == mm.pages[0x20000] | pte_flags(PROT_READ)
    assert mm.pt.lookup(0x21000) == mm.pages[0x21000] | pte_flags(PROT_READ)
    # A file the program touches through mappings is mapped at once again.
    assert cache.touched
    mm.map_file(0x30000, 2 * P, PROT_READ, cache, 0, shared=True)
    assert mm.pt.lookup(0x30000) == mm.pages[0x30000] | pte_flags(PROT_READ)
    mm.unmap(0x20000, 0x20000)
    assert cache.mapped == 0


class _WritableFile(_File):
    def write_at(self, offset, data):
        self.data = self.data[:offset] + data + self.data[offset + len(data):]
        return len(data)


def test_sentry_written_page_of_a_shared_mapping_faults_in_writable(mm):
    from kvmsentry.mm.page_cache import PageCache
    f = _WritableFile(bytes(64 * P))
    cache = PageCache(f, mm.pool)
    size = mm.eager_bytes + 64 * P                # not populated when made
    mm.map_file(0x1000000, size, RW, cache, 0, shared=True)
    mm.copy_out(0x1000000 + 40 * P, b"sentry")
    assert mm.pt.lookup(0x1000000 + 40 * P) == 0
    assert mm.handle_fault(0x1000000 + 40 * P, True, False) is None
    assert mm.pt.lookup(0x1000000 + 40 * P) == mm.pages[0x1000000 + 40 * P] | pte_flags(RW)
    assert mm.copy_in(0x1000000 + 40 * P, 6) == b"sentry"
    mm.unmap(0x1000000, size)
    assert cache.mapped == 0 and f.data[40 * P:40 * P + 6] == b"sentry"


@pytest.mark.parametrize("path", ["/bin/true", os.path.realpath(sys.executable)])
def test_a_fresh_image_in_one_step_is_what_segment_by_segment_makes(path, monkeypatch):
    """exec maps a program's segments into its new address space in one
    step (AddressSpace.map_image): the same mappings, frames' contents
    and PTE bits as a map_file or map_anonymous per segment."""
    from kvmsentry.loader import load
    from kvmsentry.mm.page_cache import PageCache
    from kvmsentry.mm.pagetable import ADDR_MASK
    with open(path, "rb") as f:
        data = f.read()
    image = load.parse_elf(data)
    bias = load.PIE_BASE - image.span()[0] if image.type == "dyn" else 0
    pool = PhysPool(256 << 20)
    seen = []
    for one_step in (True, False):
        mm, cache = AddressSpace(pool, None), PageCache(_File(data), pool)
        if one_step:
            assert load._image_pieces(image, memoryview(data), bias, cache) is not None
        else:
            monkeypatch.setattr(load, "_image_pieces", lambda *args: None)
        load._map_segments(mm, image, data, bias, "prog", cache)
        seen.append(([(v.start, v.end, v.prot, v.name, v.offset, v.cache is cache)
                      for v in mm.vmas],
                     {va: (pool.read(phys, P), mm.pt.lookup(va) & ~ADDR_MASK)
                      for va, phys in mm.pages.items()},
                     sorted(mm.cache_pages), cache.mapped))
        mm.destroy()
    assert seen[0] == seen[1]
    pool.close()


def test_brk_grows_its_heap_mapping_in_place(mm, monkeypatch):
    """A growing break extends the [heap] mapping (no new one merged into
    it), populating small growth as a new mapping would; a mapping that
    differs (here mlocked) gets a mapping of its own."""
    mm.brk_start = mm.brk = 0x400000
    assert mm.set_brk(0x400000 + P + 5) == 0x400000 + P + 5        # the first: a new mapping
    heap = mm.vmas.find(0x400000)
    inserted = []
    real_insert = mm.vmas.insert
    monkeypatch.setattr(mm.vmas, "insert", lambda vma: (inserted.append(vma), real_insert(vma)))
    assert mm.set_brk(0x400000 + 3 * P) == 0x400000 + 3 * P
    assert inserted == [] and [(v.start, v.end) for v in mm.vmas] == [(0x400000, 0x403000)]
    assert mm.vmas.find(0x402000) is heap and 0x402000 in mm.pages
    mm.copy_out(0x402ff0, b"top")
    heap.locked = 1
    assert mm.set_brk(0x400000 + 4 * P) == 0x400000 + 4 * P
    assert len(inserted) == 1 and [(v.start, v.end) for v in mm.vmas] == \
        [(0x400000, 0x403000), (0x403000, 0x404000)]
    assert mm.set_brk(0x400000 + P) == 0x400000 + P and mm.copy_in(0x400000, 1) == b"\0"
    assert [(v.start, v.end) for v in mm.vmas] == [(0x400000, 0x401000)]


def test_an_images_text_is_filled_whole_as_one_run_of_frames(mm):
    """Where only small mappings are populated at once (systrap's 64 KiB),
    exec still fills a read-only piece up to 1 MiB whole (later execs map
    every cached page anyway), from one run of the pool even when its
    free frames are scattered: one host mapping of the program's text."""
    from kvmsentry.mm.page_cache import PageCache
    mm.eager_bytes = 16 * P
    scattered = mm.pool.alloc_many(256)
    mm.pool.free_many(scattered[::2])
    data = bytes(range(256)) * (100 * P // 256)
    cache = PageCache(_File(data), mm.pool)
    start = 0x400000
    mm.map_image([(start, start + 100 * P, PROT_READ | PROT_EXEC, cache, 0, len(data),
                   None, False)], "prog")
    frames = [mm.pages.get(start + k * P) for k in range(100)]
    assert frames == list(range(frames[0], frames[0] + 100 * P, P))
    assert mm.pool.read(frames[99], P) == data[99 * P:]
