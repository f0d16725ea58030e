"""Linux native AIO contexts (io_setup and friends): the completion ring.

As in Linux, a context is a ring of io_events in the process's own memory
(a special mapping, "/[aio] (deleted)" in /proc/PID/maps) whose address is
the context id, so libaio can reap completions in user space. The ring
starts with Linux's header (id, nr, head, tail, magic...); the sentry
appends events at its own copy of the tail and reads the head back from
the ring, as fs/aio.c does.

Requests complete while io_submit runs (the sandbox's files are memory or
host files read synchronously), so nothing is ever in flight: io_cancel
finds nothing to cancel and io_destroy has nothing to wait for.
"""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.waiter import Queue
from kvmsentry.mm.vma import PROT_READ

PAGE_SIZE = 4096
AIO_RING_MAGIC = 0xA10A10A1
RING_HEADER = struct.Struct("<8I")          # id nr head tail magic compat incompat header_length
EVENT = struct.Struct("<QQqq")              # data obj res res2
HEAD_OFFSET, TAIL_OFFSET = 8, 12
AIO_MAX_NR = 65536                          # /proc/sys/fs/aio-max-nr
POSSIBLE_CPUS = 2
RING_NAME = "/[aio] (deleted)"
COMPLETED = 1                               # the context's queue event


def ring_geometry(nr_events):
    """(ring size in bytes, events it holds) for io_setup(nr_events), as
    Linux's ioctx_alloc and aio_setup_ring size it: room for twice the
    larger of nr_events and 4 per possible CPU, rounded up to pages."""
    nr = max(nr_events, POSSIBLE_CPUS * 4) * 2
    if nr > 0x10000000 // EVENT.size:
        raise SyscallError(errno.EINVAL)
    pages = (RING_HEADER.size + EVENT.size * nr + PAGE_SIZE - 1) // PAGE_SIZE
    return pages * PAGE_SIZE, (pages * PAGE_SIZE - RING_HEADER.size) // EVENT.size


class AioContext:
    """One io_setup context of one address space."""

    _ids = 0

    def __init__(self, mm, max_reqs, nr):
        AioContext._ids += 1
        self.id = AioContext._ids & 0xFFFFFFFF
        self.mm = mm
        self.max_reqs = max_reqs
        self.nr = nr
        self.tail = 0
        self.dead = False
        self.queue = Queue()

    def header(self):
        return RING_HEADER.pack(self.id, self.nr, 0, 0, AIO_RING_MAGIC, 1, 0,
                                RING_HEADER.size)

    def _head(self, addr):
        (head,) = struct.unpack("<I", self.mm.copy_in(addr + HEAD_OFFSET, 4))
        return head % self.nr

    def pending(self, addr):
        """Completions in the ring not reaped yet."""
        return (self.tail - self._head(addr)) % self.nr

    def room(self, addr):
        """Whether another request may be queued: Linux keeps one slot free
        so that a full ring is told from an empty one."""
        return self.pending(addr) < self.nr - 1

    def complete(self, addr, data, obj, res):
        """Append one io_event and wake io_getevents."""
        self.mm.copy_out(addr + RING_HEADER.size + self.tail * EVENT.size,
                         EVENT.pack(data, obj, res, 0))
        self.tail = (self.tail + 1) % self.nr
        self.mm.copy_out(addr + TAIL_OFFSET, struct.pack("<I", self.tail))
        self.queue.notify(COMPLETED)

    def reap(self, addr, limit):
        """Up to `limit` events taken from the ring (head moves past them)."""
        head = self._head(addr)
        n = min((self.tail - head) % self.nr, limit)
        out = []
        for i in range(n):
            slot = (head + i) % self.nr
            out.append(self.mm.copy_in(addr + RING_HEADER.size + slot * EVENT.size,
                                       EVENT.size))
        if n:
            self.mm.copy_out(addr + HEAD_OFFSET, struct.pack("<I", (head + n) % self.nr))
        return out


def setup(mm, nr_events):
    """A new context of `mm`, its ring mapped: returns the context id (the
    ring's address)."""
    size, nr = ring_geometry(nr_events)
    if nr_events > AIO_MAX_NR:
        raise SyscallError(errno.EAGAIN)
    ctx = AioContext(mm, nr_events, nr)
    addr = mm.find_free(size)
    if addr is None:
        raise SyscallError(errno.ENOMEM)
    mm.map_anonymous(addr, size, PROT_READ | 2, name=RING_NAME)
    mm.vmas.find(addr).special = ctx
    mm.copy_out(addr, ctx.header())
    return addr


def lookup(mm, ctx_id):
    """The live context whose ring starts at ctx_id in `mm`, else EINVAL
    (Linux reads the ring's id from that address: a ring moved away by
    mremap, unmapped or made unreadable no longer names its context)."""
    vma = mm.vmas.find(ctx_id) if 0 < ctx_id < 1 << 64 else None
    ctx = getattr(vma, "special", None)
    if (vma is None or vma.start != ctx_id or not isinstance(ctx, AioContext)
            or ctx.mm is not mm or ctx.dead or not vma.prot & PROT_READ):
        raise SyscallError(errno.EINVAL)
    return ctx


def destroy(mm, ctx_id):
    """io_destroy: the context dies and its ring is unmapped."""
    ctx = lookup(mm, ctx_id)
    ctx.dead = True
    vma = mm.vmas.find(ctx_id)
    mm.unmap(vma.start, vma.end - vma.start)
    ctx.queue.notify(COMPLETED)
