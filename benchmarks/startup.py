"""Start-up of `kvmsentry do`, taken apart: the same trivial program
started with one more piece of start-up switched on per row, interleaved
in rounds, so the difference between two rows is what that piece costs.

    python benchmarks/startup.py [--rounds 7] [--cpu -1] [--only TEXT] [--baseline DIR]

--baseline DIR adds a row per sandboxed one for another source tree
(DIR holds its kvmsentry/ package, with the built extension modules and
stub.bin copied in), run by the same interpreter in the same rounds.
Python's bytecode caches are written (PYTHONDONTWRITEBYTECODE is
dropped), as after a `pip install`.

Each row reports the median and the minimum wall time (start to exit,
taken here) and the median CPU time (user + system of the process and
every descendant it waited for, from wait4). On a machine other work
loads, the CPU column and the minimum say more than the median wall
time. No assertions: it reports, then prints one JSON line.
startup_phases.py takes the default row apart, step by step.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build  # noqa: E402

PY = sys.executable


def baseline_command(tree):
    """`kvmsentry do` from the package in the source tree `tree`, run by
    this interpreter (past the editable install's finder)."""
    return [PY, "-c", "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
            "if 'editable' not in repr(f)]; sys.path.insert(0, %r); "
            "from kvmsentry.cli.main import main; sys.exit(main())" % tree, "do"]


def rows(exit0, baseline=None):
    do = [PY, "-m", "kvmsentry", "do"]
    base = baseline_command(baseline)
    python3 = shutil.which("python3") or "/usr/bin/python3"
    table = [
        ("native static exit(0)", [exit0]),
        ("native /bin/true", ["/bin/true"]),
        ("native python3 -c pass", [python3, "-c", "pass"]),
        ("host python -c pass (interpreter floor)", [PY, "-c", "pass"]),
        ("host python -S -c pass (no site: no .pth files, no editable finder)",
         [PY, "-S", "-c", "pass"]),
        ("imports: every sentry module", [PY, "-c", "import kvmsentry.sandbox.preload as p; "
                                          "p.import_everything()"]),
        ("do, host net, unconfined, static", do + ["--network=host", "--unsafe-no-confine",
                                                   "--", exit0]),
        ("do, host net, confined, static", do + ["--network=host", "--", exit0]),
        ("do, --network=none, static", do + ["--network=none", "--", exit0]),
        ("do (default: --network=sandbox), static", do + ["--", exit0]),
        ("do, /bin/true (dynamic)", do + ["--", "/bin/true"]),
        ("do, python3 -c pass", do + ["--", python3, "-c", "pass"]),
    ]
    if baseline is None:
        return table
    for name, cmd in list(table):
        if cmd[:len(do)] == do:
            table.append((name + " [baseline]", base + cmd[len(do):]))
    return table


def run(cmd, cpu, cwd):
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=cwd, env=env)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), proc.returncode,
                                                  err.decode(errors="replace")[-2000:]))
    return wall, usage.ru_utime + usage.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--cpu", type=int, default=-1, help="taskset CPU (-1: not pinned)")
    ap.add_argument("--only", default=None, metavar="TEXT",
                    help="only the rows whose name contains TEXT")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="also run the kvmsentry package in DIR (rows marked [baseline])")
    args = ap.parse_args(argv)
    cpu = None if args.cpu < 0 else args.cpu
    exit0 = build("programs/exit0.c")
    table = rows(exit0, args.baseline and os.path.abspath(args.baseline))
    if args.only:
        table = [(name, cmd) for name, cmd in table if args.only in name]
    samples = {name: [] for name, _ in table}
    with tempfile.TemporaryDirectory(prefix="kvmsentry-startup-") as cwd:
        for _ in range(args.rounds):
            for name, cmd in table:
                samples[name].append(run(cmd, cpu, cwd))
    print("start-up, %d rounds, %s; load average at the end: %s"
          % (args.rounds, "pinned to CPU %d" % cpu if cpu is not None else "not pinned",
             " ".join("%.2f" % x for x in os.getloadavg())))
    print("| what | wall median | wall min | CPU median |")
    print("|---|---|---|---|")
    result = {}
    for name, _ in table:
        walls = [w for w, _ in samples[name]]
        cpus = [c for _, c in samples[name]]
        result[name] = {"wall_median_ms": round(statistics.median(walls) * 1e3, 2),
                        "wall_min_ms": round(min(walls) * 1e3, 2),
                        "cpu_median_ms": round(statistics.median(cpus) * 1e3, 2)}
        r = result[name]
        print("| %s | %.1f ms | %.1f ms | %.1f ms |" % (
            name, r["wall_median_ms"], r["wall_min_ms"], r["cpu_median_ms"]))
    print(json.dumps({"benchmark": "startup", "rounds": args.rounds, "rows": result}))


if __name__ == "__main__":
    main()
