"""Small files: open, read to EOF and close each of 1000 small files, in
the sandbox (through the root overlay, and through a --volume) and
natively, from one run.

The files are 64 bytes to 4 KiB, so every file costs open + two read()s +
close: the time per file is mostly four system calls and one path walk.
Rounds are interleaved (overlay, volume, native) because these machines
are noisy, and medians are reported; each run makes one untimed pass
first. The ratio is sandboxed time per file / native time per file.

    python benchmarks/small_files.py [--rounds 5] [--passes 3] [--files 1000]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402


def make_files(directory, count):
    for i in range(count):
        size = 64 + (i * 2654435761) % (4096 - 64)
        with open(os.path.join(directory, "f%04d" % i), "wb") as f:
            f.write(bytes([i % 251]) * size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()

    prog = build("programs/small_files.c")
    work = tempfile.mkdtemp(prefix="kvmsentry-bench-")
    try:
        files = os.path.join(work, "files")
        os.mkdir(files)
        make_files(files, args.files)
        run = [str(args.files), str(args.passes)]
        volume = ("--volume", "%s:/bench" % files)
        rows = {"overlay": [], "volume": [], "native": []}
        for _ in range(args.rounds):
            rows["overlay"].append(run_json(sandbox([prog, files, *run])))
            rows["volume"].append(run_json(sandbox([prog, "/bench", *run], volume)))
            rows["native"].append(run_json([prog, files, *run]))
    finally:
        shutil.rmtree(work)

    sums = {r["checksum"] for rs in rows.values() for r in rs}
    assert len(sums) == 1, "the runs read different bytes: %s" % sums
    us = {k: median([r["us_per_file"] for r in v]) for k, v in rows.items()}
    print("small files, %d files (open + read to EOF + close), %d rounds x %d passes, "
          "medians:" % (args.files, args.rounds, args.passes))
    for k, label in (("overlay", "sandbox, root overlay"), ("volume", "sandbox, --volume"),
                     ("native", "native")):
        print("  %-24s %9.1f us per file" % (label, us[k]))
    ratios = {k: round(us[k] / us["native"], 1) for k in ("overlay", "volume")}
    print("  sandbox/native           %9.1fx (overlay)  %.1fx (volume)"
          % (ratios["overlay"], ratios["volume"]))
    print(json.dumps({"benchmark": "small_files", "files": args.files, "us_per_file": us,
                      "sandbox_over_native": ratios,
                      "rounds": {k: [r["us_per_file"] for r in v] for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
