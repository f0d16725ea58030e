"""Anonymous memory first touch: mmap 256 MiB, write one byte per page,
munmap (benchmarks/programs/mmap_touch.c), in the sandbox and natively,
interleaved rounds, medians. The ratio is sandboxed / native time: the
cost of the page-fault exits the sentry's populate-ahead does not avoid.

    python benchmarks/mmap_touch.py [--rounds 5] [--mib 256] [--platform kvm|systrap]
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
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--platform", default=None,
                    help="kvmsentry --platform for the sandboxed runs (default: its own choice)")
    args = ap.parse_args()
    extra_opts = ["--platform", args.platform] if args.platform else []

    prog = build("programs/mmap_touch.c")
    run = [prog, str(args.mib), "3"]
    rows = {"sandbox": [], "native": []}
    for _ in range(args.rounds):
        rows["sandbox"].append(run_json(sandbox(run, extra_opts)))
        rows["native"].append(run_json(run))
    secs = {k: median([r["seconds"] for r in v]) for k, v in rows.items()}
    per_page = {k: median([r["us_per_page"] for r in v]) for k, v in rows.items()}
    ratio = round(secs["sandbox"] / secs["native"], 2)
    print("mmap_touch, %d MiB anonymous, one write per page, %d rounds, medians:"
          % (args.mib, args.rounds))
    for k in ("sandbox", "native"):
        print("  %-10s %9.1f ms  %7.3f us per page" % (k, secs[k] * 1e3, per_page[k]))
    print("  sandbox/native %6.2fx" % ratio)
    print(json.dumps({"benchmark": "mmap_touch", "mib": args.mib, "seconds": secs,
                      "us_per_page": per_page, "sandbox_over_native": ratio,
                      "rounds": {k: [r["seconds"] for r in v] for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
