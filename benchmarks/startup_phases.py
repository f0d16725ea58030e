"""Where the start-up of `kvmsentry do` goes, step by step.

    python benchmarks/startup_phases.py [--rounds 9] [--cpu 0] [-- DO-OPTIONS...]

Runs `kvmsentry do [DO-OPTIONS] -- exit0` (a static exit(0)) with its main
steps timed from inside: each step's start and end are logged with the
process's CPU time and the wall time since the command was started, in
the supervising process (before the fork that makes the sentry) and in
the sentry. Prints, per step, the median over the rounds of the CPU time
and the wall time it took, then what is left: the interpreter's start,
imports between steps, and the exit. The timing hooks wrap functions,
which costs a little; startup.py measures the whole without them. No
assertions: it reports, then prints one JSON line.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build  # noqa: E402

# Run inside the measured interpreter: wrap the steps as their modules
# are imported, log (pid, cpu ms, wall ms, event), print the log at the end.
HOOK = r"""
import builtins, os, sys, time
_T0 = float(os.environ["KVMSENTRY_PHASES_T0"])
_log = []
def _event(what):
    _log.append((os.getpid(), time.process_time() * 1e3,
                 (time.monotonic() - _T0) * 1e3, what))
_event("interpreter started")
STEPS = {
    "kvmsentry.sandbox.code_cache": ["install"],
    "kvmsentry.cli.do_args": ["read"],
    "kvmsentry.sandbox.namespaces": ["unshare", "pivot_to_empty_root"],
    "kvmsentry.sandbox.supervisor": ["fork_sentry"],
    "kvmsentry.sandbox.preload": ["fix_modules", "import_everything"],
    "kvmsentry.sandbox.capabilities": ["drop_all_but_kept"],
    "kvmsentry.sandbox.seccomp": ["install"],
    "kvmsentry.kernel.rootfs": ["build_mounts"],
    "kvmsentry.platform.choice": ["make_machine"],
    "kvmsentry.kernel.kernel": ["Kernel.__init__", "Kernel.run"],
    "kvmsentry.platform.systrap.machine": ["SystrapMachine.close"],
    "kvmsentry.net.netns": ["enter", "Network.close"],
}
_done = set()
def _wrap(owner, attr, label):
    inner = getattr(owner, attr, None)
    if inner is None:              # another tree's sentry without this step
        return
    def timed(*args, **kwargs):
        _event("> " + label)
        try:
            return inner(*args, **kwargs)
        finally:
            _event("< " + label)
    setattr(owner, attr, timed)
_import = builtins.__import__
def _hooked_import(*args, **kwargs):
    module = _import(*args, **kwargs)
    for name, steps in STEPS.items():
        target = sys.modules.get(name)
        if name not in _done and target is not None and \
                not getattr(target.__spec__, "_initializing", False):
            _done.add(name)
            for step in steps:
                owner, _, attr = step.rpartition(".")
                _wrap(getattr(target, owner) if owner else target, attr, step)
    return module
builtins.__import__ = _hooked_import
from kvmsentry.cli.main import main
_event("kvmsentry.cli.main imported")
code = main(sys.argv[1:])
_event("main returned")
sys.stdout.flush()
os.write(2, "".join("PHASE %d %.3f %.3f %s\n" % e for e in _log).encode())
os._exit(code)
"""


def one_run(cmd, cpu, cwd):
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    t0 = time.monotonic()
    env = dict(os.environ, KVMSENTRY_PHASES_T0=repr(t0))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL,
                          cwd=cwd)
    end = (time.monotonic() - t0) * 1e3
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (cmd, proc.returncode,
                                                  proc.stderr.decode(errors="replace")[-2000:]))
    events = [(int(pid), float(cpu_ms), float(wall), what) for pid, cpu_ms, wall, what in
              re.findall(r"^PHASE (\d+) ([\d.]+) ([\d.]+) (.*)$", proc.stderr.decode(), re.M)]
    return events, end


def spans(events, end):
    """(step, cpu ms, wall ms) in the order they happened: the wrapped
    steps, and the stretches between them (imports and glue)."""
    out = []
    for (pid, cpu0, wall0, what0), (pid1, cpu1, wall1, what1) in zip(events, events[1:]):
        if pid1 != pid:            # the fork: the sentry's clock starts again
            continue
        if what0.startswith("> ") and what1 == "< " + what0[2:]:
            name = what0[2:]
        else:
            name = "%s .. %s" % (what0.lstrip("<> "), what1.lstrip("<> "))
        out.append((name, cpu1 - cpu0, wall1 - wall0))
    first = events[0]
    out.insert(0, ("interpreter start (wall only)", 0.0, first[2]))
    out.append(("exit after main returned (wall only)", 0.0, end - events[-1][2]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--cpu", type=int, default=-1, help="taskset CPU (-1: not pinned)")
    ap.add_argument("do_options", nargs="*", help="options for `kvmsentry do` (after --)")
    args = ap.parse_args(argv)
    cpu = None if args.cpu < 0 else args.cpu
    exit0 = build("programs/exit0.c")
    cmd = [sys.executable, "-c", HOOK, "do", *args.do_options, "--", exit0]
    rows, totals = {}, []
    # Run elsewhere than in a source tree: `-c` puts the cwd first on sys.path.
    with tempfile.TemporaryDirectory(prefix="kvmsentry-phases-") as cwd:
        for _ in range(args.rounds):
            events, end = one_run(cmd, cpu, cwd)
            totals.append(end)
            for name, cpu_ms, wall in spans(events, end):
                rows.setdefault(name, []).append((cpu_ms, wall))
    print("`kvmsentry do %s-- exit0`, %d rounds, %s; load average at the end: %s"
          % ("".join(o + " " for o in args.do_options), args.rounds,
             "pinned to CPU %d" % cpu if cpu is not None else "not pinned",
             " ".join("%.2f" % x for x in os.getloadavg())))
    print("| step | CPU median | wall median |")
    print("|---|---|---|")
    result = {}
    for name, samples in rows.items():
        c = statistics.median(s[0] for s in samples)
        w = statistics.median(s[1] for s in samples)
        result[name] = {"cpu_ms": round(c, 2), "wall_ms": round(w, 2)}
        print("| %s | %.1f ms | %.1f ms |" % (name, c, w))
    print("| whole run, start to exit | | %.1f ms |" % statistics.median(totals))
    print(json.dumps({"benchmark": "startup_phases", "rounds": args.rounds,
                      "total_wall_ms": round(statistics.median(totals), 2), "steps": result}))


if __name__ == "__main__":
    main()
