"""2 MiB runs and PS entries without a guest: whatever the operations,
the CPU's view of the page tables (an independent walk of the pool's
words, PS entries included) must equal the address space's own record
of frames and the VMAs' protections, and never grant a page more than
its VMA allows (fault-around and populate-ahead included)."""
import pytest
from hypothesis import example, given, settings, strategies as st

from kvmsentry.mm.address_space import AddressSpace, cow_flags, pte_flags
from kvmsentry.mm.pagetable import ADDR_MASK, HUGE_SIZE, PTE_P, PTE_PS, PTE_W, PageTable
from kvmsentry.mm import pool as pool_module
from kvmsentry.mm.pool import PhysPool
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE

P = 4096
RW = PROT_READ | PROT_WRITE
BASE = 0x4000_0000                      # 2 MiB aligned
REGION = 8 * HUGE_SIZE


def walk(pool, root, va):
    """The leaf entry the CPU uses for va (a PS entry turned into the
    4 KiB entry it implies), or None."""
    table = root
    for shift in (39, 30, 21, 12):
        entry = pool.words[(table >> 3) + ((va >> shift) & 511)]
        if not entry & PTE_P:
            return None
        if shift == 12:
            return entry
        if shift == 21 and entry & PTE_PS:
            return (entry & ~PTE_PS) + (va & (HUGE_SIZE - 1) & ~(P - 1))
        table = entry & ADDR_MASK


def cpu_view(pool, root):
    """{va: leaf entry} of every present page of the lower half, read
    from the tables as the CPU walks them."""
    view, words = {}, pool.words
    for i4 in range(256):
        e4 = words[(root >> 3) + i4]
        if not e4 & PTE_P:
            continue
        for i3 in range(512):
            e3 = words[((e4 & ADDR_MASK) >> 3) + i3]
            if not e3 & PTE_P:
                continue
            for i2 in range(512):
                e2 = words[((e3 & ADDR_MASK) >> 3) + i2]
                base = (i4 << 39) | (i3 << 30) | (i2 << 21)
                if not e2 & PTE_P:
                    continue
                if e2 & PTE_PS:
                    for i in range(512):
                        view[base + i * P] = (e2 & ~PTE_PS) + i * P
                    continue
                start = (e2 & ADDR_MASK) >> 3
                for i1, e1 in enumerate(words[start:start + 512]):
                    if e1 & PTE_P:
                        view[base + i1 * P] = e1
    return view


def check_view(mm):
    """The CPU sees exactly the recorded frames, each with its VMA's
    rights (never W while copy-on-write shared), and nothing else."""
    view = cpu_view(mm.pool, mm.root)
    for va, entry in view.items():
        vma = mm.vmas.find(va)
        assert vma is not None and vma.prot, "%#x mapped outside the VMAs" % va
        phys = mm.pages.get(va)
        assert entry & ADDR_MASK == phys, "%#x maps a frame not recorded" % va
        want = pte_flags(vma.prot)
        flags = entry & ~ADDR_MASK
        if phys in mm.pool.cow_refs or va in mm.cache_pages and not vma.shared:
            want = cow_flags(vma.prot)
        # A page once shared copy-on-write may stay read-only until it faults.
        assert flags in (want, cow_flags(vma.prot)), \
            "%#x: %#x, VMA allows %#x" % (va, entry, want)
    for va in mm.pages:
        vma = mm.vmas.find(va)
        assert vma is not None, "%#x has a frame outside the VMAs" % va
        assert va in view or not vma.prot, "%#x has a frame the CPU cannot see" % va


@pytest.fixture(params=[False, True], ids=["runs", "ps-entries"])
def mm(request):
    pool = PhysPool(512 << 20)
    pool.huge_leaves = request.param
    space = AddressSpace(pool, None)
    yield space
    space.destroy()
    pool.close()


def touch_in_order(mm, start, end, write=True):
    """What a program writing one byte per page does: fault where the CPU
    sees no (writable) page."""
    for va in range(start, end, P):
        entry = walk(mm.pool, mm.root, va)
        if entry is None or write and not entry & PTE_W:
            assert mm.handle_fault(va, write, False) is None


