"""Signal state as Linux keeps it: numbers and flags, dispositions, siginfo,
pending queues and the alternate signal stack.

Everything here is pure data with Linux's validation rules; nothing sends,
delivers or touches guest memory. Delivery (choosing a thread, building
the frame with arch/signal_frame.py, restarting syscalls) is the caller's.

Thread safety: none inside. Every object here is shared between guest
threads (the handler table with CLONE_SIGHAND, the group's pending queue),
so callers hold the kernel lock around every use, as Linux holds
sighand->siglock.
"""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.record import record, replace

# --- numbers -----------------------------------------------------------------
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = range(1, 9)
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = range(9, 16)
SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU = range(16, 23)
SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO = range(23, 30)
SIGPWR, SIGSYS = 30, 31
SIGIOT, SIGPOLL = SIGABRT, SIGIO
SIGRTMIN, SIGRTMAX = 32, 64     # the kernel's; glibc reserves 32 and 33
NSIG = 64

MASK64 = (1 << 64) - 1


def sigbit(sig):
    """The bit of sig in a 64-bit sigset_t."""
    return 1 << (sig - 1)


def signal_events(sig):
    """The mask a task's signal_queue is notified with when sig is queued:
    POLLIN|POLLRDNORM for pollers of a signalfd, and the signal's bit
    above bit 32 for waits on particular signals (sigset_events)."""
    return 0x41 | sigbit(sig) << 32


def sigset_events(mask):
    """The signal_queue entry mask of a wait for the signals in mask."""
    return mask << 32


UNBLOCKABLE = sigbit(SIGKILL) | sigbit(SIGSTOP)
# Faults raised by the thread's own instruction; Linux dequeues them first
# so the handler sees the fault before an unrelated signal (next_signal()).
SYNCHRONOUS_MASK = (sigbit(SIGSEGV) | sigbit(SIGBUS) | sigbit(SIGILL)
                    | sigbit(SIGTRAP) | sigbit(SIGFPE) | sigbit(SIGSYS))
STOP_MASK = sigbit(SIGSTOP) | sigbit(SIGTSTP) | sigbit(SIGTTIN) | sigbit(SIGTTOU)


def valid_signal(sig):
    return 1 <= sig <= NSIG


def sanitize_mask(mask):
    """A mask as set_current_blocked() stores it: SIGKILL/SIGSTOP never blocked."""
    return mask & ~UNBLOCKABLE & MASK64


# --- sigaction flags -------------------------------------------------------------
SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP = 0x00000001
SA_NOCLDWAIT = 0x00000002
SA_SIGINFO = 0x00000004
SA_UNSUPPORTED = 0x00000400        # never accepted: lets programs probe for flags
SA_EXPOSE_TAGBITS = 0x00000800
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
# Linux clears every other bit (UAPI_SA_FLAGS), so oact shows what it supports.
SA_KNOWN = (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_EXPOSE_TAGBITS
            | SA_RESTORER | SA_ONSTACK | SA_RESTART | SA_NODEFER | SA_RESETHAND)

# --- sigaltstack -----------------------------------------------------------------
SS_ONSTACK, SS_DISABLE = 1, 2
SS_AUTODISARM = 1 << 31
MINSIGSTKSZ = 2048

# --- si_code -----------------------------------------------------------------------
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_MESGQ = -3
SI_ASYNCIO = -4
SI_SIGIO = -5
SI_TKILL = -6
SI_DETHREAD = -7
SI_ASYNCNL = -60
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = range(1, 7)
SEGV_MAPERR, SEGV_ACCERR, SEGV_BNDERR, SEGV_PKUERR = 1, 2, 3, 4
BUS_ADRALN, BUS_ADRERR, BUS_OBJERR, BUS_MCEERR_AR, BUS_MCEERR_AO = 1, 2, 3, 4, 5
TRAP_PERF = 6

# --- default actions (signal(7)) -------------------------------------------------
_DEFAULT_ACTIONS = {
    SIGHUP: "term", SIGINT: "term", SIGQUIT: "core", SIGILL: "core",
    SIGTRAP: "core", SIGABRT: "core", SIGBUS: "core", SIGFPE: "core",
    SIGKILL: "term", SIGUSR1: "term", SIGSEGV: "core", SIGUSR2: "term",
    SIGPIPE: "term", SIGALRM: "term", SIGTERM: "term", SIGSTKFLT: "term",
    SIGCHLD: "ign", SIGCONT: "cont", SIGSTOP: "stop", SIGTSTP: "stop",
    SIGTTIN: "stop", SIGTTOU: "stop", SIGURG: "ign", SIGXCPU: "core",
    SIGXFSZ: "core", SIGVTALRM: "term", SIGPROF: "term", SIGWINCH: "ign",
    SIGIO: "term", SIGPWR: "term", SIGSYS: "core",
}


