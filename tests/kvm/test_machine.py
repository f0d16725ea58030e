"""Tiny guests on the real KVM: each test's instructions and the exits or
events they must produce."""
import errno
import signal

import pytest

from kvmsentry.arch import layout
from kvmsentry.arch.cpu import MSR_PVM_SIGNATURE, PVM_SIGNATURE
from kvmsentry.kvm import Kvm, KvmUnavailable
from kvmsentry.mm.vma import PROT_READ
from kvmsentry.platform.events import SYSCALL
from kvmsentry.platform.kvm.machine import SYSCALL_CPL3, SYSCALL_RING0

from conftest import CODE, DATA


def test_kvm_is_usable_here():
    """CI must run on a KVM host: this fails (not skips) without one."""
    Kvm().close()


def test_missing_device_is_one_clear_line(tmp_path):
    with pytest.raises(KvmUnavailable) as info:
        Kvm(str(tmp_path / "kvm"))
    assert "does not exist" in str(info.value) and "\n" not in str(info.value)


def test_selftest_picks_a_syscall_mode(machine):
    vcpu = machine.vcpus[0] if machine.vcpus else machine.new_vcpu()
    assert machine.syscall_mode in (SYSCALL_RING0, SYSCALL_CPL3)
    assert machine.io_advance in (0, 2)
    pvm = vcpu.get_msrs([MSR_PVM_SIGNATURE]).get(MSR_PVM_SIGNATURE) == PVM_SIGNATURE
    if pvm:   # measured: SYSCALL stays at CPL 3 and rip is past the out
        assert machine.syscall_mode == SYSCALL_CPL3
        assert machine.io_advance == 2


def test_syscall_is_patched_after_first_trap(guest):
    g = guest("""
    1:  mov $39, %eax          # getpid
        syscall                # same site twice
        cmp $2, %rbx
        je 2f
        inc %rbx
        jmp 1b
    2:  mov $60, %eax
        syscall
    """)
    site = CODE + 5
    assert g.mm.read_code(site, 2) == b"\x0f\x05"
    assert g.ctx.switch() is SYSCALL
    assert g.ctx.syscall_return_rip == site + 2
    assert g.mm.read_code(site, 2) == bytes([0xE6, layout.PORT_SYSCALL])
    g.ctx.set_syscall_return(1234)
    assert g.ctx.switch() is SYSCALL              # the patched site, one exit
    assert g.ctx.regs.rax == 39
    assert g.ctx.syscall_return_rip == site + 2
    assert g.ctx.patched_sites == 1


def test_syscall_return_sets_rax_rcx_r11(guest):
    g = guest("""
        mov $39, %eax
        syscall
        mov %rax, %rdi         # the result and rcx/r11 as the call left them
        mov %rcx, %rsi
        mov %r11, %rdx
        mov $60, %eax
        syscall
    """)
    assert g.ctx.switch() is SYSCALL
    g.ctx.set_syscall_return(-errno.ENOSYS)
    assert g.ctx.switch() is SYSCALL
    regs = g.ctx.regs
    assert regs.rdi == (-errno.ENOSYS) & ((1 << 64) - 1)
    assert regs.rsi == CODE + 7                   # rcx: return address, like SYSCALL
    assert regs.rdx & 0x202 == 0x202              # r11: the user's rflags
    assert regs.rax == 60


def test_illegal_instruction_is_sigill(guest):
    g = guest("nop\nud2")
    fault = g.ctx.switch()
    assert (fault.signo, fault.vector, fault.rip) == (signal.SIGILL, 6, CODE + 1)


def test_unmapped_read_is_page_fault_with_address(guest):
    g = guest("mov 0x700010, %rax")
    fault = g.ctx.switch()
    assert fault.is_page_fault and fault.signo == signal.SIGSEGV
    assert (fault.addr, fault.write, fault.present) == (0x700010, False, False)


def test_supervisor_pages_are_not_readable_from_ring3(guest):
    g = guest("movabs %s, %%rax\nmov (%%rax), %%rax" % hex(layout.IDT_VA))
    fault = g.ctx.switch()
    assert fault.is_page_fault and fault.present and fault.addr == layout.IDT_VA


def test_ports_other_than_the_syscall_port_fault(guest):
    g = guest("out %%al, $%d" % layout.PORT_EXCEPTION)
    fault = g.ctx.switch()
    assert (fault.signo, fault.vector) == (signal.SIGSEGV, 13)


def test_downgrade_reaches_the_guest(guest):
    """A write that succeeded once must fault after mprotect(PROT_READ):
    the guest's cached translation is revoked, not left stale."""
    g = guest("""
    1:  movq $7, 0x600000
        mov $39, %eax
        syscall
        jmp 1b
    """)
    assert g.ctx.switch() is SYSCALL
    assert g.mm.copy_in(DATA, 1) == b"\x07"
    g.mm.protect(DATA, 0x1000, PROT_READ)
    g.ctx.set_syscall_return(0)
    fault = g.ctx.switch()
    assert fault.is_page_fault and fault.write and fault.present and fault.addr == DATA


def test_unmap_reaches_the_guest(guest):
    g = guest("""
    1:  mov 0x600000, %rbx
        mov $39, %eax
        syscall
        jmp 1b
    """)
    g.mm.copy_out(DATA, b"\x2a")
    assert g.ctx.switch() is SYSCALL and g.ctx.regs.rbx == 0x2a
    g.mm.unmap(DATA, 0x1000)
    g.ctx.set_syscall_return(0)
    fault = g.ctx.switch()
    assert fault.is_page_fault and not fault.present and fault.addr == DATA


def test_demand_fault_then_resume(guest):
    g = guest("""
        movq $5, 0x800000
        mov $60, %eax
        syscall
    """)
    from kvmsentry.mm.vma import PROT_WRITE
    g.mm.map_anonymous(0x800000, 4 << 20, PROT_READ | PROT_WRITE, populate=False)
    fault = g.ctx.switch()
    assert fault.is_page_fault and fault.addr == 0x800000
    assert g.mm.handle_fault(fault.addr, fault.write, fault.execute) is None
    assert g.ctx.switch() is SYSCALL and g.ctx.regs.rax == 60
    assert g.mm.copy_in(0x800000, 1) == b"\x05"


def test_avx_works_with_the_xcr0_we_set(guest):
    """glibc picks AVX routines from CPUID; the guest must be able to run them."""
    g = guest("""
        vpxor %ymm0, %ymm0, %ymm0
        mov $60, %eax
        syscall
    """)
    event = g.ctx.switch()
    assert event is SYSCALL, event
