"""epoll ping-pong vs plain pipe ping-pong, both in the sandbox, from one
run: a parent and a forked child pass one byte back and forth over two
pipes, each side blocked in epoll_wait (then read) in one variant and
blocked in read in the other. The ratio epoll / plain says what waiting
through an epoll instance adds to a wakeup (goal: at most 1.2). Native
numbers of both are printed for reference.

Everything runs pinned to one CPU (`taskset -c 0`: the whole sandbox and
the native pair alike; no cross-CPU wakeups); rounds are interleaved and
medians reported. Pinned, a round trip's wall time is the CPU time the
sandbox spends on it, unless other work on the machine takes the CPU too;
so the sandboxed runs also report their CPU time per round trip (user +
system of the whole sandbox from wait4, minus that of a run with one timed
round trip), whose ratio holds on a loaded machine.

    python benchmarks/epoll_pingpong.py [--platform kvm|systrap|auto] [--rounds 5] [--trips 2000] [--native-trips 50000]
"""
import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402

PIN = ["taskset", "-c", "0"]


def run_cpu(cmd):
    """(the program's JSON line, CPU seconds of its whole process tree):
    the children's rusage grows by what the run (and the descendants it
    waited for) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_json(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", default="", help="the sandbox's platform (default: kvmsentry's)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trips", type=int, default=2000, help="per sandboxed run")
    ap.add_argument("--native-trips", type=int, default=50000, help="per native run")
    args = ap.parse_args()
    extra = ["--platform", args.platform] if args.platform else []
    platform = args.platform or "default"

    prog = build("programs/epoll_pingpong.c")
    keys = [(w, m) for w in ("sandbox", "native") for m in ("epoll", "plain")]
    rows = {k: [] for k in keys}
    cpu = {m: [] for m in ("epoll", "plain")}
    for _ in range(args.rounds):
        for where, mode in keys:
            if where == "sandbox":
                result, used = run_cpu(PIN + sandbox([prog, mode, str(args.trips)], extra))
                _, idle = run_cpu(PIN + sandbox([prog, mode, "1"], extra))
                cpu[mode].append((used - idle) / (args.trips - 1) * 1e6)
            else:
                result = run_json(PIN + [prog, mode, str(args.native_trips)])
            rows[(where, mode)].append(result["us_per_round_trip"])
    us = {k: median(v) for k, v in rows.items()}
    cpu_us = {m: median(v) for m, v in cpu.items()}
    print("pipe ping-pong, 1 byte each way, pinned (taskset -c 0), platform %s, %d rounds, "
          "medians:" % (platform, args.rounds))
    print("  %-10s %14s %14s %14s" % ("", "epoll_wait", "plain read", "epoll/plain"))
    for where in ("sandbox", "native"):
        e, p = us[(where, "epoll")], us[(where, "plain")]
        print("  %-10s %11.1f us %11.1f us %13.2fx" % (where, e, p, e / p))
    e, p = cpu_us["epoll"], cpu_us["plain"]
    print("  %-10s %11.1f us %11.1f us %13.2fx" % ("sandbox CPU", e, p, e / p))
    ratio = us[("sandbox", "epoll")] / us[("sandbox", "plain")]
    print("sandbox epoll/plain ratio %.2f (goal <= 1.2); of CPU time %.2f; 1-minute load "
          "average %.1f" % (ratio, e / p, os.getloadavg()[0]))
    print(json.dumps({"benchmark": "epoll_pingpong", "platform": platform, "pin": " ".join(PIN),
                      "us_per_round_trip": {"%s_%s" % k: v for k, v in us.items()},
                      "sandbox_epoll_over_plain": round(ratio, 3),
                      "sandbox_cpu_us_per_round_trip": cpu_us,
                      "load_average": os.getloadavg()[0],
                      "rounds": {"%s_%s" % k: v for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
