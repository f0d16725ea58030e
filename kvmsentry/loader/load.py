"""Load an ELF program (and its PT_INTERP interpreter) into a fresh
address space and build its initial stack, the way Linux's binfmt_elf does
with ASLR off; and parse `#!` lines as binfmt_script does."""
import errno
import os
import struct

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.loader import program_files
from kvmsentry.loader import stack as stk
from kvmsentry.loader.elf import ElfError, parse_elf
from kvmsentry.mm.address_space import MMAP_MIN_ADDR, STACK_LIMIT, STACK_TOP, page_up
from kvmsentry.mm.pagetable import HUGE_SIZE
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE

PIE_BASE = 0x5555_5555_4000          # ELF_ET_DYN_BASE with ASLR off
BINPRM_BUF_SIZE = 256
# The stack's top pages exec maps at once: what a program's start touches
# (argv, envp, auxv and the first frames). Each page costs every spawn
# work at exec, at the parent's next fork (an eager copy) and at both
# ends' teardown, whether touched or not; a program going deeper takes a
# fault whose populate-ahead window maps the next 16 pages and more.
STACK_PREFAULT = 16 << 10


class ExecError(Exception):
    """The program cannot be executed; errno says how execve would fail."""

    def __init__(self, err, message, fatal=False):
        super().__init__(message)
        self.errno = err
        self.fatal = fatal          # Linux would already have dropped the old image


def _map_image(mm, image, data, bias, name, cache=None):
    """Map an ELF image's PT_LOAD segments at bias: from the file's page
    cache (`cache`) where the segments allow it, else copied.

    The union of the segments' pages is mapped writable, the file bytes are
    copied in (the rest, bss included, stays zero), then each segment gets
    its protection; a page two segments share gets the later one's, as
    with Linux's successive MAP_FIXED mappings."""
    if cache is not None and all((seg.vaddr - seg.offset) % PAGE_SIZE == 0
                                 for seg in image.segments):
        _map_segments(mm, image, data, bias, name, cache)
        return
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
    view = memoryview(data)
    for seg in image.segments:
        if seg.filesz:
            # Straight into the frames (one copy per run of them).
            pos = seg.offset
            for buf in mm.write_buffers(seg.vaddr + bias, seg.filesz):
                n = len(buf)
                buf[:] = view[pos:pos + n]
                pos += n
    for seg in image.segments:
        start = (seg.vaddr + bias) & ~(PAGE_SIZE - 1)
        prot = (PROT_READ if seg.readable else 0) | \
            (PROT_WRITE if seg.writable else 0) | (PROT_EXEC if seg.executable else 0)
        mm.protect(start, page_up(seg.vaddr + bias + seg.memsz) - start, prot)


def _prot(seg):
    return (PROT_READ if seg.readable else 0) | \
        (PROT_WRITE if seg.writable else 0) | (PROT_EXEC if seg.executable else 0)


def _placed(seg, bias):
    """A segment at bias: (protection, first page, end of its file bytes,
    end of its last page, file offset of its first page)."""
    start = (seg.vaddr + bias) & ~(PAGE_SIZE - 1)
    return (_prot(seg), start, seg.vaddr + bias + seg.filesz,
            page_up(seg.vaddr + bias + seg.memsz), seg.offset - (seg.vaddr + bias - start))


def _map_segments(mm, image, data, bias, name, cache):
    """The PT_LOAD segments as binfmt_elf maps them, each over the ones
    before: a segment the program cannot write is a private mapping of
    the file's pages, so its frames are the page cache's, shared by every
    process running the file and kept from one exec to the next
    (mm/page_cache.py); a writable one is copied now (it would be at its
    first store anyway), with the bytes of its file pages and zeros past
    the file's part (bss)."""
    view = memoryview(data)
    for seg in image.segments:
        prot, start, file_end, mem_end, offset = _placed(seg, bias)
        if prot & PROT_WRITE or not seg.filesz:
            mm.map_anonymous(start, mem_end - start, PROT_READ | PROT_WRITE, name,
                             populate=True, speculative=True)
            pos = offset
            for buf in mm.write_buffers(start, max(file_end - start, 0)):
                buf[:] = view[pos:pos + len(buf)]
                pos += len(buf)
            if prot != PROT_READ | PROT_WRITE:
                mm.protect(start, mem_end - start, prot)
            continue
        file_pages_end = page_up(file_end)
        mm.map_file(start, file_pages_end - start, prot, cache, offset, False, name,
                    file_size=len(data))
        if mem_end > file_pages_end:
            mm.map_anonymous(file_pages_end, mem_end - file_pages_end, prot, name,
                             populate=True)


