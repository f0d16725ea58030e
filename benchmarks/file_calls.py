"""Each common file call next to getpid, in the sandbox and natively
(benchmarks/programs/file_calls.c), interleaved in rounds, pinned.

The sentry's cost of a file call beyond the exit every call pays is the
sandboxed time minus the sandboxed getpid (issue 11's goal: within
10 us). Files live in a fresh temporary directory, reached through the
root overlay. No assertions: it reports, then prints one JSON line.

    python benchmarks/file_calls.py [--rounds 5] [--calls 2000] [--cpu 0] [--baseline DIR]

--baseline DIR also runs another source tree's kvmsentry package (as in
benchmarks/startup.py) in the same rounds, for a before/after column.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, run_json, sandbox  # noqa: E402
from startup import baseline_command  # noqa: E402

CALLS = ("getpid", "openat", "close", "newfstatat", "statx", "lseek+getdents64",
         "pread64 64 B", "pwrite64 64 B")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--cpu", type=int, default=0, help="taskset CPU (-1: not pinned)")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="also run the kvmsentry package in DIR")
    args = ap.parse_args(argv)
    pin = [] if args.cpu < 0 else ["taskset", "-c", str(args.cpu)]
    prog = build("programs/file_calls.c", compiler="musl-gcc")
    got = {"sandbox": [], "native": []}
    if args.baseline:
        got["baseline"] = []
    for _ in range(args.rounds):
        for where in got:
            with tempfile.TemporaryDirectory(prefix="kvmsentry-bench-") as d:
                cmd = [prog, str(args.calls)]
                if where == "sandbox":
                    cmd = sandbox(cmd)
                elif where == "baseline":
                    cmd = baseline_command(os.path.abspath(args.baseline)) + ["--"] + cmd
                cmd = pin + cmd
                cwd = os.getcwd()
                os.chdir(d)
                try:
                    got[where].append(run_json(cmd))
                finally:
                    os.chdir(cwd)
    med = {w: {c: statistics.median(r[c] for r in got[w]) for c in CALLS} for w in got}
    base = med["sandbox"]["getpid"]
    print("file calls, %d rounds x %d calls, %s, medians (ns per call):"
          % (args.rounds, args.calls, "pinned to CPU %d" % args.cpu if pin else "not pinned"))
    extra = " baseline | baseline minus its getpid |" if args.baseline else ""
    print("| call | sandbox | native | sandbox minus sandboxed getpid |" + extra)
    print("|---|---|---|---|" + ("---|---|" if args.baseline else ""))
    for c in CALLS:
        line = "| %s | %.1f us | %.2f us | %s |" % (
            c, med["sandbox"][c] / 1e3, med["native"][c] / 1e3,
            "-" if c == "getpid" else "%+.1f us" % ((med["sandbox"][c] - base) / 1e3))
        if args.baseline:
            b = med["baseline"]
            line += " %.1f us | %s |" % (b[c] / 1e3, "-" if c == "getpid" else
                                         "%+.1f us" % ((b[c] - b["getpid"]) / 1e3))
        print(line)
    print(json.dumps({"benchmark": "file_calls", "calls": args.calls, "medians_ns": med,
                      "rounds": got}))


if __name__ == "__main__":
    main()
