"""SIGINT/SIGTERM sent to `kvmsentry do` reach the sandbox's init, and the
sandbox leaves nothing behind."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest


def _start(script):
    proc = subprocess.Popen([sys.executable, "-m", "kvmsentry", "do", "--", "/bin/sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    return proc


def _tmp_entries():
    return set(os.listdir(tempfile.gettempdir()))


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_forwarded_to_init_and_nothing_left(sig, status):
    before = _tmp_entries()
    # Short foreground sleeps: dash acts on SIGINT only once its foreground
    # child is done (natively too), so a long one would just be waited for.
    proc = _start("echo started; sleep 30 & while :; do sleep 0.05; done; echo not reached")
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == status, err
    assert b"not reached" not in out
    # The sandbox is one host process: its threads, vCPUs and memfd pool
    # went with it. Nothing was left in the temporary directory either.
    assert not os.path.exists("/proc/%d" % proc.pid)
    assert {e for e in _tmp_entries() - before if "kvmsentry" in e} == set()


def test_trapped_sigterm_runs_the_handler():
    proc = _start("trap 'echo caught; exit 7' TERM; echo started; "
                  "while :; do sleep 0.05; done")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert (proc.returncode, out) == (7, b"caught\n"), err
