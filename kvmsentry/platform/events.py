"""What a platform returns from switch(): the kernel sees only these."""
from dataclasses import dataclass


class _Syscall:
    __slots__ = ()

    def __repr__(self):
        return "SYSCALL"


class _Interrupted:
    __slots__ = ()

    def __repr__(self):
        return "INTERRUPTED"


SYSCALL = _Syscall()           # registers hold a syscall; answer it
INTERRUPTED = _Interrupted()   # a host signal stopped the guest early


@dataclass(frozen=True)
class Fault:
    """A synchronous exception in guest user mode, already mapped to the
    signal Linux would send for it."""
    signo: int
    code: int               # si_code
    addr: int               # si_addr (cr2 for #PF)
    vector: int
    error_code: int
    rip: int
    rsp: int
    is_page_fault: bool = False
    write: bool = False
    execute: bool = False
    present: bool = False
    fatal: bool = False     # kills the process; no handler can run (ring-0 faults)
