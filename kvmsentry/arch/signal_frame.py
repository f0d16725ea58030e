"""The x86-64 signal frame: build it for a handler, read it back for
rt_sigreturn, byte for byte as Linux does.

Linux (arch/x86/kernel/signal.c get_sigframe(), signal_64.c
x64_setup_rt_frame() and rt_sigreturn, fpu/signal.c) lays out, from the
handler's rsp upwards:

    base+0    pretcode            sa_restorer; the handler's `ret` pops it
    base+8    struct ucontext     304 bytes, uc_mcontext = struct sigcontext
    base+312  siginfo_t           128 bytes
              (8..23 bytes of padding)
    fpstate   XSAVE area          64-byte aligned, xsave_size bytes, then
                                  FP_XSTATE_MAGIC2 (4 bytes)
              (up to 63 bytes of padding)
    rsp - 128                     the interrupted code's red zone is skipped

Placement: fpstate = round_down(sp - (xsave_size + 4), 64), then
base = round_down(fpstate - 440, 16) - 8, so the handler starts with
rsp + 8 16-byte aligned, as after a call. sp is the interrupted rsp minus
the 128-byte red zone, or the top of the alternate stack when SA_ONSTACK
switches to it (no red zone then).

Registers are dicts keyed by struct kvm_regs names (rax..r15, rip,
rflags). This module knows nothing of tasks: the caller supplies the
alternate stack, the saved mask and the FPU image, and guest memory goes
in and out as bytes.
"""
import struct

from kvmsentry.arch import layout
from kvmsentry.errors import SyscallError
from kvmsentry.record import record

MASK64 = (1 << 64) - 1

# --- struct rt_sigframe ----------------------------------------------------------
PRETCODE_OFFSET = 0
UC_OFFSET = 8
UC_SIZE = 304
INFO_OFFSET = UC_OFFSET + UC_SIZE        # 312
SIGINFO_SIZE = 128
FRAME_SIZE = INFO_OFFSET + SIGINFO_SIZE  # 440 = sizeof(struct rt_sigframe)
REDZONE = 128

# struct ucontext (include/uapi/asm-generic/ucontext.h), from uc
UC_FLAGS, UC_LINK, UC_STACK, UC_MCONTEXT, UC_SIGMASK = 0, 8, 16, 40, 296
UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 0x1, 0x2, 0x4
_STACK_T = struct.Struct("<QiiQ")        # ss_sp, ss_flags, (pad), ss_size

# struct sigcontext_64 (uapi asm/sigcontext.h), from uc_mcontext
SC_GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
            "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip",
            "rflags")                    # 18 u64s; rflags is sc.flags
SC_CS = 144                              # u16 cs, gs, fs, ss
SC_ERR, SC_TRAPNO, SC_OLDMASK, SC_CR2, SC_FPSTATE = 152, 160, 168, 176, 184
SC_RESERVED1 = 192                       # u64[8], never written by Linux
SC_SIZE = 256
_SC_GREGS = struct.Struct("<18Q")
_SC_SEGS = struct.Struct("<HHHH")
_SC_TAIL = struct.Struct("<QQQQQ")       # err, trapno, oldmask, cr2, fpstate

# --- the FPU area ------------------------------------------------------------------
FP_XSTATE_MAGIC1 = 0x46505853
FP_XSTATE_MAGIC2 = 0x46505845
FXSAVE_SIZE = 512
SW_BYTES_OFFSET = 464                    # struct _fpx_sw_bytes in fxsave's spare
_SW_BYTES = struct.Struct("<IIQI28x")    # magic1, extended_size, xfeatures, xstate_size
XSAVE_HEADER_OFFSET = 512                # xstate_bv, xcomp_bv, reserved
XSAVE_HEADER_SIZE = 64
MIN_XSTATE_SIZE = FXSAVE_SIZE + XSAVE_HEADER_SIZE
XFEATURE_FP, XFEATURE_SSE, XFEATURE_YMM = 0x1, 0x2, 0x4
FPSSE = XFEATURE_FP | XFEATURE_SSE
FCW_OFFSET, MXCSR_OFFSET = 0, 24
FCW_DEFAULT, MXCSR_DEFAULT = 0x037F, 0x1F80

