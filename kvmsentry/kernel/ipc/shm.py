"""System V shared memory segments (shmget/shmat/shmdt/shmctl).

A segment is an unlinked file of the sandbox's shmem tmpfs, as on Linux:
shmat maps it MAP_SHARED through its page cache, so its frames are pool
frames every attacher (and every fork child, which inherits the mapping)
shares, and the bytes outlive detaches in the file. nattch is counted,
not kept: the mappings of the segment's file across the sandbox's address
spaces, one per VMA as Linux counts them (fork, exec and exit change it
with no hook). A segment removed while attached (SHM_DEST) goes when the
last mapping does; the registry notices on its next use.
"""
import errno
import struct

from kvmsentry.arch.layout import PAGE_SIZE, USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.kernel.ipc.namespace import (CAP_IPC_LOCK, IPC_PRIVATE, S_IRUGO, S_IWUGO,
                                            S_IXUGO, IpcIds, IpcPerm, check_owner, ipcperms,
                                            now_s)
from kvmsentry.mm import page_cache
from kvmsentry.mm.address_space import MMAP_MIN_ADDR
from kvmsentry.mm.page_cache import cache_of
from kvmsentry.syscalls.sys_mmap import check_commit

SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHM_HUGETLB, SHM_NORESERVE = 0o4000, 0o10000
SHM_DEST, SHM_LOCKED = 0o1000, 0o2000          # mode bits
SHMMIN, SHMMNI = 1, 4096
MAX_LFS_FILESIZE = (1 << 63) - 1
SHMMAX = SHMALL = (1 << 64) - 1 - (1 << 24)
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
RLIMIT_MEMLOCK = 8
# struct shmid64_ds after the perm: segsz, atime, dtime, ctime, cpid, lpid, nattch.
SHMID64 = struct.Struct("<QqqqiiQQQ")
SHMINFO64 = struct.Struct("<9Q")
SHM_INFO = struct.Struct("<i4x5Q")


def _pages(n):
    return (n + PAGE_SIZE - 1) // PAGE_SIZE


class ShmSegment:
    def __init__(self, key, creds, mode, size, inode, pid):
        self.perm = IpcPerm(key, creds, mode)
        self.size = size
        self.inode = inode
        self.atime = self.dtime = 0
        self.ctime = now_s()
        self.cpid = pid
        self.lpid = 0
        self.nattch = 0               # as last counted
        self.locker = None            # uid charged for SHM_LOCK

    def pack(self, nattch):
        return self.perm.pack() + SHMID64.pack(self.size, self.atime, self.dtime, self.ctime,
                                               self.cpid, self.lpid, nattch, 0, 0)

    def mapping_name(self):
        return "/SYSV%08x (deleted)" % (self.perm.key & 0xFFFFFFFF)


