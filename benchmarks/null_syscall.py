"""Null-syscall benchmark: the sandboxed getpid round trip next to the raw
cost of one ring-3 `out` VM exit (benchmarks/exit_cost.c), from one run.

The sandbox can never beat the exit it is built on, so the ratio
getpid / exit is the sentry's overhead. Target on the kvm_pvm machines:
at most 1.15. Rounds are interleaved (exit, sandbox, native) because these
machines are noisy, and medians are reported.

    python benchmarks/null_syscall.py [--rounds 5] [--calls 20000]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402

TARGET_RATIO = 1.15
KVM = ("--platform", "kvm")     # the ratio is to a KVM exit: never the default's systrap


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--unpatched", action="store_true",
                    help="also measure with syscall-site patching off")
    ap.add_argument("--unconfined", action="store_true",
                    help="also measure with the sentry unconfined (the cost of its "
                         "seccomp filter and namespaces)")
    args = ap.parse_args()

    exit_cost = build("exit_cost.c", flags=("-O2",))
    getpid = build("programs/getpid.c")
    rows = {"exit_ns": [], "sandbox_ns": [], "native_ns": [], "unpatched_ns": [],
            "unconfined_ns": []}
    for _ in range(args.rounds):
        rows["exit_ns"].append(run_json([exit_cost, str(args.calls)])["ns_per_exit"])
        rows["sandbox_ns"].append(
            run_json(sandbox([getpid, str(args.calls)], KVM))["ns_per_call"])
        rows["native_ns"].append(run_json([getpid, str(args.calls * 10)])["ns_per_call"])
        if args.unpatched:
            rows["unpatched_ns"].append(run_json(sandbox(
                [getpid, str(args.calls)], (*KVM, "--no-patch-syscalls")))["ns_per_call"])
        if args.unconfined:
            rows["unconfined_ns"].append(run_json(sandbox(
                [getpid, str(args.calls)], (*KVM, "--unsafe-no-confine")))["ns_per_call"])

    exit_ns, box_ns = median(rows["exit_ns"]), median(rows["sandbox_ns"])
    ratios = [b / e for b, e in zip(rows["sandbox_ns"], rows["exit_ns"])]
    print("null syscall (getpid), %d rounds x %d calls, medians:" % (args.rounds, args.calls))
    print("  raw ring-3 out exit      %9.0f ns" % exit_ns)
    print("  sandboxed getpid         %9.0f ns" % box_ns)
    if rows["unpatched_ns"]:
        print("  sandboxed, unpatched     %9.0f ns" % median(rows["unpatched_ns"]))
    if rows["unconfined_ns"]:
        print("  sandboxed, unconfined    %9.0f ns  (confined/unconfined %.3f)"
              % (median(rows["unconfined_ns"]), box_ns / median(rows["unconfined_ns"])))
    print("  native getpid            %9.0f ns" % median(rows["native_ns"]))
    print("  ratio sandbox/exit       %9.3f  (median of per-round ratios %.3f; "
          "target <= %.2f)" % (box_ns / exit_ns, median(ratios), TARGET_RATIO))
    print(json.dumps({"benchmark": "null_syscall", "exit_ns": exit_ns,
                      "sandbox_ns": box_ns, "native_ns": median(rows["native_ns"]),
                      "ratio": round(median(ratios), 3), "rounds": rows}))


if __name__ == "__main__":
    main()
