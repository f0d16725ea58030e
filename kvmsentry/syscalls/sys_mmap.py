"""Memory mappings: brk, mmap, munmap, mprotect, mremap, madvise."""
import errno

from kvmsentry.arch.layout import PAGE_SIZE, USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl import memfd
from kvmsentry.kernel import mlock
from kvmsentry.mm.address_space import MMAP_MIN_ADDR, page_up
from kvmsentry.mm.page_cache import cache_of
from kvmsentry.mm.pagetable import HUGE_SIZE
from kvmsentry.mm.pool import OutOfMemory
from kvmsentry.mm.vma import VM_DONTCOPY, VM_WIPEONFORK
from kvmsentry.vfs.file import O_PATH
from kvmsentry.syscalls.args import i32

PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM = 1, 2, 4, 8
PROT_GROWSDOWN, PROT_GROWSUP = 0x01000000, 0x02000000
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 0x1, 0x2, 0x3
MAP_TYPE = 0xF
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40
MAP_GROWSDOWN = 0x100
MAP_DENYWRITE = 0x800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MS_INVALIDATE = 2
MADV_WILLNEED, MADV_DONTNEED, MADV_FREE, MADV_REMOVE = 3, 4, 8, 9
MADV_HUGEPAGE, MADV_NOHUGEPAGE = 14, 15
MADV_POPULATE_READ, MADV_POPULATE_WRITE = 22, 23
MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK = 10, 11, 18, 19
# advice -> (VM flag, set or clear)
FORK_ADVICE = {MADV_DONTFORK: (VM_DONTCOPY, True), MADV_DOFORK: (VM_DONTCOPY, False),
               MADV_WIPEONFORK: (VM_WIPEONFORK, True), MADV_KEEPONFORK: (VM_WIPEONFORK, False)}
MADV_KNOWN = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
              20, 21, 22, 23, 24, 25, 100, 101}


def _aligned(addr):
    return addr & (PAGE_SIZE - 1) == 0


def brk(task, addr):
    """Implements brk(2); under mlockall(MCL_FUTURE) the new heap is locked."""
    mm = task.mm
    if addr > mm.brk:
        # RLIMIT_DATA bounds the heap (check_data_rlimit; the data
        # segment's own size is not counted here).
        if page_up(addr) - mm.brk_start > task.rlimits[RLIMIT_DATA][0]:
            return mm.brk
        try:
            check_commit(addr - mm.brk)
            check_address_space(task, page_up(mm.brk), page_up(addr) - page_up(mm.brk))
        except SyscallError:
            return mm.brk
    old_top = page_up(mm.brk)
    lock = getattr(mm, "lock_future", 0)
    if lock and page_up(addr) > old_top and not mlock.future_ok(task, page_up(addr) - old_top):
        return mm.brk
    new = mm.set_brk(addr)
    if lock and page_up(new) > old_top:
        mlock.mark_new_heap(task, old_top, page_up(new) - old_top, lock)
    return new


RLIMIT_DATA, RLIMIT_AS = 2, 9
RLIM_INFINITY = (1 << 64) - 1


def check_address_space(task, start, length):
    """ENOMEM if mapping [start, start+length) would take the process's
    mapped total past RLIMIT_AS (Linux's may_expand_vm); what the new
    mapping replaces does not count twice."""
    _may_expand(task, length, start, start + length)


def check_growth(task, length):
    """ENOMEM if length bytes more that replace nothing (a mapping mremap
    grows) would take the mapped total past RLIMIT_AS."""
    _may_expand(task, length, 0, 0)


def _may_expand(task, length, start, end):
    limit = task.rlimits[RLIMIT_AS][0]
    if limit >= RLIM_INFINITY:
        return
    total = replaced = 0
    for vma in task.mm.vmas:
        total += vma.end - vma.start
        if vma.start < end and start < vma.end:
            replaced += min(end, vma.end) - max(start, vma.start)
    if total - replaced + length > limit:
        raise SyscallError(errno.ENOMEM)


