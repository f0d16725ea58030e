"""The sentry's own time per syscall: how long the sentry's thread spends
between one KVM_RUN returning and the next one starting, measured inside
the sentry (medians over thousands of exits), on the kvm platform.

    python benchmarks/exit_gap.py [--rounds 5] [--calls 20000] [--files] [--baseline DIR]

By default the guest is a getpid loop: the median gap is the per-syscall
overhead over the raw exit (issue 11's goal: at most 2 us), without the
exit itself: unlike sandboxed getpid minus benchmarks/exit_cost.c, two
timings taken from separate runs, the median of a gap of a few
microseconds hardly moves when other work loads the machine.

--files runs benchmarks/programs/file_calls.c instead (in a fresh
temporary directory) and prints the gap of each file call next to
getpid's: the sentry's extra time per call (issue 11: within 10 us of
getpid), free of the exits' noise that the guest-side timings of
benchmarks/file_calls.py carry. Each gap is charged to the syscall whose
exit started it.

On a machine shared with other work the rounds differ by up to 2x
(whole rounds run slow); the best round is printed beside the median.
The figures include the probe's own cost (a Python-level wrapper around
the C call and two clock reads), printed beside them as "probe".
--baseline DIR also runs the kvmsentry package in DIR (as startup.py's
option), interleaved. No assertions: it reports, then prints one JSON line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build  # noqa: E402

# Run in a child interpreter: wraps the C calls that enter the guest, runs
# `kvmsentry do` on the program, prints the gaps' medians as JSON.
PROBE = r"""
import collections, json, statistics, sys, time
tree, argv = sys.argv[1], sys.argv[2:]
if tree:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, tree)
import kvmsentry.kvm.vcpu as vcpu
real, ns, last = vcpu.lib, time.perf_counter_ns, [0, 0]
gaps = collections.defaultdict(list)          # syscall nr at the exit -> gaps

def timed(call, run_of):
    def entered(*args):
        t = ns()
        if last[0]:
            gaps[last[1]].append(t - last[0])
        code = call(*args)
        last[1] = real.kvmsentry_run_sync(run_of(args)).regs.rax
        last[0] = ns()
        return code
    return entered

class Probe:
    def __getattr__(self, name):
        return getattr(real, name)

    kvmsentry_return_and_run = staticmethod(timed(real.kvmsentry_return_and_run,
                                                  lambda a: a[1]))
    kvmsentry_run = staticmethod(timed(real.kvmsentry_run, lambda a: a[1]))

vcpu.lib = Probe()
import kvmsentry.platform.kvm.context as context
if hasattr(context, "_syscall_round"):      # the syscall round trip's own C call
    context._syscall_round = timed(context._syscall_round, lambda a: a[0].run)
probe = []
for _ in range(20000):                      # the probe's cost around a C call
    t = ns(); real.kvmsentry_gettid(); probe.append(ns() - t)
from kvmsentry.cli.main import main
from kvmsentry.syscalls.dispatch import syscall_name
status = main(["do", "--network=host", "--unsafe-no-confine", "--"] + argv)
steady = {syscall_name(nr) if nr < 1024 else "other": g[len(g) // 10:]   # past start-up
          for nr, g in gaps.items() if len(g) >= 100}
print(json.dumps({"status": status, "exits": sum(map(len, gaps.values())),
                  "gap_ns": {name: statistics.median(g) for name, g in steady.items()},
                  "probe_ns": statistics.median(probe)}))
"""

# What file_calls.c's calls reach the sentry as (musl's fstatat(AT_FDCWD,
# path, buf, 0) is stat(2); newfstatat where its libc makes that call).
FILE_CALLS = ("getpid", "openat", "close", "stat", "newfstatat", "statx", "lseek",
              "getdents64", "pread64", "pwrite64")


def measure(tree, argv):
    with tempfile.TemporaryDirectory(prefix="kvmsentry-bench-") as d:
        out = subprocess.run([sys.executable, "-c", PROBE, tree or ""] + argv, cwd=d,
                             capture_output=True, check=True).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--files", action="store_true",
                    help="the file calls of programs/file_calls.c (--calls per call; "
                         "at most the open file limit)")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="also run the kvmsentry package in DIR (rows marked [baseline])")
    args = ap.parse_args()
    if args.files:
        argv = [build("programs/file_calls.c", compiler="musl-gcc"), str(args.calls)]
        calls = FILE_CALLS
    else:
        argv = [build("programs/getpid.c"), str(args.calls)]
        calls = ("getpid",)
    trees = {"sentry": None}
    if args.baseline:
        trees["sentry [baseline]"] = os.path.abspath(args.baseline)
    samples = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            samples[name].append(measure(tree, argv))
    print("sentry time between exits, by the syscall that exited, %d rounds, medians "
          "(ns); load average: %s" % (args.rounds, " ".join("%.2f" % x for x in os.getloadavg())))
    result = {}
    for name, runs in samples.items():
        probe = statistics.median(r["probe_ns"] for r in runs)
        gap = {c: statistics.median(r["gap_ns"][c] for r in runs) for c in calls
               if all(c in r["gap_ns"] for r in runs)}
        best = {c: min(r["gap_ns"][c] for r in runs) for c in gap}
        result[name] = {"gap_ns": gap, "best_ns": best, "probe_ns": probe,
                        "rounds_gap_ns": [r["gap_ns"] for r in runs]}
        print("  %s (probe %.0f ns): median of rounds, best round, each round" % (name, probe))
        for c in gap:
            extra = "" if c == "getpid" else "  getpid %+5.1f us, best %+5.1f us" % (
                (gap[c] - gap["getpid"]) / 1e3, (best[c] - best["getpid"]) / 1e3)
            print("    %-11s %6.0f %6.0f%-34s rounds: %s" % (c, gap[c], best[c], extra, " ".join(
                "%.0f" % r["gap_ns"][c] for r in runs)))
    print(json.dumps({"benchmark": "exit_gap", "rounds": args.rounds, "files": args.files,
                      "rows": result}))


if __name__ == "__main__":
    main()
