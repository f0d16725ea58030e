"""systrap's HostMappings: whatever sequence of map/unmap the address
space makes, the host calls drain() returns, applied in order to the
child's previous mappings, leave exactly the pages the table holds, with
their frames and protections, and never touch the stub's range; and the
table's count of the child's host mappings stays the count Linux has."""
from hypothesis import given, settings, strategies as st

from kvmsentry.mm.pagetable import PTE_P, leaf_flags
from kvmsentry.platform.systrap import layout
from kvmsentry.platform.systrap.mirror import (
    MAP_POPULATE, MAP_SHARED_FIXED, NR_MMAP, NR_MPROTECT, NR_MUNMAP, HostMappings, _run_bounds,
    prot_of)

PAGE = 4096
BASE = 0x400000
FLAGS = [0, leaf_flags(True, False, False), leaf_flags(True, True, False),
         leaf_flags(True, False, True),
         # populated on speculation: mapped without MAP_POPULATE, same rights
         leaf_flags(True, True, False) | HostMappings.SPECULATIVE]


def apply(ops, child):
    """Run the host calls on a model of the child: page -> (phys, prot)."""
    for nr, args in ops:
        if nr == NR_MMAP:
            addr, length, prot, flags, fd, off = args
            assert flags & ~MAP_POPULATE == MAP_SHARED_FIXED and fd == layout.POOL_FD
            for k in range(0, length, PAGE):
                child[addr + k] = (off + k, prot)
        elif nr == NR_MPROTECT:
            addr, length, prot = args
            for k in range(0, length, PAGE):
                assert addr + k in child            # (else the host's ENOMEM)
                child[addr + k] = (child[addr + k][0], prot)
        else:
            assert nr == NR_MUNMAP
            addr, length = args
            for k in range(0, length, PAGE):
                child.pop(addr + k, None)
        end = args[0] + args[1]
        assert end <= layout.RESERVED_LO or args[0] >= layout.RESERVED_HI


def host_maps(child):
    """How many mappings Linux makes of the child's pages: neighbours with
    the same prot and the next file offset merge into one."""
    return sum(1 for va, (off, prot) in child.items()
               if child.get(va - PAGE) != (off - PAGE, prot))


HUGE = 512 * PAGE
# (page, frame, flags, what): what is "map", "unmap", or "run"/"unrun" (a
# whole 2 MiB range: map_run of 512 frames from `frame`'s 2 MiB slot, or
# unmap_huge), as mm/address_space.py uses them. frame None: the frame of
# the page's own number, so that neighbours can be contiguous (and merge
# on the host).
pages = st.one_of(st.integers(0, 1100), st.sampled_from([0, 1, 511, 512, 513, 1023, 1024]))
steps = st.lists(st.tuples(pages, st.one_of(st.none(), st.integers(0, 40)),
                           st.sampled_from(FLAGS),
                           st.sampled_from(["map", "map", "unmap", "run", "unrun"])),
                 max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps, st.lists(st.integers(1, 7), min_size=1, max_size=4))
def test_drained_calls_rebuild_the_table(steps, limits):
    table = HostMappings(machine=None)
    table.process = _Process()            # (whose mappings are known: rights change in place)
    child = {}
    for n, (page, frame, flags, what) in enumerate(steps):
        va = BASE + page * PAGE
        chunk = va & ~(HUGE - 1)
        if what == "unmap":
            table.unmap(va)
        elif what == "map":
            table.map(va, 0x100000 + (page if frame is None else frame) * PAGE, flags)
        elif what == "run" and flags:
            table.map_run(chunk, 0x40000000 + (frame or 0) * HUGE, flags)
        elif what == "unrun":
            table.unmap_huge(chunk)
        if n % 3 == 0:                     # the child catches up now and then
            while table.has_dirty():
                apply(table.drain(limits[n % len(limits)]), child)
                assert table.host_maps == host_maps(child)
    while table.has_dirty():
        apply(table.drain(limits[0]), child)
        assert table.host_maps == host_maps(child)
    want = {va: (pte & ~0xFFF & ((1 << 52) - 1), prot_of(pte))
            for va, pte in table.pages().items() if pte & PTE_P}
    assert child == want
    for va, pte in table.pages().items():
        assert table.lookup(va) == pte


