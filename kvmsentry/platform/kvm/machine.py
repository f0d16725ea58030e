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
import collections
import functools
import os
import struct
import threading

from kvmsentry.arch import cpu, descriptors, layout
from kvmsentry.kvm import Kvm, KvmUnavailable
from kvmsentry.kvm import exits
from kvmsentry.mm.pagetable import PTE_A, PTE_D, PTE_NX, PTE_P, PTE_W, TABLE_FLAGS
from kvmsentry.mm.pool import DEFAULT_POOL_BYTES, PhysPool
from kvmsentry.mm.vdso import Vdso
from kvmsentry.platform.kvm.vcpu_pool import VcpuPool, default_limit

SYSCALL_RING0 = "ring0"
SYSCALL_CPL3 = "cpl3"
# How each mode is named in reports (debug log, `kvmsentry machine`).
SYSCALL_MODE_NAMES = {SYSCALL_RING0: "ring-0 syscall",
                      SYSCALL_CPL3: "cpl-3 syscall (faults at LSTAR)"}
TR_BUSY, TR_AVAILABLE = 0xB, 0x9      # 64-bit TSS descriptor types

_STUB_BIN = os.path.join(os.path.dirname(__file__), "stub.bin")


class MachineError(Exception):
    """The guest machine could not be built or behaved impossibly."""


@functools.lru_cache(maxsize=None)   # read before the sentry's pivot_root (sandbox/preload.py)
def stub_image():
    with open(_STUB_BIN, "rb") as f:
        return f.read()


def hardware_walks_guest_tables():
    """True if this KVM uses EPT/NPT (the CPU walks the guest's page
    tables) rather than shadow paging, from the modules' parameters."""
    for param in ("/sys/module/kvm_intel/parameters/ept",
                  "/sys/module/kvm_amd/parameters/npt"):
        try:
            with open(param) as f:
                if f.read().strip() in ("Y", "1"):
                    return True
        except OSError:
            pass
    return False


