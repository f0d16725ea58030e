"""mirror.HostMappings._emit_past in C (cdefs/systrap_helpers.c's
systrap_emit_past): the calls for a new table's runs, which lie past the
host's last mapping (a fork's child, a new image), written as the mapper's
request records at once, not a tuple per call then a pack per call. The
Python method stays the reference (tests/unit/test_drain_c.py holds the two
equal); the rare cases (a run at the reserved ranges or the patched sites'
table) are left to it.
"""
from array import array
from itertools import chain

from kvmsentry._systrap import ffi, lib
from kvmsentry.mm.pagetable import LOWER_HALF_END
from kvmsentry.platform.systrap import layout

_ARGS = {9: 6, 10: 3, 11: 2}        # (mmap, mprotect, munmap: their argument counts)

_LIMITS = ffi.new("struct systrap_drain_limits *", {
    "user_end": LOWER_HALF_END,
    "table_lo": layout.TABLE_VA, "table_hi": layout.TABLE_VA + layout.TABLE_SIZE,
    "reserved_lo": layout.RESERVED_LO, "reserved_hi": layout.RESERVED_HI,
    "pool_fd": layout.POOL_FD})


class PackedOps:
    """A batch of host calls as the mapper's request records (ops[:n]);
    iterated, it is drain's [(nr, args)]."""
    __slots__ = ("ops", "n")

    def __init__(self, prefix):
        self.ops = ffi.new("struct systrap_op[]", layout.MAPPER_MAX_OPS)
        for i, (nr, args) in enumerate(prefix):
            op = self.ops[i]
            op.nr = nr
            op.a[0:len(args)] = list(args)
        self.n = len(prefix)

    def __len__(self):
        return self.n

    def __iter__(self):
        for i in range(self.n):
            op = self.ops[i]
            yield op.nr, tuple(op.a[0:_ARGS[op.nr]])

    def __getitem__(self, i):
        return list(self)[i]

    def __eq__(self, other):
        return list(self) == list(other)

    __hash__ = None


def emit_past(mappings, ops, limit, vas, ptes):
    """(ops with the runs' calls after them, as a PackedOps; pages sent), or
    None if a page is one Python's _emit must do (nothing changed then)."""
    if len(ops) > layout.MAPPER_MAX_OPS or limit >= layout.MAPPER_MAX_OPS:
        return None                     # (not a batch the mapper takes: Python's to say)
    host, stale = mappings.host, mappings.stale
    n = len(vas)
    c_vas = ffi.from_buffer("uint64_t[]", array("Q", vas))
    c_ptes = ffi.from_buffer("uint64_t[]", array("Q", ptes))
    if stale is not None:
        s_starts = stale.starts
        s_runs = array("Q", chain.from_iterable(
            zip(s_starts, *zip(*map(stale.runs.__getitem__, s_starts))))) if s_starts \
            else array("Q", (0,))
        s_n = len(s_starts)
    else:
        s_runs, s_n = array("Q", (0,)), 0
    starts, runs = host.starts, host.runs
    if starts:
        last_s = starts[-1]
        last = ffi.new("uint64_t[3]", (last_s,) + runs[last_s])
    else:
        last = ffi.NULL
    packed = PackedOps(ops)
    out = ffi.new("uint64_t[]", 3 * (n + 1))
    nops = ffi.new("int64_t *", packed.n)
    nruns = ffi.new("int64_t *")
    ext = ffi.new("int *")
    done = lib.systrap_emit_past(c_vas, c_ptes, n, ffi.from_buffer("uint64_t[]", s_runs), s_n,
                                 stale is not None, _LIMITS, packed.ops, layout.MAPPER_MAX_OPS,
                                 nops, limit, last, out, n + 1, nruns, ext)
    if done == -1:
        return None
    if done < 0:
        raise AssertionError("systrap: emit_past refused its input")
    packed.n = nops[0]
    new = ffi.unpack(out, 3 * nruns[0])
    if ext[0]:
        runs[new[0]] = (new[1], new[2])
        new = new[3:]
    if new:
        new_starts = new[0::3]
        starts += new_starts
        runs.update(zip(new_starts, zip(new[1::3], new[2::3])))
    return packed, done
