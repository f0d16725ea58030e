"""Host CPU time an idle sandbox uses: `sleep S` and a program blocked in
epoll_wait for S seconds, each measured as the sandbox process's CPU time
(user + system, from wait4's rusage) minus that of a sandbox that runs
`true` (start-up and tear-down), divided by S. Goal: under 0.5% of one
core. Rounds are interleaved and medians reported.

    python benchmarks/idle_cpu.py [--seconds 10] [--rounds 3]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, median, sandbox  # noqa: E402


def cpu_seconds(cmd):
    """CPU time (user + sys) of cmd and its children, and its wall time."""
    import time
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d" % (cmd, proc.returncode))
    return usage.ru_utime + usage.ru_stime, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    idle = build("programs/epoll_idle.c")
    cases = {"true": sandbox(["/bin/true"]),
             "sleep": sandbox(["/bin/sleep", "%g" % args.seconds]),
             "epoll_wait": sandbox([idle, str(int(args.seconds * 1000))])}
    rows = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, cmd in cases.items():
            rows[name].append(cpu_seconds(cmd)[0])
    cpu = {k: median(v) for k, v in rows.items()}
    print("host CPU time of an idle sandbox over %gs, %d rounds, medians:"
          % (args.seconds, args.rounds))
    print("  %-12s %10.3f s CPU (start-up and exit)" % ("true", cpu["true"]))
    percent = {}
    for name in ("sleep", "epoll_wait"):
        extra = max(0.0, cpu[name] - cpu["true"])
        percent[name] = 100.0 * extra / args.seconds
        print("  %-12s %10.3f s CPU, %.3f s more than true: %.3f%% of one core (goal < 0.5%%)"
              % (name, cpu[name], extra, percent[name]))
    print(json.dumps({"benchmark": "idle_cpu", "seconds": args.seconds,
                      "cpu_seconds": cpu, "percent_of_one_core": percent,
                      "rounds": rows}))


if __name__ == "__main__":
    main()
