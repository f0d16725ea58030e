"""The systrap drain's C loop (emit_c.py, cdefs/systrap_helpers.c's
systrap_emit_past) against its Python reference (mirror.HostMappings with
emit_in_c off): driven by the same random page-table changes (maps,
unmaps, changes of rights, copy-on-write breaks, forks, reuses of a
process by a new image, runs that merge and split, pages at the edges of
the reserved ranges and the patched sites' table), the two drain the same
host calls, as the same request-page bytes, and leave the same
bookkeeping; and the C refuses input that breaks its contract."""
import struct

from hypothesis import given, settings, strategies as st

from kvmsentry._systrap import ffi, lib
from kvmsentry.mm.pagetable import leaf_flags
from kvmsentry.platform.systrap import emit_c, layout
from kvmsentry.platform.systrap.mirror import HostMappings

PAGE = 4096
HUGE = 512 * PAGE
FLAGS = [0, leaf_flags(True, False, False), leaf_flags(True, True, False),
         leaf_flags(True, False, True), leaf_flags(True, True, True),
         leaf_flags(True, True, False) | HostMappings.SPECULATIVE]
TABLE_END = layout.TABLE_VA + layout.TABLE_SIZE
BASES = [0x400000, layout.USER_LO, layout.RESERVED_LO - 24 * PAGE, layout.RESERVED_HI - 8 * PAGE,
         layout.TABLE_VA - 24 * PAGE, TABLE_END - 8 * PAGE, layout.USER_HI - 64 * PAGE]


class _Process:
    alive = table_ok = mappings_known = True
    thread_ops = ()

    def threads(self):
        return 1

    def one_program_thread(self):
        return True


# A change: (base, page, frame (None: the page's own, so neighbours run
# on), flags (0: unmap), what, count (of "many": pages mapped at once, as a
# fault's window or a populated mapping, frames in a row)).
change = st.tuples(st.sampled_from(BASES), st.integers(0, 40),
                   st.one_of(st.none(), st.integers(0, 80)), st.sampled_from(FLAGS),
                   st.sampled_from(["map", "many", "many", "cow", "prot", "run", "unrun"]),
                   st.integers(1, 24))
changes = st.lists(change, max_size=50)


def _apply(table, changes):
    for base, page, frame, flags, what, count in changes:
        va = base + page * PAGE
        frame_of = 0x100000 + (page if frame is None else frame) * PAGE
        if what == "map":
            if flags:
                table.map(va, frame_of, flags)
            else:
                table.unmap(va)
        elif what == "many" and flags:
            table.map_many([va + k * PAGE for k in range(count)],
                           [frame_of + k * PAGE for k in range(count)], flags)
        elif what == "cow":                 # (a new frame, the page writable)
            table.map(va, 0x9000000 + page * PAGE, FLAGS[2])
        elif what == "prot":                # (the same frame, other rights)
            pte = table.lookup(va)
            if pte:
                table.map(va, pte & 0x000F_FFFF_FFFF_F000, flags or FLAGS[1])
        elif what == "run" and flags and va < layout.RESERVED_LO - HUGE:
            table.map_run(va & ~(HUGE - 1), 0x40000000 + (frame or 0) * HUGE, flags)
        elif what == "unrun" and va < layout.RESERVED_LO - HUGE:
            table.unmap_huge(va & ~(HUGE - 1))


def _request_bytes(ops):
    """The mapper's request records for ops, as map_now writes them."""
    if isinstance(ops, emit_c.PackedOps):
        return bytes(ffi.buffer(ops.ops, len(ops) * layout.OP_SIZE))
    out = b""
    for nr, args in ops:
        out += struct.pack("<8Q", nr, *(tuple(args) + (0,) * (6 - len(args))), 0)
    return out


def _state(table):
    stale = table.stale
    return (table.host.starts, table.host.runs, table.dirty, table.dirty_huge, table.wipe,
            None if stale is None else (stale.starts, stale.runs), table.table_hit)


