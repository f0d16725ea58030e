"""Tests for kvmsentry.loader.elf: built headers, fuzzed headers, real binaries."""

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvmsentry.loader.elf import (
    ET_DYN,
    ET_EXEC,
    PF_R,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    PT_PHDR,
    PT_TLS,
    ElfError,
    ElfImage,
    Segment,
    parse_elf,
)

EHDR_SIZE = 64
PHDR_SIZE = 56
INTERP = b"/lib64/ld-linux-x86-64.so.2"


# --- a small ELF builder ----------------------------------------------------

def phdr(p_type, flags=PF_R, offset=0, vaddr=0, filesz=0, memsz=None,
         align=0x1000):
    """One program header as a tuple in Elf64_Phdr field order."""
    if memsz is None:
        memsz = filesz
    return (p_type, flags, offset, vaddr, vaddr, filesz, memsz, align)


def make_elf(phdrs, *, e_type=ET_EXEC, machine=62, entry=0x401000,
             phoff=EHDR_SIZE, size=None, ident=None, phentsize=PHDR_SIZE,
             phnum=None, blobs=(), cover_loads=True):
    """Build an ELF64 file: header, program headers at phoff, blobs.

    blobs is a list of (offset, bytes) written into the file; the file is
    made at least `size` bytes, long enough for everything written and,
    unless cover_loads is false, for every PT_LOAD's file range.
    """
    if ident is None:
        ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    if phnum is None:
        phnum = len(phdrs)
    header = struct.pack("<16sHHIQQQIHHHHHH", ident, e_type, machine, 1,
                         entry, phoff, 0, 0, EHDR_SIZE, phentsize, phnum,
                         64, 0, 0)
    table = b"".join(struct.pack("<IIQQQQQQ", *p) for p in phdrs)
    end = max([EHDR_SIZE, phoff + len(table), size or 0]
              + [off + len(b) for off, b in blobs]
              + [p[2] + p[5] for p in phdrs if cover_loads and p[0] == PT_LOAD])
    data = bytearray(end)
    data[:EHDR_SIZE] = header
    data[phoff:phoff + len(table)] = table
    for off, blob in blobs:
        data[off:off + len(blob)] = blob
    return bytes(data)


def typical_dynamic_elf():
    """A PIE with PT_PHDR, PT_INTERP, two PT_LOADs, PT_TLS and PT_GNU_STACK."""
    phnum = 6
    interp_off = EHDR_SIZE + phnum * PHDR_SIZE
    phdrs = [
        phdr(PT_PHDR, PF_R, EHDR_SIZE, 0x40, phnum * PHDR_SIZE, align=8),
        phdr(PT_INTERP, PF_R, interp_off, interp_off, len(INTERP) + 1,
             align=1),
        phdr(PT_LOAD, PF_R | PF_X, 0, 0, 0x1800),
        phdr(PT_LOAD, PF_R | PF_W, 0x1800, 0x2800, 0x100, 0x2000),
        phdr(PT_TLS, PF_R, 0x1800, 0x2800, 0x10, 0x20, align=8),
        phdr(PT_GNU_STACK, PF_R | PF_W, align=16),
    ]
    return make_elf(phdrs, e_type=ET_DYN, entry=0x1100, size=0x1900,
                    blobs=[(interp_off, INTERP + b"\0")])


# --- hand-made files ----------------------------------------------------------

def test_typical_dynamic_elf():
    image = parse_elf(typical_dynamic_elf())
    assert image.type == "dyn"
    assert image.entry == 0x1100
    assert (image.phoff, image.phentsize, image.phnum) == (64, 56, 6)
    assert image.interp == INTERP
    assert image.phdr_vaddr == 0x40
    assert image.exec_stack is False
    assert image.segments == (
        Segment(0, 0x1800, 0, 0x1800, True, False, True, 0x1000),
        Segment(0x2800, 0x2000, 0x1800, 0x100, True, True, False, 0x1000),
    )
    assert image.tls == Segment(0x2800, 0x20, 0x1800, 0x10, True, False,
                                False, 8)
    assert image.span() == (0, 0x5000)


