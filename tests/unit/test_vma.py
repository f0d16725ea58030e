"""VmaList against a page-set model."""
from hypothesis import given, settings, strategies as st

from kvmsentry.mm.vma import Vma, VmaList

P = 4096
ranges = st.tuples(st.integers(0, 63), st.integers(1, 16)).map(
    lambda t: (t[0] * P, (t[0] + t[1]) * P))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), ranges, st.integers(0, 7)), max_size=30))
def test_insert_remove_matches_model(ops):
    vmas, model = VmaList(), {}
    for insert, (start, end), prot in ops:
        vmas.remove_range(start, end)
        for page in range(start, end, P):
            model.pop(page, None)
        if insert:
            vmas.insert(Vma(start, end, prot))
            for page in range(start, end, P):
                model[page] = prot
        if prot & 1:
            vmas.merge_adjacent()
    seen = {}
    last_end = -1
    for v in vmas:
        assert v.start < v.end and v.start >= last_end      # sorted, disjoint
        last_end = v.end
        for page in range(v.start, v.end, P):
            seen[page] = v.prot
    assert seen == model
    for page in range(0, 80 * P, P):
        found = vmas.find(page + 5)
        assert (found.prot if found else None) == model.get(page)


@settings(max_examples=150, deadline=None)
@given(st.lists(ranges, max_size=12), st.integers(1, 20))
def test_gap_search_top_down(existing, pages):
    vmas = VmaList()
    for start, end in existing:
        vmas.remove_range(start, end)
        vmas.insert(Vma(start, end, 3))
    below, above = 80 * P, 4 * P
    addr = vmas.find_gap_top_down(pages * P, below, above)
    taken = {p for v in vmas for p in range(v.start, v.end, P)}
    fits = [s for s in range(above, below - pages * P + 1, P)
            if not any(p in taken for p in range(s, s + pages * P, P))]
    assert addr == (max(fits) if fits else None)


def _model_gap(vmas, pages, below, above):
    taken = {p for v in vmas for p in range(v.start, v.end, P)}
    fits = [s for s in range(above, below - pages * P + 1, P)
            if not any(p in taken for p in range(s, s + pages * P, P))]
    return max(fits) if fits else None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["map", "unmap", "fixed", "merge"]),
                          st.integers(1, 6), ranges), max_size=40))
def test_gap_search_cache_stays_exact(ops):
    """Searches interleaved with mappings and unmappings (which move the
    known-full run the search starts from) give the exhaustive answer."""
    vmas, below, above = VmaList(), 80 * P, 4 * P
    for kind, pages, (start, end) in ops:
        if kind == "map":
            addr = vmas.find_gap_top_down(pages * P, below, above)
            assert addr == _model_gap(vmas, pages, below, above)
            if addr is not None:
                vmas.insert(Vma(addr, addr + pages * P, pages % 2))
        elif kind == "fixed":
            vmas.remove_range(start, end)
            vmas.insert(Vma(start, end, 1))
        elif kind == "merge":
            vmas.merge_adjacent(start, end)
        else:
            vmas.remove_range(start, end)
    assert vmas.find_gap_top_down(P, below, above) == _model_gap(vmas, 1, below, above)


def test_splits_counts_cut_mappings():
    vmas = VmaList()
    vmas.insert(Vma(4 * P, 10 * P, 3))
    assert vmas.splits(4 * P, 10 * P) == 0
    assert vmas.splits(5 * P, 10 * P) == 1
    assert vmas.splits(5 * P, 6 * P) == 2
    assert vmas.splits(0, 20 * P) == 0
