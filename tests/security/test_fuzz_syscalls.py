"""A syscall fuzzer for the sentry: no guest input may crash it (issue 13).

fuzzprograms/syscall_fuzz.c runs, in the sandbox, rounds of random and
edge-case (nr, args) calls from a seed that hypothesis picks on the host
(thousands of calls per run, mostly among the calls the sandbox
implements; the calls it skips and why are listed in the program). A
fuzzed child may fail any way it likes (an errno, a signal, being killed
for hanging). The sandbox may not: any sentry internal error (exit status
134, "SentryBug" or a Python traceback on stderr) or a runner that did not
finish fails the test with the seed that caused it. The fuzzer is never
run natively. The ELF mutator is in test_fuzz_elf.py.
"""
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from kvmsentry.syscalls.table import TABLE
from progbuild import build_all

SOURCES = os.path.join(os.path.dirname(__file__), "fuzzprograms")
ROUNDS, CALLS = 12, 400            # per seed: 4,800 calls
# The numbers the sandbox implements, which the fuzzer favours.
IMPLEMENTED = ",".join(str(e.nr) for e in TABLE if e is not None and e.handler is not None)
SANDBOX_TIMEOUT = 300

# No shrinking: one example boots a sandbox and runs thousands of calls,
# and the failure message already names the seed or the mutations.
FUZZ_SETTINGS = settings(max_examples=3, deadline=None, database=None,
                         phases=(Phase.explicit, Phase.generate),
                         suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz")
    progs = build_all(SOURCES, out)
    tiny = str(out / "tiny-musl")
    proc = subprocess.run(["musl-gcc", "-O2", "-static", "-o", tiny,
                           os.path.join(SOURCES, "tiny.c")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return progs, tiny


def sandbox_survived(argv, what, cwd=None):
    """Run argv in the sandbox; fail with `what` unless it ran to its end
    without a sentry internal error. Returns stdout."""
    p = subprocess.run([sys.executable, "-m", "kvmsentry", "do", "--", *argv],
                       capture_output=True, timeout=SANDBOX_TIMEOUT, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    err = p.stderr.decode(errors="replace")
    out = p.stdout.decode(errors="replace")
    assert p.returncode != 134, "sentry crashed (%s):\n%s" % (what, err[-3000:])
    assert "SentryBug" not in err and "Traceback" not in err, \
        "sentry internal error (%s):\n%s" % (what, err[-3000:])
    assert p.returncode == 0, "runner ended with %d (%s):\n%s%s" % (
        p.returncode, what, out[-2000:], err[-2000:])
    return out


@FUZZ_SETTINGS
@given(seed=st.integers(0, 2 ** 64 - 1))
def test_syscall_fuzzer_never_crashes_the_sentry(built, tmp_path_factory, seed):
    progs, _ = built
    work = tmp_path_factory.mktemp("fuzzcwd")       # random names land here
    out = sandbox_survived([progs[("syscall_fuzz", "static")], str(seed), str(ROUNDS),
                            str(CALLS), IMPLEMENTED], "syscall fuzzer seed %d" % seed, cwd=work)
    assert "fuzz done: seed %d, %d rounds" % (seed, ROUNDS) in out, \
        "seed %d: the fuzzer did not finish:\n%s" % (seed, out)