def test_static_exec_defaults():
    data = make_elf([phdr(PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x200)],
                    entry=0x400100)
    image = parse_elf(data)
    assert image.type == "exec"
    assert image.interp is None
    assert image.tls is None
    assert image.exec_stack is True          # no PT_GNU_STACK
    # No PT_PHDR: found through the PT_LOAD that holds the table.
    assert image.phdr_vaddr == 0x400040
    assert image.span() == (0x400000, 0x401000)


def test_phdr_vaddr_none_when_no_load_holds_it():
    data = make_elf([phdr(PT_LOAD, PF_R, 0x1000, 0x401000, 0x10)],
                    size=0x1010)
    assert parse_elf(data).phdr_vaddr is None


def test_exec_stack_flag():
    data = make_elf([phdr(PT_LOAD, PF_R, 0, 0x400000, 0x100),
                     phdr(PT_GNU_STACK, PF_R | PF_W | PF_X)])
    assert parse_elf(data).exec_stack is True


def test_span_without_load_raises():
    data = make_elf([phdr(PT_GNU_STACK, PF_R | PF_W)])
    image = parse_elf(data)
    assert image.segments == ()
    with pytest.raises(ElfError, match="no loadable"):
        image.span()


def test_image_is_frozen():
    image = parse_elf(typical_dynamic_elf())
    assert isinstance(image, ElfImage)
    with pytest.raises(AttributeError):
        image.entry = 0


def with_u64(data, offset, value):
    """data with the u64 at offset replaced (e_phoff is at 32)."""
    return data[:offset] + struct.pack("<Q", value) + data[offset + 8:]


ONE_LOAD = [phdr(PT_LOAD, PF_R, 0, 0x400000, 0x100)]


@pytest.mark.parametrize("data, message", [
    (b"", "not an ELF file"),
    (b"#!/bin/sh\n", "not an ELF file"),
    (b"\x7fEL", "not an ELF file"),
    (b"\x7fELF", "truncated ELF header"),
    (b"\x7fELF\x01\x01\x01", "32-bit ELF is not supported"),
    (b"\x7fELF\x03", "invalid ELF class 3"),
    (b"\x7fELF\x02\x02\x01", "big-endian ELF is not supported"),
    (b"\x7fELF\x02\x00", "invalid ELF data encoding 0"),
    (b"\x7fELF\x02\x01\x01" + bytes(40), "truncated ELF header"),
    (make_elf(ONE_LOAD, machine=183),
     r"ELF for machine 183 \(AArch64\), not x86-64"),
    (make_elf(ONE_LOAD, machine=3), r"machine 3 \(i386\)"),
    (make_elf(ONE_LOAD, machine=9999), r"machine 9999 \(unknown\)"),
    (make_elf(ONE_LOAD, e_type=1),
     r"ELF type 1 \(relocatable\) cannot be executed"),
    (make_elf(ONE_LOAD, e_type=4), r"ELF type 4 \(core dump\)"),
    (make_elf(ONE_LOAD, phentsize=32), "program header entry size 32"),
    (make_elf([], phnum=0), "no program headers"),
    (make_elf(ONE_LOAD, phnum=2000), "too many program headers"),
    (make_elf(ONE_LOAD, phnum=5), "program headers out of file bounds"),
    (with_u64(make_elf(ONE_LOAD), 32, 1 << 63),
     "program headers out of file bounds"),
    (make_elf(ONE_LOAD, entry=1 << 47), "entry point"),
    (make_elf([phdr(PT_LOAD, PF_R, 0, 0x400000, 0x100, 0x80)]),
     "segment with p_filesz > p_memsz"),
    (make_elf([phdr(PT_LOAD, PF_R, 0, 0x400010, 0x100)]),
     "PT_LOAD offset and vaddr not congruent modulo page size"),
    (make_elf([phdr(PT_LOAD, PF_R, 0, (1 << 47) - 0x1000, 0x100, 0x2000)]),
     r"address overflow beyond 2\*\*47"),
    (make_elf([phdr(PT_LOAD, PF_R, 0, 0x400000, 0x10000)],
              cover_loads=False),
     "file range out of file bounds"),
    (make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 8)], size=0x104),
     "PT_INTERP out of file bounds"),
    (make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 4)], size=0x104,
              blobs=[(0x100, b"/abc")]),
     "PT_INTERP path is not NUL-terminated"),
    (make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 1)], size=0x104),
     "PT_INTERP size 1 is invalid"),
    (make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 8000)], size=0x2000),
     "PT_INTERP size 8000 is invalid"),
    (make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 4)], size=0x104),
     "PT_INTERP path is empty"),
    (make_elf([phdr(PT_TLS, PF_R, 0, 0, 0x10, 0x8)]),
     "PT_TLS segment with p_filesz > p_memsz"),
], ids=lambda value: "elf" if isinstance(value, bytes) else None)
def test_rejects(data, message):
    with pytest.raises(ElfError, match=message):
        parse_elf(data)


