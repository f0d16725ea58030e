"""A sentry bug ends the sandbox with its report and exit status 134,
whichever sentry thread it happens in (issue 13): a task's thread, or a
helper thread such as the timers'. Bugs are injected by running the CLI
with one function replaced by one that raises."""
import os
import subprocess
import sys

import pytest

from progbuild import build_all

SOURCES = os.path.join(os.path.dirname(__file__), "boundsprograms")

INJECT = """
import sys
import %(module)s as target
def broken(*args, **kw):
    raise RuntimeError("injected sentry bug")
%(patch)s
from kvmsentry.cli.main import main
sys.exit(main(["do", "--", *sys.argv[1:]]))
"""

CASES = {
    # getpid(2)'s handler, called on a task's thread.
    "task thread": ("kvmsentry.syscalls.dispatch", "target._HANDLERS[39] = broken",
                    "in pid 1 ("),
    # The timer thread's wait, reached once a timer is armed.
    "timer thread": ("kvmsentry.kernel.timers", "target.TimerThread._wait_for_due = broken",
                     "in sentry thread timers"),
}


@pytest.fixture(scope="module")
def far_timers(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("bugs"))[("far_timers", "static")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_sentry_bug_ends_sandbox_with_134(far_timers, case):
    module, patch, where = CASES[case]
    code = INJECT % {"module": module, "patch": patch}
    if case == "task thread":
        prog = [sys.executable, "-c", code, "/bin/sh", "-c", "echo $$"]
    else:
        prog = [sys.executable, "-c", code, far_timers]
    p = subprocess.run(prog, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 134, err
    assert "internal error %s" % where in err
    assert "injected sentry bug" in err
