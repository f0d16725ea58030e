"""Peak host memory of the sentry for the three cases of issue 13 that
once took gigabytes: a 1-byte pwrite at offset 4 GiB in /tmp, one 1 GiB
write into a pipe (with a reader), one 2 GiB write to /dev/null.

Each case runs in the sandbox and natively; the peak RSS is the
command's ru_maxrss from wait4, taken by programs/peak_rss.c (for the
sandbox: the whole sentry, guest memory included, since the guest's
frames are the sentry's memfd pool). Each
sandboxed peak must stay under 100 MB.

    python benchmarks/memory_bounds.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import build, sandbox  # noqa: E402

LIMIT_MB = 100
CASES = ("sparse", "pipe", "devnull")


def measure(launcher, cmd, timeout=600):
    """(peak RSS in MB, seconds, parsed JSON line) of running cmd under
    the peak_rss launcher; raises if it fails."""
    start = time.monotonic()
    proc = subprocess.run([launcher, *cmd], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (cmd, proc.returncode, stdout, stderr))
    kib = int(stderr.strip().splitlines()[-1].split("=")[1])
    return kib / 1024, seconds, json.loads(stdout.strip().splitlines()[-1])


def run_cases(workdir):
    """{case: {"sandbox": (mb, s, json), "native": (mb, s, json)}}."""
    prog = build("programs/memory_bounds.c")
    launcher = build("programs/peak_rss.c")
    results = {}
    for case in CASES:
        args = [prog, case] + ([workdir] if case == "sparse" else [])
        results[case] = {"sandbox": measure(launcher, sandbox(args)),
                         "native": measure(launcher, args)}
    return results


def main():
    work = tempfile.mkdtemp(prefix="kvmsentry-mem-")
    try:
        results = run_cases(work)
    finally:
        shutil.rmtree(work)
    print("%-9s %14s %14s %10s %10s" % ("case", "sandbox MB", "native MB",
                                         "sandbox s", "native s"))
    worst = 0
    for case, r in results.items():
        print("%-9s %14.1f %14.1f %10.2f %10.2f" % (
            case, r["sandbox"][0], r["native"][0], r["sandbox"][1], r["native"][1]))
        worst = max(worst, r["sandbox"][0])
    print("limit: %d MB per case; worst sandbox peak %.1f MB: %s"
          % (LIMIT_MB, worst, "ok" if worst < LIMIT_MB else "OVER"))
    return 0 if worst < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
