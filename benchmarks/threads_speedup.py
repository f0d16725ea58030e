"""Thread scaling: a fixed amount of CPU-bound integer work split over 1
and over 2 threads, in the sandbox and natively, from one run.

Guest threads each run on their own host thread inside KVM_RUN, where
cffi has released the GIL, so on a machine with two or more cores the
2-thread run should take about half as long as the 1-thread run in the
sandbox as it does natively. The work loop makes no syscalls; the timed
span (create .. join) includes the sandbox's clone and exit work.

Not pinned: both runs may use every host core (that is the point). Rounds
are interleaved (sandbox 1, sandbox 2, native 1, native 2) and medians are
reported, with the best round beside them: other work on the host takes
cores away from the 2-thread runs (the load average at the start is
printed).

    python benchmarks/threads_speedup.py [--rounds 5] [--steps 1000000000]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1_000_000_000)
    args = ap.parse_args()

    load = os.getloadavg()[0]
    prog = build("programs/threads_work.c", flags=("-O2", "-static", "-pthread"))
    rows = {key: [] for key in ("sandbox1", "sandbox2", "native1", "native2")}
    for _ in range(args.rounds):
        for threads in (1, 2):
            rows["sandbox%d" % threads].append(
                run_json(sandbox([prog, str(threads), str(args.steps)])))
        for threads in (1, 2):
            rows["native%d" % threads].append(run_json([prog, str(threads), str(args.steps)]))

    sums = {r["checksum"] for rs in rows.values() for r in rs}
    assert len(sums) == 1, "the runs computed different results: %s" % sums
    secs = {k: median([r["seconds"] for r in v]) for k, v in rows.items()}
    best = {k: min(r["seconds"] for r in v) for k, v in rows.items()}
    speedup = {w: secs[w + "1"] / secs[w + "2"] for w in ("sandbox", "native")}
    best_speedup = {w: best[w + "1"] / best[w + "2"] for w in ("sandbox", "native")}
    print("thread scaling, %d hash steps split over 1 and 2 threads, %d rounds, medians;"
          % (args.steps, args.rounds))
    print("  not pinned (host cores: %d, 1-minute load average at start: %.2f)"
          % (os.cpu_count() or 0, load))
    print("  %-16s %12s %12s %10s" % ("", "1 thread", "2 threads", "speedup"))
    for w in ("sandbox", "native"):
        print("  %-16s %10.3f s %10.3f s %9.2fx" % (w, secs[w + "1"], secs[w + "2"], speedup[w]))
    print("  %-16s %9.2fx   %9.2fx" % ("sandbox/native", secs["sandbox1"] / secs["native1"],
                                        secs["sandbox2"] / secs["native2"]))
    for w in ("sandbox", "native"):
        print("  %-16s %10.3f s %10.3f s %9.2fx" % (w + ", best", best[w + "1"], best[w + "2"],
                                                   best_speedup[w]))
    print(json.dumps({"benchmark": "threads_speedup", "steps": args.steps, "pinned": False,
                      "load_average": load,
                      "seconds": secs, "speedup": speedup, "best_speedup": best_speedup,
                      "rounds": {k: [r["seconds"] for r in v] for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
