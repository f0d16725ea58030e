"""Run the built test programs natively (confined) and in the sandbox.

Native runs are confined by bubblewrap: the host's / read-only, a private
/tmp, /dev and /proc, and every namespace unshared (no network but
loopback), as uid 0 of a user namespace of its own, so cases needing root
run as they do in the sandbox (whose program also runs as uid 0) without
any power over the host. The sandbox side is `kvmsentry do --network=none`
(loopback only too).

In binary mode each program runs once per side with a per-case timeout
(no output for that long); when a case hangs or kills the program, the
run goes on in a new process from the case after it, so one crash or
hang costs only its own case. The sandbox's failures among natively
passing cases are then rerun one per process (a time budget per
program). In case mode every case runs in its own process.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import results

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What gVisor's runner tells the tests about the platform: here, what Linux
# on x86-64 offers, on both sides.
TEST_ENV = {
    "GVISOR_PLATFORM_SUPPORT": "32BIT:TRUE,ALIGNMENT_CHECK:TRUE,INT3:TRUE,"
                               "MULTIPROCESS:TRUE,VSYSCALL:TRUE",
    "TEST_TMPDIR": "/tmp",
}


def bwrap_cmd(builddir):
    """The confinement of native runs; the build dir (and where its bin/
    and runfiles/ really are) stays visible read-only."""
    keep = []
    for path in (builddir, os.path.join(builddir, "bin"), os.path.join(builddir, "runfiles")):
        real = os.path.realpath(path)
        if os.path.exists(real) and not any(real.startswith(k + "/") or real == k for k in keep):
            keep.append(real)
    binds = [arg for k in keep for arg in ("--ro-bind", k, k)]
    return (["bwrap", "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev",
             "--proc", "/proc"] + binds + ["--unshare-all", "--unshare-user", "--uid", "0",
                                           "--gid", "0", "--die-with-parent", "--"])


def kvmsentry_cmd():
    venv = os.path.join(REPO, ".venv", "bin", "kvmsentry")
    exe = venv if os.path.exists(venv) else "kvmsentry"
    return [exe, "do", "--network=none", "--"]


def execute(cmd, timeout, idle=None):
    """(exit status, or None when killed, and stdout+stderr) of cmd. It is
    killed whole after `timeout` seconds, or after `idle` seconds without
    output: a gtest program prints as each case starts and ends, so that is
    a per-case timeout for a whole-program run."""
    env = dict(os.environ, **TEST_ENV)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    chunks, last = [], [time.monotonic()]

    def pump():
        for chunk in iter(lambda: p.stdout.read1(65536), b""):
            chunks.append(chunk)
            last[0] = time.monotonic()
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    start, killed = time.monotonic(), False
    while reader.is_alive():
        reader.join(0.5)
        now = time.monotonic()
        if now - start > timeout or (idle and now - last[0] > idle):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed = True
            reader.join()
            break
    p.wait()
    return (None if killed else p.returncode), b"".join(chunks).decode("utf-8", "replace")


def test_of(case):
    """A case's test without its parameters: Suite/Fixture.Test/3 -> Fixture.Test."""
    return re.sub(r"/\d+$", "", case.split("/", 1)[-1])


def outcome(case, rc, output):
    """The {status, line} of `case` in one run's output."""
    got = results.parse_run(output).get(case)
    if got:
        return {"status": got[0], "line": got[1]}
    bug = next((l for l in output.splitlines() if results.SENTRY_BUG in l), None)
    if bug:
        return {"status": "crash", "line": bug.strip()[:300]}
    current, line = results.unfinished(output)
    if rc is None:
        return {"status": "timeout", "line": line if current == case else ""}
    tail = [l for l in output.strip().splitlines() if l.strip()][-1:] or [""]
    return {"status": "missing", "line": (line or tail[0])[:200] + f" (exit {rc})"}


