"""Tests for kvmsentry.loader.stack: the Linux x86-64 initial stack layout,
and what of the stack exec maps (loader/load.py)."""

import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmsentry.loader.stack import (
    AT_ENTRY,
    AT_EXECFN,
    AT_NULL,
    AT_PAGESZ,
    AT_PHDR,
    AT_PLATFORM,
    AT_RANDOM,
    BUILDER_AUX_KEYS,
    build_initial_stack,
    parse_initial_stack,
)

TOP = 0x7FFF_FFFF_F000
RANDOM = bytes(range(16))


def words_at(image_base, image, addr, count):
    offset = addr - image_base
    return list(struct.unpack_from(f"<{count}Q", image, offset))


def test_known_layout():
    """Every address of a small stack, worked out by hand from binfmt_elf."""
    rsp, base, image = build_initial_stack(
        TOP, [b"a"], [], [(AT_PAGESZ, 4096)], b"/a", random16=RANDOM)
    # top word 0x...eff8; "/a\0" at eff5; "a\0" at eff3; align to eff0;
    # "x86_64\0" at efe9; random at efd9; table of 14 words = 112 bytes
    # from efd9 - 112 = ef69, rounded down to 16 -> ef60.
    assert rsp == base == 0x7FFF_FFFF_EF60
    assert base + len(image) == TOP
    assert image[-8:] == bytes(8)
    assert words_at(base, image, rsp, 14) == [
        1, 0x7FFF_FFFF_EFF3, 0,                  # argc, argv, NULL
        0,                                       # envp NULL
        AT_PAGESZ, 4096,
        AT_PLATFORM, 0x7FFF_FFFF_EFE9,
        AT_RANDOM, 0x7FFF_FFFF_EFD9,
        AT_EXECFN, 0x7FFF_FFFF_EFF5,
        AT_NULL, 0,
    ]
    assert image[0x7FFF_FFFF_EFD9 - base:][:16] == RANDOM
    assert image[0x7FFF_FFFF_EFE9 - base:][:7] == b"x86_64\0"
    assert image[0x7FFF_FFFF_EFF3 - base:][:5] == b"a\0/a\0"


def test_round_trip_simple():
    auxv = [(AT_PHDR, 0x400040), (AT_ENTRY, 0x401000)]
    rsp, base, image = build_initial_stack(
        TOP, [b"/bin/prog", b"-v"], [b"HOME=/", b"PATH=/bin"], auxv,
        b"/bin/prog", random16=RANDOM)
    argv, envp, aux, strings = parse_initial_stack(base, image, rsp)
    assert argv == [b"/bin/prog", b"-v"]
    assert envp == [b"HOME=/", b"PATH=/bin"]
    assert list(aux.items())[:2] == auxv
    assert strings == {"execfn": b"/bin/prog", "platform": b"x86_64",
                       "random": RANDOM}


def test_random_defaults_to_fresh_bytes():
    rsp, base, image = build_initial_stack(TOP, [b"x"], [], [], b"x")
    _, _, _, strings = parse_initial_stack(base, image, rsp)
    assert len(strings["random"]) == 16


def test_positional_call():
    rsp, base, image = build_initial_stack(TOP, [b"x"], [], [], b"x",
                                           b"i686", RANDOM)
    _, _, _, strings = parse_initial_stack(base, image, rsp)
    assert strings["platform"] == b"i686"
    assert strings["random"] == RANDOM


@pytest.mark.parametrize("kwargs, message", [
    ({"argv": [b"a\0b"]}, r"argv\[0\] contains a NUL"),
    ({"envp": [b"A=1", b"B=\0"]}, r"envp\[1\] contains a NUL"),
    ({"execfn": b"/x\0"}, "execfn contains a NUL"),
    ({"platform": b"x8\x006"}, "platform contains a NUL"),
    ({"argv": ["text"]}, r"argv\[0\] must be bytes"),
    ({"random16": b"short"}, "random16 must be 16 bytes"),
    ({"auxv": [(AT_RANDOM, 1)]}, "written by the stack builder"),
    ({"auxv": [(AT_NULL, 0)]}, "written by the stack builder"),
    ({"auxv": [(AT_PHDR, 1), (AT_PHDR, 2)]}, "given twice"),
    ({"auxv": [(AT_PHDR, 1 << 64)]}, "not two u64s"),
    ({"stack_top": TOP - 4}, "not 8-byte aligned"),
    ({"argv": [b"x" * 1000] * 3, "max_bytes": 2048},
     "argument list too long"),
    ({"envp": [b"x" * (200 * 1024)]}, r"envp\[0\] is longer than"),
])
def test_rejects(kwargs, message):
    args = {"stack_top": TOP, "argv": [b"prog"], "envp": [], "auxv": [],
            "execfn": b"prog", "random16": RANDOM}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_initial_stack(**args)


