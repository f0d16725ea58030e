"""Ring 0 out of reach, checked on the machine itself: what the descriptor
tables, MSRs, I/O bitmap and CR4 allow, and what happens when a vCPU
lands in ring 0 where the stub does not expect it (issue 13)."""
import signal
import struct

import pytest

from kvmsentry.arch import cpu, layout
from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE
from kvmsentry.platform.kvm.context import KvmContext
from kvmsentry.platform.kvm.machine import Machine, MachineError
from progbuild import assemble

CODE, DATA = 0x400000, 0x600000


@pytest.fixture(scope="module")
def machine():
    m = Machine(pool_bytes=128 << 20)
    m.new_vcpu()
    yield m
    m.close()


@pytest.fixture
def ctx(machine):
    mm = AddressSpace(machine.pool, machine.kernel_pdpt)
    mm.map_anonymous(CODE, 0x1000, PROT_READ | PROT_WRITE)
    mm.copy_out(CODE, assemble("nop\nud2"))
    mm.protect(CODE, 0x1000, PROT_READ | PROT_EXEC)
    mm.map_anonymous(DATA, 0x1000, PROT_READ | PROT_WRITE)
    c = KvmContext(machine)
    c.set_address_space(mm)
    c.start(CODE, DATA + 0x1000)
    assert c._acquire()                 # hold a vCPU, as a running task does
    yield c
    c.close()
    mm.destroy()


def _gdt(machine):
    data = machine.pool.read(machine.cpu_area(0) + layout.CPU_GDT_OFF, layout.GDT_ENTRIES * 8)
    return struct.unpack("<%dQ" % layout.GDT_ENTRIES, data)


def test_no_gdt_slot_ring3_can_use_as_32bit_code(machine):
    """Every descriptor ring 3 may load (DPL 3, present, code or data) is
    64-bit (L=1), so neither a CPU nor kvm_pvm's lax iretq can put the
    program in compatibility mode; the only DPL-3 code is 0x33."""
    words = _gdt(machine)
    tss_slot = layout.TSS_SEL >> 3
    for slot, d in enumerate(words):
        if slot in (tss_slot, tss_slot + 1) or d == 0:
            continue
        present, dpl, is_seg = (d >> 47) & 1, (d >> 45) & 3, (d >> 44) & 1
        if present and is_seg and dpl == 3:
            assert (d >> 53) & 1 and not (d >> 54) & 1, "slot %#x" % (slot * 8)
            if (d >> 43) & 1:                               # code
                assert slot * 8 | 3 == layout.USER_CS
    assert (words[layout.USER32_CS >> 3] >> 45) & 3 == 0   # SYSRET's base: ring 0 only


def test_entries_no_program_may_take(machine):
    """CSTAR and SYSENTER_EIP point at the stub's ud2, SYSENTER_CS is 0."""
    msrs = machine.vcpus[0].get_msrs([cpu.MSR_CSTAR, cpu.MSR_SYSENTER_CS,
                                      cpu.MSR_SYSENTER_EIP, cpu.MSR_LSTAR])
    assert msrs[cpu.MSR_CSTAR] == layout.BAD_ENTRY_VA
    # kvm_amd keeps only the low 32 bits of SYSENTER_EIP for an AMD guest
    # CPU (whose SYSENTER is #UD in long mode, compatibility mode included).
    low_only = machine.kvm_module() == "kvm_amd"
    assert msrs[cpu.MSR_SYSENTER_EIP] == (layout.BAD_ENTRY_VA & 0xFFFFFFFF if low_only
                                          else layout.BAD_ENTRY_VA)
    assert msrs[cpu.MSR_SYSENTER_CS] == 0
    assert msrs[cpu.MSR_LSTAR] == layout.SYSCALL_R0_VA
    # kvm_pvm enters CSTAR's low half: that must be below mmap_min_addr.
    assert layout.BAD_ENTRY_VA & 0xFFFFFFFF < 0x10000
    stub = machine.pool.read(layout.STUB_PHYS + layout.BAD_ENTRY_OFF, 2)
    assert stub == b"\x0f\x0b"


def test_only_the_syscall_port_is_open(machine):
    tss = machine.pool.read(machine.cpu_area(0) + layout.CPU_TSS_OFF,
                            layout.TSS_SIZE + layout.IOPB_BYTES + 1)
    bitmap = tss[layout.TSS_SIZE:layout.TSS_SIZE + layout.IOPB_BYTES]
    open_ports = [p for p in range(65536) if not bitmap[p >> 3] & (1 << (p & 7))]
    assert open_ports == [layout.PORT_SYSCALL] and tss[-1] == 0xFF


def test_only_breakpoint_and_overflow_gates_are_ring3(machine):
    idt = machine.pool.read(layout.IDT_PHYS, 256 * 16)
    for n in range(256):
        low = struct.unpack_from("<Q", idt, n * 16)[0]
        dpl = (low >> 45) & 3
        assert dpl == (3 if n in (3, 4) else 0), n


def test_smep_smap_where_the_guest_cpuid_offers_them(machine):
    leaf7 = {(e["function"], e["index"]): e for e in machine.cpuid}.get((7, 0))
    ebx = leaf7["ebx"] if leaf7 else 0
    cr4 = machine.vcpus[0].get_sregs().cr4
    assert bool(cr4 & cpu.CR4_SMEP) == bool(ebx & (1 << 7))
    assert bool(cr4 & cpu.CR4_SMAP) == bool(ebx & (1 << 20))


def test_landing_in_ring0_off_the_stub_path_kills_the_program(machine, ctx):
    """Put the vCPU in ring 0 at CSTAR's target, as a CPU taking a
    compat-mode SYSCALL would: the #UD there is the program's fatal
    SIGSEGV, and the vCPU is back in ring 3 afterwards."""
    vcpu = ctx.vcpu
    s = vcpu.get_sregs()
    s.cs.selector, s.cs.dpl = layout.KERNEL_CS, 0
    s.ss.selector, s.ss.dpl = layout.KERNEL_DS, 0
    vcpu.set_sregs(s)
    ctx.regs.rip = layout.BAD_ENTRY_VA
    ctx.regs.rsp = layout.kva(machine.cpu_area(vcpu.index) + layout.CPU_STACK_TOP_OFF) - 0x800
    ctx.vcpu.mark_regs_dirty()
    fault = ctx.switch()
    assert (fault.signo, fault.vector, fault.fatal) == (signal.SIGSEGV, 6, True)
    assert fault.rip in (layout.BAD_ENTRY_VA, layout.BAD_ENTRY_VA & 0xFFFFFFFF)
    assert vcpu.get_sregs().cs.selector == layout.USER_CS
    machine.check_integrity()


def test_integrity_check_sees_a_changed_gdt(machine):
    area = machine.cpu_area(0) + layout.CPU_GDT_OFF + (layout.USER32_CS & ~7)
    saved = machine.pool.read(area, 8)
    machine.pool.write(area, struct.pack("<Q", 0x00CFFB000000FFFF))   # 32-bit user code
    try:
        with pytest.raises(MachineError):
            machine.check_integrity()
    finally:
        machine.pool.write(area, saved)
    machine.check_integrity()
