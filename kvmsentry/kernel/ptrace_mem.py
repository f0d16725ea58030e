"""A debugger's view of another process's memory (PTRACE_PEEK*/POKE*,
/proc/[pid]/mem): as Linux's access_process_vm with FOLL_FORCE, a write
reaches a read-only private mapping (a breakpoint in code) through a
private copy of the page.

The platform rewrites `syscall` sites into a 2-byte `out` (see
platform/kvm/context.py); a debugger must see the program's own bytes,
or its disassembly and displaced stepping would run the rewritten
instruction where no site is recorded. Reads show `syscall` at patched
sites; a write over a site that keeps `syscall` there keeps it patched,
any other write drops the site.
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.arch.layout import PAGE_SIZE

SYSCALL_INSN = b"\x0f\x05"


def _pieces(addr, length):
    while length:
        n = min(length, PAGE_SIZE - (addr & (PAGE_SIZE - 1)))
        yield addr, n
        addr += n
        length -= n


def read(mm, addr, length):
    """The program's bytes at [addr, addr + length); EFAULT if unmapped."""
    data = bytearray(mm.copy_in(addr, length))
    if mm.syscall_patches is not None:
        data = bytearray(mm.syscall_patches.show_original(addr, bytes(data)))
    sites = mm.patched_sites
    if sites:
        for site in range(addr - 1, addr + length):
            if site in sites:
                for i, byte in enumerate(SYSCALL_INSN):
                    if 0 <= site + i - addr < length:
                        data[site + i - addr] = byte
    return bytes(data)


def write(mm, addr, data):
    """Write data at addr whatever the page protection (EFAULT if
    unmapped); returns len(data)."""
    data = bytes(data)
    if mm.syscall_patches is not None:
        mm.syscall_patches.restore(mm, addr, addr + len(data))
    sites = mm.patched_sites
    for site in [s for s in range(addr - 1, addr + len(data)) if s in sites]:
        old = mm.read_code(site, 2)
        new = bytearray(old)
        for i in range(2):
            if 0 <= site + i - addr < len(data):
                new[i] = data[site + i - addr]
        if bytes(new) == SYSCALL_INSN:
            # The program's `syscall` stays: write the patched bytes instead.
            merged = bytearray(data)
            for i in range(2):
                if 0 <= site + i - addr < len(data):
                    merged[site + i - addr] = old[i]
            data = bytes(merged)
        else:
            sites.discard(site)
    pos = 0
    for piece, n in _pieces(addr, len(data)):
        chunk = data[pos:pos + n]
        if mm.is_writable(piece):
            mm.copy_out(piece, chunk)
        else:
            mm.copy_in(piece, 1)                      # EFAULT if not mapped
            mm.prefault(piece & ~(PAGE_SIZE - 1), (piece & ~(PAGE_SIZE - 1)) + PAGE_SIZE)
            if not mm.write_code(piece, chunk):
                raise SyscallError(errno.EFAULT)
        pos += n
    return len(data)
