"""The vDSO every process gets, and the [vvar] page it reads the time from.

One image (vdso/vdso.c, shipped as mm/vdso.elf) and one [vvar] frame per
sandbox. Each exec maps both, [vvar] just below [vdso], at an address
chosen at random in a 64 MiB band above the top-down mmap area, and
announces the image in AT_SYSINFO_EHDR. Both frames are shared by every
address space like copy-on-write frames the sandbox itself holds a
reference to for ever: a write (the platform patching a `syscall` of the
fallback path, a debugger's breakpoint) copies the page, and the shared
frame is never freed.

The time base. The vDSO computes CLOCK_MONOTONIC as
    mono_ns + (tsc - tsc_base) * mult / 2^32
from the guest's TSC, and REALTIME and BOOTTIME at fixed offsets from it.
The sentry measures the TSC's rate against the host's CLOCK_MONOTONIC
over the life of the sandbox (two readings at least CALIBRATE_NS apart;
until then the vDSO makes the system call) and publishes a new base on
every time system call and exec, rate-limited. A new base continues the
old line at the moment it takes over, or jumps forward to the host clock
if the old line fell behind, so the clock never runs backwards; and the
clock_gettime system call reads the same line (clock_ns), so a program
mixing vDSO and syscall readings sees one clock.

The guest's TSC is the host's plus an offset KVM keeps per vCPU: none on
kvm_pvm (measured: the guest's IA32_TSC lies between two host readings
around it), set at vCPU creation elsewhere. measure_tsc() reads it on
each new vCPU; should vCPUs disagree, or the MSR not be readable, the
vDSO falls back to the system call for good.
"""
import os
import struct
import time

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, Vma

IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vdso.elf")
VVAR = struct.Struct("<IIQQQqqQ")     # struct vvar in vdso/vdso.c
MODE_SYSCALL, MODE_TSC = 0, 1
PINNED = 1 << 62                      # the sandbox's own share of the frames
# Shortest baseline for the TSC rate. The two readings are each tight to
# tens of ns, so 2 ms is within ~50 ppm, and every later base measures
# over the whole life of the sandbox. (20 ms was longer than a fast
# start takes to reach the program's first clock_gettime.)
CALIBRATE_NS = 2_000_000
REFRESH_NS = 50_000_000               # publish a new base at most this often
PLACE_LOW = 0x7FFF_F800_0000          # above the mmap area (MMAP_BASE), below the stack
PLACE_PAGES = (32 << 20) // PAGE_SIZE  # (systrap's stub and slots sit above it)
MSR_IA32_TSC = 0x10
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_REALTIME_COARSE = 0, 1, 5
CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 6, 7
COMPUTED = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_REALTIME_COARSE,
            CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME)


_ffi_lib = None


def _lib():
    """kvmsentry._kvm's (ffi, lib), imported at first use and kept: an
    import statement run again costs ~12k instructions (importlib's
    fromlist check), and clock_ns is every time syscall's path."""
    global _ffi_lib
    if _ffi_lib is None:
        from kvmsentry._kvm import ffi, lib
        _ffi_lib = ffi, lib
    return _ffi_lib


def _sample():
    """(host TSC, CLOCK_MONOTONIC ns) taken together: the tightest of three."""
    ffi, lib = _lib()
    out = ffi.new("uint64_t *")
    best = None
    for _ in range(3):
        before = lib.kvmsentry_rdtsc()
        ns = lib.kvmsentry_tsc_monotonic(out)
        spread = lib.kvmsentry_rdtsc() - before
        if best is None or spread < best[0]:
            best = (spread, out[0], ns)
    return best[1], best[2]


def _random_below(n):
    """A random int in [0, n) from the host's CSPRNG (what secrets.randbelow
    gives; that module's import pulls hashlib and hmac into start-up).
    64 random bits leave no bias worth the name for n < 2**20."""
    return int.from_bytes(os.urandom(8), "little") % n


