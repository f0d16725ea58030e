"""GNU sort of a 50,000-line file in the sandbox, with the buffer size it
picks itself (from sysinfo and /proc/meminfo) next to `sort -S 50M`, and
both natively, from one run.

Without sysinfo(2) glibc's sysconf(_SC_PHYS_PAGES) was garbage and sort
chose a tiny buffer: thousands of temporary files, ~1000x slower. The
ratio printed is sandboxed `sort` / sandboxed `sort -S 50M`: about 1 when
sort sizes its buffer sensibly. Rounds are interleaved; medians of
wall-clock seconds (the sandbox's include its start-up).

    python benchmarks/sort_lines.py [--rounds 3] [--lines 50000]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import median, sandbox  # noqa: E402


def timed(cmd, expect):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=600).stdout
    elapsed = time.perf_counter() - start
    assert out == expect, "%s sorted differently" % cmd
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lines", type=int, default=50000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kvmsentry-bench-")
    try:
        path = os.path.join(work, "lines.txt")
        lines = ["%08x line %d\n" % ((i * 2654435761) % (1 << 32), i)
                 for i in range(args.lines)]
        with open(path, "w") as f:
            f.writelines(lines)
        expect = "".join(sorted(lines)).encode()
        env_sort = ["env", "LC_ALL=C", "sort"]
        cases = {"sandbox sort": sandbox([*env_sort, path]),
                 "sandbox sort -S 50M": sandbox([*env_sort, "-S", "50M", path]),
                 "native sort": [*env_sort, path],
                 "native sort -S 50M": [*env_sort, "-S", "50M", path]}
        times = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, cmd in cases.items():
                times[name].append(timed(cmd, expect))
    finally:
        shutil.rmtree(work)
    print("sort of %d lines, %d rounds, median wall-clock seconds:" % (args.lines, args.rounds))
    med = {k: median(v) for k, v in times.items()}
    for name, t in med.items():
        print("  %-22s %8.3f" % (name, t))
    print("ratio sandbox sort / sandbox sort -S 50M: %.2f (goal ~1)"
          % (med["sandbox sort"] / med["sandbox sort -S 50M"]))


if __name__ == "__main__":
    main()