def test_default_limit_is_two_mib():
    envp = [b"x" * 100_000] * 21         # just over 2 MiB of strings
    with pytest.raises(ValueError, match="argument list too long"):
        build_initial_stack(TOP, [b"p"], envp, [], b"p", random16=RANDOM)
    build_initial_stack(TOP, [b"p"], envp[:20], [], b"p", random16=RANDOM)


def test_table_counts_toward_limit():
    """Pointers cost stack space too, as in Linux's E2BIG accounting."""
    argv = [b""] * 200
    with pytest.raises(ValueError, match="argument list too long"):
        build_initial_stack(TOP, argv, [], [], b"p", random16=RANDOM,
                            max_bytes=1024)


def test_parse_rejects_pointer_outside_image():
    rsp, base, image = build_initial_stack(TOP, [b"p"], [], [], b"p",
                                           random16=RANDOM)
    bad = bytearray(image)
    struct.pack_into("<Q", bad, rsp - base + 8, 0x1000)    # argv[0]
    with pytest.raises(ValueError, match="outside the stack image"):
        parse_initial_stack(base, bytes(bad), rsp)


# --- property tests -----------------------------------------------------------

nul_free = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"@"))
aux_key = st.integers(0, (1 << 64) - 1).filter(
    lambda k: k not in BUILDER_AUX_KEYS)
u64 = st.integers(0, (1 << 64) - 1)


def cstring_end(addr, s):
    return addr + len(s) + 1


@settings(max_examples=300, deadline=None)
@given(
    stack_top=st.integers(1 << 20, 1 << 47).map(lambda a: a & ~7),
    argv=st.lists(nul_free, max_size=8),
    envp=st.lists(nul_free, max_size=8),
    auxv=st.dictionaries(aux_key, u64, max_size=8),
    execfn=nul_free,
    platform=nul_free,
    random16=st.binary(min_size=16, max_size=16),
)
def test_build_then_parse(stack_top, argv, envp, auxv, execfn, platform,
                          random16):
    aux_pairs = list(auxv.items())
    rsp, base, image = build_initial_stack(
        stack_top, argv, envp, aux_pairs, execfn, platform=platform,
        random16=random16)
    assert rsp % 16 == 0
    assert base + len(image) == stack_top
    assert base <= rsp < stack_top
    assert image[-8:] == bytes(8)

    got_argv, got_envp, got_aux, strings = parse_initial_stack(base, image,
                                                               rsp)
    assert got_argv == argv
    assert got_envp == envp
    assert list(got_aux.items())[:len(aux_pairs)] == aux_pairs
    assert list(got_aux)[len(aux_pairs):] == [AT_PLATFORM, AT_RANDOM,
                                              AT_EXECFN]
    assert strings == {"execfn": execfn, "platform": platform,
                       "random": random16}

    # The strings are packed top-down exactly as Linux copies them:
    # execfn under the top word, then envp, then argv with argv[0] lowest.
    argc = len(argv)
    table = words_at(base, image, rsp, 1 + argc + 1 + len(envp) + 1)
    argv_ptrs = table[1:1 + argc]
    envp_ptrs = table[2 + argc:2 + argc + len(envp)]
    execfn_addr = got_aux[AT_EXECFN]
    assert cstring_end(execfn_addr, execfn) == stack_top - 8
    pointers = argv_ptrs + envp_ptrs + [execfn_addr]
    values = argv + envp + [execfn]
    for (addr, s), next_addr in zip(zip(pointers, values), pointers[1:]):
        assert cstring_end(addr, s) == next_addr
    for addr in pointers + [got_aux[AT_PLATFORM], got_aux[AT_RANDOM]]:
        assert base <= addr < stack_top

    # Platform sits on the 16-byte boundary under the strings, the random
    # bytes right under it, and under those at most 15 bytes of padding
    # before the end of the auxv table.
    lowest_string = pointers[0]
    platform_addr = got_aux[AT_PLATFORM]
    assert cstring_end(platform_addr, platform) == lowest_string & ~15
    assert got_aux[AT_RANDOM] + 16 == platform_addr
    table_end = rsp + 8 * (len(table) + 2 * (len(got_aux) + 1))
    assert 0 <= got_aux[AT_RANDOM] - table_end < 16