def _image_pieces(image, view, bias, cache):
    """The mappings _map_segments makes, as AddressSpace.map_image takes
    them for an address space with none yet; None where that one step
    does not fit: segments sharing a page (each maps over the one
    before), a piece of 2 MiB or more (its frames may be a 2 MiB run), an
    inaccessible one, or a writable one not plainly read-write (mapped
    writable, then protected)."""
    pieces, top = [], 0
    for seg in image.segments:
        prot, start, file_end, mem_end, offset = _placed(seg, bias)
        if start < top or mem_end <= start or not prot or \
                mem_end - start >= HUGE_SIZE:
            return None
        if prot & PROT_WRITE or not seg.filesz:
            size = max(file_end - start, 0)
            if prot != PROT_READ | PROT_WRITE or offset + size > len(view):
                return None
            pieces.append((start, mem_end, prot, None, 0, 0, view[offset:offset + size], True))
        else:
            file_pages_end = page_up(file_end)
            pieces.append((start, file_pages_end, prot, cache, offset, len(view), None, False))
            if mem_end > file_pages_end:
                pieces.append((file_pages_end, mem_end, prot, None, 0, 0, None, False))
        top = mem_end
    return pieces


# The parsed headers of the programs loader/program_files.py keeps, by
# their bytes object (it hands out the same one for a program run again,
# and a new one once the file has changed; a parse is ~50 us of a spawn),
# with what each exec of them would compute again: the span, and the
# mappings of the image at a bias, named, from a page cache (_Plan).
# Images are never changed.
_parsed = {}                        # id(data) -> _Parsed
PLANS_PER_PROGRAM = 4               # (a program under few names and caches)


class _Parsed:
    __slots__ = ("data", "image", "span", "plans")

    def __init__(self, data, image, span):
        self.data, self.image, self.span = data, image, span
        self.plans = {}             # (bias, name, id(cache)) -> _Plan


class _Plan:
    """An image's mappings into an empty address space, made once for a
    kept program: the pieces AddressSpace.map_image takes and a Vma of
    each to copy (a Vma's own __init__ is a Python line per field)."""
    __slots__ = ("cache", "pieces", "vmas")

    def __init__(self, cache, pieces, vmas):
        self.cache, self.pieces, self.vmas = cache, pieces, vmas


def _parse(path, data):
    hit = _parsed.get(id(data))
    if hit is not None and hit.data is data:
        return hit
    try:
        image = parse_elf(data)
        parsed = _Parsed(data, image, image.span())     # ENOEXEC without a PT_LOAD
    except ElfError as e:
        raise ExecError(errno.ENOEXEC, "%s: %s" % (path.decode(errors="replace"), e))
    if program_files.is_kept(data):
        for key, old in list(_parsed.items()):
            if not program_files.is_kept(old.data):
                del _parsed[key]
        _parsed[id(data)] = parsed
    return parsed


def _map_first_image(mm, parsed, bias, name, cache):
    """_map_image of a program into an address space with none yet, from
    the plan made at its first exec at this bias, under this name, from
    this page cache."""
    if cache is None:
        _map_image(mm, parsed.image, parsed.data, bias, name)
        return
    key = (bias, name, id(cache))
    plan = parsed.plans.get(key)
    if plan is None or plan.cache is not cache:
        image = parsed.image
        pieces = None
        if all((seg.vaddr - seg.offset) % PAGE_SIZE == 0 for seg in image.segments):
            pieces = _image_pieces(image, memoryview(parsed.data), bias, cache)
        if pieces is None:
            _map_image(mm, image, parsed.data, bias, name, cache)
            return
        if _parsed.get(id(parsed.data)) is not parsed:
            mm.map_image(pieces, name)              # a program not kept: no plan
            return
        if len(parsed.plans) >= PLANS_PER_PROGRAM:
            parsed.plans.clear()
        plan = parsed.plans[key] = _Plan(cache, pieces, mm.image_vmas(pieces, name))
    mm.map_image(plan.pieces, name, plan.vmas)


