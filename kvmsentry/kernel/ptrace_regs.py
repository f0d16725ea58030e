"""The register layouts ptrace shows: user_regs_struct (GETREGS,
NT_PRSTATUS), struct user's offsets (PEEKUSER/POKEUSER), the FXSAVE
area (GETFPREGS, NT_PRFPREG) and the XSAVE image (NT_X86_XSTATE).

They are read from and written to a stopped tracee's register snapshot
(kernel/ptrace.Tracee), never the live context.
"""
import errno
import struct

from kvmsentry.arch.layout import USER_TOP
from kvmsentry.errors import SyscallError

# struct user_regs_struct, in order (27 unsigned longs).
USER_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
             "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "rflags",
             "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")
USER_REGS_SIZE = 8 * len(USER_REGS)
# Linux's user selectors, as the program sees them in user_regs_struct.
SELECTORS = {"cs": 0x33, "ss": 0x2B, "ds": 0, "es": 0, "fs": 0, "gs": 0}
DEBUGREG_OFFSET = 848                 # offsetof(struct user, u_debugreg)
USER_SIZE = DEBUGREG_OFFSET + 8 * 8   # sizeof(struct user)
FXSAVE_SIZE = 512
XSTATE_XCR0_OFFSET = 464              # where ptrace reports XCR0 (sw_reserved)
MXCSR_OFFSET, MXCSR_MASK = 24, 0xFFFF
# Flags a tracer may set (Linux's FLAG_MASK for x86-64).
FLAG_MASK = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 \
    | 0x40000 | 0x200000 | 0x10000
MASK64 = (1 << 64) - 1


def pack_regs(tr):
    """user_regs_struct of a stopped tracee."""
    regs = tr.regs
    values = []
    for name in USER_REGS:
        if name in SELECTORS:
            values.append(SELECTORS[name])
        elif name == "fs_base":
            values.append(tr.fs_base)
        elif name == "gs_base":
            values.append(tr.gs_base)
        else:
            values.append(regs[name] & MASK64)
    return struct.pack("<27Q", *values)


def set_reg(tr, name, value):
    """putreg(): one register of user_regs_struct; EIO for a bad base."""
    value &= MASK64
    if name in SELECTORS:
        return                               # selectors are fixed in this sandbox
    if name in ("fs_base", "gs_base"):
        if value >= USER_TOP:
            raise SyscallError(errno.EIO)
        setattr(tr, name, value)
        return
    if name == "rflags":
        value = (tr.regs["rflags"] & ~FLAG_MASK) | (value & FLAG_MASK)
        tr.forced_tf = False                 # the tracer owns TF now
    tr.regs[name] = value
    tr.regs_dirty = True


def unpack_regs(tr, data):
    values = struct.unpack("<27Q", data[:USER_REGS_SIZE])
    for name in ("fs_base", "gs_base"):
        if values[USER_REGS.index(name)] >= USER_TOP:
            raise SyscallError(errno.EIO)
    for name, value in zip(USER_REGS, values):
        set_reg(tr, name, value)


def peek_user(tr, offset):
    """PEEKUSER: a word of struct user."""
    if offset & 7 or offset >= USER_SIZE or offset < 0:
        raise SyscallError(errno.EIO)
    if offset < USER_REGS_SIZE:
        return struct.unpack_from("<Q", pack_regs(tr), offset)[0]
    if offset >= DEBUGREG_OFFSET:
        return tr.debugregs[(offset - DEBUGREG_OFFSET) // 8]
    return 0


def poke_user(tr, offset, value):
    """POKEUSER: registers, and debug registers kept but never armed."""
    if offset & 7 or offset >= USER_SIZE or offset < 0:
        raise SyscallError(errno.EIO)
    if offset < USER_REGS_SIZE:
        set_reg(tr, USER_REGS[offset // 8], value)
    elif offset >= DEBUGREG_OFFSET:
        tr.debugregs[(offset - DEBUGREG_OFFSET) // 8] = value & MASK64


def fpregs(tr):
    return bytes(tr.fpu[:FXSAVE_SIZE])


def set_fpregs(tr, data):
    area = bytearray(data[:FXSAVE_SIZE])
    mxcsr = struct.unpack_from("<I", area, MXCSR_OFFSET)[0] & MXCSR_MASK
    struct.pack_into("<I", area, MXCSR_OFFSET, mxcsr)
    area[XSTATE_XCR0_OFFSET:] = bytes(tr.fpu[XSTATE_XCR0_OFFSET:FXSAVE_SIZE])
    tr.fpu = bytes(area) + bytes(tr.fpu[FXSAVE_SIZE:])
    tr.fpu_dirty = True


def xstate(tr, size, xcr0):
    """The XSAVE image with XCR0 where gdb looks for it."""
    image = bytearray(tr.fpu[:size])
    struct.pack_into("<Q", image, XSTATE_XCR0_OFFSET, xcr0)
    return bytes(image)


def set_xstate(tr, data, size, xcr0):
    if len(data) < FXSAVE_SIZE + 64:
        raise SyscallError(errno.EINVAL)
    image = bytearray(tr.fpu)
    new = bytearray(data[:size])
    # As Linux's validate_user_xstate_header: only enabled components in
    # XSTATE_BV, standard format (XCOMP_BV 0), the reserved bytes zero;
    # anything else would make the CPU's XRSTOR fault.
    xstate_bv, xcomp_bv = struct.unpack_from("<QQ", new, FXSAVE_SIZE)
    if xstate_bv & ~xcr0 or xcomp_bv or any(new[FXSAVE_SIZE + 16:FXSAVE_SIZE + 64]):
        raise SyscallError(errno.EINVAL)
    new[XSTATE_XCR0_OFFSET:FXSAVE_SIZE] = image[XSTATE_XCR0_OFFSET:FXSAVE_SIZE]
    mxcsr = struct.unpack_from("<I", new, MXCSR_OFFSET)[0] & MXCSR_MASK
    struct.pack_into("<I", new, MXCSR_OFFSET, mxcsr)
    image[:len(new)] = new
    tr.fpu = bytes(image)
    tr.fpu_dirty = True