# --- rflags ------------------------------------------------------------------------
CF, PF, AF, ZF, SF, TF = 1 << 0, 1 << 2, 1 << 4, 1 << 6, 1 << 7, 1 << 8
DF, OF, RF, AC = 1 << 10, 1 << 11, 1 << 16, 1 << 18
# What rt_sigreturn takes from the frame; IF, IOPL, ID... stay as they are.
FIX_EFLAGS = AC | OF | DF | TF | SF | ZF | AF | PF | CF | RF
# Cleared on handler entry: the ABI wants DF clear; TF and RF would turn
# into debug traps inside the handler.
HANDLER_CLEAR_FLAGS = DF | RF | TF

SS_AUTODISARM = 1 << 31


@record
class RtFrame:
    """A frame ready to go: write data at base, then load regs."""

    base: int          # the handler's rsp, where pretcode is
    data: bytes        # base .. fpstate + xsave_size + 4
    regs: dict         # the interrupted regs, now entering the handler
    fpstate: int       # guest address of the XSAVE area

    @property
    def uc(self):
        return self.base + UC_OFFSET

    @property
    def info(self):
        return self.base + INFO_OFFSET


def _on_altstack(sp, ss_sp, ss_size):
    """__on_sig_stack(): the stack grows down, so its top is inside it."""
    return ss_sp < sp <= ss_sp + ss_size


def frame_addresses(rsp, xsave_size, onstack, altstack):
    """Where get_sigframe() puts the frame: (base, fpstate), or None when
    Linux gives up with SIGSEGV (the frame would overflow the alternate
    stack, or fall below address 0)."""
    ss_sp, ss_flags, ss_size = altstack or (0, 0, 0)
    autodisarm = ss_flags & SS_AUTODISARM
    nested = not autodisarm and _on_altstack(rsp, ss_sp, ss_size)
    sp = rsp - REDZONE
    entering = False
    # sas_ss_flags() is asked about sp below the red zone, as Linux does.
    if onstack and ss_size and (autodisarm or not _on_altstack(sp, ss_sp, ss_size)):
        sp = ss_sp + ss_size
        entering = True
    fpstate = (sp - (xsave_size + 4)) & ~63
    base = ((fpstate - FRAME_SIZE) & ~15) - 8
    if (nested or entering) and not _on_altstack(base, ss_sp, ss_size):
        return None
    if base < 0:
        return None
    return base, fpstate


def xsave_for_frame(xsave, xsave_size, xfeatures):
    """The XSAVE image as copy_fpstate_to_sigframe() leaves it: header
    cleared but for xstate_bv (with FP and SSE always set, so legacy code
    editing only the fxsave part is heard), _fpx_sw_bytes in the fxsave
    spare bytes, MAGIC2 right after; xsave_size + 4 bytes."""
    if xsave_size < MIN_XSTATE_SIZE:
        raise ValueError("XSAVE area of %d bytes" % xsave_size)
    area = bytearray(bytes(xsave[:xsave_size]).ljust(xsave_size, b"\0"))
    _SW_BYTES.pack_into(area, SW_BYTES_OFFSET, FP_XSTATE_MAGIC1,
                        xsave_size + 4, xfeatures, xsave_size)
    (xstate_bv,) = struct.unpack_from("<Q", area, XSAVE_HEADER_OFFSET)
    area[XSAVE_HEADER_OFFSET:XSAVE_HEADER_OFFSET + XSAVE_HEADER_SIZE] = bytes(64)
    struct.pack_into("<Q", area, XSAVE_HEADER_OFFSET, (xstate_bv & xfeatures) | FPSSE)
    return bytes(area) + struct.pack("<I", FP_XSTATE_MAGIC2)


