"""GDT, IDT and TSS images for one vCPU, as bytes the sentry writes."""
import struct

from kvmsentry.arch import layout

# Flat 64-bit code/data descriptors, ordered like Linux's GDT so that
# SYSRET (CS = STAR[63:48] + 16, SS = + 8) yields 0x33 / 0x2b.
_GDT_WORDS = [
    0,                        # 0x00 null
    0x00CF9B000000FFFF,       # 0x08 kernel 32-bit code (unused)
    0x00AF9B000000FFFF,       # 0x10 kernel code, L=1
    0x00CF93000000FFFF,       # 0x18 kernel data
    0x00CFFB000000FFFF,       # 0x23 user 32-bit code (SYSRET base)
    0x00CFF3000000FFFF,       # 0x2b user data
    0x00AFFB000000FFFF,       # 0x33 user code, L=1
    0,                        # 0x38 unused
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
    """32 interrupt gates into the stub's vector table, all on IST1."""
    out = bytearray(256 * 16)
    for n in range(32):
        handler = layout.STUB_VA + layout.VECTORS_OFF + n * layout.VECTOR_STRIDE
        low = (handler & 0xFFFF) | (layout.KERNEL_CS << 16) | (1 << 32) \
            | (0xE << 40) | (1 << 47) | (((handler >> 16) & 0xFFFF) << 48)
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
