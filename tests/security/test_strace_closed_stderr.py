"""`kvmsentry do --strace -- PROG 2>&1 | head -1`: once the reader of the
sentry's stderr is gone, tracing stops and the program runs on; the
sandbox neither hangs nor ignores SIGTERM (issue 13)."""
import os
import signal
import subprocess
import sys

import pytest

from progbuild import build_all

SOURCES = os.path.join(os.path.dirname(__file__), "termprograms")


@pytest.fixture(scope="module")
def syscall_loop(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("loop"))[("syscall_loop", "static")]


def _start_and_close_stderr(argv):
    """Start the traced sandbox, read its first trace line, then close the
    read end of its stderr as `head -1` does."""
    proc = subprocess.Popen([sys.executable, "-m", "kvmsentry", "do", "--strace", "--", *argv],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    first = proc.stderr.readline()
    proc.stderr.close()
    return proc, first


def test_program_runs_to_its_end(syscall_loop):
    proc, first = _start_and_close_stderr([syscall_loop, "20000"])
    assert first.strip()
    assert proc.wait(timeout=300) == 0


def test_sigterm_still_ends_the_sandbox(syscall_loop):
    proc, first = _start_and_close_stderr([syscall_loop])
    assert first.strip()
    try:
        proc.wait(timeout=2)                  # still running: it loops for ever
        pytest.fail("the endless program ended by itself (%d)" % proc.returncode)
    except subprocess.TimeoutExpired:
        pass
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