class Runner:
    def __init__(self, outdir, jobs, timeout, mode, sides, budget=600.0):
        self.budget = budget
        self.out = os.path.abspath(outdir)
        self.jobs, self.timeout, self.mode, self.sides = jobs, timeout, mode, sides
        self.lock = threading.Lock()
        meta = os.path.join(outdir, "build.json")
        build = json.load(open(meta)) if os.path.exists(meta) else {"commit": "unknown"}
        self.built = sorted(n for n in os.listdir(os.path.join(outdir, "bin"))
                            if not n.endswith(".tmp"))
        path = os.path.join(outdir, "results.json")
        self.data = results.load(outdir) if os.path.exists(path) else {"binaries": {}}
        self.data.update(commit=build["commit"],
                         date=datetime.date.today().isoformat())

    def prefix(self, side):
        return bwrap_cmd(self.out) if side == "native" else kvmsentry_cmd()

    def cases(self, binary):
        rc, out = execute(bwrap_cmd(self.out) + [binary, "--gtest_list_tests"], 60)
        return [c for c in results.parse_list(out) if "DISABLED_" not in c] if rc == 0 else []

    def run_through(self, binary, pre, cases, found):
        """Run the program over `cases`; when a case hangs (no output for
        the per-case timeout) or kills the program, note it and go on with
        the cases after it in a new process. The same test under other
        parameters probably hangs too: those wait until the rest is done."""
        pending, first, hung = list(cases), True, set()
        deadline = time.monotonic() + self.budget
        while pending and (first or time.monotonic() < deadline):
            batch = [c for c in pending if test_of(c) not in hung] or pending
            args = [] if first else ["--gtest_filter=" + ":".join(batch)]
            first = False
            rc, out = execute(pre + [binary] + args, 1800.0, idle=self.timeout)
            got = results.parse_run(out)
            current, _ = results.unfinished(out)
            for case in batch:
                if case in got or case == current:
                    found[case] = outcome(case, rc, out)
            if current is None:
                # It ended between cases or before the first: no culprit.
                for case in batch:
                    found.setdefault(case, outcome(case, rc, out))
            elif rc is None:
                hung.add(test_of(current))
            pending = [c for c in pending if c not in found]
        for case in pending:
            found[case] = {"status": "not run", "line": "program's time budget spent"}

    def run_side(self, binary, side, cases, native=None):
        """{case: outcome} on one side. native: the native side's outcomes,
        so that the sandbox side reruns only cases that pass natively."""
        found = {}
        pre = self.prefix(side)
        if self.mode == "binary" and len(cases) > 1:
            self.run_through(binary, pre, cases, found)
        # Reruns, one case per process, of the ones gtest reported failed
        # (an earlier case may have left state behind), as far as the time
        # budget goes; in case mode, every case.
        todo = [c for c in cases if found.get(c, {}).get("status") in (None, "fail")]
        if native is not None:
            todo = [c for c in todo if native.get(c, {}).get("status") == "pass"]
        deadline = time.monotonic() + self.budget
        for case in todo:
            if time.monotonic() > deadline:
                found.setdefault(case, {"status": "not run", "line": "program's time budget spent"})
                continue
            rc, out = execute(pre + [binary, "--gtest_filter=" + case], self.timeout)
            found[case] = outcome(case, rc, out)
        return found

    def run_binary(self, name):
        binary = os.path.join(self.out, "bin", name)
        cases = self.cases(binary)
        record = {c: {} for c in cases}
        native = None
        for side in self.sides:
            got = self.run_side(binary, side, cases, native if side != "native" else None)
            if side == "native":
                native = got
            for case, res in got.items():
                record[case][side] = res
        with self.lock:
            old = self.data["binaries"].get(name, {})
            for case, r in record.items():
                merged = dict(old.get(case, {}))
                merged.update(r)
                record[case] = merged
            self.data["binaries"][name] = record
            results.save(self.out, self.data)
        nat = sum(1 for r in record.values() if r.get("native", {}).get("status") == "pass")
        sb = sum(1 for r in record.values() if r.get("native", {}).get("status") == "pass"
                 and r.get("sandbox", {}).get("status") == "pass")
        print(f"{name}: {len(cases)} cases, native {nat}, sandbox {sb}", flush=True)


def run_all(outdir, filters, jobs, timeout, mode, sides, new_only=False, budget=600.0):
    r = Runner(outdir, jobs, timeout, mode, sides, budget)
    names = [n for n in r.built if not filters or any(f in n for f in filters)]
    if new_only:
        names = [n for n in names if n not in r.data["binaries"]]
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(r.run_binary, names))
    return r.data
