"""ELF64 x86-64 parsing for program loading.

This reads only what execve(2) needs: the file header, the PT_LOAD
segments, and the PT_INTERP / PT_PHDR / PT_TLS / PT_GNU_STACK entries. It
maps nothing and trusts nothing: every offset and size is checked against
the data before it is used, so a hostile or corrupt file ends in one
ElfError whose message can be shown to the user as the reason exec failed
(the caller turns it into ENOEXEC), never in a struct.error or IndexError.

The checks follow Linux's binfmt_elf (which header fields it insists on,
how it finds AT_PHDR), plus the checks a loader that copies file bytes
itself needs: segment file ranges inside the file, addresses below 2**47.
"""

import struct

from kvmsentry.record import named_tuple

PAGE_SIZE = 4096
USER_ADDR_LIMIT = 1 << 47           # end of the x86-64 lower half

ELF_MAGIC = b"\x7fELF"
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4
EM_X86_64 = 62

PT_NULL = 0
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_PHDR = 6
PT_TLS = 7
PT_GNU_STACK = 0x6474E551

PF_X = 1
PF_W = 2
PF_R = 4

EHDR_SIZE = 64
PHDR_SIZE = 56
PHDRS_MAX_BYTES = 65536             # Linux's bound on the program header table
INTERP_MAX = 4096                   # PATH_MAX, as Linux checks PT_INTERP

# e_ident[16], e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
# e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
# p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
_PHDR = struct.Struct("<IIQQQQQQ")

_TYPE_NAMES = {0: "none", ET_REL: "relocatable", ET_CORE: "core dump"}

# Enough names that the usual "wrong architecture" mistakes read clearly.
_MACHINE_NAMES = {
    2: "SPARC",
    3: "i386",
    8: "MIPS",
    20: "PowerPC",
    21: "PowerPC64",
    22: "S/390",
    40: "ARM",
    43: "SPARC V9",
    50: "IA-64",
    62: "x86-64",
    183: "AArch64",
    243: "RISC-V",
    258: "LoongArch",
}


class ElfError(Exception):
    """The file cannot be executed; str() is one line for the user."""


# Named tuples rather than frozen dataclasses: each of those costs ~2 ms
# to define, at every sandbox's start-up.
class Segment(named_tuple("Segment", "vaddr memsz offset filesz readable writable "
                                     "executable align")):
    """One PT_LOAD (or PT_TLS) entry, as the loader maps it.

    vaddr is the link-time address: for an ET_DYN image the loader adds
    its chosen load bias.
    """
    __slots__ = ()


class ElfImage(named_tuple("ElfImage", "type entry phoff phentsize phnum segments interp "
                                       "tls exec_stack phdr_vaddr")):
    """What exec needs to know about an ELF executable or shared object:
    type ("exec" for ET_EXEC, "dyn" for ET_DYN), entry, phoff, phentsize,
    phnum; segments (a tuple of Segment: PT_LOAD only, in file order);
    interp (the PT_INTERP path without its NUL, or None); tls (the PT_TLS
    Segment or None); exec_stack (PF_X of PT_GNU_STACK; True if absent);
    phdr_vaddr (link-time address of the program headers, or None)."""
    __slots__ = ()

    def span(self):
        """Page-aligned (lo, hi) covering every PT_LOAD segment.

        The loader reserves this whole range (it is what an ET_DYN image
        is relocated as one block), so gaps between segments are included.
        """
        if not self.segments:
            raise ElfError("ELF has no loadable (PT_LOAD) segments")
        lo = min(seg.vaddr for seg in self.segments)
        hi = max(seg.vaddr + seg.memsz for seg in self.segments)
        return _page_down(lo), _page_up(hi)


def parse_elf(data):
    """Parse an ELF64 x86-64 executable held in `data` (the whole file).

    Returns an ElfImage; raises ElfError for anything exec must refuse.
    """
    data = bytes(data)
    (e_type, entry, phoff, phentsize, phnum) = _parse_header(data)
    phdrs = _read_phdrs(data, phoff, phentsize, phnum)

    segments = []
    interp = None
    tls = None
    exec_stack = True
    phdr_vaddr = None
    for index, (p_type, flags, offset, vaddr, _paddr, filesz, memsz,
                align) in enumerate(phdrs):
        if p_type == PT_LOAD:
            segments.append(_load_segment(data, index, flags, offset, vaddr,
                                          filesz, memsz, align))
        elif p_type == PT_INTERP and interp is None:
            # Linux uses the first PT_INTERP and ignores any later ones.
            interp = _read_interp(data, offset, filesz)
        elif p_type == PT_TLS and tls is None:
            tls = _tls_segment(flags, offset, vaddr, filesz, memsz, align)
        elif p_type == PT_GNU_STACK:
            exec_stack = bool(flags & PF_X)
        elif p_type == PT_PHDR and phdr_vaddr is None:
            phdr_vaddr = vaddr

    if phdr_vaddr is None:
        phdr_vaddr = _phdr_from_loads(segments, phoff, phnum * phentsize)
    return ElfImage(
        type="exec" if e_type == ET_EXEC else "dyn",
        entry=entry,
        phoff=phoff,
        phentsize=phentsize,
        phnum=phnum,
        segments=tuple(segments),
        interp=interp,
        tls=tls,
        exec_stack=exec_stack,
        phdr_vaddr=phdr_vaddr,
    )


