"""A check, for the tests, that confinement holds: hidden `kvmsentry do
--confinement-probe` runs it around Confinement.lock_down() and prints one
line per attempt on stderr ("confinement-probe: <when> <what>: <result>").

Before lock-down the same attempts succeed (the positive control that
keeps the test honest); after it, opening /etc/shadow finds nothing and
executing a program that was opened beforehand is refused by seccomp.
"""
import importlib
import os
import sys

SECRET = "/etc/shadow"
PROGRAM = "/bin/true"
UNLOADED_MODULE = "colorsys"    # a standard module nothing in the sentry imports


class Probe:
    def __init__(self):
        self.program_fd = None

    def _say(self, when, what, result):
        sys.stderr.write("confinement-probe: %s %s: %s\n" % (when, what, result))
        sys.stderr.flush()

    def _try_open(self, when, path):
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
            self._say(when, "open " + path, "ok")
        except OSError as e:
            self._say(when, "open " + path, os.strerror(e.errno))

    def before(self):
        self._try_open("before", SECRET)
        try:
            self.program_fd = os.open(PROGRAM, os.O_PATH | os.O_CLOEXEC)
            self._say("before", "open " + PROGRAM, "ok")
        except OSError as e:
            self._say("before", "open " + PROGRAM, os.strerror(e.errno))

    def after(self):
        self._try_open("after", SECRET)
        self._try_open("after", "/proc/self/root" + SECRET)
        self._try_open("after", "/proc/1/root" + SECRET)
        try:
            importlib.import_module(UNLOADED_MODULE)
            self._say("after", "import " + UNLOADED_MODULE, "ok")
        except ImportError as e:
            self._say("after", "import " + UNLOADED_MODULE, str(e))
        if self.program_fd is None:
            return
        try:
            # fexecve: execveat(fd, "", AT_EMPTY_PATH); no host path needed.
            os.execve(self.program_fd, [PROGRAM], {})
        except OSError as e:
            self._say("after", "execve " + PROGRAM, os.strerror(e.errno))