def _drain_both(tables, limit):
    while tables[0].has_dirty() or tables[1].has_dirty():
        got = [t.drain(limit) for t in tables]
        assert list(got[0]) == list(got[1])
        assert _request_bytes(got[0]) == _request_bytes(got[1])
        assert _state(tables[0]) == _state(tables[1])


def _pair():
    tables = [HostMappings(machine=None), HostMappings(machine=None)]
    tables[1].emit_in_c = False
    for t in tables:
        t.process = _Process()
    return tables


@settings(max_examples=400, deadline=None)
@given(changes, changes, changes, st.sampled_from(["fork", "reuse", "same"]),
       st.integers(1, 12))
def test_c_drain_equals_the_python_reference(first, more, after, how, limit):
    """A table filled and drained, changed again (mprotects, splits, COW
    breaks), then followed by a fork's child (a new table copying its
    pages, no wipe), a new image reusing its process (a wipe keeping what
    it maps alike), or more changes to the same table."""
    olds = _pair()
    for t in olds:
        _apply(t, first)
    _drain_both(olds, limit)
    for t in olds:
        _apply(t, more)
    _drain_both(olds, limit)
    if how == "same":
        news = olds
    else:
        news = [HostMappings(machine=None), HostMappings(machine=None)]
        news[1].emit_in_c = False
        for old, new in zip(olds, news):
            if how == "reuse":
                assert new.adopt(old)
            else:
                new.process = _Process()
                new.map_many(sorted(old.pages()),
                             [pte & 0x000F_FFFF_FFFF_F000 for _, pte in sorted(old.pages().items())],
                             FLAGS[1])
    for t in news:
        _apply(t, after)
    _drain_both(news, limit)


# The C loop alone: random runs past a host's last run, with an old
# program's runs (stale) or not, against _emit_past.
pages = st.lists(st.tuples(st.integers(0, 80), st.integers(1, 30),
                           st.one_of(st.none(), st.integers(0, 30)), st.sampled_from(FLAGS)),
                 max_size=30)
runs = st.lists(st.tuples(st.integers(0, 80), st.integers(1, 8), st.integers(0, 40),
                          st.sampled_from([1, 3, 5, 7])), max_size=12)


def _host_runs(spec, base, over=0):
    """A HostRuns of non-overlapping runs from spec [(page, pages, frame,
    prot)], `over` pages past base. Over the new pages (an old program's
    runs), a run's frames are those of the new pages there, give or take
    a page (frame % 3 - 1), so that parts of it map alike."""
    from kvmsentry.platform.systrap.host_runs import HostRuns
    hr, at = HostRuns(), 0
    for page, n, frame, prot in sorted(spec):
        s = base + (over + max(page, at)) * PAGE
        e = s + n * PAGE
        first = 0x100000 + max(0, max(page, at) + frame % 3 - 1) * PAGE if over else \
            0x200000 + frame * PAGE
        hr.starts.append(s)
        hr.runs[s] = (e, first | prot)
        at = max(page, at) + n
    return hr


@settings(max_examples=400, deadline=None)
@given(pages, runs, st.one_of(st.none(), runs), st.sampled_from(BASES[:2] + BASES[4:5] + [0x7FFF_0000_0000]),
       st.integers(0, 12),
       st.one_of(st.integers(1, 16), st.integers(1, layout.MAPPER_MAX_OPS - 1)))
def test_c_loop_equals_emit_past(spec, last, stale, base, prefix, limit):
    by_va = {}
    for first, count, frame, flags in spec:         # (count pages in a row)
        for page in range(first, first + count):
            by_va[base + (400 + page) * PAGE] = \
                (0x100000 + (page if frame is None else frame) * PAGE) | flags if flags else 0
    vas = sorted(by_va)
    ptes = [by_va[va] for va in vas]
    if not vas:
        return
    tables = _pair()
    for t in tables:
        t.host = _host_runs(last, base)
        t.stale = None if stale is None else _host_runs(stale, base, 400)
    pre = [(11, (0x10000 + k * PAGE, PAGE)) for k in range(prefix)]
    got = emit_c.emit_past(tables[0], list(pre), limit, vas, ptes)
    want_ops = list(pre)
    from kvmsentry.platform.systrap.mirror import _run_bounds
    want_done = tables[1]._emit_past(want_ops, limit, vas, ptes, _run_bounds(vas, ptes))
    if got is None:                     # (a page at the reserved ranges or the table)
        assert any(layout.TABLE_VA <= va < TABLE_END or
                   layout.RESERVED_LO <= va < layout.RESERVED_HI for va in vas)
        return
    ops, done = got
    assert done == want_done
    assert list(ops) == want_ops
    assert _request_bytes(ops) == _request_bytes(want_ops)
    assert _state(tables[0]) == _state(tables[1])


