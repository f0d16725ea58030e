"""The host terminal's settings, put back when the sandbox ends.

A program in the sandbox may change the modes of the terminal it was
given (TCSETS passes through to the host tty, as with runsc's host TTY):
raw mode, no echo. Whatever it leaves behind, the caller's shell gets its
terminal back as it was: the modes of every terminal among the host's
stdio are saved before the sandbox starts and restored when it ends,
after a normal exit, a signal forwarded to the sandbox (SIGINT, SIGTERM,
SIGHUP end it through the same path) or an internal error of the sentry.
SIGKILL and a crash of the Python process itself are out of reach.
"""
import contextlib
import os
import termios


@contextlib.contextmanager
def terminal_modes_restored(fds=(0, 1, 2)):
    saved, seen = [], set()
    for fd in fds:
        try:
            if not os.isatty(fd):
                continue
            key = os.fstat(fd).st_rdev
            if key in seen:
                continue
            saved.append((fd, termios.tcgetattr(fd)))
            seen.add(key)
        except (OSError, termios.error):
            continue
    try:
        yield
    finally:
        for fd, modes in saved:
            try:
                termios.tcsetattr(fd, termios.TCSANOW, modes)
            except (OSError, termios.error):
                pass              # the terminal went away (hangup): nothing to restore
