"""Signal state without a guest: dispositions, siginfo bytes, pending
queues, sigaltstack rules. Linux's uapi headers are the oracle for the
numbers and offsets (a small C program prints them)."""
import errno
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import signals as S
from kvmsentry.kernel.signals import (
    PendingSignals, SigAction, SigInfo, SignalHandlers, SignalStack)


def errno_of(fn, *args):
    with pytest.raises(SyscallError) as info:
        fn(*args)
    return info.value.errno


# --- numbers against the uapi headers ---------------------------------------------
CONSTANTS = """
SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1
SIGSEGV SIGUSR2 SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP
SIGTSTP SIGTTIN SIGTTOU SIGURG SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH
SIGIO SIGPWR SIGSYS SIGRTMIN
SA_NOCLDSTOP SA_NOCLDWAIT SA_SIGINFO SA_UNSUPPORTED SA_EXPOSE_TAGBITS
SA_RESTORER SA_ONSTACK SA_RESTART SA_NODEFER SA_RESETHAND
SS_ONSTACK SS_DISABLE SS_AUTODISARM MINSIGSTKSZ
SI_USER SI_KERNEL SI_QUEUE SI_TIMER SI_MESGQ SI_ASYNCIO SI_SIGIO SI_TKILL
SI_DETHREAD SI_ASYNCNL
CLD_EXITED CLD_KILLED CLD_DUMPED CLD_TRAPPED CLD_STOPPED CLD_CONTINUED
SEGV_MAPERR SEGV_ACCERR SEGV_BNDERR SEGV_PKUERR
BUS_ADRALN BUS_ADRERR BUS_OBJERR BUS_MCEERR_AR BUS_MCEERR_AO TRAP_PERF
""".split()

# siginfo_t member -> (uapi expression, offset written down from
# include/uapi/asm-generic/siginfo.h: three ints, pad, union at 16)
SIGINFO_OFFSETS = {
    "si_signo": 0, "si_errno": 4, "si_code": 8,
    "si_pid": 16, "si_uid": 20, "si_tid": 16, "si_overrun": 20,
    "si_value": 24, "si_status": 24, "si_utime": 32, "si_stime": 40,
    "si_addr": 16, "si_addr_lsb": 24, "si_lower": 32, "si_upper": 40,
    "si_pkey": 32, "si_band": 16, "si_fd": 24, "si_call_addr": 16,
    "si_syscall": 24, "si_arch": 28,
}

UAPI_C = """
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include <linux/signal.h>
#include <asm/siginfo.h>
int main(void) {
%s
  printf("sizeof_siginfo %%zu\\n", sizeof(siginfo_t));
  printf("sizeof_sigaction %%zu\\n", sizeof(struct sigaction));
  return 0;
}
""" % "\n".join(
    ['  printf("%s %%lld\\n", (long long)(%s));' % (c, c) for c in CONSTANTS]
    + ['  printf("%s %%zu\\n", offsetof(siginfo_t, %s));' % (m, m) for m in SIGINFO_OFFSETS])