def _commit_limit():
    """RAM + swap, in bytes: the most one request may ask for under Linux's
    default (heuristic) overcommit policy."""
    total = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, value = line.split(":", 1)
                if key in ("MemTotal", "SwapTotal"):
                    total += int(value.split()[0]) * 1024
    except OSError:
        return 1 << 62
    return total


_COMMIT_LIMIT = _commit_limit()


def check_commit(length):
    """ENOMEM for a single private writable request larger than RAM+swap,
    as vm.overcommit_memory=0 refuses it."""
    if length > _COMMIT_LIMIT:
        raise SyscallError(errno.ENOMEM)


def mmap(task, addr, length, prot, flags, fd, offset):
    """Implements mmap(2): anonymous memory and regular files (through the
    page cache, so every mapping and read/write see the same bytes);
    MAP_LOCKED and mlockall(MCL_FUTURE) lock the new mapping."""
    if i32(flags) & MAP_LOCKED:
        mlock.can_do_mlock(task)             # EPERM before anything is mapped
    start = _mmap(task, addr, length, prot, flags, fd, offset)
    lock = mlock.VM_LOCKED if i32(flags) & MAP_LOCKED else getattr(task.mm, "lock_future", 0)
    if lock:
        mlock.lock_new_mapping(task, start, page_up(length), lock)
    return start


def _mmap(task, addr, length, prot, flags, fd, offset):
    # Unknown prot bits are ignored by mmap (mprotect is stricter).
    prot, flags = i32(prot) & (PROT_READ | PROT_WRITE | PROT_EXEC), i32(flags)
    if length == 0 or offset & (PAGE_SIZE - 1):
        raise SyscallError(errno.EINVAL)
    kind = flags & MAP_TYPE
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise SyscallError(errno.EINVAL)
    if flags & MAP_HUGETLB:
        raise SyscallError(errno.EINVAL)
    length = page_up(length)
    if length == 0 or length > USER_TOP:
        raise SyscallError(errno.ENOMEM)
    source = None
    if flags & MAP_ANONYMOUS and kind == MAP_SHARED_VALIDATE:
        raise SyscallError(errno.EINVAL)
    if flags & MAP_ANONYMOUS and kind == MAP_PRIVATE and prot & PROT_WRITE \
            and not flags & MAP_NORESERVE:
        check_commit(length)
    if not flags & MAP_ANONYMOUS:
        source = _mappable(task, i32(fd), prot, kind != MAP_PRIVATE)
        if source is not None and kind != MAP_PRIVATE and prot & PROT_WRITE:
            memfd.check_shared_writable_map(source.inode)
        if offset + length > (1 << 63):
            raise SyscallError(errno.EOVERFLOW)
    mm = task.mm
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if not _aligned(addr):
            raise SyscallError(errno.EINVAL)
        if addr + length > USER_TOP or addr < MMAP_MIN_ADDR:
            raise SyscallError(errno.EPERM if addr < MMAP_MIN_ADDR else errno.ENOMEM)
        # MAP_FIXED_NOREPLACE wins over MAP_FIXED: nothing is clobbered.
        if flags & MAP_FIXED_NOREPLACE and not mm.vmas.is_free(addr, addr + length):
            raise SyscallError(errno.EEXIST)
        start = addr
    elif flags & MAP_32BIT:
        start = mm.find_free_below(length, 1 << 31)
    elif flags & MAP_ANONYMOUS and kind == MAP_PRIVATE and not length % HUGE_SIZE:
        start = mm.find_free(length, addr, HUGE_SIZE)
    else:
        start = mm.find_free(length, addr)
    if start is not None:
        check_address_space(task, start, length)
    noexec = source is not None and source.location is not None and \
        source.location.mount.noexec()
    if noexec and prot & PROT_EXEC:
        raise SyscallError(errno.EPERM)
    if source is not None and source.inode.is_reg():
        cache = cache_of(source.inode, mm.pool)
        name = task.kernel.mounts.path_of(source.location, task.fs.root).decode(
            errors="replace")
        start = mm.map_file(start, length, prot, cache, offset, kind != MAP_PRIVATE, name,
                            may_write=kind == MAP_PRIVATE or source.writable(),
                            populate=bool(flags & MAP_POPULATE))
        if noexec:
            mm.vmas.find(start).may_exec = False
        return start
    if kind == MAP_SHARED:
        # Shared anonymous memory is an unlinked shmem file, as on Linux,
        # so fork children map the same frames.
        inode = task.kernel.anonymous_shared_file(length)
        return mm.map_file(start, length, prot, cache_of(inode, mm.pool), 0, True,
                           "/dev/zero (deleted)")
    populate = True if flags & MAP_POPULATE else None
    return mm.map_anonymous(start, length, prot,
                            grows_down=bool(flags & MAP_GROWSDOWN),
                            populate=populate, huge=-1 if flags & MAP_STACK else 0,
                            noreserve=bool(flags & MAP_NORESERVE), merge=True)