def build_rt_frame(regs, *, sig, handler, restorer, sigmask, info, onstack,
                   altstack, xsave, xsave_size, xfeatures,
                   trapno=0, err=0, cr2=0):
    """The frame for running handler(sig, info, uc), or None when Linux
    would force SIGSEGV instead (alternate stack overflow).

    regs: the interrupted registers, after any syscall-restart fix-up.
    restorer: sa_restorer; x86-64 demands SA_RESTORER, and without it
        Linux forces SIGSEGV (the caller checks the flag).
    sigmask: the mask to restore on return (sigmask_to_save(): the
        pre-sigsuspend mask when one is saved).
    info: the 128-byte siginfo_t (Linux writes it only for SA_SIGINFO;
        writing it always is harmless).
    onstack: SA_ONSTACK. altstack: (ss_sp, ss_flags, ss_size) as stored
        by sigaltstack (ss_flags raw, SS_AUTODISARM included), None = none.
    xsave: the FPU state in standard XSAVE format (KVM_GET_XSAVE);
        xsave_size/xfeatures: the XSAVE size and XCR0 features of the guest.
    trapno, err, cr2: the thread's last exception (stale values included,
        as Linux reports them).

    Afterwards the caller loads regs (whose rip/rsp/rdi/rsi/rdx/rax/rflags
    changed), resets the FPU to initial_xsave(), and applies the handler
    mask and SS_AUTODISARM.
    """
    where = frame_addresses(regs["rsp"], xsave_size, onstack, altstack)
    if where is None:
        return None
    base, fpstate = where
    fparea = xsave_for_frame(xsave, xsave_size, xfeatures)
    data = bytearray(fpstate - base + len(fparea))
    struct.pack_into("<Q", data, PRETCODE_OFFSET, restorer & MASK64)
    uc = UC_OFFSET
    struct.pack_into("<QQ", data, uc + UC_FLAGS,
                     UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0)
    ss_sp, ss_flags, ss_size = altstack or (0, 0, 0)
    _STACK_T.pack_into(data, uc + UC_STACK, ss_sp, _s32(ss_flags), 0, ss_size)
    sc = uc + UC_MCONTEXT
    _SC_GREGS.pack_into(data, sc, *(regs[name] & MASK64 for name in SC_GREGS))
    _SC_SEGS.pack_into(data, sc + SC_CS, layout.USER_CS, 0, 0, layout.USER_DS)
    _SC_TAIL.pack_into(data, sc + SC_ERR, err & MASK64, trapno & MASK64,
                       sigmask & MASK64, cr2 & MASK64, fpstate)
    struct.pack_into("<Q", data, uc + UC_SIGMASK, sigmask & MASK64)
    if len(info) != SIGINFO_SIZE:
        raise ValueError("siginfo_t is %d bytes" % SIGINFO_SIZE)
    data[INFO_OFFSET:INFO_OFFSET + SIGINFO_SIZE] = info
    data[fpstate - base:] = fparea

    new = dict(regs)
    new.update(rip=handler, rsp=base, rdi=sig, rsi=base + INFO_OFFSET,
               rdx=base + UC_OFFSET, rax=0,
               rflags=regs["rflags"] & ~HANDLER_CLEAR_FLAGS)
    return RtFrame(base, bytes(data), new, fpstate)


def _s32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


# --- rt_sigreturn ------------------------------------------------------------------
@record
class SigreturnContext:
    """What rt_sigreturn restores, in Linux's order: sigmask first, then
    registers, then the FPU; altstack only if all of that succeeded."""

    regs: dict            # every kvm_regs GPR, rip, rflags (merged); rax is
                          # the syscall's "return value"
    sigmask: int          # raw from the frame; drop SIGKILL/SIGSTOP
    altstack: tuple       # (ss_sp, ss_flags, ss_size), for sigaltstack rules
    uc_flags: int
    cs: int               # Linux would return to cs|3 and ss|3; a 64-bit
    ss: int               # only sentry ignores them
    fpstate: int          # guest address from the frame, 0 = none
    xsave: bytes | None   # standard XSAVE image to load (xsave_size bytes);
                          # None: reset the FPU to initial_xsave()
    fpu_fault: bool       # Linux fails here: FPU reset and SIGSEGV forced,
                          # with regs and sigmask already restored and
                          # the altstack not


