"""The user's terminal as the sandbox's controlling terminal.

When kvmsentry's stdin is a tty, it is the controlling terminal of the
first process's session inside. The host's foreground process group
stays kvmsentry's own; the sentry keeps which process group inside is
in the foreground (what TIOCSPGRP on the terminal sets), and the
signals the host line discipline raises on kvmsentry (SIGINT, SIGQUIT,
SIGTSTP) and SIGWINCH go to that group, as runsc does.
"""
import errno
import os
import _signal as signal      # (signal.py adds only enums, and imports enum)

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.tty.pty import check_foreground, signal_pgrp

INIT_PID = 1
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH)


class HostTerminal:
    def __init__(self, host_fd):
        self.is_tty = host_fd is not None and _isatty(host_fd)
        self.session = INIT_PID
        self.pgrp = INIT_PID

    def _require_ctty(self, task):
        if not self.is_tty or task.group.sid != self.session:
            raise SyscallError(errno.ENOTTY)

    def get_pgrp(self, task):
        """TIOCGPGRP."""
        self._require_ctty(task)
        return self.pgrp

    def get_sid(self, task):
        """TIOCGSID."""
        self._require_ctty(task)
        return self.session

    def set_pgrp(self, task, pgid):
        """TIOCSPGRP."""
        self._require_ctty(task)
        check_foreground(task, pgid)
        self.pgrp = pgid

    def deliver(self, kernel, signo):
        """A terminal signal from the host: True if the foreground group
        inside took it (False: nobody is there, the caller decides)."""
        if not self.is_tty or signo not in TERMINAL_SIGNALS \
                or not kernel.tree.members_of_pgrp(self.pgrp):
            return False
        signal_pgrp(kernel, self.pgrp, signo)
        return True


def _isatty(fd):
    try:
        return os.isatty(fd)
    except OSError:
        return False