def _mappable(task, fd, prot, shared):
    """The open file to map, checked as mmap(2) checks it."""
    f = task.fds.get(fd)
    if f.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    if not f.readable():
        raise SyscallError(errno.EACCES)
    if shared and prot & PROT_WRITE and not f.writable():
        raise SyscallError(errno.EACCES)
    inode = f.inode
    if inode is None:
        raise SyscallError(errno.ENODEV)
    if inode.is_reg():
        return f
    if getattr(inode, "maps_as_anonymous", False):      # /dev/zero
        return None
    raise SyscallError(errno.ENODEV)


def msync(task, addr, length, flags):
    """Implements msync(2): shared file pages are written back."""
    flags = i32(flags)
    if not _aligned(addr) or flags & ~7 or (flags & 1 and flags & 4):
        raise SyscallError(errno.EINVAL)
    end = addr + page_up(length)
    covered = addr
    for vma in task.mm.vmas.overlapping(addr, end):
        if vma.start > covered:
            raise SyscallError(errno.ENOMEM)
        covered = vma.end
        if flags & MS_INVALIDATE and vma.locked:
            raise SyscallError(errno.EBUSY)
        if vma.cache is not None and vma.shared:
            vma.cache.write_back()
    if covered < end:
        raise SyscallError(errno.ENOMEM)
    return 0


def munmap(task, addr, length):
    """Implements munmap(2)."""
    if not _aligned(addr) or length == 0 or addr + length > USER_TOP:
        raise SyscallError(errno.EINVAL)
    vma = task.mm.vmas.find(addr)
    if vma is not None and vma.start < addr and addr + length < vma.end:
        task.mm.check_map_count(1)            # a hole in the middle: one more
    task.mm.unmap(addr, length)
    return 0


def mprotect(task, addr, length, prot):
    """Implements mprotect(2)."""
    prot = i32(prot)
    if not _aligned(addr):
        raise SyscallError(errno.EINVAL)
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP) \
            or prot & PROT_GROWSDOWN and prot & PROT_GROWSUP:
        raise SyscallError(errno.EINVAL)
    length = page_up(length)
    if length == 0:
        return 0
    if addr + length > USER_TOP:
        raise SyscallError(errno.ENOMEM)
    if prot & (PROT_GROWSDOWN | PROT_GROWSUP):
        vma = task.mm.vmas.find(addr)
        if vma is None:
            raise SyscallError(errno.ENOMEM)
        if not vma.grows_down or prot & PROT_GROWSUP:
            raise SyscallError(errno.EINVAL)
    if prot & PROT_EXEC and any(not v.may_exec
                                for v in task.mm.vmas.overlapping(addr, addr + length)):
        raise SyscallError(errno.EACCES)
    splits = task.mm.vmas.splits(addr, addr + length)
    if splits:
        task.mm.check_map_count(splits)
    task.mm.protect(addr, length, prot & 7)
    return 0


