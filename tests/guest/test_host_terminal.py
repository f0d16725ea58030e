"""The user's terminal as the sandbox's controlling terminal: an
interactive bash inside `kvmsentry do`, driven through a real pty from
the host, gets Ctrl-C in its foreground job (not in bash itself), as
natively; Ctrl-Z stops it and `fg` resumes it; and the host terminal's settings are the same afterwards."""
import os
import pty
import select
import sys
import termios
import time

TIMEOUT = 60


def _read_until(fd, marker, out):
    """Read the pty until marker appears in out (a bytearray); False on
    timeout or hangup."""
    end_of = len(out)
    while marker not in out[max(0, end_of - len(marker)):] and marker not in out:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True


def drive_bash(argv):
    """Start argv (an interactive bash) on a fresh pty; run `sleep 30`,
    Ctrl-C it, print $?, exit. Returns (output, exit status, termios before, termios after exit)."""
    pid, fd = pty.fork()
    if pid == 0:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PS1": "PROMPT$ ", "HOME": "/tmp",
               "TERM": "dumb"}
        os.execve(argv[0], argv, env)
    out = bytearray()
    try:
        before = termios.tcgetattr(fd)
        assert _read_until(fd, b"PROMPT$ ", out), out
        os.write(fd, b"sleep 30\n")
        assert _read_until(fd, b"sleep 30\r\n", out), out
        time.sleep(1.0)                # let the sleep start (the test asserts no timing)
        os.write(fd, b"\x03")
        assert _read_until(fd, b"PROMPT$ ", out), out
        os.write(fd, b"echo rc=$?\n")
        assert _read_until(fd, b"rc=130", out), out
        # Ctrl-Z stops the foreground job, fg resumes it, Ctrl-C ends it.
        os.write(fd, b"sleep 31\n")
        assert _read_until(fd, b"sleep 31\r\n", out), out
        time.sleep(1.0)
        os.write(fd, b"\x1a")
        assert _read_until(fd, b"PROMPT$ ", out), out
        os.write(fd, b"echo stopped=$?; jobs\n")
        assert _read_until(fd, b"Stopped", out), out
        os.write(fd, b"fg\n")
        assert _read_until(fd, b"sleep 31\r\n", out), out
        time.sleep(1.0)
        os.write(fd, b"\x03")
        assert _read_until(fd, b"PROMPT$ ", out), out
        os.write(fd, b"echo rc=$?; jobs; echo done\n")
        assert _read_until(fd, b"rc=130\r\ndone", out), out
        os.write(fd, b"exit\n")
        while True:
            ready, _, _ = select.select([fd], [], [], TIMEOUT)
            if not ready:
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        return bytes(out), status, before, termios.tcgetattr(fd)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.close(fd)


def test_ctrl_c_reaches_foreground_job():
    native, native_status, _, _ = drive_bash(["/bin/bash", "--norc", "--noprofile", "-i"])
    boxed, boxed_status, before, after = drive_bash([sys.executable, "-m", "kvmsentry", "do", "--",
                                      "/bin/bash", "--norc", "--noprofile", "-i"])
    for out in (native, boxed):
        assert b"rc=130" in out and b"stopped=148" in out, out
    assert boxed_status == native_status == 0, boxed
    assert after == before


def _read_new(fd, marker, out):
    """Read the pty until marker appears in what arrives from now on."""
    start = len(out)
    while marker not in out[start:]:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True


def _until_prompt(fd, out):
    return _read_new(fd, b"PROMPT$ ", out)


def _wait_for_job_state(fd, out, state):
    """`jobs` until it reports state (the background job needs a moment to
    reach the terminal; the test asserts no timing)."""
    for _ in range(40):
        mark = len(out)
        os.write(fd, b"sleep 0.5; jobs\n")
        assert _until_prompt(fd, out), out
        if state in out[mark:]:
            return True
    return False


