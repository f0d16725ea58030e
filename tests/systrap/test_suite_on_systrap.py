"""The guest suite again, on systrap: every test of tests/guest (programs
compared with native Linux, servers, terminals, ptrace) runs in a second
pytest session with KVMSENTRY_PLATFORM=systrap, so a difference between
the platforms is a failing test here, never a skip. It runs after the
main suite (tests/svm/conftest.py orders it), and its summary is printed
even when it passes, so the CI log shows what ran on systrap.
"""
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.platform_suite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = "tests/guest"
TIMEOUT = 2400


def test_guest_suite_passes_on_systrap(capsys):
    if os.environ.get("KVMSENTRY_PLATFORM"):
        pytest.fail("KVMSENTRY_PLATFORM is set: the whole suite runs on that platform already",
                    pytrace=False)
    env = dict(os.environ, KVMSENTRY_PLATFORM="systrap")
    p = subprocess.run([sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider",
                        "-rfEs", "--durations=5"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    out = p.stdout + p.stderr
    tail = out[out.rfind("short test summary"):] if "short test summary" in out else out[-3000:]
    with capsys.disabled():
        sys.stdout.write("\n--- %s on systrap ---\n%s\n" % (SUITE, "\n".join(
            line for line in out.splitlines()
            if re.match(r"^(FAILED|ERROR|SKIPPED) |^=+ .* in [0-9.]+s|^[0-9]+ (passed|failed)|"
                        r".*s (call|setup) ", line))))
    assert p.returncode == 0, out[-20000:]
    counts = re.search(r"(\d+) passed", tail)
    assert counts and int(counts.group(1)) >= 800, tail
    assert " skipped" not in tail, tail
