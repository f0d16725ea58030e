"""The sentry's confinement, in the order it happens.

`kvmsentry do` calls, in this order:

  1. Confinement.enter()      first thing, while single-threaded: new
                              user/mnt/pid/ipc/uts namespaces (extra
                              clone flags, e.g. CLONE_NEWNET, may be
                              passed), then the fork that makes the
                              sentry pid 1 of its pid namespace.
     ... start-up: open /dev/kvm, build the machine, open the root and
     volume directories (hostfs O_PATH fds), the kernel ...
  2. Confinement.lock_down()  before the program's first instruction:
       a. preload             read the code of every module imported lazily
                              later (sandbox/preload.py)
       b. before_pivot hooks  anything else that needs host paths or
                              privileges (network setup goes here)
       c. pivot_root          an empty read-only tmpfs as /, with only a
                              read-only procfs of the sentry's own pid
                              namespace (for /proc/self/fd)
       d. capabilities        all dropped but sandbox/capabilities.KEEP
       e. no_new_privs
       f. seccomp             sandbox/host_syscalls.py's allowlist, on
                              every thread
       g. reports             an audit hook and a last import finder log
                              what still reaches for a host path later
                              (it fails: ENOENT, ImportError)
"""
import os
import sys

from kvmsentry._sandbox import lib
from kvmsentry.sandbox import (capabilities, host_syscalls, namespaces, preload, seccomp,
                               supervisor)

PR_SET_NO_NEW_PRIVS = 38


class Confinement:
    def __init__(self, debug=None, skip_modules=(), kvm=True):
        self.debug = debug or (lambda message: None)
        self.describe_filter = False       # the filter's rules to the debug log
        self.skip_modules = skip_modules   # not preloaded (preload.fix_modules)
        self.kvm = kvm                     # the filter allows the KVM ioctls
        self.before_pivot = []      # callables run at step 2b
        self.namespaces = []

    def enter(self, extra_clone_flags=0):
        """Step 1. Returns in the sentry; the supervising parent never
        returns (it exits with the sentry's status)."""
        self.namespaces = namespaces.unshare(extra_clone_flags)
        supervisor.fork_sentry()

    def lock_down(self, log_fd):
        """Step 2; refused host calls are reported on log_fd."""
        # A copy of its own: the caller may close log_fd before the end.
        self.log_fd = os.dup(log_fd)
        self.debug("confinement: namespaces entered: %s (sentry is pid %d in its pid namespace)"
                   % (",".join(self.namespaces), os.getpid()))
        count = preload.fix_modules(self.skip_modules)
        self.debug("confinement: %d modules read before pivot_root" % count)
        # The filter's program, compiled on an earlier run (a host file).
        entries = host_syscalls.policy(os.getpid(), kvm=self.kvm)
        program = seccomp.compiled(entries, "sentry-kvm" if self.kvm else "sentry")
        for hook in self.before_pivot:
            hook()
        namespaces.pivot_to_empty_root()
        self.debug("confinement: pivot_root into an empty read-only tmpfs (+ read-only /proc)")
        kept = capabilities.drop_all_but_kept()
        self.debug("confinement: capabilities kept (in the user namespace): %s"
                   % " ".join(kept))
        if lib.kvmsentry_prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
            raise namespaces.ConfinementError("PR_SET_NO_NEW_PRIVS failed")
        self.debug("confinement: no_new_privs set")
        description = seccomp.install(os.getpid(), self.log_fd, entries, program=program)
        if self.describe_filter:
            for line in description():
                self.debug(line)
        self.debug("confinement: seccomp filter loaded on all threads")
        sys.addaudithook(self._audit)
        sys.meta_path.append(self)

    def _report(self, what):
        try:
            os.write(self.log_fd, b"kvmsentry: confinement: %s after pivot_root\n"
                     % what.encode(errors="replace"))
        except OSError:
            pass

    def _audit(self, event, args):
        """Python audit hook: a host path opened after pivot_root finds
        nothing; say which, so the failure has a name."""
        if event != "open":
            return
        path = args[0]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        # Source files are what linecache reads for a traceback's lines:
        # cosmetic, and a crash report should not drown in them. /proc is
        # the sentry's own (its pid namespace's), mounted in the new root.
        if isinstance(path, str) and path.startswith("/") and \
                not path.startswith("/proc/") and not path.endswith(".py"):
            self._report("host path %s opened" % path)

    def find_spec(self, name, path=None, target=None):
        """The last import finder: asked only when no other found `name`."""
        self._report("module %s not found (only modules loaded before can be)" % name)
        return None
