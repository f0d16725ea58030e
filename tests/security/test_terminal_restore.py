"""The host terminal's modes come back when the sandbox ends, however it
ends: a normal exit, a signal forwarded to the sandbox, or an internal
error of the sentry (issue 13). The program in the sandbox turns off
echo, canonical input and signal keys on a pseudo-terminal the test owns.
"""
import os
import select
import signal
import subprocess
import sys
import termios
import time
import pty

import pytest

from progbuild import build_all

SOURCES = os.path.join(os.path.dirname(__file__), "termprograms")

# Runs the CLI with getpid(2) turned into a sentry bug (a Python exception
# where a handler should be): the sandbox is killed with exit status 134.
BUGGY_SENTRY = """
import sys
from kvmsentry.syscalls import dispatch
def broken(*args):
    raise RuntimeError("injected sentry bug")
dispatch._HANDLERS[39] = broken
from kvmsentry.cli.main import main
sys.exit(main(["do", "--", *sys.argv[1:]]))
"""


@pytest.fixture(scope="module")
def term_raw(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("term"))[("term_raw", "static")]


def _read_until(master, marker, timeout=60):
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data += os.read(master, 4096)
            except OSError:
                break
    return data


@pytest.mark.parametrize("how, status", [("exit", 0), ("signal", 143), ("sentry bug", 134)])
def test_terminal_modes_restored(term_raw, how, status):
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        if how == "sentry bug":
            cmd = [sys.executable, "-c", BUGGY_SENTRY, term_raw, "getpid"]
        else:
            cmd = [sys.executable, "-m", "kvmsentry", "do", "--", term_raw,
                   *(["wait"] if how == "signal" else [])]
        proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True)
        assert b"changed" in _read_until(master, b"changed")
        if how == "signal":
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == status
        _read_until(master, b"\0", timeout=0.5)          # drain what is left
        after = termios.tcgetattr(slave)
        assert after[3] & (termios.ECHO | termios.ICANON | termios.ISIG) == \
            before[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        assert after == before
    finally:
        os.close(master)
        os.close(slave)
