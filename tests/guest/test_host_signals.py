"""SIGINT/SIGTERM sent to `kvmsentry do` reach the sandbox's init, and the
sandbox leaves nothing behind."""
import os
import signal
import subprocess
import sys
import time

import pytest


def _start(script, tmpdir=None):
    env = dict(os.environ, TMPDIR=tmpdir) if tmpdir else None
    proc = subprocess.Popen([sys.executable, "-m", "kvmsentry", "do", "--", "/bin/sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline() == b"started\n"
    return proc


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_forwarded_to_init_and_nothing_left(sig, status, tmp_path):
    # A private TMPDIR: other sandboxes running at the same time use the shared one.
    tmpdir = str(tmp_path)
    # Short foreground sleeps: dash acts on SIGINT only once its foreground
    # child is done (natively too), so a long one would just be waited for.
    proc = _start("echo started; sleep 30 & while :; do sleep 0.05; done; echo not reached",
                  tmpdir)
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == status, err
    assert b"not reached" not in out
    # The sandbox is one host process: its threads, vCPUs and memfd pool
    # went with it. Nothing was left in the temporary directory either.
    assert not os.path.exists("/proc/%d" % proc.pid)
    assert os.listdir(tmpdir) == []


def test_trapped_sigterm_runs_the_handler():
    proc = _start("trap 'echo caught; exit 7' TERM; echo started; "
                  "while :; do sleep 0.05; done")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert (proc.returncode, out) == (7, b"caught\n"), err
