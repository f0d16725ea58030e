"""The KVM machine: pool memory, stub, descriptor tables, vCPUs.

Built in one straight line of fallible steps (Machine.__init__). vCPUs
are made on demand by the pool tasks borrow them from (vcpu_pool.py),
each one self-tested (Machine.new_vcpu) to learn how SYSCALL behaves on
this host. LSTAR always points at the stub's
supervisor-only `out; sysretq`:

  * SYSCALL_RING0: SYSCALL enters ring 0 there (bare-metal VMX/SVM).
  * SYSCALL_CPL3: SYSCALL jumps there but stays at CPL 3 (kvm_pvm), so the
    fetch faults (#PF, user access to a supervisor page) and the fault
    exit is the syscall. Either way the site is then patched (context.py).
"""
import os
import struct
import threading

from kvmsentry.arch import cpu, descriptors, layout
from kvmsentry.kvm import Kvm
from kvmsentry.kvm import exits
from kvmsentry.mm.pagetable import PTE_A, PTE_D, PTE_NX, PTE_P, PTE_W, TABLE_FLAGS
from kvmsentry.mm.pool import DEFAULT_POOL_BYTES, PhysPool
from kvmsentry.platform.kvm.vcpu_pool import VcpuPool, default_limit

SYSCALL_RING0 = "ring0"
SYSCALL_CPL3 = "cpl3"

_STUB_BIN = os.path.join(os.path.dirname(__file__), "stub.bin")


class MachineError(Exception):
    """The guest machine could not be built or behaved impossibly."""


def stub_image():
    with open(_STUB_BIN, "rb") as f:
        return f.read()


