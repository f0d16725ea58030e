"""The guest suite again, on the other platform: the main suite runs on
the default (auto: systrap on kvm_pvm or without /dev/kvm, kvm on VMX/SVM),
and every test of tests/guest (programs compared with native Linux,
servers, terminals, ptrace) runs again in a second pytest session with
KVMSENTRY_PLATFORM naming the platform auto did not pick, so both stay
covered by the same differential checks and a difference between them is
a failing test here, never a skip. It runs after the main suite
(tests/svm/conftest.py orders it), and its summary is printed even when it
passes, so the CI log shows what ran where.
"""
import os
import re
import subprocess
import sys

import pytest

from kvmsentry.platform import choice

pytestmark = pytest.mark.platform_suite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = "tests/guest"
TIMEOUT = 2400


def other_platform():
    """The platform the main suite's default does not run on this host."""
    return "kvm" if choice.resolve(choice.DEFAULT) == "systrap" else "systrap"


def test_guest_suite_passes_on_the_other_platform(capsys):
    if os.environ.get("KVMSENTRY_PLATFORM"):
        pytest.fail("KVMSENTRY_PLATFORM is set: the whole suite runs on that platform already",
                    pytrace=False)
    platform = other_platform()
    env = dict(os.environ, KVMSENTRY_PLATFORM=platform)
    p = subprocess.run([sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider",
                        "-rfEs", "--durations=5"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    out = p.stdout + p.stderr
    tail = out[out.rfind("short test summary"):] if "short test summary" in out else out[-3000:]
    with capsys.disabled():
        sys.stdout.write("\n--- %s on %s ---\n%s\n" % (SUITE, platform, "\n".join(
            line for line in out.splitlines()
            if re.match(r"^(FAILED|ERROR|SKIPPED) |^=+ .* in [0-9.]+s|^[0-9]+ (passed|failed)|"
                        r".*s (call|setup) ", line))))
    assert p.returncode == 0, out[-20000:]
    counts = re.search(r"(\d+) passed", tail)
    assert counts and int(counts.group(1)) >= 800, tail
    assert " skipped" not in tail, tail