def test_in_order_touch_gets_runs_then_splits(mm):
    mm.map_anonymous(BASE, REGION, RW)
    touch_in_order(mm, BASE, BASE + REGION)
    # Past the first range (where the window grows) every range is one run.
    for chunk in range(BASE + HUGE_SIZE, BASE + REGION, HUGE_SIZE):
        first = mm.pages[chunk]
        assert first % HUGE_SIZE == 0
        assert all(mm.pages[chunk + i * P] == first + i * P for i in range(512))
        assert mm.pt.is_huge(chunk) == mm.pool.huge_leaves
    check_view(mm)
    in_use, rss = mm.pool.frames_in_use, len(mm.pages)
    mm.unmap(BASE + HUGE_SIZE + 5 * P, P)                     # a hole in a run
    mm.protect(BASE + 2 * HUGE_SIZE + 7 * P, 3 * P, PROT_READ)
    mm.protect(BASE + 3 * HUGE_SIZE, HUGE_SIZE, 0)
    mm.discard(BASE + 4 * HUGE_SIZE + 9 * P, 2 * P)
    assert len(mm.pages) == rss - 3                          # RSS follows the frames
    splits = 4 if mm.pool.huge_leaves else 0                 # the tables they needed
    assert mm.pool.frames_in_use == in_use - 3 + splits
    assert not mm.pt.is_huge(BASE + HUGE_SIZE)
    check_view(mm)
    mm.protect(BASE + 3 * HUGE_SIZE, HUGE_SIZE, RW)
    child = mm.fork()
    try:
        check_view(mm)
        check_view(child)
        touch_in_order(child, BASE + 5 * HUGE_SIZE, BASE + 5 * HUGE_SIZE + 40 * P)
        touch_in_order(mm, BASE + 6 * HUGE_SIZE + 100 * P, BASE + 6 * HUGE_SIZE + 101 * P)
        check_view(mm)
        check_view(child)
    finally:
        child.destroy()
    mm.remap(BASE + 7 * HUGE_SIZE, HUGE_SIZE, 2 * HUGE_SIZE, True)
    check_view(mm)
    mm.unmap(BASE, REGION)
    check_view(mm)


def test_unmap_whole_runs_returns_them(mm):
    mm.map_anonymous(BASE, REGION, RW, populate=True)
    assert all(mm.pages[c] % HUGE_SIZE == 0 for c in range(BASE, BASE + REGION, HUGE_SIZE))
    in_use = mm.pool.frames_in_use
    mm.unmap(BASE, REGION)
    assert mm.pool.frames_in_use == in_use - REGION // P
    check_view(mm)
    mm.map_anonymous(BASE, REGION, RW, populate=True)         # the freed runs serve again
    assert all(mm.pages[c] % HUGE_SIZE == 0 for c in range(BASE, BASE + REGION, HUGE_SIZE))
    check_view(mm)


def test_nohugepage_and_stack_get_pages_not_runs(mm):
    mm.map_anonymous(BASE, REGION, RW, huge=-1)
    touch_in_order(mm, BASE, BASE + REGION)
    assert not any(mm.pt.is_huge(c) for c in range(BASE, BASE + REGION, HUGE_SIZE))
    assert len({mm.pages[c] % HUGE_SIZE == 0 and mm.pages[c + HUGE_SIZE - P]
                - mm.pages[c] == HUGE_SIZE - P for c in range(BASE, BASE + REGION, HUGE_SIZE)
                if mm.pool.huge_leaves}) <= 1
    check_view(mm)


def test_scattered_touches_cost_no_run(mm):
    """A program touching one page per 2 MiB gets small windows, as
    before: memory used sparsely does not cost 2 MiB a touch."""
    mm.map_anonymous(BASE, REGION, RW)
    for chunk in range(BASE, BASE + REGION, HUGE_SIZE):
        assert mm.handle_fault(chunk + 300 * P, True, False) is None
    assert len(mm.pages) <= 8 * 16
    check_view(mm)