def test_a_run_is_one_host_call():
    table = HostMappings(machine=None)
    table.map_run(BASE & ~(HUGE - 1), 0x40000000, FLAGS[2])
    assert table.drain(10) == [(NR_MMAP, (BASE & ~(HUGE - 1), HUGE, 3,
                                          MAP_SHARED_FIXED | MAP_POPULATE, layout.POOL_FD,
                                          0x40000000))]
    table.unmap_huge(BASE & ~(HUGE - 1))
    assert table.drain(10) == [(NR_MUNMAP, (BASE & ~(HUGE - 1), HUGE))]


def test_speculative_runs_are_not_populated():
    table = HostMappings(machine=None)
    vas = [BASE + k * PAGE for k in range(32)]
    table.map_many(vas, [0x100000 + k * PAGE for k in range(32)],
                   FLAGS[2] | HostMappings.SPECULATIVE)
    assert table.drain(10) == [(NR_MMAP, (BASE, 32 * PAGE, 3, MAP_SHARED_FIXED,
                                          layout.POOL_FD, 0x100000))]
    table.map_many(vas, [0x200000 + k * PAGE for k in range(32)], FLAGS[2])
    assert table.drain(10) == [(NR_MMAP, (BASE, 32 * PAGE, 3,
                                          MAP_SHARED_FIXED | MAP_POPULATE,
                                          layout.POOL_FD, 0x200000))]


def test_the_stub_range_is_never_mapped():
    table = HostMappings(machine=None)
    start = layout.RESERVED_LO - 2 * PAGE
    table.map_many([start + k * PAGE for k in range(4)], [k * PAGE for k in range(4)],
                   FLAGS[2])
    ops = table.drain(10)
    assert ops == [(NR_MMAP, (start, 2 * PAGE, 3, MAP_SHARED_FIXED, layout.POOL_FD, 0))]


def test_host_mappings_counted_as_linux_merges_them():
    """A page joins the mapping of its neighbour on either side when its
    frame continues the neighbour's, and splits it again when unmapped."""
    table, child, rw = HostMappings(machine=None), {}, FLAGS[2]
    for page in (1, 0, 3, 2, 5):
        table.map(BASE + page * PAGE, 0x100000 + page * PAGE, rw)
        apply(table.drain(10), child)
    assert table.host_maps == host_maps(child) == 2      # pages 0-3, page 5
    table.unmap(BASE + 1 * PAGE)
    apply(table.drain(10), child)
    assert table.host_maps == host_maps(child) == 3


def test_a_page_changed_inside_a_run_not_yet_made_follows_it():
    table, child = HostMappings(machine=None), {}
    table.map_run(BASE, 0x40000000, FLAGS[2])
    table.map(BASE, 0x100000, FLAGS[1])           # splits the run
    table.unmap(BASE + 5 * PAGE)
    apply(table.drain(10), child)
    want = {va: (pte & ~0xFFF & ((1 << 52) - 1), prot_of(pte))
            for va, pte in table.pages().items() if pte & PTE_P}
    assert child == want and child[BASE] == (0x100000, 1) and BASE + 5 * PAGE not in child


class _Pool:
    def __init__(self):
        self.freed = []

    def free_many(self, frames):
        self.freed += frames


class _Child:
    alive = True

    def __init__(self, threads):
        self.n = threads

    def threads(self):
        return self.n