def _call(vas, ptes, runs_cap=None, limit=8, last=None, s_runs=(0,), s_n=0, nops=0):
    n = len(vas)
    ops = ffi.new("struct systrap_op[]", layout.MAPPER_MAX_OPS)
    out = ffi.new("uint64_t[]", 3 * (n + 1))
    c_nops = ffi.new("int64_t *", nops)
    return lib.systrap_emit_past(
        ffi.new("uint64_t[]", vas or [0]), ffi.new("uint64_t[]", ptes or [0]), n,
        ffi.new("uint64_t[]", list(s_runs)), s_n, s_n > 0, emit_c._LIMITS, ops,
        layout.MAPPER_MAX_OPS, c_nops, limit, ffi.new("uint64_t[]", last) if last else ffi.NULL,
        out, n + 1 if runs_cap is None else runs_cap, ffi.new("int64_t *"), ffi.new("int *"))


def test_c_loop_refuses_what_breaks_its_contract():
    """Unsorted, unaligned or kernel-half pages, a limit past the request
    page, a count past it, too small an output, a last run past the
    pages, overlapping stale runs: refused (-2) before anything is
    written; a page at the reserved ranges is Python's (-1)."""
    good = ([0x400000, 0x401000], [0x100003, 0x101003])
    assert _call(*good) == 2
    assert _call([0x401000, 0x400000], good[1]) == -2
    assert _call([0x400800], [0x100003]) == -2
    assert _call([1 << 47], [0x100003]) == -2
    assert _call(*good, limit=layout.MAPPER_MAX_OPS + 1) == -2
    assert _call(*good, nops=layout.MAPPER_MAX_OPS + 1) == -2
    assert _call(*good, nops=-1) == -2
    assert _call(*good, runs_cap=2) == -2
    assert _call(*good, last=[0x402000, 0x403000, 3]) == -2
    assert _call(*good, s_runs=[0x400000, 0x402000, 3, 0x401000, 0x403000, 3], s_n=2) == -2
    assert _call([layout.RESERVED_LO], [0x100003]) == -1
    assert _call([layout.TABLE_VA], [0x100003]) == -1


def test_a_run_whose_pieces_pass_the_limit_is_one_mmap_in_both():
    """A run the old program's runs map alike in two places becomes three
    mmaps, or one whole when three do not fit the limit (the caller's
    margin): C and Python agree at each limit around it."""
    from kvmsentry.platform.systrap.mirror import _run_bounds
    base = 0x400000
    vas = [base + (400 + p) * PAGE for p in range(10)]
    ptes = [(0x100000 + p * PAGE) | FLAGS[1] for p in range(10)]
    seen = set()
    for prefix in range(4):
        for limit in range(prefix + 1, prefix + 5):
            tables = _pair()
            for t in tables:
                t.stale = _host_runs([(2, 2, 1, 1), (6, 2, 1, 1)], base, 400)
            pre = [(11, (0x10000 + k * PAGE, PAGE)) for k in range(prefix)]
            ops, done = emit_c.emit_past(tables[0], list(pre), limit, vas, ptes)
            want = list(pre)
            assert done == tables[1]._emit_past(want, limit, vas, ptes, _run_bounds(vas, ptes))
            assert list(ops) == want and _state(tables[0]) == _state(tables[1])
            seen.add(len(want) - prefix)
    assert seen == {1, 3}