def drive_background_jobs(argv):
    """A background `cat` reading the terminal is stopped (SIGTTIN); under
    `stty tostop` a background writer is stopped (SIGTTOU) until `fg`.
    Returns (output, exit status, termios before, termios after)."""
    pid, fd = pty.fork()
    if pid == 0:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PS1": "PROMPT$ ", "HOME": "/tmp",
               "TERM": "dumb"}
        os.execve(argv[0], argv, env)
    out = bytearray()
    try:
        before = termios.tcgetattr(fd)
        assert _until_prompt(fd, out), out
        os.write(fd, b"cat &\n")
        assert _wait_for_job_state(fd, out, b"Stopped"), out
        os.write(fd, b"kill -9 %1; wait; stty tostop; echo tostop-$((1+1))\n")
        assert _read_new(fd, b"tostop-2", out), out
        os.write(fd, b"(echo bg-$((2+3))) &\n")
        assert _wait_for_job_state(fd, out, b"Stopped"), out
        assert b"bg-5" not in out
        os.write(fd, b"fg\n")
        assert _read_new(fd, b"bg-5\r\n", out), out
        os.write(fd, b"stty -tostop; echo rc=$?; exit\n")
        while True:
            ready, _, _ = select.select([fd], [], [], TIMEOUT)
            if not ready:
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        return bytes(out), status, before, termios.tcgetattr(fd)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.close(fd)


def test_background_reader_and_tostop_writer_are_stopped():
    native = drive_background_jobs(["/bin/bash", "--norc", "--noprofile", "-i"])
    boxed = drive_background_jobs([sys.executable, "-m", "kvmsentry", "do", "--",
                                   "/bin/bash", "--norc", "--noprofile", "-i"])
    for out, status, _, _ in (native, boxed):
        assert b"rc=0" in out, out
        assert status == 0, out
    assert boxed[3] == boxed[2]


TSTP_PROGRAM = ("import os, signal\n"
                "signal.signal(signal.SIGTSTP, lambda *_: (os.write(1, b'got-tstp\\n'), os._exit(7)))\n"
                "os.write(1, b'ready\\n')\n"
                "signal.pause()\n")


def _ctrl_z_under_a_shell(command):
    """An interactive bash (a job-control shell, as a user's) runs command
    as its foreground job; Ctrl-Z on the terminal. Returns the output."""
    pid, fd = pty.fork()
    if pid == 0:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PS1": "PROMPT$ ", "HOME": "/tmp",
               "TERM": "dumb"}
        os.execve("/bin/bash", ["/bin/bash", "--norc", "--noprofile", "-i"], env)
    out = bytearray()
    try:
        assert _read_until(fd, b"PROMPT$ ", out), out
        os.write(fd, command + b"\n")
        assert _read_new(fd, b"\nready\r\n", out), out
        os.write(fd, b"\x1a")
        assert _read_new(fd, b"PROMPT$ ", out), out
        os.write(fd, b"echo rc=$?; jobs; echo \"do\"ne\n")
        assert _read_new(fd, b"\ndone\r\n", out), out
        os.write(fd, b"exit\n")
        return bytes(out)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)


def test_ctrl_z_from_the_users_shell_goes_inside():
    """kvmsentry as a job of the user's shell: Ctrl-Z reaches the program
    inside (its SIGTSTP handler runs) as it does natively; kvmsentry itself
    must not stop, which would hand the terminal back to the shell with the
    sandbox still running on it."""
    quoted = b"'" + TSTP_PROGRAM.encode().replace(b"\n", b"; ").replace(b"'", b'"') + b"'"
    native = _ctrl_z_under_a_shell(b"python3 -c " + quoted)
    boxed = _ctrl_z_under_a_shell(b" ".join([sys.executable.encode(), b"-m", b"kvmsentry", b"do",
                                             b"--", b"python3", b"-c", quoted]))
    for out in (native, boxed):
        assert b"got-tstp" in out and b"rc=7" in out, out
        assert b"Stopped" not in out, out
