"""File read throughput: a 64 MiB file read with 1 MiB read() calls, in the
sandbox (through the root overlay, and through a --volume) and natively,
from one run.

Rounds are interleaved (overlay, volume, native) because these machines
are noisy, and medians are reported; each run reads the file once untimed
(warming the host page cache and the sentry's caches) and then --passes
times. The ratio is native throughput / sandboxed throughput: how many
times slower a sandboxed read of the same bytes is.

    python benchmarks/file_read.py [--rounds 5] [--passes 4] [--size-mib 64]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402

BLOCK = 1 << 20


def make_file(path, size):
    chunk = os.urandom(BLOCK)
    with open(path, "wb") as f:
        for done in range(0, size, BLOCK):
            f.write(chunk[:min(BLOCK, size - done)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--size-mib", type=int, default=64)
    args = ap.parse_args()

    prog = build("programs/file_read.c")
    work = tempfile.mkdtemp(prefix="kvmsentry-bench-")
    try:
        data = os.path.join(work, "data.bin")
        make_file(data, args.size_mib << 20)
        run = [data, str(args.passes), str(BLOCK)]
        volume = ("--volume", "%s:/bench" % work)
        rows = {"overlay": [], "volume": [], "native": []}
        for _ in range(args.rounds):
            rows["overlay"].append(run_json(sandbox([prog, *run])))
            rows["volume"].append(run_json(sandbox([prog, "/bench/data.bin", *run[1:]],
                                                   volume)))
            rows["native"].append(run_json([prog, *run]))
    finally:
        shutil.rmtree(work)

    sums = {r["checksum"] for rs in rows.values() for r in rs}
    assert len(sums) == 1, "the runs read different bytes: %s" % sums
    mib = {k: median([r["mib_per_s"] for r in v]) for k, v in rows.items()}
    us_per_read = {k: median([r["seconds"] / r["reads"] * 1e6 for r in v])
                   for k, v in rows.items()}
    print("file read, %d MiB in %d KiB read() calls, %d rounds x %d passes, medians:"
          % (args.size_mib, BLOCK >> 10, args.rounds, args.passes))
    for k in ("overlay", "volume", "native"):
        print("  %-24s %9.1f MiB/s  %9.1f us per read" % (
            {"overlay": "sandbox, root overlay", "volume": "sandbox, --volume",
             "native": "native"}[k], mib[k], us_per_read[k]))
    ratios = {k: round(mib["native"] / mib[k], 2) for k in ("overlay", "volume")}
    print("  native/sandbox           %9.2fx (overlay)  %.2fx (volume)"
          % (ratios["overlay"], ratios["volume"]))
    print(json.dumps({"benchmark": "file_read", "size_mib": args.size_mib, "block": BLOCK,
                      "mib_per_s": mib, "us_per_read": us_per_read,
                      "native_over_sandbox": ratios,
                      "rounds": {k: [r["mib_per_s"] for r in v] for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
