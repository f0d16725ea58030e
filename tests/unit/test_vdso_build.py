"""The shipped vDSO image is what vdso/vdso.c builds to, and it has the
shape the C libraries expect of a vDSO."""
import importlib.util
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "kvmsentry", "mm", "vdso.elf")


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "vdso_build", os.path.join(ROOT, "vdso", "build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_image_matches_source():
    with open(SHIPPED, "rb") as f:
        assert _build_module().build() == f.read()


def test_exports_linux_2_6_symbols_and_needs_no_relocation():
    out = subprocess.run(["readelf", "-W", "--dyn-syms", "-r", "-l", SHIPPED],
                         capture_output=True, text=True, check=True).stdout
    for name in ("__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
                 "__vdso_getcpu", "__vdso_clock_getres"):
        assert "%s@@LINUX_2.6" % name in out, name
    assert "There are no relocations" in out
    # One R+X load segment holding the ELF header (so the image finds its
    # [vvar] page from __ehdr_start), and a read-only PT_DYNAMIC that
    # glibc's loader must not write to.
    loads = [l for l in out.splitlines() if l.strip().startswith("LOAD")]
    assert len(loads) == 1 and " R E " in loads[0] and "0x000000 " in loads[0]
    dynamic = [l for l in out.splitlines() if l.strip().startswith("DYNAMIC")]
    assert len(dynamic) == 1 and " R  " in dynamic[0]
