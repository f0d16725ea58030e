"""The vDSO: programs built with glibc (static and dynamic) and musl find
it, read the time from it without a system call, and that time agrees
with the clock_gettime system call and with the host, never running
backwards across threads (tests/vdsoprograms/vdso_time.c)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import progbuild  # noqa: E402

SOURCES = Path(__file__).resolve().parent.parent / "vdsoprograms"
FLAVOURS = ["static", "dynamic", "musl"]
TIME_CALLS = ("clock_gettime(", "gettimeofday(", "time(")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("vdso")
    exes = progbuild.build_all(SOURCES, out)
    musl = str(out / "vdso_time-musl")
    subprocess.run(["musl-gcc", "-static", "-O2", "-Wall", "-pthread", "-o", musl,
                    str(SOURCES / "vdso_time.c")], check=True, timeout=60)
    exes[("vdso_time", "musl")] = musl
    return exes


def _realtime(out):
    """The program's last line, CLOCK_REALTIME, and the lines before it."""
    lines = out.decode().splitlines()
    assert lines[-1].startswith("realtime "), out
    return float(lines[-1].split()[1]), lines[:-1]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_vdso_time_same_as_native(built, flavour):
    exe = built[("vdso_time", flavour)]
    native = progbuild.run([exe], sandbox=False)
    before = time.time()
    sandbox = progbuild.run([exe], sandbox=True)
    after = time.time()
    assert native[0] == 0 and sandbox[0] == 0, (native, sandbox)
    _, native_lines = _realtime(native[1])
    when, sandbox_lines = _realtime(sandbox[1])
    assert sandbox_lines == native_lines
    assert "exports: __vdso_clock_gettime __vdso_gettimeofday __vdso_time " \
           "__vdso_getcpu __vdso_clock_getres" in sandbox_lines
    # The sandbox's CLOCK_REALTIME is the host's (a clock check, not a timing).
    assert before - 0.01 <= when <= after + 0.01


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_time_calls_make_no_system_calls(built, flavour):
    """12,000 calls of clock_gettime, gettimeofday and time: none of them
    reaches the sentry (the strace of the run shows none)."""
    exe = built[("vdso_time", flavour)]
    p = subprocess.run(_kvmsentry("do", "--strace", "--", exe, "loop"), capture_output=True,
                       env=progbuild.ENV, timeout=progbuild.TIMEOUT, stdin=subprocess.DEVNULL)
    code, out, err = p.returncode, p.stdout, p.stderr
    assert code == 0 and out == b"1\n", err[-2000:]
    calls = [l for l in err.decode(errors="replace").splitlines()
             if l.startswith(TIME_CALLS)]
    assert len(calls) <= 2, calls[:10]
    assert b"exit_group(0)" in err            # the strace did cover the run


def _kvmsentry(*args):
    return [sys.executable, "-m", "kvmsentry", *args]


def test_each_process_gets_its_own_address():
    """The vDSO moves from exec to exec (randomized like Linux's)."""
    seen = set()
    for _ in range(3):
        p = subprocess.run(_kvmsentry("do", "--", "/bin/cat", "/proc/self/maps"),
                           capture_output=True, timeout=progbuild.TIMEOUT, env=progbuild.ENV)
        assert p.returncode == 0, p.stderr
        lines = [l for l in p.stdout.decode().splitlines() if l.endswith("[vdso]")]
        assert len(lines) == 1, p.stdout
        seen.add(lines[0].split("-")[0])
    assert len(seen) > 1