def mremap(task, old, old_len, new_len, flags, new_addr):
    """Implements mremap(2): move, grow, shrink; old_size 0 duplicates a
    shared mapping."""
    flags = i32(flags)
    if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) or \
            not _aligned(old) or new_len == 0:
        raise SyscallError(errno.EINVAL)
    if flags & MREMAP_DONTUNMAP:
        raise SyscallError(errno.EINVAL)
    fixed = None
    if flags & MREMAP_FIXED:
        if not flags & MREMAP_MAYMOVE or not _aligned(new_addr):
            raise SyscallError(errno.EINVAL)
        # Kernel half, non-canonical, or crossing the user top: EINVAL.
        if page_up(new_len) > USER_TOP or new_addr > USER_TOP - page_up(new_len):
            raise SyscallError(errno.EINVAL)
        fixed = new_addr
    if old_len == 0:
        return _duplicate(task.mm, old, new_len, bool(flags & MREMAP_MAYMOVE), fixed)
    vma = task.mm.vmas.find(old)
    if vma is not None and vma.locked and page_up(new_len) > page_up(old_len) and \
            not mlock.future_ok(task, page_up(new_len) - page_up(old_len)):
        raise SyscallError(errno.EAGAIN)     # a locked mapping grows within RLIMIT_MEMLOCK
    if vma is not None and page_up(new_len) > page_up(old_len):
        check_growth(task, page_up(new_len) - page_up(old_len))      # vma_to_resize
    if fixed is None and page_up(new_len) <= page_up(old_len):
        # A shrink in place only unmaps the tail, whatever mappings the
        # range spans after the first.
        if task.mm.vmas.find(old) is None:
            raise SyscallError(errno.EFAULT)
        task.mm.unmap(old + page_up(new_len), page_up(old_len) - page_up(new_len))
        return old
    return task.mm.remap(old, old_len, new_len, bool(flags & MREMAP_MAYMOVE), fixed)


def _duplicate(mm, old, new_len, may_move, fixed):
    """mremap with old_size 0: a second mapping of the same pages of a
    shared mapping, the first left in place; EINVAL for a private one,
    ENOMEM unless it may move (there is no room at the same address)."""
    vma = mm.vmas.find(old)
    if vma is None:
        raise SyscallError(errno.EFAULT)
    if not vma.shared or vma.cache is None:
        raise SyscallError(errno.EINVAL)
    if not may_move:
        raise SyscallError(errno.ENOMEM)
    new = fixed if fixed is not None else mm.find_free(new_len)
    if new is None:
        raise SyscallError(errno.ENOMEM)
    return mm.map_file(new, new_len, vma.prot, vma.cache, vma.offset + (old - vma.start), True,
                       vma.name, may_write=vma.may_write)


def madvise(task, addr, length, advice):
    """Implements madvise(2): DONTNEED/FREE drop pages, POPULATE_READ/
    WRITE map them, WILLNEED maps the file pages of the range (readahead
    here means mapping the page cache); other advice is accepted and
    ignored, as it only tunes performance, except HUGEPAGE/NOHUGEPAGE,
    which allow or forbid 2 MiB runs of frames in the range."""
    advice = i32(advice)
    if not _aligned(addr) or advice not in MADV_KNOWN:
        raise SyscallError(errno.EINVAL)
    # Linux's u64 arithmetic: a length that rounds up past 2^64 wraps to
    # 0 (EINVAL), and so does an end past it.
    if page_up(length) >= 1 << 64 or addr + page_up(length) >= 1 << 64:
        raise SyscallError(errno.EINVAL)
    length = page_up(length)
    if length == 0:
        return 0
    mm = task.mm
    if advice == MADV_REMOVE:
        for vma in mm.vmas.overlapping(addr, addr + length):
            if not vma.shared:
                raise SyscallError(errno.EINVAL)
    if advice in (MADV_DONTNEED, MADV_FREE, MADV_REMOVE) and \
            any(v.locked for v in mm.vmas.overlapping(addr, addr + length)):
        raise SyscallError(errno.EINVAL)          # locked pages stay
    if advice in (MADV_DONTNEED, MADV_FREE):
        mm.discard(addr, length)
        return 0
    if advice in FORK_ADVICE:
        return _fork_advice(mm, addr, addr + length, *FORK_ADVICE[advice])
    covered = addr
    for vma in mm.vmas.overlapping(addr, addr + length):
        if vma.start > covered:
            raise SyscallError(errno.ENOMEM)
        covered = vma.end
    if covered < addr + length:
        raise SyscallError(errno.ENOMEM)
    if advice in (MADV_WILLNEED, MADV_POPULATE_READ, MADV_POPULATE_WRITE):
        _populate(mm, addr, addr + length, advice)
    if advice in (MADV_HUGEPAGE, MADV_NOHUGEPAGE):
        # Future faults only: pages already in 2 MiB runs stay (as on Linux).
        splits = mm.vmas.splits(addr, addr + length)
        if splits:
            mm.check_map_count(splits)
        for vma in mm.vmas.remove_range(addr, addr + length):
            vma.huge = 1 if advice == MADV_HUGEPAGE else -1
            mm.vmas.insert(vma)
        mm.vmas.merge_adjacent(addr, addr + length)
    return 0