class Vdso:
    def __init__(self, pool):
        self.pool = pool
        with open(IMAGE, "rb") as f:
            image = f.read()
        self.image_size = len(image)
        self.vvar_frame, self.text_frame = pool.alloc(), pool.alloc()
        pool.write(self.text_frame, image)
        pool.cow_refs[self.vvar_frame] = pool.cow_refs[self.text_frame] = PINNED
        self.tsc_offset = None         # guest TSC - host TSC
        self.usable = True
        self._first = _sample()
        self._base = None              # (host tsc, mono ns, mult) of the current line
        self._refreshed = 0
        self._seq = 0
        self._publish(MODE_SYSCALL, 0, 0, 0)

    # --- the time base -------------------------------------------------------------
    def measure_tsc(self, vcpu):
        """Note a new vCPU's TSC offset; give up on the TSC if it differs
        from the others' by more than the measurement can tell."""
        _, lib = _lib()
        best = None
        for _ in range(3):
            before = lib.kvmsentry_rdtsc()
            guest = vcpu.get_msrs([MSR_IA32_TSC]).get(MSR_IA32_TSC)
            after = lib.kvmsentry_rdtsc()
            if guest is None:
                self._give_up()
                return
            if best is None or after - before < best[1] - best[0]:
                best = (before, after, guest)
        before, after, guest = best
        offset = 0 if before <= guest <= after else guest - (before + after) // 2
        if self.tsc_offset is None:
            self.tsc_offset = offset
        elif abs(offset - self.tsc_offset) > after - before:
            self._give_up()

    def describe(self):
        """How the vDSO tells the time on this machine, for `kvmsentry machine`."""
        if not self.usable:
            return "system call (the guest's TSC cannot be trusted)"
        if self.tsc_offset is None:
            return "system call until a vCPU's TSC is measured"
        return "TSC, guest = host %+d ticks" % self.tsc_offset

    def _give_up(self):
        self.usable = False
        self._base = None
        self._publish(MODE_SYSCALL, 0, 0, 0)

    def refresh(self, force=False):
        """Publish a new time base if the last one is old enough (or, the
        first time, once the TSC rate can be measured)."""
        if not self.usable or self.tsc_offset is None:
            return
        # (The clock alone first: every exec asks, few need a new base.)
        if not force and time.monotonic_ns() - self._refreshed < REFRESH_NS:
            return
        tsc, mono = _sample()
        first_tsc, first_mono = self._first
        if mono - first_mono < CALIBRATE_NS or tsc <= first_tsc:
            return
        mult = ((mono - first_mono) << 32) // (tsc - first_tsc)
        if self._base is not None:
            mono = max(mono, self._line(tsc))      # never back
        self._base = (tsc, mono, mult)
        self._refreshed = mono
        self._publish(MODE_TSC, tsc + self.tsc_offset, mono, mult)

    def _line(self, tsc):
        base_tsc, base_ns, mult = self._base
        return base_ns + ((max(tsc - base_tsc, 0) * mult) >> 32)

    def clock_ns(self, clock):
        """What the vDSO reads for `clock` now, for the system calls; None
        for a clock it leaves to them or while it makes the syscall."""
        if self._base is None or clock not in COMPUTED:
            return None
        _, lib = _lib()
        ns = self._line(lib.kvmsentry_rdtsc())
        if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE):
            return ns + self._real_offset
        if clock == CLOCK_BOOTTIME:
            return ns + self._boot_offset
        return ns

    def _publish(self, mode, tsc_base, mono_ns, mult):
        """Write struct vvar under its seqlock (odd while changing)."""
        mono_now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        self._real_offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - mono_now
        self._boot_offset = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - mono_now
        res = round(time.clock_getres(time.CLOCK_MONOTONIC) * 1e9) or 1
        view, at = self.pool.view, self.vvar_frame
        self._seq += 1
        struct.pack_into("<I", view, at, self._seq)
        VVAR.pack_into(view, at, self._seq, mode, tsc_base, mono_ns, mult,
                       self._real_offset, self._boot_offset, res)
        self._seq += 1
        struct.pack_into("<I", view, at, self._seq)

    # --- mapping -------------------------------------------------------------------
    def map_into(self, mm):
        """Map [vvar] and [vdso] into a fresh address space; return the
        address of the image (AT_SYSINFO_EHDR)."""
        from kvmsentry.mm.address_space import pte_flags
        for _ in range(8):
            vvar = PLACE_LOW + _random_below(PLACE_PAGES - 2) * PAGE_SIZE
            if mm.vmas.is_free(vvar, vvar + 2 * PAGE_SIZE):
                break
        else:
            return 0                    # no room: the program goes without
        refs = self.pool.cow_refs
        for va, frame, prot, name in ((vvar, self.vvar_frame, PROT_READ, "[vvar]"),
                                      (vvar + PAGE_SIZE, self.text_frame,
                                       PROT_READ | PROT_EXEC, "[vdso]")):
            mm.vmas.insert(Vma(va, va + PAGE_SIZE, prot, name, may_write=name == "[vdso]"))
            mm.pages[va] = frame
            mm.pt.map(va, frame, pte_flags(prot))
            refs[frame] += 1
        return vvar + PAGE_SIZE
