"""What KVM_RUN returned, decoded. Values only: the binding decides nothing."""
from dataclasses import dataclass

KVM_EXIT_IO = 2
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17


@dataclass(frozen=True)
class IoOut:
    port: int
    size: int


@dataclass(frozen=True)
class IoIn:
    port: int
    size: int


@dataclass(frozen=True)
class Hlt:
    pass


@dataclass(frozen=True)
class Shutdown:
    """Triple fault: the guest's own exception handling failed."""


@dataclass(frozen=True)
class FailEntry:
    reason: int


@dataclass(frozen=True)
class InternalError:
    suberror: int
    data: tuple


@dataclass(frozen=True)
class Mmio:
    address: int
    is_write: bool


@dataclass(frozen=True)
class Interrupted:
    """KVM_RUN returned EINTR or immediate_exit was set: a host signal."""


@dataclass(frozen=True)
class Unknown:
    reason: int


# IoOut objects for the few ports in use are interned: the hot path
# allocates nothing.
_io_out_cache = {}


def io_out(port, size):
    key = (port, size)
    ex = _io_out_cache.get(key)
    if ex is None:
        ex = _io_out_cache[key] = IoOut(port, size)
    return ex


HLT = Hlt()
SHUTDOWN = Shutdown()
INTERRUPTED = Interrupted()
