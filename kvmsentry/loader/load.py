"""Load a static ELF program into a fresh address space and build its
initial stack, the way Linux's binfmt_elf does with ASLR off."""
import os

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.loader import stack as stk
from kvmsentry.loader.elf import ElfError, parse_elf
from kvmsentry.mm.address_space import STACK_LIMIT, STACK_TOP, page_up
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE

PIE_BASE = 0x5555_5555_4000          # ELF_ET_DYN_BASE with ASLR off
STACK_PREFAULT = 128 << 10
ELF_MAGIC = b"\x7fELF"


class ExecError(Exception):
    """The program cannot be executed; errno says how execve would fail."""

    def __init__(self, err, message):
        super().__init__(message)
        self.errno = err


def load_elf(mm, path, data, argv, envp, creds, hwcap):
    """Map the program and its stack into mm; return (entry, rsp)."""
    try:
        image = parse_elf(data)
    except ElfError as e:
        raise ExecError(8, "%s: %s" % (path.decode(errors="replace"), e))  # ENOEXEC
    if image.interp is not None:
        raise ExecError(8, "%s: dynamically linked (interpreter %s); only static "
                        "programs run in this version"
                        % (path.decode(errors="replace"),
                           image.interp.decode(errors="replace")))
    lo, hi = image.span()
    bias = PIE_BASE - lo if image.type == "dyn" else 0
    name = path.decode(errors="replace")

    # Map the union of the segments' pages writable, copy the file bytes
    # in (the rest, bss included, stays zero), then give each segment its
    # protection; a page two segments share gets the later one's, as with
    # Linux's successive MAP_FIXED mappings.
    for seg in image.segments:
        start = (seg.vaddr + bias) & ~(PAGE_SIZE - 1)
        end = page_up(seg.vaddr + bias + seg.memsz)
        addr = start
        while addr < end:
            vma = mm.vmas.find(addr)
            if vma is not None:
                addr = vma.end
                continue
            nxt = min([v.start for v in mm.vmas.overlapping(addr, end)] + [end])
            mm.map_anonymous(addr, nxt - addr, PROT_READ | PROT_WRITE, name,
                             populate=True)
            addr = nxt
    for seg in image.segments:
        if seg.filesz:
            mm.copy_out(seg.vaddr + bias, data[seg.offset:seg.offset + seg.filesz])
    for seg in image.segments:
        start = (seg.vaddr + bias) & ~(PAGE_SIZE - 1)
        prot = (PROT_READ if seg.readable else 0) | \
            (PROT_WRITE if seg.writable else 0) | (PROT_EXEC if seg.executable else 0)
        mm.protect(start, page_up(seg.vaddr + bias + seg.memsz) - start, prot)
    mm.brk_start = mm.brk = page_up(hi + bias)

    stack_prot = PROT_READ | PROT_WRITE | (PROT_EXEC if image.exec_stack else 0)
    mm.map_anonymous(STACK_TOP - STACK_LIMIT, STACK_LIMIT, stack_prot, "[stack]",
                     grows_down=True, populate=False)
    mm.prefault(STACK_TOP - STACK_PREFAULT, STACK_TOP)
    phdr = image.phdr_vaddr + bias if image.phdr_vaddr is not None else 0
    auxv = [
        (stk.AT_HWCAP, hwcap),
        (stk.AT_PAGESZ, PAGE_SIZE),
        (stk.AT_CLKTCK, os.sysconf("SC_CLK_TCK")),
        (stk.AT_PHDR, phdr),
        (stk.AT_PHENT, image.phentsize),
        (stk.AT_PHNUM, image.phnum),
        (stk.AT_BASE, 0),
        (stk.AT_FLAGS, 0),
        (stk.AT_ENTRY, image.entry + bias),
        (stk.AT_UID, creds.uid),
        (stk.AT_EUID, creds.euid),
        (stk.AT_GID, creds.gid),
        (stk.AT_EGID, creds.egid),
        (stk.AT_SECURE, 0),
        (stk.AT_HWCAP2, 0),
    ]
    try:
        rsp, base, stack_image = stk.build_initial_stack(
            STACK_TOP, argv, envp, auxv, execfn=path)
    except ValueError as e:
        raise ExecError(7, "%s: %s" % (name, e))                   # E2BIG
    mm.copy_out(base, stack_image)
    return image.entry + bias, rsp


def is_elf(data):
    return data[:4] == ELF_MAGIC
