"""PhysPool.alloc_run: frames for a page cache as one ascending run of the
pool where it has one (a free list's tail in order, else the bump
pointer's fresh frames), so that a file's pages read together are one
host mapping on systrap."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmsentry.arch.layout import PAGE_SIZE as P
from kvmsentry.mm.pool import OutOfMemory, PhysPool, _runs


@pytest.fixture
def pool():
    p = PhysPool(64 << 20)
    yield p
    p.close()


def is_run(frames):
    return frames == list(range(frames[0], frames[0] + len(frames) * P, P))


def test_scattered_free_frames_give_way_to_a_fresh_run(pool):
    frames = pool.alloc_many(64)
    pool.free_many(frames[::2])             # 32 free frames, none next to another
    before = pool.frames_in_use
    run = pool.alloc_run(16)
    assert is_run(run) and not set(run) & set(frames)
    assert pool.frames_in_use == before + 16
    assert set(pool.alloc_many(16)) <= set(frames[::2])      # (left for others)


def test_a_free_run_at_a_lists_tail_is_taken(pool):
    frames = pool.alloc_many(64)
    pool.free_many(frames[16:48])           # one run of 32 free frames
    run = pool.alloc_run(16)
    assert is_run(run) and set(run) <= set(frames[16:48])


def test_without_room_for_a_run_frames_come_as_alloc_many_gives_them():
    pool = PhysPool(8 << 20)
    try:
        frames = []
        while True:
            try:
                frames.append(pool.alloc())
            except OutOfMemory:
                break
        pool.free_many(frames[::2][:8])
        run = pool.alloc_run(8)
        assert sorted(run) == sorted(frames[::2][:8])
        assert all(pool.view[f:f + P] == bytes(P) for f in run)
    finally:
        pool.close()


# _runs: the (start, count) runs of a sorted frame list, found with 2 MiB
# strides where a run is that long: the runs a page-by-page walk gives.
def _runs_one_by_one(frames):
    out = []
    for phys in frames:
        if out and out[-1][0] + out[-1][1] * P == phys:
            out[-1][1] += 1
        else:
            out.append([phys, 1])
    return [tuple(run) for run in out]


@given(st.lists(st.integers(0, 4000), max_size=1500, unique=True))
def test_runs_of_frames(pages):
    frames = sorted(p * P for p in pages)
    assert list(_runs(frames)) == _runs_one_by_one(frames)


def test_runs_of_long_contiguous_lists():
    for frames in (list(range(0, 5000 * P, P)),
                   list(range(0, 600 * P, P)) + list(range(601 * P, 2000 * P, P))):
        assert list(_runs(frames)) == _runs_one_by_one(frames)
