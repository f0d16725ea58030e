"""How many host fds the guest's files may cost the sentry.

One host fd limit (RLIMIT_NOFILE of the sentry process) serves both the
sentry's own needs (/dev/kvm, the VM, vCPUs created as tasks need them,
the memory pool, logs) and the host objects behind guest files. The guest
must never be able to take the last of them: a host open made for the
guest is admitted only if it leaves a reserve free, otherwise it is undone
and the guest gets ENFILE (Linux's "file table full").

The check needs no count: the kernel hands out the lowest free fd, so an
open that returns fd >= ceiling proves every fd below the ceiling is taken.
Guest-backed fds therefore all sit below the ceiling, and the numbers
from there to the limit stay free for the sentry's own opens, which are
not checked.
"""
import errno
import os
import resource

from kvmsentry.errors import SyscallError

RESERVE_MIN = 128            # vCPUs (at most 64), the VM, logs, a margin
RESERVE_SHARE = 16           # ... or 1/16 of a large limit


def ceiling():
    """The lowest fd number a guest-backed host fd may not have."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(soft - max(RESERVE_MIN, soft // RESERVE_SHARE), 0)


_below = [0]                 # a ceiling measured before: fds under it pass


def admit(fd):
    """Return fd, a host fd just opened for the guest, or close it and
    raise ENFILE if it ate into the sentry's reserve."""
    # The sentry only ever raises its limit (hostfs), so an fd below a
    # ceiling measured earlier is below the current one: no getrlimit
    # per lookup of a host name.
    if fd < _below[0]:
        return fd
    _below[0] = limit = ceiling()
    if fd >= limit:
        os.close(fd)
        raise SyscallError(errno.ENFILE)
    return fd
