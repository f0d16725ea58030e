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
pool frames, freed (after a final write-back) when the last one goes.
"""
import weakref

from kvmsentry.arch.layout import PAGE_SIZE

_caches = weakref.WeakKeyDictionary()   # inode -> PageCache


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
        self.mapped = 0             # PTEs that point at our frames
        self.shared_writable = False

    def map_page(self, index):
        """The frame holding page `index` (filled from the file on first
        use), counted as mapped once more."""
        phys = self.frames.get(index)
        if phys is None:
            phys = self.pool.alloc()
            data = self.inode.read_at(index * PAGE_SIZE, PAGE_SIZE)
            if data:
                self.pool.write(phys, data)
            self.frames[index] = phys
        self.mapped += 1
        return phys

    def read_page(self, index):
        """Bytes of page `index` as mappings see it (for private copies)."""
        phys = self.frames.get(index)
        if phys is not None:
            return self.pool.read(phys, PAGE_SIZE)
        return self.inode.read_at(index * PAGE_SIZE, PAGE_SIZE).ljust(PAGE_SIZE, b"\0")

    def unmap_page(self):
        self.mapped -= 1
        if self.mapped == 0:
            self.write_back()
            self.drop()

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
        for phys in self.frames.values():
            self.pool.free(phys)
        self.frames = {}
        _caches.pop(self.inode, None)
