"""Map, barely touch, unmap: the cycle glibc's malloc makes for every large
block (benchmarks/programs/mmap_cycle.c: mmap 1 MiB, write two bytes,
munmap), in the sandbox and natively, interleaved rounds, medians. Not
pinned (on systrap each cycle's host mapping calls are the mapper
thread's, woken on the caller's CPU); --pin runs both under taskset -c 0.

    python benchmarks/mmap_cycle.py [--rounds 5] [--kib 1024] [--count 2000] [--pin] [--platform kvm|systrap]
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
    ap.add_argument("--kib", type=int, default=1024)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--platform", default=None)
    args = ap.parse_args()
    extra = ["--platform", args.platform] if args.platform else []
    pin = ["taskset", "-c", "0"] if args.pin else []
    run = [build("programs/mmap_cycle.c"), str(args.kib), str(args.count)]
    rows = {"sandbox": [], "native": []}
    for _ in range(args.rounds):
        rows["sandbox"].append(run_json(pin + sandbox(run, extra))["us_per_cycle"])
        rows["native"].append(run_json(pin + run)["us_per_cycle"])
    us = {k: median(v) for k, v in rows.items()}
    ratio = round(us["sandbox"] / us["native"], 2)
    print("mmap_cycle: mmap %d KiB, write 2 bytes, munmap; %d rounds%s, medians:"
          % (args.kib, args.rounds, ", pinned" if args.pin else ""))
    for k in ("sandbox", "native"):
        print("  %-10s %9.1f us per cycle" % (k, us[k]))
    print("  sandbox/native %6.2fx; 1-minute load average %.1f" % (ratio, os.getloadavg()[0]))
    print(json.dumps({"benchmark": "mmap_cycle", "kib": args.kib, "pinned": args.pin,
                      "us_per_cycle": us, "sandbox_over_native": ratio, "rounds": rows}))


if __name__ == "__main__":
    main()
