"""What a platform returns from switch(): the kernel sees only these."""
from kvmsentry.record import named_tuple

# The host signal that interrupts a task's guest code on either platform
# (a thread in KVM_RUN, or a systrap child's thread): SIGUSR2.
KICK_SIGNAL = 12


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


# A named tuple rather than a frozen dataclass: one is made per fault, and
# a frozen dataclass costs more to build (and ~2 ms more to define at start-up).
class Fault(named_tuple("Fault", "signo code addr vector error_code rip rsp is_page_fault "
                                 "write execute present fatal",
                        defaults=(False, False, False, False, False))):
    """A synchronous exception in guest user mode, already mapped to the
    signal Linux would send for it: signo, si_code, si_addr (cr2 for #PF),
    vector, error_code, rip, rsp; then is_page_fault, write, execute,
    present, and fatal (kills the process; no handler can run: ring-0
    faults). Changed copies come from _replace()."""
    __slots__ = ()