def load_elf(mm, path, data, argv, envp, creds, hwcap, read_file, name_of=None, vdso=None,
             execfn=None, cache_of=None):
    """Map the program (and its interpreter, read with read_file(path) from
    the sandbox), its stack and the vDSO (an mm.vdso.Vdso, if given) into
    mm; return (entry, rsp). name_of(path) is the name /proc/[pid]/maps
    shows for a mapped file (default: path); execfn is AT_EXECFN, the name
    execve was given (default: path; a script's, not its interpreter's);
    cache_of(path) is the file's PageCache to map segments from (None, or
    no cache_of: copied)."""
    if cache_of is None:
        cache_of = (lambda p: None)
    if name_of is None:
        name_of = (lambda p: p.decode(errors="replace"))
    parsed = _parse(path, data)
    image = parsed.image
    lo, hi = parsed.span
    bias = PIE_BASE - lo if image.type == "dyn" else 0
    name = name_of(path)
    if lo + bias < MMAP_MIN_ADDR:
        # Linux's mmap of the segment fails (EPERM) after exec's point of
        # no return, and the process is killed.
        raise ExecError(errno.EPERM, "%s: loads below mmap_min_addr (%#x)"
                        % (name, lo + bias), fatal=True)
    if len(mm.vmas):
        _map_image(mm, image, data, bias, name, cache_of(path))
    else:
        _map_first_image(mm, parsed, bias, name, cache_of(path))
    mm.brk_start = mm.brk = page_up(hi + bias)
    entry = image.entry + bias
    interp_base = 0
    if image.interp is not None:
        interp_data = read_file(image.interp)
        parsed_interp = _parse(image.interp, interp_data)
        interp = parsed_interp.image
        if interp.type != "dyn" or interp.interp is not None:
            raise ExecError(errno.ELIBBAD, "%s: bad ELF interpreter %s" % (
                name, image.interp.decode(errors="replace")))
        ilo, ihi = parsed_interp.span
        interp_base = mm.find_free(ihi - ilo)
        _map_image(mm, interp, interp_data, interp_base - ilo, name_of(image.interp),
                   cache_of(image.interp))
        interp_base -= ilo
        start = interp.entry + interp_base
    else:
        start = entry

    stack_prot = PROT_READ | PROT_WRITE | (PROT_EXEC if image.exec_stack else 0)
    mm.map_anonymous(STACK_TOP - STACK_LIMIT, STACK_LIMIT, stack_prot, "[stack]",
                     grows_down=True, populate=False)
    mm.prefault(STACK_TOP - STACK_PREFAULT, STACK_TOP, speculative=True)
    phdr = image.phdr_vaddr + bias if image.phdr_vaddr is not None else 0
    vdso_base = vdso.map_into(mm) if vdso is not None else 0
    auxv = [(stk.AT_SYSINFO_EHDR, vdso_base)] if vdso_base else []
    auxv += [
        (stk.AT_HWCAP, hwcap),
        (stk.AT_PAGESZ, PAGE_SIZE),
        (stk.AT_CLKTCK, os.sysconf("SC_CLK_TCK")),
        (stk.AT_PHDR, phdr),
        (stk.AT_PHENT, image.phentsize),
        (stk.AT_PHNUM, image.phnum),
        (stk.AT_BASE, interp_base),
        (stk.AT_FLAGS, 0),
        (stk.AT_ENTRY, entry),
        (stk.AT_UID, creds.uid),
        (stk.AT_EUID, creds.euid),
        (stk.AT_GID, creds.gid),
        (stk.AT_EGID, creds.egid),
        (stk.AT_SECURE, 0),
        (stk.AT_HWCAP2, 0),
    ]
    try:
        rsp, base, stack_image = stk.build_initial_stack(
            STACK_TOP, argv, envp, auxv, execfn=path if execfn is None else execfn)
    except ValueError as e:
        raise ExecError(errno.E2BIG, "%s: %s" % (name, e))
    mm.copy_out(base, stack_image)
    mm.exe_name = name
    # (The builder appends AT_PLATFORM, AT_RANDOM, AT_EXECFN and AT_NULL.)
    _record_initial_stack(mm, rsp, stack_image, len(argv), len(envp), len(auxv) + 4)
    return start, rsp


def _record_initial_stack(mm, rsp, image, argc, envc, naux):
    """Note where the argv and envp strings lie and the auxv, for
    /proc/[pid]/cmdline, environ and auxv. `image` starts at rsp and
    holds naux auxv entries, AT_NULL's included."""
    table = argc + envc + 3                 # argc, argv, NULL, envp, NULL: then auxv
    aux_bytes = image[table * 8:(table + 2 * naux) * 8]
    aux = struct.unpack("<%dQ" % (2 * naux), aux_bytes)
    execfn = dict(zip(aux[::2], aux[1::2]))[stk.AT_EXECFN]
    env_start = struct.unpack_from("<Q", image, (argc + 2) * 8)[0] if envc else execfn
    arg_start = struct.unpack_from("<Q", image, 8)[0] if argc else env_start
    mm.arg_range, mm.env_range = (arg_start, env_start), (env_start, execfn)
    mm.start_stack = rsp
    mm.auxv = bytes(aux_bytes)


def script_interpreter(path, data):
    """For a `#!` script: (interpreter, optional argument) from its first
    line, as binfmt_script parses it; None if data is not a script."""
    if not data.startswith(b"#!"):
        return None
    line = data[2:BINPRM_BUF_SIZE]
    nl = line.find(b"\n")
    if nl < 0:
        if len(data) > BINPRM_BUF_SIZE:
            raise ExecError(errno.ENOEXEC, "%s: #! line too long" % path.decode(errors="replace"))
    else:
        line = line[:nl]
    line = line.strip(b" \t")
    if not line or line.startswith(b"\0"):
        raise ExecError(errno.ENOEXEC, "%s: empty #! line" % path.decode(errors="replace"))
    # The name ends at a space, tab or NUL; the argument is a C string.
    end = min((i for i in (line.find(c) for c in (b" ", b"\t", b"\0")) if i >= 0),
              default=len(line))
    interp, rest = line[:end], line[end:]
    arg = b"" if rest.startswith(b"\0") else rest.lstrip(b" \t").split(b"\0", 1)[0]
    return interp, (arg or None)

