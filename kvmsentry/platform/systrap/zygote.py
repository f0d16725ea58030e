"""The zygote: the stub binary, started once per sandbox before the sentry
confines itself, that forks a fresh child process for every guest address
space (the confined sentry may neither fork nor exec). It dies with the
sentry (PR_SET_PDEATHSIG); its children die with it.
"""
import _socket
import array
import errno
import os
import struct
import threading

from kvmsentry._systrap import lib
from kvmsentry.sandbox import spawn

STUB_ELF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub.elf")


ADDR_NO_RANDOMIZE = 0x0040000
PERSONALITY_QUERY = 0xFFFFFFFF


class ZygoteError(Exception):
    pass


# The host out of memory, processes or fds for another child (a limit the
# sandbox runs under): not a sentry bug.
HOST_SHORT = (errno.ENOMEM, errno.EAGAIN, errno.EMFILE, errno.ENFILE)


def _spawn_unrandomized(argv, sock_fd):
    """Start the zygote with its stack at the top of the address space.
    The stub is linked at a fixed address (layout.STUB_BASE) 96 MiB below
    that top, inside the 16 GiB the host's randomized stack top ranges
    over: about once in 10^5 starts the new stack covered it, the ELF load
    failed past exec's point of no return (SIGSEGV, "elf segment ...
    mapped already" in the host's log), and the sentry, whose posix_spawn
    had succeeded, met a closed socket. Nothing is lost: the zygote runs
    no program, and its children unmap its stack, vDSO and vvar."""
    old = lib.personality(PERSONALITY_QUERY)
    # (per thread, and inherited by the spawned process: this thread's
    # own setting is restored at once)
    lib.personality(old | ADDR_NO_RANDOMIZE)
    try:
        # A session of its own: the user's terminal sends its Ctrl-C
        # (SIGINT), Ctrl-\ and hangup to the sentry only, which hands
        # them to the foreground job inside; a child would die of them.
        return spawn.spawn(argv, {}, stdin=sock_fd, new_session=True)
    finally:
        lib.personality(old)


class Zygote:
    def __init__(self):
        # (_socket, not socket: the latter's enums cost ~2 ms of every start.)
        self._sock, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            # Our pid: the zygote ends if its parent is already another
            # (we died before it asked for PR_SET_PDEATHSIG).
            self.proc = _spawn_unrandomized([STUB_ELF, str(os.getpid())], theirs.fileno())
        finally:
            theirs.close()
        self._lock = threading.Lock()
        self._ahead = None                # what the request in flight was sent with
        self._spawned = 0

    def spawn(self, pool_fd, make_ctl):
        """A child that maps a control region (made by make_ctl(), an
        object with .fd) as its thread slots and uses pool_fd for guest
        memory: (pid, that region). The child was asked for by the
        previous call (the first by ask_ahead(), when the machine was
        made), and the next one is asked for now, so that the
        zygote's fork and the child's set-up (seccomp, first stop) happen
        while the sentry does other work: an execve or fork waits for
        neither. Not after the first child: most runs never ask for a
        second, and one made ahead would cost a process's start and end
        (~1 ms of a one-CPU start) for nothing."""
        with self._lock:
            try:
                if self._ahead is None:
                    self._ahead = self._request(pool_fd, make_ctl)
                ctl, self._ahead = self._ahead, None
                data = self._sock.recv(8)
                ctl.close_fd()
                self._spawned += 1
                if len(data) == 8 and self._spawned > 1:
                    self._ahead = self._request(pool_fd, make_ctl)
            except OSError as e:
                if e.errno in HOST_SHORT:
                    raise                 # the guest's fork fails (EAGAIN), as on Linux
                raise ZygoteError("systrap zygote: %s%s" % (e, self._end())) from None
        if len(data) != 8:
            raise ZygoteError("systrap zygote is gone%s" % self._end())
        (pid,) = struct.unpack("<q", data)
        if -pid in HOST_SHORT:
            raise OSError(-pid, os.strerror(-pid))
        if pid < 0:
            raise ZygoteError("systrap zygote: fork failed: %s" % os.strerror(-pid))
        return pid, ctl

    def ask_ahead(self, pool_fd, make_ctl):
        """Ask now for the child the next spawn() returns (as spawn() does
        after the first): the sentry asks as soon as the pool exists, so
        the zygote's fork and the child's set-up run beside its own
        start-up instead of at the program's first instruction."""
        with self._lock:
            if self._ahead is None:
                try:
                    self._ahead = self._request(pool_fd, make_ctl)
                except OSError as e:
                    raise ZygoteError("systrap zygote: %s%s" % (e, self._end())) from None

    def _end(self):
        """How the zygote ended, for the error (it has, or is about to:
        its socket is closed), e.g. " (exit status -9)"."""
        try:
            status = self.proc.wait(timeout=1.0)
        except OSError:                   # (not our child any more)
            return ""
        return "" if status is None else " (exit status %s)" % status

    def _request(self, pool_fd, make_ctl):
        ctl = make_ctl()
        try:
            self._sock.sendmsg([b"s"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                         array.array("i", (pool_fd, ctl.fd, ctl.done_fd)))])
        except OSError:
            ctl.close_fd()
            os.close(ctl.done_fd)
            raise
        return ctl

    def close(self):
        """The zygote exits when its socket closes (the confined sentry may
        not wait for it; it is reaped with the sentry), and with it the
        child made ahead (PR_SET_PDEATHSIG)."""
        self._sock.close()
        ahead, self._ahead = self._ahead, None
        if ahead is not None:             # (a run that never started its program)
            ahead.close_fd()
            os.close(ahead.done_fd)
