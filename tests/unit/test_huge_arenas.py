"""kvmsentry_use_huge_arenas (cdefs/sandbox_helpers.c): after the call,
Python's new object arenas lie in 2 MiB-aligned mappings advised
MADV_HUGEPAGE ('hg' in smaps), and arenas freed and made again still
work. Run in a child interpreter: the allocator stays for the process."""
import subprocess
import sys

CHILD = r"""
import gc, sys
from kvmsentry._sandbox import lib

def advised():
    '''(start, end) of every mapping advised MADV_HUGEPAGE.'''
    spans, span = [], None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                span = (start, end)
            elif head == "VmFlags:" and "hg" in line.split()[1:]:
                spans.append(span)
    return spans

use = sys.argv[1] == "use"
if use:
    assert lib.kvmsentry_use_huge_arenas() == 0
for _ in range(2):
    # ~8 MiB of small objects: several new arenas.
    objs = [(i, str(i)) for i in range(100000)]
    spans = advised()
    inside = sum(any(s <= id(o) < e for s, e in spans) for o in objs[-1000:])
    print(len(spans), inside, all((e - s) % (2 << 20) == 0 and s % (2 << 20) == 0
                                  for s, e in spans))
    del objs
    gc.collect()          # (empty arenas go back through the allocator's free)
"""


def _run(mode):
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split() for line in out.stdout.splitlines()]


def test_new_arenas_are_in_huge_page_chunks():
    (spans, inside, aligned), (_, again, _) = _run("use")
    assert int(spans) >= 1 and aligned == "True"
    assert int(inside) == 1000                # every new object in such a chunk
    # after arenas were freed (a chunk's pieces unmapped one by one)
    assert int(again) == 1000


def test_without_it_no_arena_is_advised():
    # (the check above can fail: the interpreter's own arenas are not advised)
    for spans, inside, _ in _run("default"):
        assert int(inside) == 0
