"""Error values shared by every layer of the sentry."""
import errno as _errno
import os


class SyscallError(Exception):
    """A Linux errno raised by a syscall handler or a helper it calls.

    Only syscalls/dispatch.py turns it into -errno for the guest.
    """

    __slots__ = ("errno",)

    def __init__(self, err):
        super().__init__(err)
        self.errno = err

    def __str__(self):
        return "%s (%s)" % (_errno.errorcode.get(self.errno, self.errno),
                            os.strerror(self.errno))


class QuietEpipe(SyscallError):
    """EPIPE without SIGPIPE: a send with MSG_NOSIGNAL, or a datagram or
    seqpacket Unix socket's (only stream sockets and pipes raise it)."""
    no_sigpipe = True

    def __init__(self, err=_errno.EPIPE):
        super().__init__(err)


class WouldWait(Exception):
    """A receive into views of the guest's frames (recv_views for
    recvfrom) that would have to wait: nothing was read, and the caller
    reads again the buffered way (bytes, then copy_out after the wait).
    A file's readinto() answers None instead (no exception on a blocked
    read's path), and read(2) waits (wait_readable) before it takes the
    views again. Views taken before a wait may name frames the program
    unmaps meanwhile (freed, then another process's) or shares with a
    child it forks meanwhile, so none is held across a wait."""


def efault():
    return SyscallError(_errno.EFAULT)


class SandboxExit(Exception):
    """The sandbox is over: every task has exited (status is a wait status)."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class SentryBug(Exception):
    """An internal error: the sandbox is killed with a report."""


class KvmUnavailable(Exception):
    """/dev/kvm cannot be used; the message is one line for the user.
    (Here rather than in kvm/, so that catching it imports no KVM binding:
    the systrap platform never loads one.)"""