def default_action(sig):
    """What SIG_DFL does with sig: "term", "core", "ign", "stop" or "cont".

    Real-time signals terminate. SIGCONT's "cont" also means the signal is
    otherwise ignored (Linux resumes a stopped group when it is *sent*).
    """
    if not valid_signal(sig):
        raise ValueError("no signal %d" % sig)
    return _DEFAULT_ACTIONS.get(sig, "term")


def ignored_by_default(sig):
    """sig_kernel_ignore(): SIG_DFL discards it (SIGCONT, SIGCHLD, SIGWINCH, SIGURG)."""
    return default_action(sig) in ("ign", "cont")


# --- dispositions --------------------------------------------------------------
_KSIGACTION = struct.Struct("<QQQQ")     # handler, flags, restorer, mask


@record(frozen=True)
class SigAction:
    """One disposition: struct kernel_sigaction (32 bytes on x86-64)."""

    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0

    SIZE = _KSIGACTION.size

    @classmethod
    def from_bytes(cls, data):
        return cls(*_KSIGACTION.unpack(bytes(data[:cls.SIZE])))

    def to_bytes(self):
        return _KSIGACTION.pack(self.handler & MASK64, self.flags & MASK64,
                                self.restorer & MASK64, self.mask & MASK64)

    @property
    def is_default(self):
        return self.handler == SIG_DFL

    @property
    def is_ignore(self):
        return self.handler == SIG_IGN


DEFAULT_ACTION = SigAction()
IGNORE_ACTION = SigAction(SIG_IGN)


class SignalHandlers:
    """The dispositions of signals 1..64 for a thread group (struct
    sighand_struct): threads made with CLONE_SIGHAND share one object,
    fork gets a copy()."""

    __slots__ = ("_actions",)

    def __init__(self, actions=None):
        self._actions = list(actions) if actions is not None else [DEFAULT_ACTION] * NSIG

    def copy(self):
        return SignalHandlers(self._actions)

    def get(self, sig):
        """The action for sig (rt_sigaction's oact); EINVAL outside 1..64."""
        if not valid_signal(sig):
            raise SyscallError(errno.EINVAL)
        return self._actions[sig - 1]

    def set(self, sig, action):
        """Install action for sig as do_sigaction() does; return (old, discard).

        Unknown flag bits are dropped and SIGKILL/SIGSTOP leave the mask.
        discard is True when the new disposition ignores sig: POSIX then
        requires pending instances to be discarded, blocked or not, from
        the group's queue and every thread's (the caller does that with
        PendingSignals.discard, since this table cannot see the queues).
        """
        if not valid_signal(sig) or sig in (SIGKILL, SIGSTOP):
            raise SyscallError(errno.EINVAL)
        old = self._actions[sig - 1]
        self._actions[sig - 1] = SigAction(action.handler & MASK64,
                                           action.flags & SA_KNOWN,
                                           action.restorer & MASK64,
                                           sanitize_mask(action.mask))
        return old, self.ignores(sig)

    def ignores(self, sig):
        """sig_handler_ignored(): the disposition throws sig away.

        A blocked signal is still queued even so (Linux decides at
        delivery, since the program may change the action before
        unblocking); senders check ignores() only for unblocked targets.
        """
        action = self._actions[sig - 1]
        return action.is_ignore or (action.is_default and ignored_by_default(sig))

    def take_for_delivery(self, sig):
        """The action to run for sig now; SA_RESETHAND resets the handler
        (only the handler: flags, mask and restorer stay, as in Linux)."""
        action = self._actions[sig - 1]
        if action.flags & SA_RESETHAND and not action.is_default:
            self._actions[sig - 1] = replace(action, handler=SIG_DFL)
        return action

    def reset_for_exec(self):
        """flush_signal_handlers(): caught signals go back to SIG_DFL,
        ignored ones stay ignored; flags, restorer and mask are cleared."""
        # (SigAction is frozen: one shared object per disposition will do.)
        # Most programs exec'd have no handler (a shell's child resets
        # before exec): the shared objects' ids, C-level steps (not ==, a
        # Python __eq__ each), find nothing to do.
        actions = self._actions
        if not set(map(id, actions)) <= {id(DEFAULT_ACTION), id(IGNORE_ACTION)}:
            self._actions = [IGNORE_ACTION if a.handler == SIG_IGN else DEFAULT_ACTION
                             for a in actions]


