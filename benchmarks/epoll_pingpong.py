"""epoll ping-pong vs plain pipe ping-pong, both in the sandbox, from one
run: a parent and a forked child pass one byte back and forth over two
pipes, each side blocked in epoll_wait (then read) in one variant and
blocked in read in the other. The ratio epoll / plain says what waiting
through an epoll instance adds to a wakeup (goal: at most 1.2). Native
numbers of both are printed for reference.

Everything runs pinned to one CPU (`taskset -c 0`: the whole sandbox and
the native pair alike; no cross-CPU wakeups); rounds are interleaved and
medians reported.

    python benchmarks/epoll_pingpong.py [--rounds 5] [--trips 2000] [--native-trips 50000]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402

PIN = ["taskset", "-c", "0"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trips", type=int, default=2000, help="per sandboxed run")
    ap.add_argument("--native-trips", type=int, default=50000, help="per native run")
    args = ap.parse_args()

    prog = build("programs/epoll_pingpong.c")
    keys = [(w, m) for w in ("sandbox", "native") for m in ("epoll", "plain")]
    rows = {k: [] for k in keys}
    for _ in range(args.rounds):
        for where, mode in keys:
            if where == "sandbox":
                cmd = PIN + sandbox([prog, mode, str(args.trips)])
            else:
                cmd = PIN + [prog, mode, str(args.native_trips)]
            rows[(where, mode)].append(run_json(cmd)["us_per_round_trip"])
    us = {k: median(v) for k, v in rows.items()}
    print("pipe ping-pong, 1 byte each way, pinned (taskset -c 0), %d rounds, medians:"
          % args.rounds)
    print("  %-10s %14s %14s %14s" % ("", "epoll_wait", "plain read", "epoll/plain"))
    for where in ("sandbox", "native"):
        e, p = us[(where, "epoll")], us[(where, "plain")]
        print("  %-10s %11.1f us %11.1f us %13.2fx" % (where, e, p, e / p))
    ratio = us[("sandbox", "epoll")] / us[("sandbox", "plain")]
    print("sandbox epoll/plain ratio %.2f (goal <= 1.2)" % ratio)
    print(json.dumps({"benchmark": "epoll_pingpong", "pin": " ".join(PIN),
                      "us_per_round_trip": {"%s_%s" % k: v for k, v in us.items()},
                      "sandbox_epoll_over_plain": round(ratio, 3),
                      "rounds": {"%s_%s" % k: v for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
