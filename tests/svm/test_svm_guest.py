"""Run the bare-metal-path subset inside a QEMU TCG guest with kvm_amd.

tools/svm/run.py boots Debian's kernel under TCG (which emulates AMD SVM),
loads kvm_amd with nested paging on and off, and runs its default selection
there (run.py's default_selection: the tests whose paths differ between
KVMs) with this repository's .venv. Both guests boot at once (one per NPT
mode) to fit CI's budget of about 10 minutes; a guest that cannot boot, or
that stops making progress (run.py reports where its CPUs and tasks were),
fails the test, never skips it. `pytest tests` runs this last
(tests/svm/conftest.py). The guests' self-test, pytest summary, slowest
tests and the null-syscall benchmark's ratio are printed even when they
pass, so the CI log shows them.
"""
import os
import re
import subprocess
import sys
import threading

import pytest

pytestmark = pytest.mark.svm_guest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "tools", "svm", "run.py")
NPT_MODES = (1, 0)
TIMEOUT = 2400                       # seconds per guest; a loaded host is slow
QUIET_LIMIT = 480                    # seconds without a line from the guest: stuck


def _boot(npt):
    cmd = [sys.executable, RUN, "--npt", str(npt), "--timeout", str(TIMEOUT),
           "--quiet-limit", str(QUIET_LIMIT)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT + 300,
                           cwd=REPO)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return None, "%s\nharness did not return in time" % (e.stdout or "")


def _run_guest(npt, results):
    status, output = _boot(npt)
    # A whole-guest stall (no line for QUIET_LIMIT s, guest kernel included:
    # seen twice in ~40 runs, in QEMU TCG or kvm_amd, never reproduced) gets
    # one more boot. It is printed, so the log shows every stall; a test that
    # fails, or a second stall, still fails.
    if status != 0 and "s without output" in output:
        sys.stderr.write("svm-guest: npt=%d STALLED (whole guest); booting it once more\n" % npt)
        first = output
        status, output = _boot(npt)
        output = "svm-guest: first boot stalled:\n%s\n%s" % (_summary(first), output)
    results[npt] = (status, output)


@pytest.fixture(scope="module")
def guests():
    """{npt: (exit status, console output)}, both guests run concurrently."""
    if os.environ.get("KVMSENTRY_SVM_GUEST"):
        pytest.fail("already inside the SVM guest: select tests, not tests/svm whole",
                    pytrace=False)
    results = {}
    threads = [threading.Thread(target=_run_guest, args=(npt, results)) for npt in NPT_MODES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _summary(output):
    keep = re.compile(r"^(svm|svm-guest)(: | first)|^(FAILED|ERROR|SKIPPED) |^=+ .* in [0-9.]+s|"
                      r"^[0-9]+ (passed|failed)|.*s (call|setup) |.*null syscall benchmark: ")
    return "\n".join(line for line in output.splitlines() if keep.match(line))


@pytest.mark.parametrize("npt", NPT_MODES, ids=["npt1", "npt0"])
def test_subset_passes_in_svm_guest(guests, npt, capsys):
    status, output = guests[npt]
    with capsys.disabled():
        sys.stdout.write("\n--- SVM guest, kvm_amd npt=%d ---\n%s\n" % (npt, _summary(output)))
    assert status == 0, output[-20000:]
    assert "svm-guest: kvm_amd loaded, npt=%s" % ("Y" if npt else "N") in output
    assert re.search(r"svm-guest: machine: syscall: +ring-0 syscall", output), output[-5000:]
    assert re.search(r"svm-guest: machine: kvm: +kvm_amd", output)
    counts = re.search(r"^=* ?(\d+) passed.* in [0-9.]+s", output, re.M)
    assert counts and int(counts.group(1)) >= 20, output[-5000:]
    assert " skipped" not in output.split("short test summary")[-1]
