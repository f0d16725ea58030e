"""Contexts borrowing vCPUs: state moves with the task, the owner gets its
own vCPU back for free, and a spinning holder is preempted for a waiter."""
import signal
import struct
import threading

import pytest

from kvmsentry.platform.events import INTERRUPTED, SYSCALL
from kvmsentry.platform.kvm.context import KICK_SIGNAL
from kvmsentry.platform.kvm.machine import Machine

from conftest import DATA, Guest

A_SOURCE = """
    mov $0x1111, %rbx
    mov $0x2222, %r12
    movq %rbx, %xmm0
    mov $39, %eax
    syscall                 # the test parks A here and runs B on the vCPU
    mov %rax, %r13          # A's syscall result
    movq %xmm0, %rdi        # A's vector state, back from wherever it was
    mov %fs:0, %rsi         # A's TLS base
    mov $60, %eax
    syscall
"""

B_SOURCE = """
    mov $0x9999, %rbx
    mov $0x8888, %r12
    movq %rbx, %xmm0
    mov %fs:0, %rsi
    mov $39, %eax
    syscall
"""

SPIN_SOURCE = """
1:  pause
    jmp 1b
"""

GETPID_SOURCE = """
    mov $39, %eax
    syscall
"""


@pytest.fixture
def one_vcpu():
    """A machine with a single vCPU, and the kick signal handled (as the
    kernel does): a waiter's preemption request signals the holder."""
    previous = signal.signal(KICK_SIGNAL, lambda *_: None)
    m = Machine(pool_bytes=128 << 20, max_vcpus=1)
    made = []

    def guest(source):
        g = Guest(m, source)
        made.append(g)
        return g
    yield m, guest
    for g in made:
        g.close()
    m.close()
    signal.signal(KICK_SIGNAL, previous)


def test_state_moves_between_contexts_on_one_vcpu(one_vcpu):
    machine, guest = one_vcpu
    pool = machine.vcpu_pool
    a, b = guest(A_SOURCE), guest(B_SOURCE)
    a.mm.copy_out(DATA, struct.pack("<Q", 0xA0A0))
    a.ctx.set_fs_base(DATA)
    b.mm.copy_out(DATA + 8, struct.pack("<Q", 0xB0B0))
    b.ctx.set_fs_base(DATA + 8)

    assert a.ctx.switch() is SYSCALL
    a.ctx.set_syscall_return(7)
    a.ctx.release()                     # A blocks: its state stays parked
    assert pool.moves == 0
    assert b.ctx.switch() is SYSCALL    # B needs the only vCPU: A's state moves off
    assert pool.moves == 1 and a.ctx.vcpu is None
    assert (b.ctx.regs.rbx, b.ctx.regs.r12, b.ctx.regs.rsi) == (0x9999, 0x8888, 0xB0B0)
    b.ctx.release()
    assert a.ctx.switch() is SYSCALL    # and back, with everything A had
    r = a.ctx.regs
    assert (r.rax, r.r13, r.rbx, r.r12) == (60, 7, 0x1111, 0x2222)
    assert (r.rdi, r.rsi) == (0x1111, 0xA0A0)
    assert pool.moves == 2


def test_owner_gets_its_parked_vcpu_back_without_a_move(one_vcpu):
    machine, guest = one_vcpu
    a = guest(A_SOURCE)
    a.ctx.set_fs_base(DATA)
    assert a.ctx.switch() is SYSCALL
    vcpu = a.ctx.vcpu
    a.ctx.set_syscall_return(5)
    a.ctx.release()
    a.ctx.reclaim()                     # the wait ended, nobody took it
    assert a.ctx.held and a.ctx.vcpu is vcpu
    a.ctx.release()
    assert a.ctx.switch() is SYSCALL    # straight back in
    assert a.ctx.regs.r13 == 5 and machine.vcpu_pool.moves == 0


def test_spinning_holder_is_preempted_for_a_waiter(one_vcpu):
    machine, guest = one_vcpu
    spinner, b = guest(SPIN_SOURCE), guest(GETPID_SOURCE)
    events = []
    t = threading.Thread(target=lambda: events.append(spinner.ctx.switch()))
    try:
        t.start()
        while not spinner.ctx.held:
            t.join(0.001)
        assert b.ctx.switch() is SYSCALL    # got the vCPU from a guest that never exits
        assert machine.vcpu_pool.preemptions >= 1
        b.ctx.release()                     # the spinner takes it back...
    finally:
        spinner.ctx.interrupt()             # ... and a kick ends its switch()
        t.join(30)
    assert events == [INTERRUPTED]


def test_waiting_for_a_vcpu_is_interruptible(one_vcpu):
    machine, guest = one_vcpu
    a, b = guest(A_SOURCE), guest(GETPID_SOURCE)
    assert a.ctx.switch() is SYSCALL        # A holds the only vCPU, in the sentry
    events = []
    t = threading.Thread(target=lambda: events.append(b.ctx.switch()))
    t.start()
    t.join(0.2)
    assert events == [] and t.is_alive()    # B waits ...
    b.ctx.interrupt()                       # ... until a signal for it
    t.join(30)
    assert events == [INTERRUPTED] and not b.ctx.held