def test_error_messages_are_one_line():
    with pytest.raises(ElfError) as info:
        parse_elf(make_elf(ONE_LOAD, machine=40))
    assert "\n" not in str(info.value)
    assert str(info.value) == "ELF for machine 40 (ARM), not x86-64"


def test_interp_stops_at_first_nul():
    data = make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 8)], size=0x108,
                    blobs=[(0x100, b"/ld\0xyz\0")])
    assert parse_elf(data).interp == b"/ld"


def test_first_interp_wins():
    data = make_elf([phdr(PT_INTERP, PF_R, 0x100, 0, 4),
                     phdr(PT_INTERP, PF_R, 0x110, 0, 4)], size=0x120,
                    blobs=[(0x100, b"/ld\0"), (0x110, b"/xx\0")])
    assert parse_elf(data).interp == b"/ld"


# --- property tests -----------------------------------------------------------

PAGE = 4096


@st.composite
def load_segments(draw):
    """A random valid PT_LOAD set: (phdr tuples, expected Segments)."""
    count = draw(st.integers(1, 6))
    phdrs, expected = [], []
    for _ in range(count):
        page_off = draw(st.integers(0, PAGE - 1))
        offset = page_off + PAGE * draw(st.integers(0, 4))
        # Room below 2**47 for the largest memsz drawn below.
        vaddr = page_off + PAGE * draw(st.integers(0, (1 << 35) - (1 << 19)))
        filesz = draw(st.integers(0, 2 * PAGE))
        memsz = filesz + draw(st.integers(0, 1 << 30))
        flags = draw(st.integers(0, 7))
        align = draw(st.sampled_from([0, 1, PAGE, 0x200000]))
        phdrs.append(phdr(PT_LOAD, flags, offset, vaddr, filesz, memsz,
                          align))
        expected.append(Segment(vaddr, memsz, offset, filesz,
                                bool(flags & PF_R), bool(flags & PF_W),
                                bool(flags & PF_X), align))
    return phdrs, expected


@settings(max_examples=200, deadline=None)
@given(load_segments(), st.sampled_from([ET_EXEC, ET_DYN]),
       st.integers(0, (1 << 47) - 1))
def test_valid_loads_round_trip(loads, e_type, entry):
    phdrs, expected = loads
    data = make_elf(phdrs, e_type=e_type, entry=entry)
    image = parse_elf(data)
    assert image.type == ("exec" if e_type == ET_EXEC else "dyn")
    assert image.entry == entry
    assert image.phnum == len(phdrs)
    assert image.segments == tuple(expected)
    lo, hi = image.span()
    assert lo % PAGE == 0 and hi % PAGE == 0
    assert lo <= min(s.vaddr for s in expected) < lo + PAGE
    top = max(s.vaddr + s.memsz for s in expected)
    assert hi - PAGE < top <= hi
    holders = [s for s in expected
               if s.offset <= EHDR_SIZE
               and EHDR_SIZE + len(phdrs) * PHDR_SIZE <= s.offset + s.filesz]
    if holders:
        assert image.phdr_vaddr == holders[0].vaddr + EHDR_SIZE - \
            holders[0].offset
    else:
        assert image.phdr_vaddr is None


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 0x1900 - 1), st.integers(0, 255)),
                max_size=12),
       st.one_of(st.none(), st.integers(0, 0x1900)))
