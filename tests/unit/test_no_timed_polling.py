"""No wait in the sentry re-checks its condition on a timer: every blocking
wait goes through kernel/waiter.py (issue 7). A loop that sleeps a fixed
slice and looks again shows up as one of these patterns."""
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "kvmsentry"
TIMED_POLL = re.compile(r"wait\(0\.|RECHECK|INTERRUPT_POLL|interrupt\.wait|\.poll\([1-9]\d*\)"
                        r"|time\.sleep\(")


def test_no_wait_polls_on_a_timer():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "waiter.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if TIMED_POLL.search(line.split("#")[0]):
                offenders.append("%s:%d: %s" % (path.relative_to(PACKAGE), n, line.strip()))
    assert not offenders, "\n".join(offenders)