def test_frames_unmapped_under_running_threads_wait_for_the_host_munmap():
    """Another thread of the child can reach an unmapped frame through its
    host mapping until the stub's munmap runs: the pool gets it back only
    then (release_held); with one thread the sentry knows of too (the
    program can make host threads the sentry never hears of); with no
    child alive, at once."""
    from types import SimpleNamespace
    machine = SimpleNamespace(pool=_Pool())
    table = HostMappings(machine)
    table.process = _Child(2)
    table.map(BASE, 0x100000, FLAGS[2])
    table.drain(8)
    table.unmap(BASE)
    assert table.hold_frees([0x100000]) and machine.pool.freed == []
    table.release_held()
    assert machine.pool.freed == [0x100000]
    table.process = _Child(1)
    assert table.hold_frees([0x200000]) and machine.pool.freed == [0x100000]
    table.release_held()
    assert machine.pool.freed == [0x100000, 0x200000]
    table.process.alive = False
    assert not table.hold_frees([0x300000]) and table.held == []


class _Process:
    """What a table asks of its child process (adopt, drain's wipe)."""
    alive = table_ok = mappings_known = True
    thread_ops = ()

    def threads(self):
        return 1

    def one_program_thread(self):
        return True


def apply_ranges(ops, child):
    """apply() for calls over wide ranges (a wipe's whole-space munmaps)."""
    for nr, args in ops:
        if nr != NR_MUNMAP:
            apply([(nr, args)], child)
        else:
            addr, length = args
            for va in [va for va in child if addr <= va < addr + length]:
                del child[va]


def build(table, steps, child, limit=7):
    for page, frame, flags, what in steps:
        va = BASE + page * PAGE
        if what == "unmap":
            table.unmap(va)
        elif what == "map":
            table.map(va, 0x100000 + (page if frame is None else frame) * PAGE, flags)
        elif what == "run" and flags:
            table.map_run(va & ~(HUGE - 1), 0x40000000 + (frame or 0) * HUGE, flags)
        elif what == "unrun":
            table.unmap_huge(va & ~(HUGE - 1))
    while table.has_dirty():
        apply_ranges(table.drain(limit), child)


@settings(max_examples=300, deadline=None)
@given(steps, steps, st.integers(1, 7))
def test_a_reused_process_ends_up_with_the_new_table_alone(old_steps, new_steps, limit):
    """execve in the same process (adopt), or the next address space in a
    kept one: the old program's host mappings that the new table maps
    alike may stay, everything else of them goes, and the child ends up
    with exactly the new table's pages."""
    old, child = HostMappings(machine=None), {}
    old.process = _Process()
    build(old, old_steps, child)
    new = HostMappings(machine=None)
    assert new.adopt(old)
    build(new, new_steps, child, limit)
    want = {va: (pte & ~0xFFF & ((1 << 52) - 1), prot_of(pte))
            for va, pte in new.pages().items() if pte & PTE_P}
    assert child == want
    assert new.host_maps == host_maps(child)


def test_mappings_alike_are_kept_across_a_reuse():
    """Code both programs map from the same frames is neither unmapped nor
    mapped again; what only the old one had is unmapped, piece by piece."""
    rx, rw = FLAGS[3], FLAGS[2]
    old = HostMappings(machine=None)
    old.process = _Process()
    old.map_many([BASE + k * PAGE for k in range(8)], [0x100000 + k * PAGE for k in range(8)], rx)
    old.map(BASE + 20 * PAGE, 0x300000, rw)
    old.drain(10)
    new = HostMappings(machine=None)
    assert new.adopt(old)
    new.map_many([BASE + k * PAGE for k in range(8)], [0x100000 + k * PAGE for k in range(8)], rx)
    new.map(BASE + 9 * PAGE, 0x400000, rw)
    assert new.drain(10) == [(NR_MUNMAP, (BASE + 20 * PAGE, PAGE)),
                             (NR_MMAP, (BASE + 9 * PAGE, PAGE, 3, MAP_SHARED_FIXED,
                                        layout.POOL_FD, 0x400000))]
    # A mapping call that failed leaves the host's state unknown: all goes.
    new.process.mappings_known = False
    again = HostMappings(machine=None)
    assert again.adopt(new)
    ops = again.drain(10)
    assert len(ops) == 3 and all(nr == NR_MUNMAP for nr, _ in ops)