class Machine:
    def __init__(self, pool_bytes=DEFAULT_POOL_BYTES, kvm_path="/dev/kvm", max_vcpus=None,
                 background=False):
        """background: leave the last steps (_finish) to a thread, joined by
        ready(), so that the caller's own start-up overlaps them."""
        self.kvm = Kvm(kvm_path)
        self.vm = self.kvm.create_vm()
        self.pool = PhysPool(pool_bytes)
        self.is_pvm = os.path.isdir("/sys/module/kvm_pvm")
        self.pool.huge_leaves = not self.is_pvm and hardware_walks_guest_tables()
        self.pool.write(layout.STUB_PHYS, stub_image())
        self.pool.write(layout.IDT_PHYS, descriptors.idt())
        self._kernel_tables = []
        self.kernel_pdpt = self._map_reserved_region()
        # What the guest may never change, to check after the run.
        self._pristine = {phys: self.pool.read(phys, layout.PAGE_SIZE)
                          for phys in [layout.IDT_PHYS, layout.STUB_PHYS, layout.PROBE_PHYS]
                          + self._kernel_tables}
        self.cpuid, self.xcr0, self.cr4 = self._cpu_features()
        # KVM's own default shadow-MMU size (20 pages per 1000 of memory).
        self._nr_mmu_pages = max(self.pool.size // layout.PAGE_SIZE * 20 // 1000, 64)
        self.pool.zap_shadow = self._zap_shadow
        self.vdso = Vdso(self.pool)
        self.syscall_mode = None
        self.io_advance = None      # 2 if rip is past the `out` at an I/O exit
        self.tr_type = TR_BUSY      # see _probe_io_rip
        self.vcpus = []
        self._vcpu_lock = threading.Lock()
        limit = default_limit(self.kvm, layout.MAX_VCPUS)
        if max_vcpus is not None:
            limit = max(1, min(max_vcpus, layout.MAX_VCPUS))
        self._vcpu_limit = limit
        self._vcpu_pool = None
        self._background = None
        self._background_error = None
        if background:
            self._background = threading.Thread(target=self._finish_in_background,
                                                name="machine-start", daemon=True)
            self._background.start()
        else:
            self._finish()

    def _finish(self):
        """The steps that mostly wait on KVM rather than compute (on kvm_pvm
        KVM_SET_USER_MEMORY_REGION waits out a grace period and the first
        KVM_RUN builds the MMU, 5-20 ms of wall time for ~3 ms of CPU):
        the pool becomes guest memory, the first vCPU is made and tested."""
        self.vm.set_user_memory_region(0, 0, self.pool.size, self.pool.host_address())
        self._vcpu_pool = VcpuPool(self, self._vcpu_limit)

    def _finish_in_background(self):
        try:
            self._finish()
        except BaseException as e:          # for ready() to raise
            self._background_error = e

    def ready(self):
        """Wait for a background _finish; if it failed, raise KvmUnavailable."""
        thread = self._background
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        e = self._background_error
        if e is not None:
            raise KvmUnavailable("starting the guest machine: %s: %s"
                                 % (type(e).__name__, e)) from e

    @property
    def vcpu_pool(self):
        self.ready()
        return self._vcpu_pool

    # --- construction ----------------------------------------------------
    def _map_reserved_region(self):
        """Map phys [0, RESERVED) at KERNEL_BASE: supervisor-only, except the
        gate page (user may execute). Returns the shared kernel PDPT."""
        pool, words = self.pool, self.pool.words
        pdpt, pd = pool.alloc_table(), pool.alloc_table()
        self._kernel_tables += [pdpt, pd]
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
                self._kernel_tables.append(words[pd_slot] & ~0xFFF)
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

    def _zap_shadow(self):
        """Drop every shadow page KVM may zap (see mm/pool.py); return the
        roots it keeps: what each vCPU has loaded or may have cached."""
        self.vm.set_nr_mmu_pages(64)
        self.vm.set_nr_mmu_pages(self._nr_mmu_pages)
        return {root for vcpu in self.vcpus for root in vcpu.recent_roots}

    # --- what the kernel builds (the platform interface) -------------------
    def new_context(self, patch_syscalls=True):
        """A task's register state and its way into the guest."""
        from kvmsentry.platform.kvm.context import KvmContext
        return KvmContext(self, patch_syscalls)

    def new_address_space(self):
        from kvmsentry.mm.address_space import AddressSpace
        return AddressSpace(self.pool, self.kernel_pdpt)

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
        gdt, tss = descriptors.gdt(tss_va), descriptors.tss(stack_top, [layout.PORT_SYSCALL])
        self.pool.write(area + layout.CPU_GDT_OFF, gdt)
        self.pool.write(area + layout.CPU_TSS_OFF, tss)
        self._pristine[area + layout.CPU_GDT_OFF] = gdt
        self._pristine[area + layout.CPU_TSS_OFF] = tss
        vcpu = self.vm.create_vcpu(index)
        # CR3s this vCPU loaded lately: KVM caches up to 3 previous roots
        # besides the current one, and never zaps them (mm/pool.py).
        vcpu.recent_roots = collections.deque(maxlen=4)
        vcpu.set_cpuid(self.cpuid)
        vcpu.exception_frame_phys = area + layout.CPU_STACK_TOP_OFF - 7 * 8
        self._set_sregs(vcpu, area, tss_va)
        if self.xcr0 is not None:
            vcpu.set_xcr0(self.xcr0)
        star = (layout.USER32_CS << 48) | (layout.KERNEL_CS << 32)
        vcpu.set_msrs([(cpu.MSR_STAR, star), (cpu.MSR_SFMASK, cpu.SFMASK),
                       (cpu.MSR_LSTAR, layout.SYSCALL_R0_VA),
                       # Entries no program may take: SYSENTER_CS = 0 makes
                       # SYSENTER #GP; the others point at the stub's ud2.
                       (cpu.MSR_CSTAR, layout.BAD_ENTRY_VA),
                       (cpu.MSR_SYSENTER_CS, 0), (cpu.MSR_SYSENTER_ESP, 0),
                       (cpu.MSR_SYSENTER_EIP, layout.BAD_ENTRY_VA),
                       (cpu.MSR_FS_BASE, 0), (cpu.MSR_GS_BASE, 0),
                       (cpu.MSR_KERNEL_GS_BASE, 0)])
        mode = self._selftest(vcpu)
        if self.syscall_mode is None:
            self.syscall_mode = mode
        elif mode != self.syscall_mode:
            raise MachineError("vCPUs disagree on SYSCALL behaviour")
        self.vdso.measure_tsc(vcpu)
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
        s.tr.base, s.tr.limit, s.tr.selector, s.tr.type = tss_va, descriptors.TSS_LIMIT, layout.TSS_SEL, self.tr_type
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
        self._loaded(vcpu, root)

    def set_address_space(self, vcpu, root):
        """Load a page-table root. Everything else in the special registers
        stays as it is: the vCPU may be stopped inside the stub (ring 0),
        e.g. during an execve that came in through a fault."""
        s = vcpu.get_sregs()
        s.cr3 = root
        # KVM's SVM code reports TR as busy whatever was loaded; writing
        # that back would undo an available TR (see _probe_io_rip).
        s.tr.type = self.tr_type
        vcpu.set_sregs(s)
        self._loaded(vcpu, root)

    @staticmethod
    def _loaded(vcpu, root):
        vcpu.current_root = root
        if root not in vcpu.recent_roots:
            vcpu.recent_roots.append(root)

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
        """Where is rip at an I/O exit: at the `out` (0) or past it (2)?

        TR is loaded busy (type 11), which VMX requires at VM entry. QEMU's
        TCG, emulating SVM for a nested kvm_amd, consults the TSS I/O bitmap
        only when the cached TR type is 9 (what its LTR leaves there) and
        raises #GP for the `out` otherwise; SVM itself does not check the
        type. So a #GP here is retried once with an available TSS."""
        ex, (vector, _err, _rip) = self._run_probe(vcpu, layout.PROBE_OUT_OFF)
        at = layout.PROBE_USER_VA + layout.PROBE_OUT_OFF - 0x1000
        if ex == exits.io_out(layout.PORT_EXCEPTION, 1) and vector == 13 \
                and self.tr_type == TR_BUSY:
            self.tr_type = TR_AVAILABLE
            vcpu.sregs_template.tr.type = TR_AVAILABLE
            ex, _ = self._run_probe(vcpu, layout.PROBE_OUT_OFF)
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

    def kvm_module(self):
        """Which KVM serves /dev/kvm here, from the loaded modules."""
        for name in ("kvm_pvm", "kvm_amd", "kvm_intel"):
            if os.path.isdir("/sys/module/" + name):
                return name
        return "unknown"

    def facts(self):
        """(name, value) pairs of what the self-tests found (vCPU 0 first)."""
        return [
            ("kvm", self.kvm_module()),
            ("syscall", SYSCALL_MODE_NAMES.get(self.syscall_mode, "not tested")),
            ("io-exit", {0: "rip at the out", 2: "rip past the out"}.get(
                self.io_advance, "not tested")),
            ("tss", "busy (type 11)" if self.tr_type == TR_BUSY
             else "available (type 9, for the I/O bitmap)"),
            ("cr4", "%#x" % self.cr4),
            ("xcr0", "%#x" % (self.xcr0 or 0)),
            ("vdso", self.vdso.describe()),
            ("2m-pages", "one PS entry (EPT/NPT)" if self.pool.huge_leaves
             else "512 entries (shadow paging)"),
        ]

    def check_integrity(self):
        """Raise MachineError if the stub, IDT, a GDT or TSS, or the kernel
        half's page tables differ from what the sentry wrote: the program
        must never be able to change them (checked when a sandbox ends)."""
        def same(phys, data):
            now = self.pool.read(phys, len(data))
            if phys not in self._kernel_tables:
                return now == data
            # The CPU sets Accessed/Dirty in table entries as it walks.
            a, b = (struct.unpack("<512Q", x) for x in (now, data))
            return all((x ^ y) & ~(PTE_A | PTE_D) == 0 for x, y in zip(a, b))
        changed = [phys for phys, data in self._pristine.items() if not same(phys, data)]
        if changed:
            raise MachineError("guest changed the machine's own memory at %s"
                               % ", ".join("%#x" % p for p in sorted(changed)))

    def stats(self):
        """One line for the debug log: how the vCPUs were shared."""
        p = self.vcpu_pool
        line = "vcpus=%d/%d state-moves=%d preemptions=%d" % (
            p.size, p.limit, p.moves, p.preemptions)
        if p.create_error is not None:
            line += " (no more vCPUs: %s)" % p.create_error
        return line

    def close(self):
        if self._background is not None:
            self._background.join()
        self.vm.close()
        self.kvm.close()
        self.pool.close()
