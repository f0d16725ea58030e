"""Assemble guest_stub/stub.s into kvmsentry/platform/kvm/stub.bin.

    python guest_stub/build.py            # rebuild the shipped bytes
    python guest_stub/build.py --check    # exit 1 if they differ

The layout constants are passed to `as` with --defsym from
kvmsentry/arch/layout.py. GNU as and objcopy produce identical bytes for
identical input, which tests/unit/test_stub_build.py checks.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOURCE = os.path.join(HERE, "stub.s")
SHIPPED = os.path.join(ROOT, "kvmsentry", "platform", "kvm", "stub.bin")

SYMBOLS = (
    "SYSCALL_R0_OFF", "EXC_COMMON_OFF", "BAD_ENTRY_OFF", "VECTORS_OFF", "VECTOR_STRIDE",
    "PROBE_OUT_OFF", "SELFTEST_OFF", "STUB_SIZE",
    "PORT_SYSCALL", "PORT_SYSCALL_R0", "PORT_EXCEPTION",
)


def _layout():
    sys.path.insert(0, ROOT)
    from kvmsentry.arch import layout
    return layout


def assemble():
    """Return the stub image bytes assembled from source."""
    layout = _layout()
    defs = []
    for name in SYMBOLS:
        defs += ["--defsym", "%s=%d" % (name, getattr(layout, name))]
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, "stub.o")
        out = os.path.join(tmp, "stub.bin")
        subprocess.run(["as", "--64", "-o", obj] + defs + [SOURCE], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", obj, out],
                       check=True)
        with open(out, "rb") as f:
            image = f.read()
    if len(image) != layout.STUB_SIZE:
        raise RuntimeError("stub image is %d bytes, expected %d"
                           % (len(image), layout.STUB_SIZE))
    return image


def main(argv):
    sys.path.insert(0, ROOT)
    from kvmsentry.shipped_image import check_or_write
    return check_or_write(argv, assemble(), SHIPPED)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