def _reused_after(pages):
    """A new table in the process an old one, with pages [(va, frame,
    flags)], ended in."""
    old = HostMappings(machine=None)
    old.process = _Process()
    for va, frame, flags in pages:
        old.map(va, frame, flags)
    old.drain(10)
    new = HostMappings(machine=None)
    assert new.adopt(old)
    return new


def test_old_runs_side_by_side_go_in_one_munmap():
    """Neighbouring old runs (other frames or rights: [vvar] and [vdso] at
    an old exec's random address) that the new table leaves are unmapped
    by one call; a page the new table maps between two keeps them apart."""
    r, rx = FLAGS[1], FLAGS[3]
    vvar, vdso, far = 0x7FFF_0000_0000, 0x7FFF_0000_1000, 0x7FFF_0000_8000
    old = [(vvar, 0x200000, r), (vdso, 0x500000, rx), (vdso + PAGE, 0x600000, rx),
           (far, 0x700000, r), (far + PAGE, 0x900000, rx)]
    new = _reused_after(old)
    new.map(far + 2 * PAGE, 0x800000, r)
    ops = new.drain(10)
    assert [op for op in ops if op[0] == NR_MUNMAP] == [(NR_MUNMAP, (vvar, 3 * PAGE)),
                                                       (NR_MUNMAP, (far, 2 * PAGE))]
    child = {va: (frame, prot_of(flags)) for va, frame, flags in old}
    apply(ops, child)
    assert child == {far + 2 * PAGE: (0x800000, 1)}
    new = _reused_after(old)
    new.map(vdso + PAGE, 0x800000, r)
    ops = new.drain(10)
    assert [op for op in ops if op[0] == NR_MUNMAP] == [(NR_MUNMAP, (vvar, 2 * PAGE)),
                                                       (NR_MUNMAP, (far, 2 * PAGE))]


def test_a_change_of_rights_alone_is_an_mprotect():
    """A page whose frame stays and whose rights change (a fork's
    copy-on-write, a RELRO) keeps the host's page-table entries: an
    mprotect, not an mmap over it that the program would fault in again;
    unless a failed call left the host's mappings unknown."""
    table = HostMappings(machine=None)
    table.process = _Process()
    vas = [BASE + k * PAGE for k in range(4)]
    table.map_many(vas, [0x100000 + k * PAGE for k in range(4)], FLAGS[2])
    table.drain(10)
    table.map_many(vas[1:3], [0x101000, 0x102000], FLAGS[1])
    assert table.drain(10) == [(NR_MPROTECT, (BASE + PAGE, 2 * PAGE, 1))]
    table.map(vas[1], 0x101000, FLAGS[2])
    table.map(vas[2], 0x200000, FLAGS[2])     # (another frame: mapped anew)
    assert table.drain(10) == [(NR_MPROTECT, (BASE + PAGE, PAGE, 3)),
                               (NR_MMAP, (BASE + 2 * PAGE, PAGE, 3, MAP_SHARED_FIXED,
                                          layout.POOL_FD, 0x200000))]
    assert table.host_maps == 3
    table.process.mappings_known = False
    table.map(vas[0], 0x100000, FLAGS[1])
    assert table.drain(10) == [(NR_MMAP, (BASE, PAGE, 1, MAP_SHARED_FIXED,
                                          layout.POOL_FD, 0x100000))]


def _runs_page_by_page(vas, ptes):
    """Where runs start, one page at a time: a page joins the last run if
    it is the next page and maps the next frame with the same rights, or
    neither it nor the last is mapped."""
    bounds = [0]
    for i in range(1, len(vas)):
        if not (vas[i] == vas[i - 1] + PAGE and (ptes[i] == ptes[i - 1] + PAGE or
                                                 not ptes[i] & PTE_P and
                                                 not ptes[i - 1] & PTE_P)):
            bounds.append(i)
    return bounds + [len(vas)]