def _parse_header(data):
    """Check e_ident and the header fields; return what the rest needs.

    The ident bytes are checked one at a time, before the length, so a
    short 32-bit or big-endian file gets the more useful message.
    """
    if data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file")
    if len(data) > 4 and data[4] != ELFCLASS64:
        if data[4] == ELFCLASS32:
            raise ElfError("32-bit ELF is not supported")
        raise ElfError(f"invalid ELF class {data[4]}")
    if len(data) > 5 and data[5] != ELFDATA2LSB:
        if data[5] == ELFDATA2MSB:
            raise ElfError("big-endian ELF is not supported")
        raise ElfError(f"invalid ELF data encoding {data[5]}")
    if len(data) < EHDR_SIZE:
        raise ElfError("truncated ELF header")

    (_ident, e_type, machine, _version, entry, phoff, _shoff, _flags,
     _ehsize, phentsize, phnum, _shentsize, _shnum,
     _shstrndx) = _EHDR.unpack_from(data, 0)
    if machine != EM_X86_64:
        name = _MACHINE_NAMES.get(machine, "unknown")
        raise ElfError(f"ELF for machine {machine} ({name}), not x86-64")
    if e_type not in (ET_EXEC, ET_DYN):
        name = _TYPE_NAMES.get(e_type, "unknown")
        raise ElfError(f"ELF type {e_type} ({name}) cannot be executed")
    if entry >= USER_ADDR_LIMIT:
        raise ElfError(f"entry point {entry:#x} is beyond the user address "
                       "space")
    return e_type, entry, phoff, phentsize, phnum


def _read_phdrs(data, phoff, phentsize, phnum):
    """Unpack the program header table, after bounding it as Linux does."""
    if phentsize != PHDR_SIZE:
        raise ElfError(f"program header entry size {phentsize}, expected "
                       f"{PHDR_SIZE}")
    size = phnum * phentsize
    if phnum == 0:
        raise ElfError("ELF has no program headers")
    if size > PHDRS_MAX_BYTES:
        raise ElfError(f"too many program headers ({phnum})")
    if phoff + size > len(data):
        raise ElfError("program headers out of file bounds")
    return [_PHDR.unpack_from(data, phoff + i * PHDR_SIZE)
            for i in range(phnum)]


def _load_segment(data, index, flags, offset, vaddr, filesz, memsz, align):
    """Validate one PT_LOAD entry and return it as a Segment."""
    where = f"PT_LOAD segment {index}"
    if filesz > memsz:
        raise ElfError(f"{where}: segment with p_filesz > p_memsz")
    if (offset - vaddr) % PAGE_SIZE:
        # The file page and the memory page must line up for mmap to work.
        raise ElfError(f"{where}: PT_LOAD offset and vaddr not congruent "
                       "modulo page size")
    if vaddr + memsz > USER_ADDR_LIMIT:
        raise ElfError(f"{where}: address overflow beyond 2**47 "
                       f"(vaddr {vaddr:#x}, memsz {memsz:#x})")
    if offset + filesz > len(data):
        raise ElfError(f"{where}: file range out of file bounds")
    return Segment(
        vaddr=vaddr,
        memsz=memsz,
        offset=offset,
        filesz=filesz,
        readable=bool(flags & PF_R),
        writable=bool(flags & PF_W),
        executable=bool(flags & PF_X),
        align=align,
    )


def _tls_segment(flags, offset, vaddr, filesz, memsz, align):
    """PT_TLS is the initial TLS image; it lies inside a PT_LOAD already."""
    if filesz > memsz:
        raise ElfError("PT_TLS segment with p_filesz > p_memsz")
    return Segment(
        vaddr=vaddr,
        memsz=memsz,
        offset=offset,
        filesz=filesz,
        readable=bool(flags & PF_R),
        writable=bool(flags & PF_W),
        executable=bool(flags & PF_X),
        align=align,
    )


def _read_interp(data, offset, filesz):
    """Return the PT_INTERP path, checked the way Linux checks it."""
    if filesz < 2 or filesz > INTERP_MAX:
        raise ElfError(f"PT_INTERP size {filesz} is invalid")
    if offset + filesz > len(data):
        raise ElfError("PT_INTERP out of file bounds")
    raw = data[offset:offset + filesz]
    if raw[-1] != 0:
        raise ElfError("PT_INTERP path is not NUL-terminated")
    # Linux opens it as a C string, so anything after a NUL is ignored.
    path = raw[:raw.index(0)]
    if not path:
        raise ElfError("PT_INTERP path is empty")
    return path


def _phdr_from_loads(segments, phoff, size):
    """Find the program headers' address through the PT_LOAD holding them.

    This is how Linux computes AT_PHDR when there is no PT_PHDR (static
    binaries usually have none).
    """
    for seg in segments:
        if seg.offset <= phoff and phoff + size <= seg.offset + seg.filesz:
            return seg.vaddr + (phoff - seg.offset)
    return None


def _page_down(addr):
    return addr & ~(PAGE_SIZE - 1)


def _page_up(addr):
    return (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
