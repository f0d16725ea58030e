"""The sentry as pid 1 of its own pid namespace, under a small supervisor.

unshare(CLONE_NEWPID) moves only the caller's future children into the
new namespace, and Linux refuses new threads to a process whose children
would land in another pid namespace, so the sentry (which needs threads)
must itself be such a child: `kvmsentry do` forks once, the child goes on
as the sentry, and the parent only forwards signals and passes the
child's exit status on (runsc splits its sandbox process off the same
way). Signals the terminal sends reach both (same process group), so the
parent forwards only those that some process sent it with kill(2).
"""
import os
import _signal as signal      # (signal.py adds only enums, and imports enum)

from kvmsentry._sandbox import lib
from kvmsentry.sandbox import host_syscalls, seccomp

PR_SET_PDEATHSIG = 1
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGWINCH)
SI_USER, SI_QUEUE, SI_TKILL = 0, -1, -6


def fork_sentry():
    """Fork; return in the child (the sentry). In the parent, supervise the
    child and exit with its status: this call never returns there."""
    # SIGTSTP too: with a terminal the sentry forwards it inside (from its
    # main thread, like the others) and the supervisor must not stop.
    watched = set(FORWARDED) | {signal.SIGCHLD, signal.SIGTSTP}
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    pid = os.fork()
    if pid == 0:
        # The sentry dies with its supervisor (a SIGKILL to `kvmsentry do`).
        lib.kvmsentry_prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # The sentry's imports fill a few MiB of new object arenas: in
        # huge pages where the kernel gives them (a 4 KiB page fault costs
        # ~4.5 us on these hosts). Not the supervisor's: it allocates
        # little after the fork.
        lib.kvmsentry_use_huge_arenas()
        # The forwarded signals stay blocked, so every thread the sentry
        # makes has them blocked; Kernel.run unblocks them in the main
        # thread alone, whose Python handler forwards them. A signal the
        # host delivered to another thread would only mark the handler due,
        # and the main thread, asleep until the sandbox ends, would never run it.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        return
    os._exit(_supervise(pid, watched))


def _lock_down(child):
    """The supervisor needs no capability and a handful of calls."""
    if lib.kvmsentry_drop_bounding(0) != 0 or lib.kvmsentry_set_caps(0) != 0:
        raise OSError("dropping the supervisor's capabilities")
    seccomp.install(os.getpid(), 2, host_syscalls.supervisor_policy(os.getpid(), child), ())


def _supervise(child, watched):
    try:
        _lock_down(child)
    except (OSError, seccomp.SeccompError) as e:
        os.write(2, b"kvmsentry: supervisor: %s\n" % str(e).encode())
        os.kill(child, signal.SIGKILL)
    while True:
        info = signal.sigwaitinfo(watched)
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(child, os.WNOHANG)
            if done == child:
                return _pass_on(status)
            continue
        # A signal the terminal raised reached the sentry too (both are in
        # its foreground group): only what someone sent is passed on.
        if info.si_code in (SI_USER, SI_QUEUE, SI_TKILL):
            try:
                os.kill(child, info.si_signo)
            except ProcessLookupError:
                pass


def _pass_on(status):
    """The sentry's wait status as this process's own exit."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        return 128 + sig
    return os.waitstatus_to_exitcode(status)
