"""Freed single frames kept with their host memory (PhysPool.warm_frames,
systrap's setting): the first few stay backed and zeroed, the rest go back
to the host; every frame handed out again reads as zeros."""
import os

import pytest

from kvmsentry.arch.layout import PAGE_SIZE as P
from kvmsentry.mm.pool import PhysPool


@pytest.fixture
def pool():
    p = PhysPool(64 << 20)
    yield p
    p.close()


def backed(pool, phys):
    """True if the memfd holds memory for the frame (not a hole)."""
    try:
        return os.lseek(pool.fd, phys, os.SEEK_DATA) == phys
    except OSError:
        return False                      # (ENXIO: only holes from there on)


def scribble(pool, frames):
    for phys in frames:
        pool.view[phys:phys + P] = b"\xab" * P


def test_without_warm_frames_freed_memory_goes_back(pool):
    frames = pool.alloc_many(6)
    scribble(pool, frames)
    pool.free_many(frames)
    assert not any(backed(pool, f) for f in frames)


def test_warm_frames_keep_their_memory_zeroed(pool):
    pool.warm_frames = 4
    frames = pool.alloc_many(6)
    scribble(pool, frames)
    in_use = pool.frames_in_use
    pool.free_many(frames)
    assert pool.frames_in_use == in_use - 6
    kept = sorted(frames)[:4]
    assert [f for f in sorted(frames) if backed(pool, f)] == kept
    again = pool.alloc_many(4)
    assert sorted(again) == kept
    for phys in again:
        assert pool.view[phys:phys + P] == bytes(P)
    # Full again: a single free keeps one, then the list is full.
    scribble(pool, again)
    pool.free(again[0])
    pool.free_many(again[1:])
    assert all(backed(pool, f) for f in again)
    extra = pool.alloc_many(5)
    scribble(pool, extra)
    pool.free_many(extra[1:])
    pool.free(extra[0])                   # (no room left: removed)
    assert not backed(pool, extra[0])
    for phys in pool.alloc_many(4) + [pool.alloc()]:
        assert pool.view[phys:phys + P] == bytes(P)