class Machine:
    def __init__(self, pool_bytes=DEFAULT_POOL_BYTES, kvm_path="/dev/kvm", max_vcpus=None):
        self.kvm = Kvm(kvm_path)
        self.vm = self.kvm.create_vm()
        self.pool = PhysPool(pool_bytes)
        self.vm.set_user_memory_region(0, 0, self.pool.size, self.pool.host_address())
        self.is_pvm = os.path.isdir("/sys/module/kvm_pvm")
        self.pool.write(layout.STUB_PHYS, stub_image())
        self.pool.write(layout.IDT_PHYS, descriptors.idt())
        self.kernel_pdpt = self._map_reserved_region()
        self.cpuid, self.xcr0, self.cr4 = self._cpu_features()
        self.syscall_mode = None
        self.io_advance = None      # 2 if rip is past the `out` at an I/O exit
        self.vcpus = []
        self._vcpu_lock = threading.Lock()
        limit = default_limit(self.kvm, layout.MAX_VCPUS)
        if max_vcpus is not None:
            limit = max(1, min(max_vcpus, layout.MAX_VCPUS))
        self.vcpu_pool = VcpuPool(self, limit)

    # --- construction ----------------------------------------------------
    def _map_reserved_region(self):
        """Map phys [0, RESERVED) at KERNEL_BASE: supervisor-only, except the
        gate page (user may execute). Returns the shared kernel PDPT."""
        pool, words = self.pool, self.pool.words
        pdpt, pd = pool.alloc_table(), pool.alloc_table()
        words[(pdpt >> 3) + ((layout.KERNEL_BASE >> 30) & 511)] = pd | TABLE_FLAGS
        leaf = PTE_P | PTE_A | PTE_D
        for phys in range(0, layout.RESERVED_BYTES, layout.PAGE_SIZE):
            va = layout.kva(phys)
            if phys == layout.STUB_PHYS:
                flags = leaf
            elif phys == layout.IDT_PHYS:
                flags = leaf | PTE_NX
            elif layout.CPU_AREA_PHYS <= phys < layout.CPU_AREA_PHYS + \
                    layout.MAX_VCPUS * layout.CPU_AREA_SIZE:
                flags = leaf | PTE_W | PTE_NX
            else:
                continue
            pd_slot = (pd >> 3) + ((va >> 21) & 511)
            if not words[pd_slot] & PTE_P:
                words[pd_slot] = pool.alloc_table() | TABLE_FLAGS
            pt = words[pd_slot] & ~0xFFF & ((1 << 52) - 1)
            words[(pt >> 3) + ((va >> 12) & 511)] = phys | flags
        return pdpt

    def _cpu_features(self):
        """CPUID entries for the guest, its XCR0, and the CR4 to run with.

        The guest's CPUID must agree with the XCR0 it runs under, or glibc
        picks AVX routines the guest cannot execute. KVM's supported list is
        the starting point; OSXSAVE is advertised because CR4.OSXSAVE is set.
        """
        entries = self.kvm.supported_cpuid()
        by_leaf = {(e["function"], e["index"]): e for e in entries}
        xsave_leaf = by_leaf.get((0xD, 0))
        xcr0 = 0x3
        if xsave_leaf:
            xcr0 = ((xsave_leaf["edx"] << 32) | xsave_leaf["eax"]) & cpu.XCR0_ALLOWED
        cr4 = cpu.CR4_PAE | cpu.CR4_OSFXSR | cpu.CR4_OSXMMEXCPT
        leaf1 = by_leaf.get((1, 0))
        # kvm_pvm reports XSAVE only in leaf 0xD, yet a CPL-3 CPUID there
        # returns the host's leaf 1 (XSAVE, OSXSAVE, AVX...): the guest must
        # run with XSAVE on and the XCR0 leaf 0xD allows, or glibc's AVX
        # routines fault.
        if leaf1 and (leaf1["ecx"] & (1 << 26) or xsave_leaf):
            cr4 |= cpu.CR4_OSXSAVE
            leaf1["ecx"] |= (1 << 26) | (1 << 27)         # XSAVE, OSXSAVE
        leaf7 = by_leaf.get((7, 0))
        if leaf7:
            if leaf7["ebx"] & (1 << 7):
                cr4 |= cpu.CR4_SMEP
            if leaf7["ebx"] & (1 << 20):
                cr4 |= cpu.CR4_SMAP
            if leaf7["ecx"] & (1 << 2):
                cr4 |= cpu.CR4_UMIP
        if not cr4 & cpu.CR4_OSXSAVE:
            xcr0 = None
        # The XSAVE area size for that XCR0 (signal frames carry one).
        self.xsave_size = (xsave_leaf["ebx"] or xsave_leaf["ecx"]) if xsave_leaf else 512
        # AT_HWCAP on x86-64 is CPUID.1:EDX.
        self.hwcap = leaf1["edx"] if leaf1 else 0
        return entries, xcr0, cr4

    # --- vCPUs -------------------------------------------------------------
    def cpu_area(self, index):
        return layout.CPU_AREA_PHYS + index * layout.CPU_AREA_SIZE

    def new_vcpu(self):
        """Create and self-test one more vCPU (tasks borrow them through
        vcpu_pool; tests may take one directly)."""
        with self._vcpu_lock:
            return self._new_vcpu()

    def _new_vcpu(self):
        index = len(self.vcpus)
        if index >= layout.MAX_VCPUS:
            raise MachineError("too many vCPUs")
        area = self.cpu_area(index)
        stack_top = layout.kva(area + layout.CPU_STACK_TOP_OFF)
        tss_va = layout.kva(area + layout.CPU_TSS_OFF)
        self.pool.write(area + layout.CPU_GDT_OFF, descriptors.gdt(tss_va))
        self.pool.write(area + layout.CPU_TSS_OFF,
                        descriptors.tss(stack_top, [layout.PORT_SYSCALL]))
        vcpu = self.vm.create_vcpu(index)
        vcpu.set_cpuid(self.cpuid)
        vcpu.exception_frame_phys = area + layout.CPU_STACK_TOP_OFF - 7 * 8
        self._set_sregs(vcpu, area, tss_va)
        if self.xcr0 is not None:
            vcpu.set_xcr0(self.xcr0)
        star = (layout.USER32_CS << 48) | (layout.KERNEL_CS << 32)
        vcpu.set_msrs([(cpu.MSR_STAR, star), (cpu.MSR_SFMASK, cpu.SFMASK),
                       (cpu.MSR_LSTAR, layout.SYSCALL_R0_VA),
                       (cpu.MSR_CSTAR, layout.SYSCALL_R0_VA),
                       (cpu.MSR_FS_BASE, 0), (cpu.MSR_GS_BASE, 0),
                       (cpu.MSR_KERNEL_GS_BASE, 0)])
        mode = self._selftest(vcpu)
        if self.syscall_mode is None:
            self.syscall_mode = mode
        elif mode != self.syscall_mode:
            raise MachineError("vCPUs disagree on SYSCALL behaviour")
        advance = self._probe_io_rip(vcpu)
        if self.io_advance is None:
            self.io_advance = advance
        elif advance != self.io_advance:
            raise MachineError("vCPUs disagree on rip at I/O exits")
        self.vcpus.append(vcpu)
        return vcpu

    def _set_sregs(self, vcpu, area, tss_va):
        s = vcpu.get_sregs()

        def seg(sg, selector, type_, dpl, code64=False, base=0, limit=0xFFFFFFFF):
            sg.base, sg.limit, sg.selector, sg.type = base, limit, selector, type_
            sg.present, sg.dpl, sg.s, sg.l, sg.avl, sg.unusable = 1, dpl, 1, int(code64), 0, 0
            sg.db = 0 if code64 else 1
            sg.g = 1

        seg(s.cs, layout.USER_CS, 0xB, 3, code64=True)
        seg(s.ss, layout.USER_DS, 0x3, 3)
        for sg in (s.ds, s.es, s.fs, s.gs):
            seg(sg, 0, 0x3, 3)
        s.tr.base, s.tr.limit, s.tr.selector, s.tr.type = tss_va, descriptors.TSS_LIMIT, layout.TSS_SEL, 0xB
        s.tr.present, s.tr.dpl, s.tr.s, s.tr.l, s.tr.db, s.tr.g, s.tr.unusable = 1, 0, 0, 0, 0, 0, 0
        s.ldt.selector, s.ldt.present, s.ldt.unusable, s.ldt.type = 0, 0, 1, 2
        s.gdt.base, s.gdt.limit = layout.kva(area + layout.CPU_GDT_OFF), layout.GDT_ENTRIES * 8 - 1
        s.idt.base, s.idt.limit = layout.IDT_VA, 256 * 16 - 1
        s.cr0, s.cr4, s.efer = cpu.CR0, self.cr4, cpu.EFER
        s.cr3 = 0
        vcpu.set_sregs(s)
        vcpu.sregs_template = s

    def reset_to_user(self, vcpu, root):
        """Put a vCPU (fresh, or back from a finished task) in the initial
        ring-3 state with page-table root `root`."""
        s = vcpu.sregs_template
        s.cr3 = root
        vcpu.set_sregs(s)
        vcpu.current_root = root

    def set_address_space(self, vcpu, root):
        """Load a page-table root. Everything else in the special registers
        stays as it is: the vCPU may be stopped inside the stub (ring 0),
        e.g. during an execve that came in through a fault."""
        s = vcpu.get_sregs()
        s.cr3 = root
        vcpu.set_sregs(s)
        vcpu.current_root = root

    def _run_probe(self, vcpu, offset):
        """Run stub probe code at `offset` (in the probe page) at CPL 3 from
        a throwaway address space; return (exit, exception frame)."""
        from kvmsentry.mm.pagetable import PageTable, leaf_flags
        pt = PageTable(self.pool, self.kernel_pdpt)
        page = self.pool.alloc()
        try:
            self.pool.write(page, stub_image()[0x1000:0x2000])
            pt.map(layout.PROBE_USER_VA, page, leaf_flags(True, False, True))
            self.reset_to_user(vcpu, pt.root)
            r = vcpu.regs
            r.rip = layout.PROBE_USER_VA + offset - 0x1000
            r.rsp, r.rflags = 0, cpu.RFLAGS_USER_INIT
            vcpu.mark_regs_dirty()
            ex = vcpu.run()
            frame = struct.unpack("<QQQ", self.pool.read(vcpu.exception_frame_phys, 24))
            return ex, frame
        finally:
            vcpu.current_root = None
            pt.destroy()
            self.pool.free(page)

    def _probe_io_rip(self, vcpu):
        """Where is rip at an I/O exit: at the `out` (0) or past it (2)?"""
        ex, _ = self._run_probe(vcpu, layout.PROBE_OUT_OFF)
        at = layout.PROBE_USER_VA + layout.PROBE_OUT_OFF - 0x1000
        if ex != exits.io_out(layout.PORT_SYSCALL, 1) or vcpu.regs.rip - at not in (0, 2):
            raise MachineError("I/O probe: unexpected exit %r at %#x" % (ex, vcpu.regs.rip))
        return vcpu.regs.rip - at

    def _selftest(self, vcpu):
        """Run one SYSCALL at CPL 3 and see where it lands."""
        ex, (vector, _err, rip) = self._run_probe(vcpu, layout.SELFTEST_OFF)
        if ex == exits.io_out(layout.PORT_SYSCALL_R0, 1):
            return SYSCALL_RING0
        if ex == exits.io_out(layout.PORT_EXCEPTION, 1):
            if vector == 14 and rip == layout.SYSCALL_R0_VA:
                return SYSCALL_CPL3
            raise MachineError("SYSCALL self-test: exception %d at %#x" % (vector, rip))
        raise MachineError("SYSCALL self-test: unexpected exit %r (rip %#x)"
                           % (ex, vcpu.regs.rip))

    def stats(self):
        """One line for the debug log: how the vCPUs were shared."""
        p = self.vcpu_pool
        line = "vcpus=%d/%d state-moves=%d preemptions=%d" % (
            p.size, p.limit, p.moves, p.preemptions)
        if p.create_error is not None:
            line += " (no more vCPUs: %s)" % p.create_error
        return line

    def close(self):
        self.vm.close()
        self.kvm.close()
        self.pool.close()
