"""Guest physical and virtual layout: every fixed guest address lives here.

Physical memory is one memfd pool registered as KVM slot 0 at guest
physical 0. Its first RESERVED_BYTES hold the machine itself (IDT, stub
code, the user-visible syscall gate, per-vCPU GDT/TSS/stacks); program
frames and page-table frames come from above it.

The reserved region is mapped supervisor-only in the top 512 GiB of every
address space (PML4 slot 511): nothing of the machine is visible to the
program. The stub's second page holds ring-3 probe code that runs only
during the vCPU self-test, from a throwaway address space.
"""

PAGE_SIZE = 4096
PAGE_SHIFT = 12

# --- guest physical ----------------------------------------------------
IDT_PHYS = 0x1000
STUB_PHYS = 0x2000          # supervisor code page (from guest_stub/)
PROBE_PHYS = 0x3000         # ring-3 self-test code (second stub page), never mapped for programs
STUB_SIZE = 0x2000          # both pages, as assembled

CPU_AREA_PHYS = 0x10000     # per-vCPU blocks start here
CPU_AREA_SIZE = 0x8000      # GDT page + TSS (with I/O bitmap) + stack
MAX_VCPUS = 64
CPU_GDT_OFF = 0x0           # GDT at the block start
CPU_TSS_OFF = 0x800         # TSS right after; its I/O bitmap follows it
TSS_SIZE = 104              # the 64-bit TSS proper
IOPB_BYTES = 8192           # one bit per port 0..65535
CPU_STACK_TOP_OFF = 0x6000  # IST1 / rsp0 stack top (stack grows into 0x3000..)

RESERVED_BYTES = 4 << 20    # program frames start above this

# --- guest virtual -------------------------------------------------------
KERNEL_BASE = 0xFFFF_FF80_0000_0000   # PML4 slot 511 maps phys [0, RESERVED)
USER_TOP = 0x0000_7FFF_FFFF_F000      # highest user page end (like Linux)


def kva(phys):
    """Kernel virtual address of a reserved-region physical address."""
    return KERNEL_BASE + phys


STUB_VA = kva(STUB_PHYS)
IDT_VA = kva(IDT_PHYS)

# Offsets inside the stub image (the .org lines of guest_stub/stub.s).
SYSCALL_R0_OFF = 0x000      # LSTAR target where SYSCALL enters ring 0
EXC_COMMON_OFF = 0x040
BAD_ENTRY_OFF = 0x0C0       # CSTAR / SYSENTER_EIP: a ud2 (see stub.s)
VECTORS_OFF = 0x100         # 32 exception entry points, 16 bytes apart
VECTOR_STRIDE = 16
PROBE_OUT_OFF = 0x1000      # ring-3 probe: one `out PORT_SYSCALL`
SELFTEST_OFF = 0x1100       # ring-3 self-test: one SYSCALL
PROBE_USER_VA = 0x10000     # where the probe page is mapped during self-tests

SYSCALL_R0_VA = STUB_VA + SYSCALL_R0_OFF
EXC_COMMON_VA = STUB_VA + EXC_COMMON_OFF
BAD_ENTRY_VA = STUB_VA + BAD_ENTRY_OFF

# --- I/O ports ---------------------------------------------------------------
# PORT_SYSCALL is the only port ring 3 may use (TSS I/O bitmap): patched
# syscall sites execute `out PORT_SYSCALL, %al`, 2 bytes like `syscall`.
# The others are ring-0 only.
PORT_SYSCALL = 0x4A
PORT_SYSCALL_R0 = 0x4B
PORT_EXCEPTION = 0x4C

# --- segments (same selectors as Linux, so signal frames look native) ---
KERNEL_CS = 0x10
KERNEL_DS = 0x18
USER32_CS = 0x23            # only STAR's SYSRET base: no descriptor behind it
USER_DS = 0x2B
USER_CS = 0x33
TSS_SEL = 0x40
GDT_ENTRIES = 10            # null, k32, kcode, kdata, u32, udata, ucode, -, tss(2)
