"""The systrap machine's zygote at start-up: the program's first process is
asked for when the machine is made (so its fork and set-up overlap the
sentry's own start-up), and a machine closed before any program ran
leaves nothing behind.
"""
import ctypes
import gc
import os
import subprocess
import sys
import time

import pytest

from kvmsentry._systrap import lib
from kvmsentry.platform.systrap import layout
from kvmsentry.platform.systrap.machine import SystrapMachine
from kvmsentry.platform.systrap.process import ControlRegion
from kvmsentry.platform.systrap.zygote import ADDR_NO_RANDOMIZE, ZygoteError

POOL = 64 << 20
WAIT = 30.0


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return None                   # (the process is gone)


def _wait_for(predicate):
    deadline = time.monotonic() + WAIT
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def _slot_fds():
    """This process's descriptors of the kind a child's control region
    holds (its slots' memfd, its mapper's eventfd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue                  # (the listing's own descriptor)
        if "kvmsentry-systrap-slots" in target or target == "anon_inode:[eventfd]":
            found.append((int(fd), target))
    return sorted(found)


def test_the_first_child_is_forked_before_any_address_space():
    machine = SystrapMachine(pool_bytes=POOL)
    try:
        zygote = machine.zygote.proc.pid
        # No address space, no context, nothing asked of the kernel yet.
        assert _wait_for(lambda: len(_children(zygote) or ()) == 1)
    finally:
        machine.close()


def test_the_child_made_ahead_is_the_first_process():
    machine = SystrapMachine(pool_bytes=POOL)
    try:
        zygote = machine.zygote.proc.pid
        assert _wait_for(lambda: len(_children(zygote) or ()) == 1)
        [ahead] = _children(zygote)
        mm = machine.new_address_space()
        try:
            # The first process's child is the one the zygote made ahead:
            # no second fork for it.
            assert mm.pt.ensure_process().pid == ahead
            assert _children(zygote) == [ahead]
        finally:
            mm.destroy()
    finally:
        machine.close()


def test_a_machine_closed_unused_leaves_no_slot_fd_and_no_process():
    gc.collect()                      # (earlier tests' machines close their fds now, not mid-test)
    before = _slot_fds()
    machine = SystrapMachine(pool_bytes=POOL)
    zygote = machine.zygote.proc
    assert _wait_for(lambda: len(_children(zygote.pid) or ()) == 1)
    [ahead] = _children(zygote.pid)
    machine.close()
    # The zygote ends with its socket, the child it made ahead with it.
    assert zygote.wait(WAIT) is not None
    assert _wait_for(lambda: not os.path.exists("/proc/%d" % ahead))
    gc.collect()
    # Only what this machine opened counts: other descriptors may close meanwhile.
    assert sorted(set(_slot_fds()) - set(before)) == []


def test_a_zygote_that_died_is_reported_with_its_status():
    """A sentry whose zygote is gone says how it ended (the error a run
    prints), not only that the socket is closed."""
    machine = SystrapMachine(pool_bytes=POOL)
    try:
        zygote = machine.zygote
        assert _wait_for(lambda: len(_children(zygote.proc.pid) or ()) == 1)
        zygote.proc.kill()
        mm = machine.new_address_space()
        try:
            mm.pt.ensure_process()                # (the child made ahead)
            with pytest.raises(ZygoteError, match=r"exit status -9\)"):
                machine.new_address_space().pt.ensure_process()
        finally:
            mm.destroy()
    finally:
        machine.close()


PTRACE_CONT, PTRACE_GETEVENTMSG, PTRACE_SEIZE = 7, 0x4201, 0x4206
PTRACE_O_TRACEFORK, PTRACE_EVENT_FORK = 2, 1
WALL = 0x40000000                     # (waitpid's __WALL: a tracee that is not our child)


def _ptrace(request, pid, data=0, addr=0):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
    if libc.ptrace(request, pid, addr, data) < 0:
        raise OSError(ctypes.get_errno(), "ptrace")


def _resume_to_its_die(pid):
    """Resume held tracee pid, passing its signals on: it must end by the
    stub's die() (exit 127) within WAIT seconds."""
    _ptrace(PTRACE_CONT, pid)
    deadline = time.monotonic() + WAIT
    got = 0
    while got != pid and time.monotonic() < deadline:
        got, status = os.waitpid(pid, WALL | os.WNOHANG)
        if got == pid and os.WIFSTOPPED(status):
            _ptrace(PTRACE_CONT, pid, os.WSTOPSIG(status) if status >> 16 == 0 else 0)
            got = 0
        elif got != pid:
            time.sleep(0.01)
    assert got == pid and os.WIFEXITED(status), "the orphan lives on"
    assert os.WEXITSTATUS(status) == 127


