"""The two platforms side by side: the null syscall (getpid round trip)
and anonymous first touch (mmap_touch: 256 MiB, one write per page), each
under `--platform kvm`, `--platform systrap` and natively, interleaved
in rounds (these machines are noisy), medians and ratios printed.

    python benchmarks/platforms.py [--rounds 3] [--calls 20000] [--mib 256]

Not pinned to one CPU: a getpid round trip on systrap crosses from the
program's process to the sentry's thread and back; on two CPUs both
sides spin for each other and no futex call or process switch is made,
on one CPU (--cpu N pins every run, sandbox and native alike, to CPU N)
each round trip is two futex hand-offs and two process switches. The
systrap-nospin row turns the spin off (KVMSENTRY_SYSTRAP_SPIN_US=0).

The systrap-raw row is the same handshake with no sentry behind it
(programs/systrap_raw.c: a seccomp-trapped getpid, the signal, a futex
post to another process that answers from C at once): the floor under
systrap's getpid when its site is not patched (the systrap-unpatched
row: --no-patch-syscalls). getpid's site is patched (platform/systrap/
patching.py: no trap, no signal), and systrap-raw-patched is that path's
floor (the registers and XSAVE state stored and loaded, the handshake).
"sentry overhead" is systrap's getpid minus its floor, per round, the
cost of the sentry's own path.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json  # noqa: E402

PLATFORMS = ("kvm", "systrap", "systrap-nospin", "systrap-unpatched")


def sandbox_on(platform, args):
    """systrap-nospin: systrap with its handshake's spin turned off (the
    futex alone), to show what the spin is worth in the same run;
    systrap-unpatched: with every syscall trapped (SIGSYS)."""
    env, opts = [], []
    if platform == "systrap-nospin":
        platform, env = "systrap", ["env", "KVMSENTRY_SYSTRAP_SPIN_US=0"]
    elif platform == "systrap-unpatched":
        platform, opts = "systrap", ["--no-patch-syscalls"]
    return env + [sys.executable, "-m", "kvmsentry", "--platform", platform, "do", *opts,
                  "--", *args]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args()
    pin = ["taskset", "-c", str(args.cpu)] if args.cpu is not None else []

    getpid = build("programs/getpid.c")
    touch = build("programs/mmap_touch.c")
    raw = build("programs/systrap_raw.c")
    getpid_ns = {k: [] for k in PLATFORMS + ("native", "systrap-raw", "systrap-raw-patched")}
    touch_s = {k: [] for k in PLATFORMS + ("native",)}
    for _ in range(args.rounds):
        for platform in PLATFORMS:
            getpid_ns[platform].append(run_json(
                pin + sandbox_on(platform, [getpid, str(args.calls)]))["ns_per_call"])
            touch_s[platform].append(run_json(
                pin + sandbox_on(platform, [touch, str(args.mib), "3"]))["seconds"])
        getpid_ns["native"].append(run_json(pin + [getpid, str(args.calls * 10)])["ns_per_call"])
        getpid_ns["systrap-raw"].append(run_json(pin + [raw, str(args.calls)])["ns_per_call"])
        getpid_ns["systrap-raw-patched"].append(
            run_json(pin + [raw, str(args.calls), "patched"])["ns_per_call"])
        touch_s["native"].append(run_json(pin + [touch, str(args.mib), "3"])["seconds"])

    g = {k: median(v) for k, v in getpid_ns.items()}
    t = {k: median(v) for k, v in touch_s.items()}
    print("platforms, %d rounds, medians%s:" % (args.rounds,
                                                 ", pinned to CPU %d" % args.cpu if pin else ""))
    print("  %-15s %14s %14s" % ("", "getpid (ns)", "mmap_touch (ms)"))
    for k in PLATFORMS + ("native",):
        print("  %-15s %14.0f %14.1f" % (k, g[k], t[k] * 1e3))
    print("  getpid     kvm/systrap %.2fx   systrap/native %.1fx   nospin/spin %.2fx"
          % (g["kvm"] / g["systrap"], g["systrap"] / g["native"],
             g["systrap-nospin"] / g["systrap"]))
    overhead = median([b - r for b, r in zip(getpid_ns["systrap"],
                                              getpid_ns["systrap-raw-patched"])])
    unpatched = median([b - r for b, r in zip(getpid_ns["systrap-unpatched"],
                                               getpid_ns["systrap-raw"])])
    print("  %-19s %10.0f %14s" % ("systrap-raw", g["systrap-raw"], "-"))
    print("  %-19s %10.0f %14s" % ("systrap-raw-patched", g["systrap-raw-patched"], "-"))
    print("  getpid     systrap sentry overhead (systrap - systrap-raw-patched) %.0f ns" % overhead)
    print("  getpid     unpatched overhead (systrap-unpatched - systrap-raw) %.0f ns   "
          "patched/unpatched %.2fx" % (unpatched, g["systrap"] / g["systrap-unpatched"]))
    print("  mmap_touch kvm/native %.2fx   systrap/native %.2fx"
          % (t["kvm"] / t["native"], t["systrap"] / t["native"]))
    print(json.dumps({"benchmark": "platforms", "getpid_ns": g, "mmap_touch_s": t,
                      "systrap_overhead_ns": overhead, "unpatched_overhead_ns": unpatched,
                      "rounds": {"getpid_ns": getpid_ns, "mmap_touch_s": touch_s}}))


if __name__ == "__main__":
    main()