def handler_mask(action, sig, blocked):
    """The blocked mask while action's handler runs (signal_delivered()):
    the old mask, plus sa_mask, plus sig itself unless SA_NODEFER."""
    mask = blocked | action.mask
    if not action.flags & SA_NODEFER:
        mask |= sigbit(sig)
    return sanitize_mask(mask)


# --- siginfo ----------------------------------------------------------------------
SIGINFO_SIZE = 128
_UNION = 16                  # offset of the _sifields union
_KERNEL_SIGINFO_SIZE = 48    # what Linux stores; the rest reads back as zero

# The union member a (signo, si_code) pair uses: siginfo_layout() in
# kernel/signal.c. Per-signal si_code limits (NSIGILL, NSIGFPE...).
_SIG_SICODES = {SIGILL: (11, "fault"), SIGFPE: (15, "fault"), SIGSEGV: (10, "fault"),
                SIGBUS: (5, "fault"), SIGTRAP: (6, "fault"), SIGCHLD: (6, "chld"),
                SIGPOLL: (6, "poll"), SIGSYS: (2, "sys")}
_NSIGPOLL = 6


def siginfo_layout(sig, code):
    """Which union member carries the data: "kill", "timer", "rt", "chld",
    "fault", "poll" or "sys" (Linux's SIL_*; the fault sub-kinds are
    "fault" here and keep their extra bytes in SigInfo.raw)."""
    if SI_USER < code < SI_KERNEL:
        limit, layout = _SIG_SICODES.get(sig, (0, None))
        if code <= limit:
            return layout
        return "poll" if code <= _NSIGPOLL else "kill"
    if code == SI_TIMER:
        return "timer"
    if code == SI_SIGIO:
        return "poll"
    return "rt" if code < 0 else "kill"


def _known_layout(sig, code):
    """known_siginfo_layout(): si_codes Linux can lay out itself."""
    if code == SI_KERNEL:
        return True
    if SI_USER < code < SI_KERNEL:
        limit = _SIG_SICODES.get(sig, (0, None))[0]
        return code <= limit if limit else code <= _NSIGPOLL
    return code >= SI_DETHREAD or code == SI_ASYNCNL


# layout -> [(field, struct format, offset)] inside siginfo_t
_FIELDS = {
    "kill": [("pid", "i", 16), ("uid", "I", 20)],
    "rt": [("pid", "i", 16), ("uid", "I", 20), ("value", "Q", 24)],
    "timer": [("timerid", "i", 16), ("overrun", "i", 20), ("value", "Q", 24)],
    "chld": [("pid", "i", 16), ("uid", "I", 20), ("status", "i", 24),
             ("utime", "q", 32), ("stime", "q", 40)],
    "fault": [("addr", "Q", 16)],
    "poll": [("band", "q", 16), ("fd", "i", 24)],
    "sys": [("call_addr", "Q", 16), ("syscall", "i", 24), ("arch", "I", 28)],
}
_HEADER = struct.Struct("<iii")     # si_signo, si_errno, si_code (+ 4 bytes pad)


