"""kvmsentry.loader.load on a real static program, without a guest: what
exec leaves mapped in the fresh address space."""
import shutil
import subprocess

import pytest

from kvmsentry.loader.load import STACK_PREFAULT, load_elf
from kvmsentry.mm.address_space import STACK_LIMIT, STACK_TOP, AddressSpace
from kvmsentry.mm.pool import PhysPool

P = 4096


@pytest.fixture
def static_exit0(tmp_path):
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-gcc missing")
    src = tmp_path / "exit0.c"
    src.write_text("int main(void) { return 0; }\n")
    out = tmp_path / "exit0"
    subprocess.run(["musl-gcc", "-static", "-O1", "-o", str(out), str(src)], check=True)
    return out


@pytest.fixture
def mm():
    pool = PhysPool(64 << 20)
    space = AddressSpace(pool, None)
    yield space
    space.destroy()
    pool.close()


def test_exec_populates_only_the_stack_top(mm, static_exit0):
    path = str(static_exit0).encode()
    argv, envp = [path, b"x" * 100], [b"A=1", b"B=2"]
    entry, rsp = load_elf(mm, path, static_exit0.read_bytes(), argv, envp,
                          creds=_Creds(), hwcap=0, read_file=None)
    stack = [va for va in mm.pages if STACK_TOP - STACK_LIMIT <= va < STACK_TOP]
    # Every spawn pays for each of these pages (exec, the next fork's
    # copy, two teardowns): four, the argv/envp/auxv page among them.
    assert sorted(stack) == list(range(STACK_TOP - STACK_PREFAULT, STACK_TOP, P))
    assert len(stack) == 4
    assert STACK_TOP - STACK_PREFAULT <= rsp < STACK_TOP
    assert mm.copy_in(rsp, 8) == (2).to_bytes(8, "little")           # argc


class _Creds:
    uid = euid = gid = egid = 1000
