"""Decoding raw 64-bit register values into the C types handlers expect."""


def i32(v):
    """int argument (fd, flags, ...): the low 32 bits, signed."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def u32(v):
    return v & 0xFFFFFFFF


def i64(v):
    return v - (1 << 64) if v & (1 << 63) else v