def _fork_advice(mm, start, end, flag, on):
    """MADV_DONTFORK/DOFORK/WIPEONFORK/KEEPONFORK: what fork gives the
    child of the mapped parts of [start, end) (address_space.fork); then
    ENOMEM if the range had a hole, as Linux's madvise walk reports it.
    Wiping applies to private anonymous memory only (EINVAL)."""
    vmas = mm.vmas.overlapping(start, end)
    if flag == VM_WIPEONFORK and on and any(v.cache is not None or v.shared for v in vmas):
        raise SyscallError(errno.EINVAL)
    hole = not vmas or vmas[0].start > start or vmas[-1].end < end or any(
        a.end < b.start for a, b in zip(vmas, vmas[1:]))
    lo, hi = max(start, vmas[0].start) if vmas else start, min(end, vmas[-1].end) if vmas else end
    if vmas:
        mm.check_map_count(mm.vmas.splits(lo, hi))
        for vma in mm.vmas.remove_range(lo, hi):
            vma.fork_flags = vma.fork_flags | flag if on else vma.fork_flags & ~flag
            mm.vmas.insert(vma)
        mm.vmas.merge_adjacent(lo, hi)
    if hole:
        raise SyscallError(errno.ENOMEM)
    return 0


def _populate(mm, start, end, advice):
    """Map the pages of [start, end) for madvise; for POPULATE_*, EINVAL
    where the protection forbids the access and EFAULT where it would
    fault anyway (a page past the end of the file), as Linux reports them."""
    for vma in mm.vmas.overlapping(start, end):
        lo, hi = max(vma.start, start), min(vma.end, end)
        if advice == MADV_WILLNEED:
            # Anonymous memory has nothing to read ahead; private
            # writable file pages would need copies, which Linux leaves
            # to the first write.
            if vma.cache is not None and vma.prot and \
                    (vma.shared or not vma.prot & PROT_WRITE):
                mm.prefault(lo, hi)
            continue
        need = PROT_WRITE if advice == MADV_POPULATE_WRITE else PROT_READ | PROT_WRITE | PROT_EXEC
        if not vma.prot & need:
            raise SyscallError(errno.EINVAL)
        try:
            mm.prefault(lo, hi, write=advice == MADV_POPULATE_WRITE)
        except OutOfMemory:
            raise SyscallError(errno.ENOMEM)
        if any(va not in mm.pages for va in range(lo, hi, PAGE_SIZE)):
            raise SyscallError(errno.EFAULT)      # past the end of the file


def mincore(task, addr, length, vec):
    """Implements mincore(2): a page counts as resident once it has a
    frame in this address space (file pages cached only elsewhere do not)."""
    if not _aligned(addr):
        raise SyscallError(errno.EINVAL)
    if addr + length >= 1 << 64:
        raise SyscallError(errno.ENOMEM)
    end = addr + page_up(length)
    mm = task.mm
    covered = addr
    for vma in mm.vmas.overlapping(addr, end):
        if vma.start > covered:
            raise SyscallError(errno.ENOMEM)
        covered = vma.end
    if covered < end:
        raise SyscallError(errno.ENOMEM)
    pages = mm.pages
    task.mm.copy_out(vec, bytes(1 if va in pages else 0
                                for va in range(addr, end, PAGE_SIZE)))
    return 0