def test_mutations_parse_or_raise_elf_error(mutations, cut):
    data = bytearray(typical_dynamic_elf())
    for index, value in mutations:
        data[index] = value
    if cut is not None:
        del data[cut:]
    try:
        image = parse_elf(bytes(data))
    except ElfError as error:
        assert str(error) and "\n" not in str(error)
        return
    if image.segments:
        image.span()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_after_magic(tail):
    try:
        parse_elf(b"\x7fELF\x02\x01" + tail)
    except ElfError:
        pass


# --- real binaries --------------------------------------------------------------

HELLO_C = r"""
#include <stdio.h>
__thread int tls_counter = 3;
int main(int argc, char **argv) {
    printf("hello %d %s\n", argc + tls_counter, argv[0]);
    return 0;
}
"""

LOAD_LINE = re.compile(
    r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+"
    r"(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+([RWE ]+?)\s+(0x[0-9a-f]+)\s*$")


def readelf_facts(path):
    """(type word, entry, [Segment...], has TLS) as readelf reports them."""
    header = subprocess.run(["readelf", "-hW", str(path)], check=True,
                            capture_output=True, text=True).stdout
    e_type = re.search(r"^\s*Type:\s+(\w+)", header, re.M).group(1)
    entry = int(re.search(r"Entry point address:\s+(0x[0-9a-f]+)",
                          header).group(1), 16)
    progs = subprocess.run(["readelf", "-lW", str(path)], check=True,
                           capture_output=True, text=True).stdout
    segments = []
    for line in progs.splitlines():
        match = LOAD_LINE.match(line)
        if match:
            offset, vaddr, filesz, memsz, flags, align = match.groups()
            segments.append(Segment(
                int(vaddr, 16), int(memsz, 16), int(offset, 16),
                int(filesz, 16), "R" in flags, "W" in flags, "E" in flags,
                int(align, 16)))
    has_tls = bool(re.search(r"^\s*TLS\s", progs, re.M))
    return e_type, entry, segments, has_tls


def compile_hello(tmp_dir, compiler, flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    source = tmp_dir / "hello.c"
    source.write_text(HELLO_C)
    out = tmp_dir / f"hello-{compiler}{''.join(flags)}"
    subprocess.run([compiler, *flags, "-O1", "-o", str(out), str(source)],
                   check=True, capture_output=True)
    return out


@pytest.mark.parametrize("compiler, flags, expected_type", [
    ("gcc", ["-static"], "exec"),
    ("gcc", ["-static-pie"], "dyn"),
    ("musl-gcc", ["-static"], "exec"),
])
def test_real_static_binaries(tmp_path, compiler, flags, expected_type):
    path = compile_hello(tmp_path, compiler, flags)
    image = parse_elf(path.read_bytes())
    e_type, entry, segments, has_tls = readelf_facts(path)
    assert image.type == expected_type
    assert e_type == {"exec": "EXEC", "dyn": "DYN"}[expected_type]
    assert image.entry == entry
    assert image.interp is None
    assert list(image.segments) == segments
    assert (image.tls is not None) == has_tls
    assert image.phdr_vaddr is not None
    assert image.exec_stack is False           # gcc marks the stack non-exec
    lo, hi = image.span()
    assert lo <= image.entry < hi


def test_real_dynamic_binary():
    ls = Path("/bin/ls")
    if not ls.exists():
        pytest.skip("/bin/ls is missing")
    image = parse_elf(ls.read_bytes())
    e_type, entry, segments, _ = readelf_facts(ls)
    assert image.interp == INTERP
    assert image.entry == entry
    assert list(image.segments) == segments
    assert image.phdr_vaddr is not None
