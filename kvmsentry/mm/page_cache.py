"""The sandbox's page cache: file pages held in guest-physical frames.

Every file mapping (mmap of a file) maps frames from its inode's cache, so
all mappings of a file see the same bytes, and read(2)/write(2) through the
file stay coherent with them:

  * write(2) stores into the file and into any cached frame it covers;
  * before read(2) or a truncate, a file that has ever had a writable
    MAP_SHARED mapping gets its cached pages written back (the guest's
    dirty bits are not tracked: PTEs are written pre-dirtied, so every
    cached page of such a file counts as dirty).

A cache lives while any page of it is mapped somewhere; its frames are
pool frames, freed (after a final write-back) when the last one goes --
except for host files nothing maps writably (programs and libraries): their
caches are kept, least recently used first out, up to RETAIN_BYTES, so
that the next exec or mmap of the file finds its pages in memory, as
Linux's page cache outlives a process. A kept cache is used again only if
the file's size, mtime and ctime are still those it was filled with.
"""
import collections

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.errors import SyscallError
from kvmsentry.mm.pool import OutOfMemory

# inode -> PageCache. A plain dict, asked on every read(2) and write(2):
# weak keys would never go anyway, since each cache holds its inode; a
# cache leaves it when dropped.
_caches = {}
RETAIN_BYTES = 32 << 20                 # unmapped caches kept, at most (and 1/16 of the pool)
RETAIN_CACHES = 64                      # ... and this many files (each holds a host fd)
_retained = collections.OrderedDict()   # PageCache -> frames it holds, oldest first
_writers = set()                        # caches that have had a writable MAP_SHARED mapping


def cache_of(inode, pool):
    pc = _caches.get(inode)
    if pc is None:
        pc = _caches[inode] = PageCache(inode, pool)
    return pc


def is_cached(inode):
    """Whether some mapping holds pages of the file (writes must update them)."""
    return inode in _caches


def before_read(inode):
    """read(2) is about to read the file: bring it up to date."""
    if _writers:                    # else no cache has anything to write back
        pc = _caches.get(inode)
        if pc is not None and pc.shared_writable:
            pc.write_back()


def after_write(inode, offset, data):
    """write(2) stored data at offset: update the cached frames it covers."""
    pc = _caches.get(inode)
    if pc is not None:
        pc.note_written(offset, data)


def before_truncate(inode):
    before_read(inode)


def after_truncate(inode, new_size):
    pc = _caches.get(inode)
    if pc is not None:
        pc.truncated(new_size)


