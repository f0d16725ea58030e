"""The shipped stub bytes are exactly what guest_stub/stub.s assembles to."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "stub_build", os.path.join(ROOT, "guest_stub", "build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_stub_matches_source():
    from kvmsentry.platform.kvm.machine import stub_image
    assert _build_module().assemble() == stub_image()


def test_build_is_reproducible():
    build = _build_module()
    assert build.assemble() == build.assemble()


def test_entry_points_at_documented_offsets():
    from capstone import CS_ARCH_X86, CS_MODE_64, Cs
    from kvmsentry.arch import layout
    from kvmsentry.platform.kvm.machine import stub_image
    image = stub_image()
    cs = Cs(CS_ARCH_X86, CS_MODE_64)

    def first(off, n=2):
        return [(i.mnemonic, i.op_str) for i in cs.disasm(image[off:off + 16], off, n)]

    port = lambda p: hex(p)
    assert first(layout.SYSCALL_R0_OFF) == [("out", port(layout.PORT_SYSCALL_R0) + ", al"),
                                            ("sysretq", "")]
    assert first(layout.PROBE_OUT_OFF, 1) == [("out", port(layout.PORT_SYSCALL) + ", al")]
    assert first(layout.SELFTEST_OFF, 1) == [("syscall", "")]
    assert first(layout.EXC_COMMON_OFF, 3)[0] == ("out", port(layout.PORT_EXCEPTION) + ", al")
    # vector 14 (#PF) pushes only its number: the CPU pushed the error code
    assert first(layout.VECTORS_OFF + 14 * layout.VECTOR_STRIDE, 1) == [("push", "0xe")]
    assert first(layout.VECTORS_OFF + 6 * layout.VECTOR_STRIDE, 2) == [("push", "0"), ("push", "6")]
