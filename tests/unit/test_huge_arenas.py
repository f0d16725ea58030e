"""kvmsentry_use_huge_arenas (cdefs/sandbox_helpers.c): after the call,
Python's new object arenas lie in 2 MiB-aligned mappings advised
MADV_HUGEPAGE ('hg' in smaps), and arenas freed and made again still
work (run in a child interpreter: the allocator stays for the process);
and `kvmsentry do`'s sentry sets it after its fork, its supervisor not."""
import signal
import subprocess
import sys

CHILD = r"""
import gc, sys, threading
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
def deep(n):
    return 0 if n == 0 else deep(n - 1)

for _ in range(2):
    # ~8 MiB of small objects: several new arenas; between them, threads
    # whose frame stacks CPython also takes through the arena hook.
    objs = []
    for part in range(10):
        objs += [(i, str(i)) for i in range(part * 10000, (part + 1) * 10000)]
        thread = threading.Thread(target=deep, args=(300,))
        thread.start()
        thread.join()
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


def _children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        kids = [int(p) for p in f.read().split()]
    names = {}
    for kid in kids:
        with open("/proc/%d/comm" % kid) as f:
            names[kid] = f.read().strip()
    return [k for k in kids if names[k] != "slirp4netns"]


def _advised_bytes(pid):
    total, size = 0, 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                size = end - start
            elif head == "VmFlags:" and "hg" in line.split()[1:]:
                total += size
    return total


def test_the_sentry_makes_its_arenas_so_and_the_supervisor_does_not():
    proc = subprocess.Popen([sys.executable, "-m", "kvmsentry", "do", "--",
                             "/bin/sh", "-c", "echo started; sleep 30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        [sentry] = _children(proc.pid)
        # The sentry's imports after its fork fill new arenas: at least one chunk.
        assert _advised_bytes(sentry) >= 2 << 20
        # The supervisor allocates little after the fork: no chunk there.
        assert _advised_bytes(proc.pid) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert b"seccomp refused" not in err
