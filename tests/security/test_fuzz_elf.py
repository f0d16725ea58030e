"""An ELF mutator for execve: no guest input may crash the sentry (issue 13).

hypothesis mutates the ELF and program headers (and a few raw bytes) of a
small static binary; the mutants are written to a temporary directory and
fuzzprograms/exec_mutants.c execve()s each of them in the sandbox. A
mutant may fail any way it likes (ENOEXEC and friends, a signal, being
killed for hanging); the sandbox must survive them all, as judged by
test_fuzz_syscalls.sandbox_survived. The mutants are never run natively.
"""
import struct

from hypothesis import given, strategies as st

from test_fuzz_syscalls import FUZZ_SETTINGS, built, sandbox_survived  # noqa: F401

MUTANTS = 16                       # per hypothesis example

EHDR_FIELDS = {                     # name: (offset, struct format)
    "ei_class": (4, "B"), "ei_data": (5, "B"), "ei_version": (6, "B"),
    "e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
    "e_entry": (24, "Q"), "e_phoff": (32, "Q"), "e_shoff": (40, "Q"),
    "e_ehsize": (52, "H"), "e_phentsize": (54, "H"), "e_phnum": (56, "H"),
}
PHDR_FIELDS = {
    "p_type": (0, "I"), "p_flags": (4, "I"), "p_offset": (8, "Q"), "p_vaddr": (16, "Q"),
    "p_filesz": (32, "Q"), "p_memsz": (40, "Q"), "p_align": (48, "Q"),
}
EDGES = [0, 1, 2, 3, 4, 6, 7, 0x38, 0x40, 0xfff, 0x1000, 0x1001, 0x10000, 0x400000,
         0x7fffffff, 0x80000000, 0xffffffff, 0x7ffffffff000, 0x7fffffffffff,
         0x800000000000, 0xffff800000000000, 0xffffff8000000000,
         0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff,
         0x6474e551, 0x6474e552, 0x60000000]      # GNU_STACK, GNU_RELRO, OS range


def _value(fmt):
    bits = struct.calcsize(fmt) * 8
    mask = (1 << bits) - 1
    return st.one_of(st.sampled_from(EDGES).map(lambda v: v & mask),
                     st.integers(0, mask))


def _edit():
    """One edit: ("ehdr", field, value), ("phdr", index, field, delta or
    value), ("byte", offset, value) or ("truncate", length)."""
    ehdr = st.sampled_from(sorted(EHDR_FIELDS)).flatmap(
        lambda f: st.tuples(st.just("ehdr"), st.just(f), _value(EHDR_FIELDS[f][1])))
    phdr = st.sampled_from(sorted(PHDR_FIELDS)).flatmap(
        lambda f: st.tuples(st.just("phdr"), st.integers(0, 7), st.just(f),
                            st.one_of(_value(PHDR_FIELDS[f][1]),
                                      st.integers(-0x2000, 0x2000).map(lambda d: ("+", d)))))
    byte = st.tuples(st.just("byte"), st.integers(0, 0x2000), st.integers(0, 255))
    cut = st.tuples(st.just("truncate"), st.integers(0, 0x3000))
    return st.one_of(ehdr, phdr, phdr, byte, cut)


def mutate(image, edits):
    data = bytearray(image)
    phoff, phentsize = struct.unpack_from("<Q", image, 32)[0], 56    # the original's
    for edit in edits:
        kind = edit[0]
        if kind == "ehdr":
            off, fmt = EHDR_FIELDS[edit[1]]
            if off + struct.calcsize(fmt) <= len(data):        # not cut off
                struct.pack_into("<" + fmt, data, off, edit[2])
        elif kind == "phdr":
            off, fmt = PHDR_FIELDS[edit[2]]
            at = phoff + edit[1] * phentsize + off
            if at + struct.calcsize(fmt) > len(data):
                continue
            value = edit[3]
            if isinstance(value, tuple):             # a small shift of the old value
                mask = (1 << 8 * struct.calcsize(fmt)) - 1
                value = (struct.unpack_from("<" + fmt, data, at)[0] + value[1]) & mask
            struct.pack_into("<" + fmt, data, at, value)
        elif kind == "byte":
            if edit[1] < len(data):
                data[edit[1]] = edit[2]
        else:
            del data[edit[1]:]
    return bytes(data)


@FUZZ_SETTINGS
@given(batch=st.lists(st.lists(_edit(), min_size=1, max_size=4),
                      min_size=MUTANTS, max_size=MUTANTS))
def test_elf_mutants_never_crash_the_sentry(built, tmp_path_factory, batch):
    progs, tiny = built
    with open(tiny, "rb") as f:
        image = f.read()
    where = tmp_path_factory.mktemp("mutants")
    for i, edits in enumerate(batch):
        path = where / ("m%d" % i)
        path.write_bytes(mutate(image, edits))
        path.chmod(0o755)
    out = sandbox_survived([progs[("exec_mutants", "static")], str(where), str(len(batch))],
                           "ELF mutants %r" % (batch,))
    assert "mutants done: %d" % len(batch) in out


def test_unmutated_victim_runs(built, tmp_path):
    """The mutator's starting point runs in the sandbox (so the mutants
    start from something the loader accepts)."""
    progs, tiny = built
    (tmp_path / "m0").write_bytes(open(tiny, "rb").read())
    (tmp_path / "m0").chmod(0o755)
    out = sandbox_survived([progs[("exec_mutants", "static")], str(tmp_path), "1"],
                           "the unmutated victim")
    assert "m0: exit 0" in out