def _s32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@record
class SigInfo:
    """A siginfo_t. Only the fields of siginfo_layout(signo, code) reach
    the guest; the others are ignored by to_bytes().

    value is the 8-byte union sigval (value_int is its sival_int view).
    raw holds union bytes Linux keeps verbatim from a program-supplied
    siginfo (rt_sigqueueinfo); the layout's fields are written over it.
    """

    signo: int
    code: int = SI_USER
    errno: int = 0
    pid: int = 0
    uid: int = 0
    status: int = 0
    utime: int = 0
    stime: int = 0
    addr: int = 0
    value: int = 0
    timerid: int = 0
    overrun: int = 0
    band: int = 0
    fd: int = 0
    call_addr: int = 0
    syscall: int = 0
    arch: int = 0
    raw: bytes = b""
    charge: object = None       # the UserSignalCount this queued instance counts in

    @property
    def layout(self):
        return siginfo_layout(self.signo, self.code)

    @property
    def value_int(self):
        return _s32(self.value)

    def to_bytes(self):
        """The 128-byte x86-64 siginfo_t."""
        out = bytearray(SIGINFO_SIZE)
        out[_UNION:_UNION + len(self.raw)] = self.raw
        _HEADER.pack_into(out, 0, *(_s32(v) for v in (self.signo, self.errno, self.code)))
        for name, fmt, off in _FIELDS[self.layout]:
            bits = 8 * struct.calcsize(fmt)
            struct.pack_into("<" + fmt.upper(), out, off,
                             getattr(self, name) & ((1 << bits) - 1))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data, signo=None):
        """Decode a siginfo_t; with signo (rt_sigqueueinfo), si_signo is
        replaced as Linux does. Bytes past Linux's 48 must be zero for an
        si_code Linux cannot lay out itself: E2BIG otherwise."""
        data = bytes(data)
        if len(data) != SIGINFO_SIZE:
            raise ValueError("siginfo_t is %d bytes" % SIGINFO_SIZE)
        file_signo, err, code = _HEADER.unpack_from(data, 0)
        signo = file_signo if signo is None else signo
        if not _known_layout(signo, code) and any(data[_KERNEL_SIGINFO_SIZE:]):
            raise SyscallError(errno.E2BIG)
        info = cls(signo, code, err, raw=data[_UNION:_KERNEL_SIGINFO_SIZE])
        for name, fmt, off in _FIELDS[info.layout]:
            setattr(info, name, struct.unpack_from("<" + fmt, data, off)[0])
        return info

    # --- the kinds the kernel makes ---------------------------------------------
    @classmethod
    def user(cls, signo, pid, uid, code=SI_USER):
        """kill(2) (SI_USER) or tkill/tgkill (SI_TKILL)."""
        return cls(signo, code, pid=pid, uid=uid)

    @classmethod
    def kernel(cls, signo):
        return cls(signo, SI_KERNEL)

    @classmethod
    def fault(cls, signo, code, addr):
        return cls(signo, code, addr=addr)

    @classmethod
    def child(cls, code, pid, uid, status, utime=0, stime=0):
        """SIGCHLD: status is the exit code (CLD_EXITED) or the signal."""
        return cls(SIGCHLD, code, pid=pid, uid=uid, status=status,
                   utime=utime, stime=stime)

    @classmethod
    def timer(cls, signo, timerid, overrun, value):
        return cls(signo, SI_TIMER, timerid=timerid, overrun=overrun, value=value)


# --- pending signals ----------------------------------------------------------------
RLIMIT_SIGPENDING = 11


class UserSignalCount:
    """The signals queued for one user's processes, counted against the
    target's RLIMIT_SIGPENDING as Linux's ucounts are (sigqueue_alloc):
    each queued SigInfo and each POSIX timer counts until it is dequeued,
    discarded, flushed at exit or deleted."""

    __slots__ = ("queued",)

    def __init__(self):
        self.queued = 0

    def charge(self, limit, override=False):
        """Count one more; False, counting nothing, once limit are queued
        (override: the kernel's standard signals, never refused)."""
        if self.queued >= limit and not override:
            return False
        self.queued += 1
        return True

    def release(self):
        self.queued -= 1


def _uncharge(info):
    if info.charge is not None:
        info.charge.release()
        info.charge = None