class ShmRegistry:
    def __init__(self, kernel):
        self.kernel = kernel
        self.ids = IpcIds(SHMMNI)
        self.by_inode = {}

    # --- counting attaches ---------------------------------------------------
    def attach_counts(self):
        """{segment: number of mappings} over every live address space."""
        counts = {}
        seen = set()
        for t in list(self.kernel.tasks.values()):
            mm = t.mm
            if id(mm) in seen:
                continue
            seen.add(id(mm))
            for vma in mm.vmas:
                seg = self._segment_of(vma)
                if seg is not None:
                    counts[seg] = counts.get(seg, 0) + 1
        return counts

    def _segment_of(self, vma):
        cache = vma.cache
        return self.by_inode.get(id(cache.inode)) if cache is not None and vma.shared else None

    def reap(self):
        """Destroy removed segments nobody maps any more; refresh nattch."""
        counts = self.attach_counts()
        for seg in self.ids.objects():
            seg.nattch = counts.get(seg, 0)
            if seg.perm.mode & SHM_DEST and not seg.nattch:
                self._destroy(seg)

    def _destroy(self, seg):
        self.ids.remove(seg)
        self.by_inode.pop(id(seg.inode), None)

    # --- shmget --------------------------------------------------------------
    def get(self, task, key, size, flags):
        self.reap()

        def create():
            if flags & SHM_HUGETLB:
                raise SyscallError(errno.ENOMEM)        # no huge pages reserved
            if size < SHMMIN or size > SHMMAX or size > MAX_LFS_FILESIZE:
                raise SyscallError(errno.EINVAL)
            if not flags & SHM_NORESERVE:
                check_commit(size)                      # ENOMEM, as shmem's accounting
            if len(self.ids) >= SHMMNI:
                raise SyscallError(errno.ENOSPC)
            if _pages(size) + self.total_pages() > SHMALL:
                raise SyscallError(errno.ENOSPC)
            inode = self.kernel.anonymous_shared_file(size)
            seg = ShmSegment(key, task.creds, flags, size, inode, task.tgid)
            self.by_inode[id(inode)] = seg
            return seg

        def more_checks(seg):
            if seg.size < size:
                raise SyscallError(errno.EINVAL)

        return self.ids.get_or_create(task, key, flags, create, more_checks)

    def total_pages(self):
        return sum(_pages(s.size) for s in self.ids.objects())

    # --- shmat / shmdt -------------------------------------------------------
    def attach(self, task, shmid, addr, flags):
        """shmat(2): map the segment; returns the address."""
        self.reap()
        if addr:
            if addr & (PAGE_SIZE - 1):
                if not flags & SHM_RND:
                    raise SyscallError(errno.EINVAL)
                addr &= ~(PAGE_SIZE - 1)
                if not addr and flags & SHM_REMAP:
                    raise SyscallError(errno.EINVAL)
        elif flags & SHM_REMAP:
            raise SyscallError(errno.EINVAL)
        seg = self.ids.get(shmid)
        if flags & SHM_RDONLY:
            prot, access = PROT_READ, S_IRUGO
        else:
            prot, access = PROT_READ | PROT_WRITE, S_IRUGO | S_IWUGO
        if flags & SHM_EXEC:
            prot |= PROT_EXEC
            access |= S_IXUGO
        ipcperms(task, seg.perm, access)
        mm = task.mm
        length = _pages(seg.size) * PAGE_SIZE
        if addr:
            if addr + length >= 1 << 64:
                raise SyscallError(errno.EINVAL)
            if not flags & SHM_REMAP and not mm.vmas.is_free(addr, addr + length):
                raise SyscallError(errno.EINVAL)
            if addr + length > USER_TOP:
                raise SyscallError(errno.ENOMEM)
            if addr < MMAP_MIN_ADDR:
                raise SyscallError(errno.EPERM)      # as mmap below vm.mmap_min_addr
            start = addr
        else:
            start = mm.find_free(length)
        mm.map_file(start, length, prot, cache_of(seg.inode, mm.pool), 0, True,
                    seg.mapping_name(), may_write=not flags & SHM_RDONLY)
        seg.atime = now_s()
        seg.lpid = task.tgid
        return start

    def detach(self, task, addr):
        """shmdt(2): unmap the segment attached at addr."""
        if addr & (PAGE_SIZE - 1):
            raise SyscallError(errno.EINVAL)
        mm = task.mm
        vma = mm.vmas.find(addr)
        seg = self._segment_of(vma) if vma is not None else None
        if seg is None or vma.start != addr or vma.offset != 0:
            raise SyscallError(errno.EINVAL)
        end = addr + _pages(seg.size) * PAGE_SIZE
        for piece in mm.vmas.overlapping(addr, end):
            if self._segment_of(piece) is seg:
                mm.unmap(piece.start, piece.end - piece.start)
        seg.dtime = now_s()
        seg.lpid = task.tgid
        self.reap()
        return 0

    def unmapping_all(self, mm, tgid):
        """An address space is going (exit, exec): its segments were
        detached by tgid now, as Linux's shm_close records."""
        self._touch(mm, tgid, "dtime")

    def mapped_again(self, mm, tgid):
        """fork copied the mappings: Linux's shm_open records an attach by
        the parent."""
        self._touch(mm, tgid, "atime")

    def _touch(self, mm, tgid, field):
        if not self.by_inode:
            return
        for vma in mm.vmas:
            seg = self._segment_of(vma)
            if seg is not None:
                setattr(seg, field, now_s())
                seg.lpid = tgid

    # --- shmctl --------------------------------------------------------------
    def stat(self, task, seg, any_reader=False):
        if not any_reader:
            ipcperms(task, seg.perm, S_IRUGO)
        return seg.pack(seg.nattch)

    def set(self, task, seg, data):
        check_owner(task, seg.perm)
        seg.perm.set_from(data)
        seg.ctime = now_s()

    def remove(self, task, seg):
        check_owner(task, seg.perm)
        seg.perm.mode |= SHM_DEST
        seg.perm.key = IPC_PRIVATE
        self.reap()

    def lock(self, task, seg, lock):
        """SHM_LOCK / SHM_UNLOCK: CAP_IPC_LOCK, or the owner within
        RLIMIT_MEMLOCK (a nonzero limit, as Linux's user_shm_lock)."""
        c = task.creds
        if not c.capable(CAP_IPC_LOCK):
            if c.euid not in (seg.perm.uid, seg.perm.cuid):
                raise SyscallError(errno.EPERM)
            if lock and task.rlimits[RLIMIT_MEMLOCK][0] == 0:
                raise SyscallError(errno.EPERM)
        if lock:
            if not seg.perm.mode & SHM_LOCKED:
                if not c.capable(CAP_IPC_LOCK) and \
                        _pages(seg.size) * PAGE_SIZE > task.rlimits[RLIMIT_MEMLOCK][0]:
                    raise SyscallError(errno.ENOMEM)
                seg.perm.mode |= SHM_LOCKED
                seg.locker = c.uid
        else:
            seg.perm.mode &= ~SHM_LOCKED
            seg.locker = None

    def info(self):
        return SHMINFO64.pack(SHMMAX, SHMMIN, SHMMNI, SHMMNI, SHMALL, 0, 0, 0, 0)

    def usage(self):
        """struct shm_info: ids in use, pages of all segments, pages resident."""
        rss = sum(self.resident_bytes(seg) for seg in self.ids.objects()) // PAGE_SIZE
        return SHM_INFO.pack(len(self.ids), self.total_pages(), rss, 0, 0, 0)

    def resident_bytes(self, seg):
        """Bytes of the segment in memory: its cached frames, or what its
        file holds while nothing maps it."""
        cache = page_cache._caches.get(seg.inode)
        frames = len(cache.frames) * PAGE_SIZE if cache is not None else 0
        return max(frames, seg.inode.getattr().blocks * 512)