class PageCache:
    def __init__(self, inode, pool):
        self.inode = inode
        self.pool = pool
        self.frames = {}            # page index -> phys
        self.mapped = 0             # pages of mappings that hold our frames (in PTEs or not)
        self._shared_writable = False
        # The file's (size, mtime, ctime) when the frames began to be
        # filled (a kept cache is good only while the file still has it).
        self._stamp = None
        # The program has touched a mapping of the file (a fault): its
        # small mappings are populated when made (mm/address_space.py).
        self.touched = False

    @property
    def shared_writable(self):
        """Whether the file has ever had a writable MAP_SHARED mapping."""
        return self._shared_writable

    @shared_writable.setter
    def shared_writable(self, value):
        self._shared_writable = value
        if value:
            _writers.add(self)
        else:
            _writers.discard(self)

    def map_page(self, index):
        """The frame holding page `index` (filled from the file on first
        use), counted as mapped once more."""
        return self.map_run(index, 1)[0]

    def map_run(self, first, count):
        """Frames of pages [first, first+count), the missing ones filled
        from the file with one read per run of them, each counted as
        mapped once more."""
        if self.mapped == 0 and self in _retained:
            self._revive()
        frames, span = self.frames, range(first, first + count)
        # (C-level steps: a program's text is a run of a hundred pages or more.)
        found = list(map(frames.get, span))
        if None in found:
            self._fill([i for i, phys in zip(span, found) if phys is None])
            found = list(map(frames.__getitem__, span))
        self.mapped += count
        return found

    def cached(self, first, count):
        """Which of pages [first, first+count) have a frame now (a kept
        cache checked against its file first): the pages a mapping can
        have with no read of the file."""
        if self.mapped == 0 and self in _retained:
            self._revive()
        frames, span = self.frames, range(first, first + count)
        # (Either way with C-level steps: a library's mapping is hundreds of pages.)
        if len(frames) < count:
            return sorted(filter(span.__contains__, frames))
        return list(filter(frames.__contains__, span))

    def _fill(self, indices):
        """Give `indices` (ascending) frames holding the file's bytes."""
        if not self.frames:
            # (Before the read: a change during it makes the stamps differ.)
            self._stamp = _stamp(self.inode) if _host_file(self.inode) else None
        try:
            new = sorted(self.pool.alloc_run(len(indices)))
        except OutOfMemory:
            if not _retained:
                raise
            _evict(0)
            new = sorted(self.pool.alloc_run(len(indices)))
        view, buffers, runs = self.pool.view, [], []
        prev = None
        for index, phys in zip(indices, new):
            if prev is not None and index == prev + 1:
                if buffers[-1][1] == phys:
                    buffers[-1][1] = phys + PAGE_SIZE
                else:
                    buffers.append([phys, phys + PAGE_SIZE])
                runs[-1][1] += 1
            else:
                buffers.append([phys, phys + PAGE_SIZE])
                runs.append([index, 1, len(buffers) - 1])
            prev = index
        try:
            for k, (index, _, lo) in enumerate(runs):
                hi = runs[k + 1][2] if k + 1 < len(runs) else len(buffers)
                self._read_into(index * PAGE_SIZE,
                                [view[a:b] for a, b in buffers[lo:hi]])
        except BaseException:
            self.pool.free_many(new)
            raise
        self.frames.update(zip(indices, new))

    def _read_into(self, offset, bufs):
        """The file's bytes at offset into bufs (zero frames: past EOF
        they stay zero); one preadv for a host file."""
        self.inode.readinto_at(offset, bufs)

    def read_page(self, index):
        """Bytes of page `index` as mappings see it (for private copies)."""
        if self in _retained:
            self._check_kept()
            _retained[self] = len(self.frames)
        phys = self.frames.get(index)
        if phys is not None:
            return self.pool.read(phys, PAGE_SIZE)
        return self.inode.read_at(index * PAGE_SIZE, PAGE_SIZE).ljust(PAGE_SIZE, b"\0")

    def unmap_page(self):
        self.unmap_pages(1)

    def unmap_pages(self, count):
        self.mapped -= count
        if self.mapped == 0:
            self.write_back()
            stamp = None
            if self.frames and not self.shared_writable and _host_file(self.inode):
                stamp = _stamp(self.inode)
            # Kept only if the file is still as it was when the frames were
            # read: the host may have rewritten it while they were mapped.
            if stamp is not None and stamp == self._stamp:
                self._retain(stamp)
            else:
                self.drop()

    def _retain(self, stamp):
        self._stamp = stamp
        _retained[self] = len(self.frames)
        _evict(min(RETAIN_BYTES, self.pool.size // 16) // PAGE_SIZE)

    def _revive(self):
        """Mapped again after being kept."""
        del _retained[self]
        self._check_kept()

    def _check_kept(self):
        """A kept cache's frames are good only if the file has not
        changed since."""
        stamp = _stamp(self.inode)
        if stamp != self._stamp:
            self.pool.free_many(list(self.frames.values()))
            self.frames = {}
            self._stamp = stamp

    def size(self):
        return self.inode.getattr().size

    def write_back(self):
        """Store every cached page (within the file's size) into the file."""
        if not self.shared_writable:
            return
        size = self.size()
        for index, phys in sorted(self.frames.items()):
            start = index * PAGE_SIZE
            if start < size:
                self.inode.write_at(start, self.pool.read(phys, min(PAGE_SIZE, size - start)))

    def note_written(self, offset, data):
        end = offset + len(data)
        for index in range(offset // PAGE_SIZE, (end + PAGE_SIZE - 1) // PAGE_SIZE):
            phys = self.frames.get(index)
            if phys is not None:
                lo = max(offset, index * PAGE_SIZE)
                hi = min(end, (index + 1) * PAGE_SIZE)
                self.pool.write(phys + lo - index * PAGE_SIZE, data[lo - offset:hi - offset])

    def truncated(self, new_size):
        """Zero what lies past the new end in cached frames (mapped pages
        past EOF stay mapped until unmapped, reading zeros; accesses to
        whole pages past EOF fault with SIGBUS)."""
        for index, phys in self.frames.items():
            start = index * PAGE_SIZE
            if start >= new_size:
                self.pool.write(phys, bytes(PAGE_SIZE))
            elif start + PAGE_SIZE > new_size:
                cut = new_size - start
                self.pool.write(phys + cut, bytes(PAGE_SIZE - cut))

    def drop(self):
        _retained.pop(self, None)
        if self.frames:
            self.pool.free_many(list(self.frames.values()))
        self.frames = {}
        _caches.pop(self.inode, None)
        _writers.discard(self)


_HostInode = None                       # fsimpl.hostfs.HostInode, imported on first use


def _host_file(inode):
    """True for a file of the host (hostfs, or the host layer of the root
    overlay not copied up): one whose contents the sandbox does not keep."""
    global _HostInode
    if hasattr(inode, "upper"):
        if inode.upper is not None:
            return False
        inode = inode.lower
    if _HostInode is None:
        # (Not an import statement per call: every last munmap of a file asks.)
        from kvmsentry.fsimpl.hostfs import HostInode as _HostInode
    return isinstance(inode, _HostInode)


def _stamp(inode):
    try:
        st = inode.getattr()
    except SyscallError:        # gone: not kept, or never equal to a kept stamp
        return None
    return (st.size, st.mtime_ns, st.ctime_ns)


def _evict(max_frames):
    """Drop kept caches, oldest first, until they hold at most max_frames
    frames and are at most RETAIN_CACHES."""
    while _retained and (sum(_retained.values()) > max_frames
                         or len(_retained) > RETAIN_CACHES):
        cache, _ = _retained.popitem(last=False)
        cache.drop()


def forget(pool):
    """The pool is closing: its caches go with it (nothing to free)."""
    for cache in [c for c in _caches.values() if c.pool is pool]:
        _retained.pop(cache, None)
        cache.frames = {}
        _caches.pop(cache.inode, None)
        _writers.discard(cache)