def parse_rt_frame(read, rsp, *, rflags, xsave_size, xfeatures, mxcsr_mask=0xFFFF):
    """Read back the frame for rt_sigreturn issued at rsp (= base + 8,
    the handler's `ret` having popped pretcode).

    read(addr, n) returns guest bytes or raises (EFAULT: the caller
    forces SIGSEGV, nothing restored). rflags is the current rflags; only
    FIX_EFLAGS bits come from the frame. xsave_size/xfeatures describe
    the guest's XSAVE (XCR0); mxcsr_mask is the CPU's MXCSR_MASK.
    fs and gs bases are not in the frame and are not touched.
    """
    uc_addr = rsp - 8 + UC_OFFSET
    uc = read(uc_addr, UC_SIZE)
    (uc_flags,) = struct.unpack_from("<Q", uc, UC_FLAGS)
    ss_sp, ss_flags, _, ss_size = _STACK_T.unpack_from(uc, UC_STACK)
    sc = UC_MCONTEXT
    regs = dict(zip(SC_GREGS, _SC_GREGS.unpack_from(uc, sc)))
    regs["rflags"] = (rflags & ~FIX_EFLAGS) | (regs["rflags"] & FIX_EFLAGS)
    cs, _, _, ss = _SC_SEGS.unpack_from(uc, sc + SC_CS)
    fpstate = _SC_TAIL.unpack_from(uc, sc + SC_ERR)[4]
    (sigmask,) = struct.unpack_from("<Q", uc, UC_SIGMASK)
    xsave, fault = None, False
    if fpstate:
        try:
            xsave = _read_fpstate(read, fpstate, xsave_size, xfeatures, mxcsr_mask)
        except SyscallError:        # unreadable: as bad as a #GP
            pass
        fault = xsave is None
    return SigreturnContext(regs, sigmask, (ss_sp, ss_flags & 0xFFFFFFFF, ss_size),
                            uc_flags, cs | 3, ss | 3, fpstate, xsave, fault)


def _read_fpstate(read, addr, xsave_size, xfeatures, mxcsr_mask):
    """fpu__restore_sig(): the image the FPU ends up with, or None where
    XRSTOR/FXRSTOR would #GP (Linux then fails the sigreturn).

    A valid _fpx_sw_bytes + MAGIC2 selects XRSTOR of the features the
    frame names (the others go to init); otherwise only the legacy fxsave
    part is restored (FXRSTOR) and everything else is reset.
    """
    magic1, ext_size, frame_xfeatures, xstate_size = _SW_BYTES.unpack(
        read(addr + SW_BYTES_OFFSET, _SW_BYTES.size))
    xstate = (magic1 == FP_XSTATE_MAGIC1 and MIN_XSTATE_SIZE <= xstate_size <= xsave_size
              and xstate_size <= ext_size
              and struct.unpack("<I", read(addr + xstate_size, 4))[0] == FP_XSTATE_MAGIC2)
    if xstate:
        if addr % 64:
            return None
        image = bytearray(read(addr, xstate_size).ljust(xsave_size, b"\0"))
        rfbm = xfeatures & frame_xfeatures
        xstate_bv, xcomp_bv, reserved = struct.unpack_from("<QQQ", image, XSAVE_HEADER_OFFSET)
        if xstate_bv & ~xfeatures or xcomp_bv or reserved:
            return None
    else:
        if addr % 16:
            return None
        image = bytearray(read(addr, FXSAVE_SIZE).ljust(xsave_size, b"\0"))
        rfbm = xstate_bv = FPSSE
    (mxcsr,) = struct.unpack_from("<I", image, MXCSR_OFFSET)
    if rfbm & (XFEATURE_SSE | XFEATURE_YMM):
        if mxcsr & ~mxcsr_mask:
            return None
    else:
        struct.pack_into("<I", image, MXCSR_OFFSET, MXCSR_DEFAULT)
    # Features outside rfbm are reset; KVM_SET_XSAVE wants the rest of the
    # header zero.
    image[XSAVE_HEADER_OFFSET:XSAVE_HEADER_OFFSET + XSAVE_HEADER_SIZE] = bytes(64)
    struct.pack_into("<Q", image, XSAVE_HEADER_OFFSET, xstate_bv & rfbm)
    return bytes(image)


def initial_xsave(xsave_size):
    """The FPU a handler starts with (fpu__clear_user_states()): every
    feature in its initial state, FCW and MXCSR at their defaults."""
    image = bytearray(xsave_size)
    struct.pack_into("<H", image, FCW_OFFSET, FCW_DEFAULT)
    struct.pack_into("<I", image, MXCSR_OFFSET, MXCSR_DEFAULT)
    return bytes(image)
