"""Shared by the guest tests that build their own C programs: compile a
directory of sources two ways, and run a program natively or sandboxed."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
FLAVOURS = {"static": ["gcc", "-static"], "dynamic": ["gcc"]}
TIMEOUT = 60


def build_all(sources, out):
    """{(name, flavour): path} for every sources/*.c, built in parallel;
    a compile error fails the test (never skips it)."""
    jobs = []
    for name in sorted(os.listdir(sources)):
        if name.endswith(".c"):
            for flavour, cc in FLAVOURS.items():
                exe = str(out / ("%s-%s" % (name[:-2], flavour)))
                jobs.append(((name[:-2], flavour), exe,
                             cc + ["-O2", "-Wall", "-pthread", "-o", exe,
                                   os.path.join(sources, name)]))

    def compile_one(job):
        proc = subprocess.run(job[2], capture_output=True, text=True, timeout=TIMEOUT)
        return None if proc.returncode == 0 else "%s:\n%s" % (" ".join(job[2]), proc.stderr)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        errors = [e for e in pool.map(compile_one, jobs) if e]
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
    return {key: exe for key, exe, _ in jobs}


def run(argv, sandbox, env=ENV):
    """(exit code as a shell reports it, stdout, stderr)."""
    cmd = [sys.executable, "-m", "kvmsentry", "do", "--", *argv] if sandbox else argv
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout, p.stderr
