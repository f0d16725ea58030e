"""The guest-physical page pool: one memfd, mapped once into the sentry.

Frames are handed out above the reserved region. A freed frame's backing is
released with MADV_REMOVE, so the host memory goes back to the system and
the frame reads as zeros when it is handed out again.
"""
import mmap
import os

from kvmsentry.arch.layout import PAGE_SIZE, RESERVED_BYTES

DEFAULT_POOL_BYTES = 4 << 30


class OutOfMemory(Exception):
    """The pool has no free frame left (becomes ENOMEM for the guest)."""


class PhysPool:
    def __init__(self, size=DEFAULT_POOL_BYTES, reserved=RESERVED_BYTES):
        if size % PAGE_SIZE or size <= reserved:
            raise ValueError("pool size must be page-aligned and above %d" % reserved)
        self.size = size
        self.fd = os.memfd_create("kvmsentry-pool", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.mem = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.mem)
        self.words = self.view.cast("Q")       # 64-bit view for page tables
        self._next = reserved                   # bump pointer (physical)
        self._free = []                         # released frames, reusable
        self.frames_in_use = 0

    def host_address(self):
        """The sentry-side address of guest physical 0 (for the memslot)."""
        from kvmsentry._kvm import ffi
        return int(ffi.cast("uintptr_t", ffi.from_buffer(self.mem)))

    def alloc(self):
        """Return the physical address of a zeroed frame."""
        self.frames_in_use += 1
        if self._free:
            return self._free.pop()
        phys = self._next
        if phys >= self.size:
            self.frames_in_use -= 1
            raise OutOfMemory("guest physical pool exhausted (%d MiB)"
                              % (self.size >> 20))
        self._next = phys + PAGE_SIZE
        return phys

    def free(self, phys):
        self.mem.madvise(mmap.MADV_REMOVE, phys, PAGE_SIZE)
        self._free.append(phys)
        self.frames_in_use -= 1

    def read(self, phys, length):
        return bytes(self.view[phys:phys + length])

    def write(self, phys, data):
        self.view[phys:phys + len(data)] = data

    def close(self):
        self.words.release()
        self.view.release()
        self.mem.close()
        os.close(self.fd)
