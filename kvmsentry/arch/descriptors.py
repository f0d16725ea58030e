"""GDT, IDT and TSS images for one vCPU, as bytes the sentry writes."""
import struct

from kvmsentry.arch import layout

# Ordered like Linux's GDT so that SYSRET (CS = STAR[63:48] + 16, SS = + 8)
# yields 0x33 / 0x2b. There is no 32-bit code segment: a program that could
# enter compatibility mode could run SYSCALL there, which takes CSTAR into
# ring 0 (on kvm_pvm at CSTAR's low 32 bits, i.e. a user address). SYSRET
# never reads its base slot 0x20, so that slot and the other unused ones
# hold a ring-0 data descriptor: any far jmp/call/ret or iretq to them, or
# load into a data register from ring 3, is a #GP. kvm_pvm's iretq accepts
# a data descriptor as CS, so user data is marked L=1 (D=0), which the CPU
# ignores for data: through that quirk a program gets 64-bit code, never
# 32-bit (and the platform kills it at its next exception).
_UNUSABLE = 0x00CF93000000FFFF          # DPL 0 data
_GDT_WORDS = [
    0,                        # 0x00 null
    _UNUSABLE,                # 0x08
    0x00AF9B000000FFFF,       # 0x10 kernel code, L=1
    0x00CF93000000FFFF,       # 0x18 kernel data
    _UNUSABLE,                # 0x20 SYSRET's base slot
    0x00AFF3000000FFFF,       # 0x2b user data (L=1, D=0: see above)
    0x00AFFB000000FFFF,       # 0x33 user code, L=1
    _UNUSABLE,                # 0x38
]

TSS_LIMIT = layout.TSS_SIZE + layout.IOPB_BYTES  # bitmap plus its 0xff byte - 1


def tss_descriptor(base, limit=TSS_LIMIT, type_=0x9):
    low = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (type_ << 40) \
        | (1 << 47) | (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56)
    return struct.pack("<QQ", low, base >> 32)


def gdt(tss_base):
    data = b"".join(struct.pack("<Q", w) for w in _GDT_WORDS)
    data += tss_descriptor(tss_base)
    assert len(data) == layout.GDT_ENTRIES * 8
    return data


def idt():
    """32 interrupt gates into the stub's vector table, all on IST1. Only
    #BP and #OF may be raised by software from ring 3 (int3, into), as on
    Linux; any other `int N` is a #GP."""
    out = bytearray(256 * 16)
    for n in range(32):
        handler = layout.STUB_VA + layout.VECTORS_OFF + n * layout.VECTOR_STRIDE
        dpl = 3 if n in (3, 4) else 0
        low = (handler & 0xFFFF) | (layout.KERNEL_CS << 16) | (1 << 32) \
            | (0xE << 40) | (dpl << 45) | (1 << 47) | (((handler >> 16) & 0xFFFF) << 48)
        out[n * 16:n * 16 + 16] = struct.pack("<QQ", low, handler >> 32)
    return bytes(out)


def tss(stack_top, allowed_ports):
    """A 64-bit TSS with rsp0 = IST1 = stack_top and an I/O bitmap that lets
    ring 3 use exactly allowed_ports; followed by the required 0xff byte."""
    # reserved, rsp0-2, reserved, ist1-7, reserved, reserved16, iopb offset
    head = struct.pack("<I3QQ7QQHH", 0, stack_top, 0, 0, 0,
                       stack_top, 0, 0, 0, 0, 0, 0, 0, 0, layout.TSS_SIZE)
    assert len(head) == layout.TSS_SIZE
    bitmap = bytearray(b"\xff" * layout.IOPB_BYTES)
    for port in allowed_ports:
        bitmap[port >> 3] &= ~(1 << (port & 7)) & 0xFF
    return head + bytes(bitmap) + b"\xff"
