"""Process creation rate: fork + execve + waitpid loops, in the sandbox and
natively, from one run.

Two exec targets: /bin/true (dynamically linked, so each spawn also loads
ld.so and libc) and a static program that exits 0 (fork + exec + exit +
wait alone). The sandbox runs fewer spawns per round than native (each
costs milliseconds there). Not pinned. Rounds are interleaved (sandbox,
native per target) and medians are reported; the ratio is native rate /
sandboxed rate.

    python benchmarks/fork_exec_rate.py [--rounds 5] [--spawns 100] [--native-spawns 1000] [--platform kvm|systrap]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, run_json, sandbox  # noqa: E402


def _nest(by_pair):
    """{(a, b): v} -> {a: {b: v}} for the JSON line."""
    out = {}
    for (a, b), v in by_pair.items():
        out.setdefault(a, {})[b] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--spawns", type=int, default=100, help="per sandboxed run")
    ap.add_argument("--native-spawns", type=int, default=1000, help="per native run")
    ap.add_argument("--platform", default=None,
                    help="kvmsentry --platform for the sandboxed runs (default: its own choice)")
    args = ap.parse_args()
    extra_opts = ["--platform", args.platform] if args.platform else []

    prog = build("programs/fork_exec.c")
    targets = {"/bin/true": "/bin/true", "static exit(0)": build("programs/exit0.c")}
    rows = {(t, w): [] for t in targets for w in ("sandbox", "native")}
    for _ in range(args.rounds):
        for name, path in targets.items():
            rows[(name, "sandbox")].append(run_json(sandbox([prog, str(args.spawns), path],
                                                            extra_opts)))
            rows[(name, "native")].append(run_json([prog, str(args.native_spawns), path]))

    rate = {k: median([r["per_second"] for r in v]) for k, v in rows.items()}
    us = {k: median([r["us_per_spawn"] for r in v]) for k, v in rows.items()}
    print("fork + exec + wait, %d rounds (%d sandboxed / %d native spawns each), "
          "not pinned, medians:" % (args.rounds, args.spawns, args.native_spawns))
    print("  %-16s %14s %14s %16s" % ("target", "sandbox", "native", "native/sandbox"))
    for name in targets:
        print("  %-16s %9.1f /s   %9.1f /s   %13.1fx" % (
            name, rate[(name, "sandbox")], rate[(name, "native")],
            rate[(name, "native")] / rate[(name, "sandbox")]))
        print("  %-16s %9.0f us   %9.0f us   per spawn" % (
            "", us[(name, "sandbox")], us[(name, "native")]))
    print(json.dumps({"benchmark": "fork_exec_rate", "pinned": False,
                      "per_second": _nest(rate), "us_per_spawn": _nest(us),
                      "rounds": _nest({k: [r["per_second"] for r in v]
                                      for k, v in rows.items()})}))


if __name__ == "__main__":
    main()