def test_a_child_whose_zygote_died_before_its_deathsig_ends():
    """The zygote's child asks to die with the zygote (PR_SET_PDEATHSIG)
    after its fork; a zygote that dies before that request leaves the
    child an orphan (in the host's process tree, past every sandbox's
    end) unless the child checks its parent after it. Traced, the child
    is held at its first instruction while the zygote is killed."""
    machine = SystrapMachine(pool_bytes=POOL)
    mm = machine.new_address_space()
    child = None
    try:
        zygote = machine.zygote
        mm.pt.ensure_process()            # (the child made ahead: the next is asked for below)
        _ptrace(PTRACE_SEIZE, zygote.proc.pid, PTRACE_O_TRACEFORK)
        zygote.ask_ahead(machine.pool.fd, ControlRegion)
        _, status = os.waitpid(zygote.proc.pid, WALL)
        assert os.WIFSTOPPED(status) and status >> 16 == PTRACE_EVENT_FORK
        msg = ctypes.c_ulong()
        _ptrace(PTRACE_GETEVENTMSG, zygote.proc.pid, ctypes.addressof(msg))
        child = msg.value
        zygote.proc.kill()
        assert zygote.proc.wait() == -9
        _, status = os.waitpid(child, WALL)       # its first stop, before any instruction
        assert os.WIFSTOPPED(status)
        _resume_to_its_die(child)
        child = None
    finally:
        if child is not None:
            os.kill(child, 9)
        mm.destroy()
        machine.close()


PTRACE_O_TRACEFORK_ALL = 2 | 4 | 8 | 0x10   # fork, vfork, clone, exec
PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 2, 3, 4
NR_pidfd_getfd = 438
# A sentry in a process of its own: it makes a zygote when told, then
# says the zygote's pid and its own end of the zygote's socket.
SENTRY = """
import sys
from kvmsentry.platform.systrap.zygote import Zygote
print("ready", flush=True)
sys.stdin.readline()
zygote = Zygote()
print(zygote.proc.pid, zygote._sock.fileno(), flush=True)
sys.stdin.readline()
"""


def _follow(pid, want):
    """Resume pid's ptrace stops until one of the events `want`: (event, pid)."""
    while True:
        _, status = os.waitpid(pid, WALL)
        assert os.WIFSTOPPED(status), "traced process %d ended (%#x)" % (pid, status)
        event = status >> 16
        if event in want:
            return event
        signo = os.WSTOPSIG(status) if event == 0 else 0
        _ptrace(PTRACE_CONT, pid, signo)


def test_a_zygote_whose_sentry_died_before_its_deathsig_ends():
    """The zygote asks to die with the sentry (PR_SET_PDEATHSIG) after its
    start; a sentry that dies before that request leaves it an orphan
    unless it checks its parent after it (against the pid the sentry
    passed). Its socket's EOF would end it too, but not while a copy of
    the sentry's end lives on (a fork of the sentry): the test holds one.
    Traced, the zygote is held at its first instruction while its sentry
    is killed."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sentry = subprocess.Popen([sys.executable, "-c", SENTRY], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, cwd=root,
                              env=dict(os.environ, PYTHONPATH=root))
    zygote = held_end = None
    try:
        assert sentry.stdout.readline() == b"ready\n"
        _ptrace(PTRACE_SEIZE, sentry.pid, PTRACE_O_TRACEFORK_ALL)
        sentry.stdin.write(b"\n")
        sentry.stdin.flush()
        _follow(sentry.pid, (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE))
        msg = ctypes.c_ulong()
        _ptrace(PTRACE_GETEVENTMSG, sentry.pid, ctypes.addressof(msg))
        zygote = msg.value
        _ptrace(PTRACE_CONT, sentry.pid)
        _follow(zygote, (PTRACE_EVENT_EXEC,))     # stub.elf's, before its first instruction
        pid, fd = (int(w) for w in sentry.stdout.readline().split())
        assert pid == zygote
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = os.pidfd_open(sentry.pid)
        try:
            held_end = libc.syscall(NR_pidfd_getfd, pidfd, fd, 0)
            assert held_end >= 0, os.strerror(ctypes.get_errno())
        finally:
            os.close(pidfd)
        sentry.kill()
        while True:
            _, status = os.waitpid(sentry.pid, WALL)
            if not os.WIFSTOPPED(status):
                break
        sentry.returncode = os.waitstatus_to_exitcode(status)
        _resume_to_its_die(zygote)
        zygote = None
    finally:
        if zygote is not None:
            os.kill(zygote, 9)
        if held_end is not None and held_end >= 0:
            os.close(held_end)
        if sentry.returncode is None:
            sentry.kill()
            sentry.wait()


def test_the_zygote_starts_with_its_stack_at_the_top():
    """The stub's fixed address lies in the range the host's randomized
    stack top takes: an exec whose new stack covered it failed past its
    point of no return (a zygote dead at the sentry's first request,
    "Broken pipe"). The zygote starts without that randomization, its
    stack above the stub's range; the sentry's own setting is kept."""
    before = lib.personality(0xFFFFFFFF)
    machine = SystrapMachine(pool_bytes=POOL)
    try:
        pid = machine.zygote.proc.pid
        with open("/proc/%d/personality" % pid) as f:
            assert int(f.read(), 16) & ADDR_NO_RANDOMIZE
        with open("/proc/%d/maps" % pid) as f:
            [stack] = [line.split()[0] for line in f if line.rstrip().endswith("[stack]")]
        assert int(stack.split("-")[0], 16) >= layout.RESERVED_HI
        assert lib.personality(0xFFFFFFFF) == before
    finally:
        machine.close()
