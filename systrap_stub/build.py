"""Compile systrap_stub/stub.c into kvmsentry/platform/systrap/stub.elf.

    python systrap_stub/build.py            # rebuild the shipped binary
    python systrap_stub/build.py --check    # exit 1 if it differs

Freestanding, static, linked at layout.STUB_BASE, no build id: the same
gcc and binutils produce the same bytes (tests/systrap checks it). The
layout constants come from kvmsentry/platform/systrap/layout.py.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOURCE = os.path.join(HERE, "stub.c")
SHIPPED = os.path.join(ROOT, "kvmsentry", "platform", "systrap", "stub.elf")
MACROS = ("STUB_BASE", "CTL_VA", "SLOT_SIZE", "CTL_SIZE", "ALTSTACK_OFF", "ALTSTACK_SIZE",
          "STACK_OFF", "STACK_SIZE", "OPS_OFF", "MAX_OPS", "POOL_FD", "KICK_SIGNAL",
          "BIRTH_NR", "POSTED", "WAITING", "CMD_EXIT", "THREAD_CLONE_FLAGS", "TABLE_VA",
          "TABLE_SIZE", "TABLE_OFF", "TRAMP_VA", "TRAMP_SIZE", "ENTRY_UC", "ENTRY_XSAVE", "DONE_FD", "MAPPER_VA",
          "MAPPER_OFF", "MAPPER_OPS_OFF", "MAPPER_MAX_OPS", "MAPPER_VALUES_OFF", "MAPPER_VALUES",
          "MAPPER_SIZE", "MAPPER_CLONE_FLAGS", "OP_SIZE")


def _layout():
    sys.path.insert(0, ROOT)
    from kvmsentry.platform.systrap import layout
    return layout


def compile_stub():
    """The stub ELF's bytes, built from source."""
    layout = _layout()
    defs = ["-D%s=%#xULL" % (name, getattr(layout, name)) for name in MACROS]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stub.elf")
        subprocess.run(["gcc", "-O2", "-static", "-nostdlib", "-ffreestanding", "-fno-pie", "-mcmodel=large",
                        "-no-pie", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
                        "-fcf-protection=none", "-mgeneral-regs-only", "-Wall", "-Werror",
                        "-Wl,--build-id=none", "-Wl,-Ttext-segment=%#x" % layout.STUB_BASE,
                        "-Wl,-z,noexecstack", "-o", out] + defs + [SOURCE], check=True)
        subprocess.run(["strip", "--strip-all", out], check=True)
        with open(out, "rb") as f:
            return f.read()


def main(argv):
    sys.path.insert(0, ROOT)
    from kvmsentry.shipped_image import check_or_write
    return check_or_write(argv, compile_stub(), SHIPPED)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
