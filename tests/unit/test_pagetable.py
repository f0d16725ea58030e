"""Page tables written into a real pool: a dict is the model."""
import pytest
from hypothesis import given, settings, strategies as st

from kvmsentry.mm.pagetable import (ADDR_MASK, PTE_NX, PTE_P, PTE_U, PTE_W,
                                    PageTable, leaf_flags)
from kvmsentry.mm import pool as pool_module
from kvmsentry.mm.pool import PhysPool

POOL_BYTES = 64 << 20


@pytest.fixture(scope="module")
def pool():
    p = PhysPool(POOL_BYTES)
    yield p
    p.close()


def walk(pool, root, va):
    """Independent 4-level walk over raw pool words (the CPU's view)."""
    table = root
    for shift in (39, 30, 21, 12):
        entry = pool.words[(table >> 3) + ((va >> shift) & 511)]
        if not entry & PTE_P:
            return None
        if shift == 12:
            return entry
        assert entry & PTE_U and entry & PTE_W      # upper levels never restrict
        table = entry & ADDR_MASK


pages = st.integers(min_value=0, max_value=(1 << 35) - 1).map(lambda n: n << 12)
ops = st.lists(st.tuples(st.sampled_from(["map", "unmap"]), pages,
                         st.integers(0, 7)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_matches_dict_model(pool, operations):
    pt = PageTable(pool, kernel_pdpt=None)
    model = {}
    frames = {}
    try:
        for op, va, prot in operations:
            if op == "map":
                phys = frames.setdefault(va, pool.alloc())
                flags = leaf_flags(prot & 1, prot & 2, prot & 4)
                pt.map(va, phys, flags)
                model[va] = (phys, flags)
            else:
                pt.unmap(va)
                model.pop(va, None)
        for va, (phys, flags) in model.items():
            entry = walk(pool, pt.root, va)
            if flags:
                assert entry == phys | flags
            else:
                assert entry is None            # PROT_NONE: not present
            assert pt.lookup(va) == (phys | flags)
        for op, va, _ in operations:
            if va not in model:
                assert walk(pool, pt.root, va) is None
    finally:
        for phys in frames.values():
            pool.free(phys)
        pt.destroy()


def test_leaf_flags():
    assert leaf_flags(0, 0, 0) == 0
    ro = leaf_flags(1, 0, 0)
    assert ro & PTE_P and ro & PTE_U and ro & PTE_NX and not ro & PTE_W
    rx = leaf_flags(1, 0, 1)
    assert not rx & PTE_NX
    assert leaf_flags(1, 1, 0) & PTE_W


def test_kernel_half_shared(pool):
    kernel_pdpt = pool.alloc_table()
    a, b = PageTable(pool, kernel_pdpt), PageTable(pool, kernel_pdpt)
    for pt in (a, b):
        assert pool.words[(pt.root >> 3) + 511] & ADDR_MASK == kernel_pdpt
    with pytest.raises(ValueError):
        a.map(1 << 47, pool.alloc(), leaf_flags(1, 1, 0))   # not a user address
    a.destroy()
    b.destroy()


def test_table_frames_never_reused_as_tables(pool):
    """A frame that held a page table never comes back as a table
    (shadow-paging KVMs cache tables by frame), and not as data either
    while KVM may still shadow it (no zap_shadow: never)."""
    pt = PageTable(pool, None)
    pt.map(0x400000, pool.alloc(), leaf_flags(1, 1, 0))
    tables = set(pt.tables.values()) | {pt.root}
    pt.destroy()
    fresh = [pool.alloc_table() for _ in range(len(tables) + 4)]
    assert not tables & set(fresh)
    data = [pool.alloc() for _ in range(len(tables) + 4)]
    assert not tables & set(data)


def test_table_frames_become_data_after_two_zaps(monkeypatch):
    """Freed tables wait for two shadow-MMU zaps before they hold data;
    roots a vCPU may still hold wait longer."""
    monkeypatch.setattr(pool_module, "QUARANTINE_FRAMES", 3)
    pool = PhysPool(POOL_BYTES)
    held = set()
    zaps = []
    pool.zap_shadow = lambda: zaps.append(1) or held
    first = [pool.alloc_table() for _ in range(3)]
    held.add(first[0])
    for phys in first:
        pool.free(phys)
    assert len(zaps) == 1                     # quarantine full: zap once
    assert not set(first) & {pool.alloc() for _ in range(8)}
    second = [pool.alloc_table() for _ in range(3)]
    for phys in second:
        pool.free(phys)
    assert len(zaps) == 2
    reused = {pool.alloc() for _ in range(8)}
    assert set(first[1:]) <= reused           # zapped twice: data again
    assert first[0] not in reused and not set(second) & reused
    for phys in reused:                       # data frees need no zap
        pool.free(phys)
    assert len(zaps) == 2 and set(first[1:]) <= {pool.alloc() for _ in range(8)}
    pool.close()
