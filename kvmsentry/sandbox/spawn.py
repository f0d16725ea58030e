"""Starting the helper programs of a sandbox (slirp4netns, the systrap
zygote) with posix_spawn, and waiting for them.

What subprocess.Popen would do, minus its import on every start (with
locale and re, ~3 ms) and its fork of the whole Python process: the
helper gets exactly the descriptors named (every other inheritable one
is closed in the child, as Popen's close_fds), stdin/stdout/stderr as
given (None: /dev/null), the environment given, and optionally a
session of its own.
"""
import os
import select
import _signal as signal      # (signal.py adds only enums, and imports enum)


def _inheritable_fds():
    """This process's descriptors above 2 that an exec would keep."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    fds.append(fd)
            except OSError:
                pass              # the listing's own directory fd, closed since
    return fds


def spawn(argv, env, stdin=None, stdout=None, stderr=None, pass_fds=(), new_session=False):
    """Start argv[0] (a path); return a Helper. pass_fds stay open at
    their numbers in the child; stdio are fds or None for /dev/null."""
    actions = []
    for target, fd, flags in ((0, stdin, os.O_RDONLY), (1, stdout, os.O_WRONLY),
                              (2, stderr, os.O_WRONLY)):
        if fd is None:
            actions.append((os.POSIX_SPAWN_OPEN, target, os.devnull, flags, 0))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    keep = set(pass_fds)
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds() if fd not in keep]
    made = []
    try:
        for fd in keep:
            if not os.get_inheritable(fd):
                os.set_inheritable(fd, True)
                made.append(fd)
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=new_session)
    finally:
        for fd in made:
            os.set_inheritable(fd, False)
    return Helper(pid)


class Helper:
    """A started helper process, as much of Popen's as the sandbox uses."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        """Its exit status if it has ended (reaped now), else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        """Its exit status; None if it is still running after timeout seconds."""
        if self.returncode is None and timeout is not None:
            pidfd = os.pidfd_open(self.pid)
            try:
                poller = select.poll()          # (not select(): fds past 1024)
                poller.register(pidfd, select.POLLIN)
                poller.poll(timeout * 1000)
            finally:
                os.close(pidfd)
            return self.poll()
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)
