"""Pseudo-terminals inside the sandbox (/dev/ptmx, /dev/pts/N), compared
with native Linux: posix_openpt/grantpt/unlockpt/ptsname and the slave
node, canonical editing (erase, kill, werase, EOF) with echo and ONLCR,
raw mode with VMIN/VTIME, echo flags, the controlling-terminal rules with
^C raising SIGINT and TIOCSWINSZ raising SIGWINCH in the foreground
group, poll/FIONREAD/hangup, packet mode (TIOCPKT); then Python's pty
module, script(1) and tmux.

tests/ttyprograms/ptys.c has one mode per case."""
import os
import shutil

import pytest
from progbuild import FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "ttyprograms")
MODES = ["basic", "canon", "raw", "echo", "jobs", "poll", "packet", "flow"]


@pytest.fixture(scope="module")
def ttyprogs(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("ttys"))


def same(argv, cwd):
    native = run_in(argv, False, cwd)
    boxed = run_in(argv, True, cwd)
    assert boxed[1].decode() == native[1].decode(), boxed[2].decode()[-3000:]
    assert boxed[0] == native[0], boxed[2].decode()[-3000:]
    return boxed[1].decode()


def run_in(argv, sandbox, cwd):
    # Native runs happen in a temporary directory (openpty needs no privilege).
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return run(argv, sandbox)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("flavour", list(FLAVOURS))
@pytest.mark.parametrize("mode", MODES)
def test_pty_program(ttyprogs, flavour, mode, tmp_path):
    out = same([ttyprogs[("ptys", flavour)], mode], tmp_path)
    assert out.strip()


def test_python_pty_spawn(tmp_path):
    """pty.fork() (forkpty: setsid + TIOCSCTTY) and a child that reads a
    line from its terminal and answers."""
    code = ("import os, pty, sys\n"
            "pid, fd = pty.fork()\n"
            "if pid == 0:\n"
            "    os.execv('/bin/sh', ['sh', '-c', 'read x; echo got $x; tty >/dev/null && echo tty'])\n"
            "os.write(fd, b'hello\\n')\n"
            "out = b''\n"
            "while True:\n"
            "    try:\n"
            "        chunk = os.read(fd, 100)\n"
            "    except OSError:\n"
            "        break\n"
            "    if not chunk:\n"
            "        break\n"
            "    out += chunk\n"
            "print(repr(out))\n"
            "print(os.waitpid(pid, 0)[1])\n")
    out = same(["/usr/bin/python3", "-c", code], tmp_path)
    assert "got hello" in out


def test_script(tmp_path):
    """script(1) from bsdutils runs a command on a fresh pty."""
    script = shutil.which("script")
    assert script, "script(1) is missing (apt-get install bsdutils)"
    out = same([script, "-qc", "echo hi; tty | cut -c1-9; stty size", "/dev/null"], tmp_path)
    assert "hi" in out


def test_tmux_session(tmp_path):
    """tmux new -d, send-keys and capture-pane (tests/ttyprograms/tmux_session.sh):
    a tmux server on a pty of the sandbox's devpts, its client over a Unix
    socket, the pane as natively."""
    assert shutil.which("tmux"), "tmux is missing (apt-get install tmux)"
    out = same(["/bin/sh", os.path.join(SOURCES, "tmux_session.sh")], tmp_path)
    assert out.startswith("P> echo hello $((6*7)); stty size; tty | cut -c1-9\nhello 42\n8 60\n"
                          "/dev/pts/\nP>\n"), out
    assert out.endswith("0 60x8 sh\nkill-server 0\n"), out