@pytest.fixture(scope="module")
def uapi(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to read the uapi headers", pytrace=False)
    d = tmp_path_factory.mktemp("uapi")
    (d / "uapi.c").write_text(UAPI_C)
    subprocess.run(["gcc", "-o", str(d / "uapi"), str(d / "uapi.c")],
                   check=True, capture_output=True)
    out = subprocess.run([str(d / "uapi")], check=True, capture_output=True, text=True)
    return {k: int(v) for k, v in (line.split() for line in out.stdout.splitlines())}


def test_constants_match_uapi(uapi):
    for name in CONSTANTS:
        assert getattr(S, name) == uapi[name], name


def test_siginfo_offsets_match_uapi(uapi):
    assert uapi["sizeof_siginfo"] == S.SIGINFO_SIZE == 128
    for member, offset in SIGINFO_OFFSETS.items():
        assert uapi[member] == offset, member


def test_kernel_sigaction_is_the_uapi_struct(uapi):
    # linux/signal.h's struct sigaction on x86-64 is kernel_sigaction:
    # handler, flags, restorer, mask
    assert uapi["sizeof_sigaction"] == SigAction.SIZE == 32


# --- default actions ---------------------------------------------------------------
SIGNAL7 = {  # signal(7), "Standard signals"
    "term": "HUP INT KILL USR1 USR2 PIPE ALRM TERM STKFLT VTALRM PROF IO PWR",
    "core": "QUIT ILL TRAP ABRT BUS FPE SEGV XCPU XFSZ SYS",
    "ign": "CHLD URG WINCH",
    "stop": "STOP TSTP TTIN TTOU",
    "cont": "CONT",
}


def test_default_actions_follow_signal7():
    seen = set()
    for action, names in SIGNAL7.items():
        for name in names.split():
            sig = getattr(S, "SIG" + name)
            assert S.default_action(sig) == action, name
            seen.add(sig)
    assert seen == set(range(1, 32))
    assert all(S.default_action(s) == "term" for s in range(32, 65))
    for bad in (0, 65, -1):
        with pytest.raises(ValueError):
            S.default_action(bad)


def test_ignored_by_default():
    assert {s for s in range(1, 65) if S.ignored_by_default(s)} == {
        S.SIGCHLD, S.SIGCONT, S.SIGURG, S.SIGWINCH}


# --- dispositions -----------------------------------------------------------------------
def test_sigaction_bytes_round_trip():
    act = SigAction(0x401000, S.SA_SIGINFO | S.SA_RESTORER, 0x402000, 1 << 63)
    data = act.to_bytes()
    assert data == struct.pack("<QQQQ", 0x401000, 0x04000004, 0x402000, 1 << 63)
    assert SigAction.from_bytes(data) == act
    assert SigAction.from_bytes(bytes(32)) == S.DEFAULT_ACTION


def test_set_validates_like_do_sigaction():
    table = SignalHandlers()
    for sig in (0, 65, -1):
        assert errno_of(table.set, sig, SigAction(S.SIG_IGN)) == errno.EINVAL
        assert errno_of(table.get, sig) == errno.EINVAL
    for sig in (S.SIGKILL, S.SIGSTOP):
        assert errno_of(table.set, sig, SigAction(S.SIG_IGN)) == errno.EINVAL
        assert table.get(sig) == S.DEFAULT_ACTION     # reading them is fine


def test_set_drops_unknown_flags_and_unblockable_mask_bits():
    table = SignalHandlers()
    flags = S.SA_SIGINFO | S.SA_RESTORER | S.SA_UNSUPPORTED | 0x20000000 | (1 << 40)
    old, discard = table.set(S.SIGUSR1, SigAction(0x1234, flags, 0x5678, (1 << 64) - 1))
    assert old == S.DEFAULT_ACTION and not discard
    now = table.get(S.SIGUSR1)
    assert now.flags == S.SA_SIGINFO | S.SA_RESTORER
    assert now.mask == ((1 << 64) - 1) & ~S.UNBLOCKABLE
    assert (now.handler, now.restorer) == (0x1234, 0x5678)
    old, _ = table.set(S.SIGUSR1, S.DEFAULT_ACTION)
    assert old == now


def test_set_reports_when_pending_instances_must_go():
    table = SignalHandlers()
    assert table.set(S.SIGUSR1, SigAction(S.SIG_IGN))[1]
    assert not table.set(S.SIGUSR1, SigAction(S.SIG_DFL))[1]
    assert table.set(S.SIGCHLD, SigAction(S.SIG_DFL))[1]       # default is ignore
    assert table.set(S.SIGWINCH, SigAction(S.SIG_IGN))[1]
    assert not table.set(S.SIGCHLD, SigAction(0x1000))[1]
    assert not table.set(S.SIGRTMIN, SigAction(S.SIG_DFL))[1]  # terminates


def test_ignores():
    table = SignalHandlers()
    assert table.ignores(S.SIGCHLD) and table.ignores(S.SIGCONT)
    assert not table.ignores(S.SIGTERM)
    table.set(S.SIGTERM, SigAction(S.SIG_IGN))
    table.set(S.SIGCHLD, SigAction(0x1000))
    assert table.ignores(S.SIGTERM) and not table.ignores(S.SIGCHLD)


def test_copy_is_independent_and_sharing_is_by_reference():
    parent = SignalHandlers()
    parent.set(S.SIGUSR1, SigAction(0x1000))
    child = parent.copy()
    child.set(S.SIGUSR1, SigAction(S.SIG_IGN))
    assert parent.get(S.SIGUSR1).handler == 0x1000
    assert child.get(S.SIGUSR1).handler == S.SIG_IGN


def test_reset_for_exec():
    table = SignalHandlers()
    table.set(S.SIGUSR1, SigAction(0x1000, S.SA_RESTART | S.SA_RESTORER, 0x2000, 0xF0))
    table.set(S.SIGUSR2, SigAction(S.SIG_IGN, S.SA_RESTORER, 0x2000, 0xF0))
    table.set(S.SIGTERM, SigAction(S.SIG_DFL, S.SA_RESTART, 0, 0xF))
    table.reset_for_exec()
    assert table.get(S.SIGUSR1) == SigAction(S.SIG_DFL)
    assert table.get(S.SIGUSR2) == SigAction(S.SIG_IGN)    # flags/mask cleared too
    assert table.get(S.SIGTERM) == SigAction(S.SIG_DFL)


def test_resethand_resets_only_the_handler():
    table = SignalHandlers()
    act = SigAction(0x1000, S.SA_RESETHAND | S.SA_RESTORER, 0x2000, 0x10)
    table.set(S.SIGUSR1, act)
    assert table.take_for_delivery(S.SIGUSR1) == act
    assert table.get(S.SIGUSR1) == SigAction(S.SIG_DFL, act.flags, 0x2000, 0x10)
    table.set(S.SIGUSR2, SigAction(0x1000))
    table.take_for_delivery(S.SIGUSR2)
    assert table.get(S.SIGUSR2).handler == 0x1000


def test_handler_mask():
    act = SigAction(0x1000, 0, 0, S.sigbit(S.SIGUSR2) | S.sigbit(S.SIGKILL))
    base = S.sigbit(S.SIGTERM)
    assert S.handler_mask(act, S.SIGUSR1, base) == (
        base | S.sigbit(S.SIGUSR2) | S.sigbit(S.SIGUSR1))
    nodefer = SigAction(0x1000, S.SA_NODEFER | S.SA_RESETHAND, 0, 0)
    # SA_RESETHAND does not imply SA_NODEFER on Linux (measured natively).
    assert S.handler_mask(nodefer, S.SIGUSR1, base) == base
    assert S.handler_mask(SigAction(0x1000, S.SA_RESETHAND), S.SIGUSR1, 0) == S.sigbit(S.SIGUSR1)


# --- siginfo ---------------------------------------------------------------------
def fields(data, *specs):
    return [struct.unpack_from("<" + fmt, data, off)[0] for fmt, off in specs]


def test_siginfo_kill_and_tkill():
    data = SigInfo.user(S.SIGUSR1, pid=1234, uid=1000).to_bytes()
    assert len(data) == 128
    assert fields(data, ("i", 0), ("i", 4), ("i", 8), ("i", 16), ("I", 20)) == [
        S.SIGUSR1, 0, S.SI_USER, 1234, 1000]
    assert not any(data[24:])
    data = SigInfo.user(S.SIGUSR2, 7, 0, code=S.SI_TKILL).to_bytes()
    assert fields(data, ("i", 8), ("i", 16)) == [-6, 7]
    assert SigInfo.kernel(S.SIGKILL).to_bytes()[8:12] == struct.pack("<i", 0x80)


def test_siginfo_queue_and_timer():
    info = SigInfo(S.SIGRTMIN + 1, S.SI_QUEUE, pid=5, uid=6, value=0xFFFFFFFF)
    data = info.to_bytes()
    assert fields(data, ("i", 16), ("I", 20), ("Q", 24)) == [5, 6, 0xFFFFFFFF]
    assert info.value_int == -1
    data = SigInfo.timer(S.SIGALRM, timerid=3, overrun=2, value=0xABCDEF).to_bytes()
    assert fields(data, ("i", 8), ("i", 16), ("i", 20), ("Q", 24), ("i", 32)) == [
        -2, 3, 2, 0xABCDEF, 0]


def test_siginfo_child_fault_poll_sys():
    data = SigInfo.child(S.CLD_EXITED, pid=42, uid=1, status=3, utime=7, stime=9).to_bytes()
    assert fields(data, ("i", 0), ("i", 8), ("i", 16), ("I", 20), ("i", 24),
                  ("q", 32), ("q", 40)) == [17, 1, 42, 1, 3, 7, 9]
    data = SigInfo.fault(S.SIGSEGV, S.SEGV_ACCERR, 0xFFFF_8000_0000_0000).to_bytes()
    assert fields(data, ("i", 8), ("Q", 16)) == [2, 0xFFFF_8000_0000_0000]
    assert not any(data[24:])
    data = SigInfo(S.SIGIO, 1, band=0x41, fd=5).to_bytes()             # POLL_IN
    assert fields(data, ("q", 16), ("i", 24)) == [0x41, 5]
    data = SigInfo(S.SIGSYS, 1, call_addr=0x401000, syscall=39, arch=0xC000003E).to_bytes()
    assert fields(data, ("Q", 16), ("i", 24), ("I", 28)) == [0x401000, 39, 0xC000003E]


def test_only_the_layout_fields_are_written():
    info = SigInfo(S.SIGUSR1, S.SI_USER, pid=1, uid=2, addr=0xdead, status=9, value=5)
    assert not any(info.to_bytes()[24:])


@pytest.mark.parametrize("sig, code, layout", [
    (S.SIGUSR1, S.SI_USER, "kill"), (S.SIGUSR1, S.SI_KERNEL, "kill"),
    (S.SIGUSR1, S.SI_TKILL, "rt"), (S.SIGUSR1, S.SI_QUEUE, "rt"),
    (S.SIGUSR1, S.SI_TIMER, "timer"), (S.SIGUSR1, S.SI_SIGIO, "poll"),
    (S.SIGCHLD, S.CLD_EXITED, "chld"), (S.SIGCHLD, 7, "kill"),
    (S.SIGSEGV, S.SEGV_MAPERR, "fault"), (S.SIGBUS, S.BUS_MCEERR_AR, "fault"),
    (S.SIGTRAP, S.TRAP_PERF, "fault"), (S.SIGSYS, 1, "sys"),
    (S.SIGIO, 6, "poll"), (S.SIGUSR1, 3, "poll"),   # no per-signal codes: poll
    (S.SIGILL, 12, "kill"), (S.SIGFPE, 0x7F, "kill"),
])
def test_siginfo_layout(sig, code, layout):
    assert S.siginfo_layout(sig, code) == layout


def test_siginfo_from_bytes():
    sent = SigInfo(S.SIGRTMIN, S.SI_QUEUE, pid=1, uid=2, value=3)
    data = bytearray(sent.to_bytes())
    data[32:40] = b"extra!!!"              # inside the 48 bytes Linux keeps
    got = SigInfo.from_bytes(bytes(data), signo=S.SIGRTMIN + 5)
    assert (got.signo, got.code, got.pid, got.uid, got.value) == (
        S.SIGRTMIN + 5, S.SI_QUEUE, 1, 2, 3)
    out = got.to_bytes()
    assert out[32:40] == b"extra!!!" and out[:4] == struct.pack("<i", S.SIGRTMIN + 5)
    child = SigInfo.child(S.CLD_KILLED, pid=2, uid=3, status=9, utime=5, stime=6)
    got = SigInfo.from_bytes(child.to_bytes())
    assert (got.signo, got.code, got.pid, got.uid, got.status, got.utime, got.stime) == (
        S.SIGCHLD, S.CLD_KILLED, 2, 3, 9, 5, 6)
    assert got.to_bytes() == child.to_bytes()


def test_siginfo_from_bytes_e2big_for_unknown_codes_with_tail():
    data = bytearray(128)
    struct.pack_into("<iii", data, 0, S.SIGUSR1, 0, -100)     # unknown si_code
    SigInfo.from_bytes(bytes(data))
    data[100] = 1
    assert errno_of(SigInfo.from_bytes, bytes(data)) == errno.E2BIG
    struct.pack_into("<i", data, 8, S.SI_QUEUE)              # known: tail ignored
    assert not any(SigInfo.from_bytes(bytes(data)).to_bytes()[48:])


@given(st.sampled_from(range(1, 65)), st.integers(-70, 140),
       st.binary(min_size=32, max_size=32))
@settings(max_examples=200, deadline=None)
def test_siginfo_round_trip(sig, code, union):
    data = struct.pack("<iii4x", sig, 0, code) + union + bytes(80)
    assert SigInfo.from_bytes(data).to_bytes() == data


# --- pending ---------------------------------------------------------------------
def test_standard_signals_coalesce_rt_signals_queue():
    p = PendingSignals()
    assert p.enqueue(SigInfo.user(S.SIGUSR1, 1, 0))
    assert not p.enqueue(SigInfo.user(S.SIGUSR1, 2, 0))
    for value in (10, 11, 12):
        assert p.enqueue(SigInfo(S.SIGRTMIN, S.SI_QUEUE, value=value))
    assert len(p) == 4
    assert p.bits == S.sigbit(S.SIGUSR1) | S.sigbit(S.SIGRTMIN)
    assert p.dequeue().pid == 1                            # the first one kept
    assert [p.dequeue().value for _ in range(3)] == [10, 11, 12]
    assert p.dequeue() is None and not p


def test_dequeue_order_and_mask():
    p = PendingSignals()
    for sig in (S.SIGRTMIN + 3, S.SIGTERM, S.SIGSEGV, S.SIGHUP, S.SIGSYS, S.SIGRTMIN):
        p.enqueue(SigInfo(sig))
    blocked = S.sigbit(S.SIGSEGV)
    order = []
    while (info := p.dequeue(blocked)) is not None:
        order.append(info.signo)
    # synchronous SIGSYS before SIGHUP, then by number; SIGSEGV stays blocked
    assert order == [S.SIGSYS, S.SIGHUP, S.SIGTERM, S.SIGRTMIN, S.SIGRTMIN + 3]
    assert p.bits == blocked
    assert p.dequeue(~blocked).signo == S.SIGSEGV           # sigtimedwait style


def test_discard():
    p = PendingSignals()
    for sig in (S.SIGTSTP, S.SIGTTIN, S.SIGUSR1):
        p.enqueue(SigInfo(sig))
    p.enqueue(SigInfo(40))
    p.enqueue(SigInfo(40))
    assert p.discard(40) and not p.discard(40)
    assert p.discard_mask(S.STOP_MASK)
    assert p.bits == S.sigbit(S.SIGUSR1) and len(p) == 1


def test_user_signal_count_limit_and_override():
    count = S.UserSignalCount()
    assert count.charge(2) and count.charge(2)
    assert not count.charge(2) and count.queued == 2
    assert count.charge(2, override=True) and count.queued == 3
    count.release()
    assert count.queued == 2


def test_charges_released_when_dequeued_discarded_dropped_or_flushed():
    count = S.UserSignalCount()
    p = PendingSignals()

    def charged(sig):
        assert count.charge(100)
        return SigInfo(sig, S.SI_QUEUE, charge=count)
    for sig in (S.SIGRTMIN, S.SIGRTMIN, S.SIGUSR1, S.SIGUSR1, 40, S.SIGHUP):
        p.enqueue(charged(sig))
    assert count.queued == 5                    # the second SIGUSR1 was dropped
    assert p.dequeue().signo == S.SIGHUP and count.queued == 4
    p.discard(40)
    assert count.queued == 3
    p.flush()
    assert count.queued == 0 and not p


def test_a_lost_siginfo_is_delivered_once_as_si_user_unless_others_are_queued():
    p = PendingSignals()
    p.mark_lost(40)
    p.mark_lost(40)
    assert p.is_pending(40) and len(p) == 0
    info = p.dequeue()
    assert (info.signo, info.code, info.pid) == (40, S.SI_USER, 0)
    assert p.dequeue() is None
    p.enqueue(SigInfo(40, S.SI_QUEUE, value=7))
    p.mark_lost(40)                             # collect_signal: the queued one only
    assert p.dequeue().value == 7 and p.dequeue() is None


@given(st.lists(st.tuples(st.integers(1, 64), st.integers(0, 99)), max_size=40),
       st.integers(0, (1 << 64) - 1))
@settings(max_examples=200, deadline=None)
def test_pending_against_a_model(sends, blocked):
    p = PendingSignals()
    model = {}                                         # sig -> [values]
    for sig, value in sends:
        queued = p.enqueue(SigInfo(sig, S.SI_QUEUE, value=value))
        assert queued == (sig >= 32 or sig not in model)
        if queued:
            model.setdefault(sig, []).append(value)
    assert p.bits == sum(S.sigbit(s) for s in model)
    while True:
        ready = [s for s in model if not blocked & S.sigbit(s)]
        info = p.dequeue(blocked)
        if not ready:
            assert info is None
            break
        sync = [s for s in ready if S.sigbit(s) & S.SYNCHRONOUS_MASK]
        expect = min(sync or ready)
        assert (info.signo, info.value) == (expect, model[expect].pop(0))
        if not model[expect]:
            del model[expect]
    assert p.bits == sum(S.sigbit(s) for s in model)


# --- sigaltstack ---------------------------------------------------------------------
def test_fresh_and_disabled_stacks():
    fresh = SignalStack()
    assert fresh.triple() == (0, 0, 0)            # what a frame records natively
    assert fresh.report(0x7000) == (0, S.SS_DISABLE, 0)
    assert S.DISABLED_STACK.triple() == (0, S.SS_DISABLE, 0)


def test_sigaltstack_rules():
    st_ = SignalStack().change(0x10000, 0, 0x4000, sp=0x7FFF0000)
    assert st_.triple() == (0x10000, 0, 0x4000)
    assert st_.on_stack(0x14000) and not st_.on_stack(0x10000)   # top in, bottom out
    assert st_.report(0x12000) == (0x10000, S.SS_ONSTACK, 0x4000)
    assert st_.report(0x7FFF0000) == (0x10000, 0, 0x4000)
    assert errno_of(st_.change, 0x20000, 0, 0x4000, 0x12000) == errno.EPERM
    assert errno_of(st_.change, 0x20000, 4, 0x4000, 0) == errno.EINVAL
    assert errno_of(st_.change, 0x20000, 0, S.MINSIGSTKSZ - 1, 0) == errno.ENOMEM
    off = st_.change(0x20000, S.SS_DISABLE, 5, 0)
    assert off.triple() == (0, S.SS_DISABLE, 0) and off.state(0) == S.SS_DISABLE
    odd = st_.change(0x20000, S.SS_ONSTACK, 0x4000, 0)
    assert odd.triple() == (0x20000, S.SS_ONSTACK, 0x4000)   # stored as given


def test_autodisarm():
    st_ = SignalStack().change(0x10000, S.SS_AUTODISARM, 0x4000, sp=0)
    assert not st_.on_stack(0x12000)           # so nested signals start afresh
    assert st_.report(0x12000) == (0x10000, S.SS_AUTODISARM, 0x4000)
    assert st_.change(0x30000, 0, 0x4000, 0x12000).sp == 0x30000   # no EPERM
    assert st_.after_delivery() == S.DISABLED_STACK
    plain = SignalStack(0x10000, 0x4000, 0)
    assert plain.after_delivery() is plain
