"""Pipe round-trip latency: a parent and a forked child pass one byte back
and forth over two pipes, in the sandbox and natively, from one run.

Each round trip is two writes and two blocking reads, and two wakeups of
a process sleeping in read(). Measured twice: pinned to one CPU with
`taskset -c 0` (the whole sandbox, every host thread of it, and the native
pair alike; no cross-CPU wakeups) and unpinned (wakeups may cross vCPUs /
host cores, ~20 us each on the kvm_pvm machines). Rounds are interleaved
and medians are reported; the ratio is sandboxed / native latency.

    python benchmarks/pipe_pingpong.py [--rounds 5] [--trips 2000] [--native-trips 50000]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402

PIN = ["taskset", "-c", "0"]


def _nest(by_pair):
    """{(a, b): v} -> {a: {b: v}} for the JSON line."""
    out = {}
    for (a, b), v in by_pair.items():
        out.setdefault(a, {})[b] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trips", type=int, default=2000, help="per sandboxed run")
    ap.add_argument("--native-trips", type=int, default=50000, help="per native run")
    args = ap.parse_args()

    prog = build("programs/pipe_pingpong.c")
    rows = {(p, w): [] for p in ("pinned", "unpinned") for w in ("sandbox", "native")}
    for _ in range(args.rounds):
        for pinned in ("pinned", "unpinned"):
            pin = PIN if pinned == "pinned" else []
            rows[(pinned, "sandbox")].append(run_json(pin + sandbox([prog, str(args.trips)])))
            rows[(pinned, "native")].append(run_json(pin + [prog, str(args.native_trips)]))

    us = {k: median([r["us_per_round_trip"] for r in v]) for k, v in rows.items()}
    print("pipe ping-pong, 1 byte each way, %d rounds (%d sandboxed / %d native round "
          "trips each), medians:" % (args.rounds, args.trips, args.native_trips))
    print("  %-28s %12s %12s %16s" % ("", "sandbox", "native", "sandbox/native"))
    for pinned, label in (("pinned", "pinned (taskset -c 0)"),
                          ("unpinned", "unpinned")):
        s, n = us[(pinned, "sandbox")], us[(pinned, "native")]
        print("  %-28s %9.1f us %9.2f us %15.1fx" % (label, s, n, s / n))
    print(json.dumps({"benchmark": "pipe_pingpong", "pin": " ".join(PIN),
                      "us_per_round_trip": _nest(us),
                      "rounds": _nest({k: [r["us_per_round_trip"] for r in v]
                                      for k, v in rows.items()})}))


if __name__ == "__main__":
    main()