changed_pages = st.dictionaries(st.integers(0, 300),
                                st.tuples(st.one_of(st.none(), st.integers(0, 40)),
                                          st.sampled_from(FLAGS[1:] * 3 + FLAGS[:1])),
                                min_size=1, max_size=60)


@given(changed_pages)
def test_runs_of_changed_pages_found_a_run_at_a_time(table):
    """_run_bounds's runs are the page-by-page ones, whether every page is
    mapped (one step per run) or some are unmapped (pte 0)."""
    vas = sorted(BASE + page * PAGE for page in table)
    ptes = [(0x100000 + (p if f is None else f) * PAGE | flags) if flags else 0
            for p, (f, flags) in sorted(table.items())]
    assert _run_bounds(vas, ptes) == _runs_page_by_page(vas, ptes)


# Pages near the places a new table's one-loop drain hands to _emit: the
# stub's range (never mapped) and the patched sites' table.
near = st.tuples(st.sampled_from([BASE, layout.RESERVED_LO - 16 * PAGE,
                                  layout.RESERVED_HI - 16 * PAGE, layout.TABLE_VA - 16 * PAGE]),
                 st.integers(0, 40), st.one_of(st.none(), st.integers(0, 60)),
                 st.sampled_from(FLAGS))


@settings(max_examples=300, deadline=None)
@given(st.lists(near, max_size=40), st.lists(near, max_size=60), st.booleans(),
       st.integers(1, 7))
def test_a_new_table_drained_in_one_loop_as_run_by_run(old_pages, new_pages, reuse, limit):
    """A table whose pages all lie past the host's mappings (a fork's
    child, a new image; in a reused process or not) is drained in one loop
    (_emit_past): the child ends up with the same mappings, and the table
    with the same host runs, as each run's _emit makes them; in a fresh
    process with the same calls, in a reused one with no more pages
    mapped anew (only what the old mappings do not hold alike)."""
    def fill(table, pages):
        for base, page, frame, flags in pages:
            va = base + page * PAGE
            table.map(va, 0x100000 + (page if frame is None else frame) * PAGE, flags) \
                if flags else table.unmap(va)

    drained = []
    for one_loop in (True, False):
        old, child = HostMappings(machine=None), {}
        old.process = _Process()
        fill(old, old_pages)
        while old.has_dirty():
            apply_ranges(old.drain(limit), child)
        new = HostMappings(machine=None)
        if not one_loop:
            new._emit_past, new.emit_in_c = new._emit_runs, False
        if reuse:
            assert new.adopt(old)
        else:
            child = {}
        fill(new, new_pages)
        ops = []
        while new.has_dirty():
            ops += new.drain(limit)
        apply_ranges(ops, child)
        mapped = sum(args[1] for nr, args in ops if nr == NR_MMAP)
        drained.append((child, new.host.starts, new.host.runs, ops if not reuse else mapped))
    assert drained[0][:3] == drained[1][:3]
    if reuse:
        assert drained[0][3] <= drained[1][3]
    else:
        assert drained[0][3] == drained[1][3]


def test_a_run_mapped_alike_but_for_a_page_maps_that_page_alone():
    """A new image's text, one run of frames, in a process whose last
    program had one page of it copied (a patched syscall site): only that
    page is mapped again, the rest stays as the host has it."""
    rx = FLAGS[3]
    vas = [BASE + k * PAGE for k in range(32)]
    frames = [0x100000 + k * PAGE for k in range(32)]
    old = HostMappings(machine=None)
    old.process = _Process()
    old.map_many(vas, frames, rx)
    old.map(vas[9], 0x300000, rx)
    while old.has_dirty():
        old.drain(10)
    new = HostMappings(machine=None)
    assert new.adopt(old)
    new.map_many(vas, frames, rx)
    assert new.drain(10) == [(NR_MMAP, (vas[9], PAGE, 5, MAP_SHARED_FIXED | MAP_POPULATE,
                                        layout.POOL_FD, frames[9]))]
    assert new.host_maps == 1
