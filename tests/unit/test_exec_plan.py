"""exec's plan of a kept program's mappings (loader/load.py): made at its
first exec, reused only for the same bytes, name and page cache; each
address space gets Vmas of its own."""
import shutil
import subprocess
import types

import pytest

from kvmsentry.loader import load, program_files
from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.mm.page_cache import PageCache
from kvmsentry.mm.pool import PhysPool


class _Creds:
    uid = euid = gid = egid = 1000


class _File:
    """The least of an inode a PageCache reads a program through."""

    def __init__(self, data):
        self.data = data

    def getattr(self):
        return types.SimpleNamespace(size=len(self.data))

    def readinto_at(self, offset, buffers):
        pos = offset
        for buf in buffers:
            chunk = self.data[pos:pos + len(buf)]
            buf[:len(chunk)] = chunk
            pos += len(buf)
        return max(0, min(len(self.data), pos) - offset)


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """Two static builds of one source, the same layout, other bytes."""
    # (No skip: the README's test command installs musl-tools.)
    assert shutil.which("musl-gcc"), "musl-gcc missing: install musl-tools"
    out = tmp_path_factory.mktemp("plan")
    (out / "say.c").write_text("#include <stdio.h>\nint main(void) { puts(MSG); return 0; }\n")
    built = []
    for msg in ("one", "two"):
        exe = out / msg
        subprocess.run(["musl-gcc", "-static", "-O1", '-DMSG="%s"' % msg, "-o", str(exe),
                        str(out / "say.c")], check=True)
        built.append(exe.read_bytes())
    return built


@pytest.fixture
def kept(monkeypatch):
    """The bytes given count as kept by program_files (the plan's premise)."""
    keep = []
    monkeypatch.setattr(program_files, "is_kept", lambda data: any(d is data for d in keep))
    monkeypatch.setattr(load, "_parsed", {})
    return keep


def _exec(pool, data, name, cache):
    mm = AddressSpace(pool, None)
    load.load_elf(mm, b"/p", data, [b"/p"], [], creds=_Creds(), hwcap=0, read_file=None,
                  name_of=lambda p: name, cache_of=lambda p: cache)
    return mm


def _image(mm):
    return [v for v in mm.vmas if v.name not in ("[stack]",)]


def test_plan_follows_bytes_name_and_cache(programs, kept):
    one, two = programs
    kept += [one, two]
    pool = PhysPool(64 << 20)
    cache_one, cache_two = PageCache(_File(one), pool), PageCache(_File(one), pool)
    made = []
    try:
        made.append(_exec(pool, one, "/a", cache_one))
        made.append(_exec(pool, one, "/a", cache_one))          # the plan again
        first, again = _image(made[0]), _image(made[1])
        assert [(v.start, v.end, v.prot) for v in first] == \
            [(v.start, v.end, v.prot) for v in again]
        assert not {id(v) for v in first} & {id(v) for v in again}   # copies
        again[0].name = "changed"
        assert first[0].name == "/a"
        # Another name for the same bytes (a hard link, a symlink's target).
        made.append(_exec(pool, one, "/b", cache_one))
        assert {v.name for v in _image(made[-1])} == {"/b"}
        # Another page cache (the file's was dropped and made again).
        made.append(_exec(pool, one, "/a", cache_two))
        assert {v.cache for v in _image(made[-1]) if v.cache is not None} == {cache_two}
        # Other bytes, the same layout: copied from those bytes.
        made.append(_exec(pool, two, "/a", cache_one))
        for data, in_use in ((one, made[0]), (two, made[-1])):
            plans = list(load._parsed[id(data)].plans.values())
            copied = [piece[6] for plan in plans for piece in plan.pieces if piece[6]]
            assert copied and all(view.obj is data for view in copied)
            start = next(piece[0] for piece in plans[0].pieces if piece[6])
            assert in_use.copy_in(start, 64) == bytes(copied[0][:64])
    finally:
        for mm in made:
            mm.destroy()
        pool.close()


def test_no_plan_for_bytes_not_kept(programs, kept):
    one, _ = programs
    pool = PhysPool(64 << 20)
    cache = PageCache(_File(one), pool)
    try:
        mm = _exec(pool, one, "/a", cache)
        assert {v.name for v in _image(mm)} == {"/a"}
        assert id(one) not in load._parsed
        mm.destroy()
    finally:
        pool.close()
