"""Signals, thread exit and futex corners in the sandbox, compared with
native Linux: the same stdout and the same exit status (128 + N for death
by signal N).

The C programs are tests/sigprograms/*.c, built once for this module with
`gcc -static -O2 -pthread` and `gcc -O2 -pthread` (dynamic, through the
sandboxed ld.so). Each prints only what must be identical natively and in
the sandbox: no pids, addresses or timings. Programs that signal a process
group make their own group first, so a native run cannot signal pytest.
"""
import os

import pytest
from progbuild import FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "sigprograms")


@pytest.fixture(scope="module")
def sigprogs(tmp_path_factory):
    """{(name, flavour): path} for every C program in SOURCES."""
    return build_all(SOURCES, tmp_path_factory.mktemp("sig"))


def same(sigprogs, name, flavour, *args):
    """Run the program natively and sandboxed; stdout and status must match.
    Returns (status, stdout)."""
    argv = [sigprogs[(name, flavour)], *args]
    n_code, n_out, n_err = run(argv, False)
    s_code, s_out, s_err = run(argv, True)
    assert s_out.decode() == n_out.decode(), s_err.decode(errors="replace")[-2000:]
    assert s_code == n_code, s_err.decode(errors="replace")[-2000:]
    return s_code, s_out.decode()


flavours = pytest.mark.parametrize("flavour", list(FLAVOURS))


@flavours
def test_segv_handler_siglongjmp(sigprogs, flavour):
    """Faults on an unmapped address, a PROT_NONE page and a read-only page
    each reach the SA_SIGINFO handler with the right si_addr; siglongjmp
    out restores the signal mask."""
    code, out = same(sigprogs, "segv_longjmp", flavour)
    assert code == 0 and "hits=3" in out


def test_segv_si_code_accerr_for_prot_none(sigprogs):
    same(sigprogs, "segv_longjmp", "static", "codes")


@flavours
def test_sigaltstack_catches_stack_overflow(sigprogs, flavour):
    code, out = same(sigprogs, "altstack_overflow", flavour)
    assert out.count("caught on_alt=1 deep=1 in_handler_flags=SS_ONSTACK") == 2


@flavours
def test_sa_restart_on_blocking_pipe_read(sigprogs, flavour):
    """A signal from a child interrupts read(): EINTR without SA_RESTART,
    transparently restarted with it."""
    _, out = same(sigprogs, "restart_pipe", flavour)
    assert "no SA_RESTART: read=-1 EINTR handled=1" in out
    assert "SA_RESTART: read=4 late handled=1" in out


def test_sa_nodefer_and_sa_resethand(sigprogs):
    code, out = same(sigprogs, "nodefer_resethand", "static")
    assert "SA_NODEFER: calls=3 max_depth=3 order=123rrr" in out
    assert code == 128 + 12                     # the reset SIGUSR2 kills


@flavours
def test_siginfo_fields(sigprogs, flavour):
    """si_signo, si_code (SI_USER, SI_TKILL, SI_QUEUE), si_pid, si_uid and
    si_value, from this process and from a child; O_ASYNC's signal from a pipe."""
    _, out = same(sigprogs, "siginfo_fields", flavour)
    assert "sigqueue         signo=34 code=SI_QUEUE pid_ok=1 uid_ok=1 value=4242" in out
    assert "sigio setsig signo=12 code=1 fd_ok=1 band=0x41 getsig=12" in out


def test_sigprocmask_sigpending_and_unblock(sigprogs):
    _, out = same(sigprogs, "mask_pending", "static")
    assert "after unblocking all: VbaaU" in out


@flavours
def test_sigsuspend_and_sigtimedwait(sigprogs, flavour):
    same(sigprogs, "suspend_wait", flavour)


def test_kill_zero_reaches_process_group(sigprogs):
    _, out = same(sigprogs, "pgroup_kill", "static")
    assert "a exit 11\nb exit 11\nother exit 10\n" in out


@flavours
def test_pthread_kill_and_thread_directed_signals(sigprogs, flavour):
    same(sigprogs, "thread_signals", flavour)


@flavours
def test_fpu_state_and_handler_alignment(sigprogs, flavour):
    """xmm0-15, x87 and MXCSR survive a handler that clobbers them, and
    rsp % 16 == 8 at every handler entry (normal and alternate stack)."""
    _, out = same(sigprogs, "fpu_align", flavour)
    assert "xmm0-15 preserved=1" in out and "all rsp%16==8: 1" in out


@pytest.mark.parametrize("sig,how,status", [
    ("TERM", "self", 143), ("USR1", "self", 138), ("TERM", "child", 143),
    ("HUP", "child", 129)])
def test_exit_by_unhandled_signal(sigprogs, sig, how, status):
    code, _ = same(sigprogs, "die_by_signal", "static", sig, how)
    assert code == status


@pytest.mark.parametrize("how", ["return", "sysexit", "process"])
def test_robust_mutex_owner_death(sigprogs, how):
    """EOWNERDEAD for the next locker when the owner dies holding the
    mutex: "return" is glibc's own cleanup; "sysexit" (raw exit syscall)
    and "process" (forked owner, process-shared mutex) need the kernel's
    walk of the robust futex list at exit."""
    _, out = same(sigprogs, "robust_mutex", "dynamic", how)
    assert "lock after owner died: EOWNERDEAD" in out


@flavours
def test_clone_child_cleartid_and_join(sigprogs, flavour):
    _, out = same(sigprogs, "cleartid_join", flavour)
    assert "ctid cleared, child ran=1" in out and "join sum=84" in out


@pytest.mark.parametrize("how,status", [("main", 42), ("thread", 23), ("signal", 143)])
def test_exit_group_with_threads_in_futex_waits(sigprogs, how, status):
    code, _ = same(sigprogs, "exit_group_threads", "dynamic", how)
    assert code == status