# --- against the host kernel ----------------------------------------------------

DUMP_STACK_C = r"""
#include <stdio.h>
#include <elf.h>
int main(int argc, char **argv, char **envp) {
    printf("rsp %lx\n", (unsigned long)(argv - 1));
    for (int i = 0; i < argc; i++) printf("argv %lx\n", (unsigned long)argv[i]);
    char **e = envp;
    for (; *e; e++) printf("envp %lx\n", (unsigned long)*e);
    for (Elf64_auxv_t *a = (Elf64_auxv_t *)(e + 1); a->a_type; a++)
        printf("aux %lu %lx\n", a->a_type, a->a_un.a_val);
    return 0;
}
"""


def test_matches_host_kernel_layout(tmp_path):
    """Same inputs as a real exec with ASLR off give the same addresses."""
    if shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    source = tmp_path / "dump.c"
    source.write_text(DUMP_STACK_C)
    program = tmp_path / "dump"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(program),
                    str(source)], check=True, capture_output=True)
    argv = [str(program).encode(), b"one", b"", b"three"]
    envp = [b"A=1", b"BB=22"]
    run = subprocess.run(["setarch", "-R", *map(bytes.decode, argv)],
                         env={"A": "1", "BB": "22"}, capture_output=True)
    if run.returncode != 0:
        pytest.skip("cannot run with ASLR disabled here")
    host = {"argv": [], "envp": [], "aux": []}
    for line in run.stdout.decode().splitlines():
        kind, *fields = line.split()
        if kind == "rsp":
            host_rsp = int(fields[0], 16)
        elif kind == "aux":
            host["aux"].append((int(fields[0]), int(fields[1], 16)))
        else:
            host[kind].append(int(fields[0], 16))
    host_aux = dict(host["aux"])
    execfn = argv[0]
    stack_top = host_aux[AT_EXECFN] + len(execfn) + 1 + 8
    passed = [p for p in host["aux"] if p[0] not in BUILDER_AUX_KEYS]

    rsp, base, image = build_initial_stack(stack_top, argv, envp, passed,
                                           execfn, random16=RANDOM)
    table = words_at(base, image, rsp, 1 + len(argv) + 1 + len(envp) + 1)
    _, _, aux, _ = parse_initial_stack(base, image, rsp)
    assert rsp == host_rsp
    assert table[1:1 + len(argv)] == host["argv"]
    assert table[2 + len(argv):-1] == host["envp"]
    for key in (AT_PLATFORM, AT_RANDOM, AT_EXECFN):
        assert aux[key] == host_aux[key]


class _Creds:
    uid = euid = gid = egid = 1000


def test_exec_populates_only_the_stack_top(tmp_path):
    from kvmsentry.loader.load import STACK_PREFAULT, load_elf
    from kvmsentry.mm.address_space import STACK_LIMIT, STACK_TOP, AddressSpace
    from kvmsentry.mm.pool import PhysPool
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-gcc missing")
    (tmp_path / "exit0.c").write_text("int main(void) { return 0; }\n")
    prog = tmp_path / "exit0"
    subprocess.run(["musl-gcc", "-static", "-O1", "-o", str(prog), str(tmp_path / "exit0.c")],
                   check=True)
    pool = PhysPool(64 << 20)
    mm = AddressSpace(pool, None)
    try:
        argv, envp = [str(prog).encode(), b"x" * 100], [b"A=1", b"B=2"]
        _, rsp = load_elf(mm, argv[0], prog.read_bytes(), argv, envp, creds=_Creds(), hwcap=0,
                          read_file=None)
        stack = sorted(va for va in mm.pages if STACK_TOP - STACK_LIMIT <= va < STACK_TOP)
        # Every spawn pays for each of these pages (exec, the next fork's
        # copy, two teardowns): four, the argv/envp/auxv page among them.
        assert stack == list(range(STACK_TOP - STACK_PREFAULT, STACK_TOP, 4096))
        assert len(stack) == 4
        assert STACK_TOP - STACK_PREFAULT <= rsp < STACK_TOP
        assert mm.copy_in(rsp, 8) == (2).to_bytes(8, "little")           # argc
    finally:
        mm.destroy()
        pool.close()