ops = st.lists(st.tuples(
    st.sampled_from(["touch", "read", "unmap", "protect", "discard", "fork"]),
    st.integers(0, 2 * REGION // P - 1), st.integers(1, 1100), st.integers(0, 7)),
    max_size=12)


@settings(max_examples=20, deadline=None)
@given(ops)
@example([("touch", 0, 1, 0), ("fork", 0, 1, 0), ("protect", 0, 1, 0)])   # COW, then none
@example([("protect", 0, 1, 2), ("fork", 0, 1, 0)])        # write-only stays readable
@example([("touch", 600, 1, 0), ("touch", 600, 600, 0), ("protect", 1000, 30, 1),
          ("fork", 0, 1, 0), ("unmap", 512, 1024, 0)])
def test_view_matches_record(operations):
    """Random faults (mixed protections: fault-around and populate-ahead
    must stop at every VMA edge), unmaps, mprotects and forks; after each,
    the CPU's view equals the record, with PS entries and without."""
    for huge_leaves in (False, True):
        pool = PhysPool(512 << 20)
        pool.huge_leaves = huge_leaves
        mm, children = AddressSpace(pool, None), []
        try:
            mm.map_anonymous(BASE, REGION, RW)
            mm.map_anonymous(BASE + REGION, REGION, PROT_READ | PROT_EXEC)
            for op, page, count, prot in operations:
                va, length = BASE + page * P, count * P
                if op in ("touch", "read"):
                    vma = mm.vmas.find(va)
                    write = op == "touch"
                    allowed = vma is not None and vma.prot and \
                        (vma.prot & PROT_WRITE or not write)
                    got = mm.handle_fault(va, write, False)
                    assert (got is None) == bool(allowed)
                elif op == "unmap":
                    mm.unmap(va, length)
                elif op == "protect":
                    try:
                        mm.protect(va, length, prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
                    except Exception:
                        pass                      # ENOMEM past a hole
                elif op == "discard":
                    try:
                        mm.discard(va, length)
                    except Exception:
                        pass
                else:
                    children.append(mm.fork())
                check_view(mm)
            for child in children:
                check_view(child)
        finally:
            for child in children:
                child.destroy()
            mm.destroy()
            pool.close()


def test_split_keeps_translations():
    pool = PhysPool(64 << 20)
    pt = PageTable(pool, None)
    try:
        run = pool.alloc_huge()
        flags = pte_flags(RW)
        pt.map_huge(BASE, run, flags)
        assert pt.lookup(BASE + 17 * P) == (run + 17 * P) | flags
        pt.unmap(BASE + 3 * P)                      # splits, then clears one
        assert not pt.is_huge(BASE)
        for i in range(512):
            want = None if i == 3 else (run + i * P) | flags
            assert walk(pool, pt.root, BASE + i * P) == want
        with pytest.raises(ValueError):
            pt.map_huge(BASE, run, flags)           # a table is there now
    finally:
        pt.destroy()
        pool.close()


def test_freed_runs_come_back_zeroed():
    """Runs freed while the ready list has room keep their host memory
    and are zeroed; the rest give it back; either way a run handed out
    again reads as zeros."""
    pool = PhysPool(256 << 20)
    try:
        runs = [pool.alloc_huge() for _ in range(pool_module.READY_RUNS + 3)]
        for run in runs:
            pool.view[run:run + HUGE_SIZE] = b"\xab" * HUGE_SIZE
        in_use = pool.frames_in_use
        pool.free_many([f for run in runs for f in range(run, run + HUGE_SIZE, P)])
        assert pool.frames_in_use == in_use - len(runs) * 512
        again = [pool.alloc_huge() for _ in runs]
        assert sorted(again) == sorted(runs)
        for run in again:
            assert pool.view[run:run + HUGE_SIZE] == bytes(HUGE_SIZE)
    finally:
        pool.close()