class PendingSignals:
    """Signals sent but not yet delivered (struct sigpending): one per
    thread, one shared by the thread group.

    Standard signals (1-31) coalesce: while one is pending, another of the
    same number is dropped with its siginfo. Real-time signals (32-64)
    queue every instance, in order. A signal may be pending without a
    queued SigInfo (mark_lost: the user's RLIMIT_SIGPENDING was reached),
    as in Linux: it is delivered once, with an SI_USER siginfo of zeros,
    unless instances with a siginfo are queued.
    """

    __slots__ = ("_queues", "bits")

    def __init__(self):
        self._queues = {}       # sig -> [SigInfo], oldest first
        # The pending signals as a sigset_t bitmask (sigpending(2)); an
        # attribute, not a method: every syscall's signal check reads it.
        self.bits = 0

    def __bool__(self):
        return bool(self.bits)

    def __len__(self):
        return sum(len(q) for q in self._queues.values())

    def is_pending(self, sig):
        return bool(self.bits & sigbit(sig))

    def enqueue(self, info):
        """Queue info; False when a standard signal was already pending
        (the new instance is dropped, like Linux's legacy_queue())."""
        sig = info.signo
        if sig < SIGRTMIN and self.bits & sigbit(sig):
            _uncharge(info)
            return False
        self._queues.setdefault(sig, []).append(info)
        self.bits |= sigbit(sig)
        return True

    def mark_lost(self, sig):
        """sig is pending, its siginfo lost (no room to queue one)."""
        self.bits |= sigbit(sig)

    def dequeue(self, blocked=0):
        """Remove and return the next SigInfo not in blocked, or None.

        Order is next_signal()'s: synchronous fault signals (SIGSEGV,
        SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS) first, otherwise the
        lowest number; instances of one real-time signal come out in the
        order they were sent. For sigtimedwait pass blocked=~waitset.
        """
        ready = self.bits & ~blocked & MASK64
        if not ready:
            return None
        if ready & SYNCHRONOUS_MASK:
            ready &= SYNCHRONOUS_MASK
        sig = (ready & -ready).bit_length()
        queue = self._queues.get(sig)
        if queue is None:                 # collect_signal's "out of queue space"
            self.bits &= ~sigbit(sig)
            return SigInfo(sig, SI_USER)
        info = queue.pop(0)
        _uncharge(info)
        if not queue:
            del self._queues[sig]
            self.bits &= ~sigbit(sig)
        return info

    def discard(self, sig):
        """Drop every pending instance of sig; True if there was one."""
        return self.discard_mask(sigbit(sig))

    def discard_mask(self, mask):
        """Drop every pending signal in mask (e.g. STOP_MASK when SIGCONT
        is sent); True if any was pending."""
        hit = self.bits & mask
        for sig in range(1, NSIG + 1):
            if hit & sigbit(sig):
                for info in self._queues.pop(sig, ()):
                    _uncharge(info)
        self.bits &= ~mask
        return bool(hit)

    def flush(self):
        """flush_sigqueue(): the thread or process is gone."""
        self.discard_mask(MASK64)


# --- alternate signal stack -------------------------------------------------------
@record(frozen=True)
class SignalStack:
    """A thread's sigaltstack settings as Linux stores them (sas_ss_*).

    flags is what the program passed (SS_AUTODISARM and all), which is
    what signal frames record in uc_stack; a fresh process has 0, a
    reset one (CLONE_VM thread, SS_AUTODISARM delivery) SS_DISABLE.
    """

    sp: int = 0
    size: int = 0
    flags: int = 0

    def triple(self):
        """(ss_sp, ss_flags, ss_size) for arch.signal_frame."""
        return self.sp, self.flags, self.size

    def on_stack(self, sp):
        """on_sig_stack(): sp is inside the stack (never with SS_AUTODISARM)."""
        if self.flags & SS_AUTODISARM:
            return False
        return self.sp < sp <= self.sp + self.size

    def state(self, sp):
        """sas_ss_flags(): SS_DISABLE, SS_ONSTACK or 0 for a thread at sp."""
        if not self.size:
            return SS_DISABLE
        return SS_ONSTACK if self.on_stack(sp) else 0

    def report(self, sp):
        """The (ss_sp, ss_flags, ss_size) sigaltstack(2) reports in oss."""
        return self.sp, self.state(sp) | (self.flags & SS_AUTODISARM), self.size

    def change(self, ss_sp, ss_flags, ss_size, sp):
        """The stack after sigaltstack(2) with ss at stack pointer sp
        (do_sigaltstack); EPERM while running on it, EINVAL for a bad
        mode, ENOMEM below MINSIGSTKSZ. rt_sigreturn calls this too and
        ignores the errors."""
        ss_flags &= 0xFFFFFFFF
        if self.on_stack(sp):
            raise SyscallError(errno.EPERM)
        mode = ss_flags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            raise SyscallError(errno.EINVAL)
        if (self.sp, self.size, self.flags) == (ss_sp, ss_size, ss_flags):
            return self
        if mode == SS_DISABLE:
            ss_sp = ss_size = 0
        elif ss_size < MINSIGSTKSZ:
            raise SyscallError(errno.ENOMEM)
        return SignalStack(ss_sp & MASK64, ss_size & MASK64, ss_flags)

    def after_delivery(self):
        """The stack once a handler has been set up: SS_AUTODISARM resets
        it (for every delivered signal, SA_ONSTACK or not); rt_sigreturn
        brings it back from uc_stack."""
        return DISABLED_STACK if self.flags & SS_AUTODISARM else self


DISABLED_STACK = SignalStack(0, 0, SS_DISABLE)
