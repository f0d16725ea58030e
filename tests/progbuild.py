"""Shared by the tests that build their own code: compile a directory of
C sources two ways, run a program natively or sandboxed, assemble a
snippet for a bare guest."""
import os
import subprocess
import sys
import tempfile
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


def assemble(source):
    """Bytes of a snippet of AT&T assembly (64-bit)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, obj, out = (os.path.join(tmp, n) for n in ("a.s", "a.o", "a.bin"))
        with open(src, "w") as f:
            f.write(".code64\n" + source + "\n")
        subprocess.run(["as", "--64", "-o", obj, src], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", obj, out], check=True)
        with open(out, "rb") as f:
            return f.read()
