"""getrandom(2)."""
import errno
import os

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import u32

GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4
MAX_CHUNK = (1 << 25) - 1          # Linux returns at most this per call


def getrandom(task, buf, count, flags):
    """Implements getrandom(2) from the host's CSPRNG."""
    flags = u32(flags)
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or \
            flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE):
        raise SyscallError(errno.EINVAL)
    count = task.mm.accessible(buf, min(count, MAX_CHUNK), write=True)
    return task.mm.copy_out(buf, os.urandom(count))
