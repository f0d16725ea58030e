"""The systrap platform: guest programs run as host processes whose every
syscall becomes a SIGSYS the stub hands to the sentry (see context.py),
whose memory is the same pool memfd the KVM platform uses, mapped into
them by the stub (mirror.py), and whose faults come back as the same
Fault events.

What the kernel asks of a platform (the KVM Machine offers the same):
`pool`, `vdso`, `cpuid`, `xcr0`, `xsave_size`, `hwcap`, new_context(),
new_address_space(), facts(), stats(), check_integrity(), close().
"""
import os
import select
import threading

from kvmsentry._systrap import ffi, lib
from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.mm.pool import DEFAULT_POOL_BYTES, WARM_FRAMES, PhysPool
from kvmsentry.mm.vdso import Vdso
from kvmsentry.platform.systrap.context import SystrapContext
from kvmsentry.platform.systrap.mirror import STUB_MAPS, HostMappings, host_max_map_count
from kvmsentry.platform.systrap.process import ControlRegion, IdleProcesses
from kvmsentry.platform.systrap.zygote import Zygote

XCR0_ALLOWED = 0xFF | (1 << 9)        # x87 SSE AVX MPX AVX-512, PKRU
# How long each side of the handshake spins before it sleeps on the futex:
# a syscall the sentry answers within this (most do) then costs neither
# side a futex call nor the other CPU a wake-up from idle, which on these
# hosts made a getpid 70 us unpinned. Each side spins only while its
# recent waits came within it (cdefs/systrap_spin.h): a server's blocking
# calls would burn it whole. KVMSENTRY_SYSTRAP_SPIN_US=0 turns it off
# (benchmarks compare); on one CPU it is always off.
SPIN_US = 50
# How often a killed task's wait is woken again until it returns (rewake).
REWAKE_S = 0.05
ASSUMED_TSC_MHZ = 3000                # when CPUID does not say (a longer spin)


def spin_cycles(cpus=None):
    """The spin bound in TSC cycles for this host, 0 for none."""
    cpus = len(os.sched_getaffinity(0)) if cpus is None else cpus
    try:
        us = int(os.environ.get("KVMSENTRY_SYSTRAP_SPIN_US", SPIN_US))
    except ValueError:
        us = SPIN_US
    if cpus < 2 or us <= 0:
        return 0
    out = ffi.new("uint32_t[4]")
    lib.systrap_cpuid(0x80000000, 0, out)
    if out[0] < 0x80000001:
        return 0
    lib.systrap_cpuid(0x80000001, 0, out)
    if not out[3] & (1 << 27):
        return 0                      # no RDTSCP: the stub cannot tell its CPU
    lib.systrap_cpuid(0, 0, out)
    mhz = 0
    if out[0] >= 0x16:
        lib.systrap_cpuid(0x16, 0, out)
        mhz = out[0] & 0xFFFF
    return us * (mhz or ASSUMED_TSC_MHZ)


def host_cpuid():
    """CPUID entries as KVM_GET_SUPPORTED_CPUID lists them, read from the
    host CPU: on systrap the program executes CPUID natively."""
    out = ffi.new("uint32_t[4]")
    entries = []

    def leaf(function, index=0):
        lib.systrap_cpuid(function, index, out)
        entries.append({"function": function, "index": index, "flags": 0,
                        "eax": out[0], "ebx": out[1], "ecx": out[2], "edx": out[3]})
        return out[0]
    top = leaf(0)
    for function in range(1, min(top, 0x20) + 1):
        if function in (4, 7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1F):
            for index in range(0, 64 if function == 0xD else 8):
                leaf(function, index)
        else:
            leaf(function)
    ext = leaf(0x80000000)
    for function in range(0x80000001, min(ext, 0x80000020) + 1):
        leaf(function)
    return entries


XFEATURE_MASK_USER_DYNAMIC = 1 << 18     # XTILE_DATA


def xsave_size_of(features, cpuid):
    """The standard-format XSAVE area's size for the feature bits: the legacy
    area and header (576 bytes), then each state component where CPUID 0xD's
    subleaf i puts it (EAX its size, EBX its offset)."""
    end = 576
    for i in range(2, 64):
        if features >> i & 1:
            size, offset = cpuid(0xD, i)[:2]
            end = max(end, offset + size)
    return end


def _cpuid(function, index=0):
    out = ffi.new("uint32_t[4]")
    lib.systrap_cpuid(function, index, out)
    return tuple(out)


def _readable(fd):
    poller = select.poll()                  # (not select(): fds past 1024)
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class SystrapMachine:
    syscall_mode = "systrap"
    io_advance = None
    cr4 = 0
    kernel_pdpt = None
    guest_processes = True            # guest threads are threads of child processes

    def __init__(self, pool_bytes=DEFAULT_POOL_BYTES, max_vcpus=None):
        self.pool = PhysPool(pool_bytes)
        self.zygote = Zygote()
        # The program's first process, asked for now: the zygote forks it
        # and it sets itself up while the sentry builds the rest.
        self.zygote.ask_ahead(self.pool.fd, ControlRegion)
        # Host mappings one child may hold for the program (mirror.py).
        self.map_limit = host_max_map_count() - STUB_MAPS
        # No pre-faulting of single frames in the sentry's mapping: the
        # child's own first touch allocates the memfd page (one host fault,
        # as natively); backing it here first would make that two. Whole
        # 2 MiB runs are backed here (the child maps them with MAP_POPULATE
        # either way, and then freeing one zeroes it with a memset).
        self.pool.back_pages = False
        self.pool.kvm_translations = False   # no KVM: no DONTNEED to drop its copies
        self.pool.warm_frames = WARM_FRAMES
        # Only the leaves needed now: the whole list (~190 CPUIDs, each a
        # VM exit on a virtual machine) is read if /proc/cpuinfo asks.
        top, leaf1, leaf_d = _cpuid(0), _cpuid(1), _cpuid(0xD)
        self.hwcap = leaf1[3] if top[0] >= 1 else 0
        self.xcr0 = lib.systrap_xgetbv() if top[0] >= 1 and leaf1[2] & (1 << 27) else None
        self.xsave_size = 512
        if top[0] >= 0xD and self.xcr0:
            # The state a signal frame carries: Linux leaves out the dynamic
            # features (AMX's tile data) until a process asks for them, which
            # the sentry does not pass on; CPUID 0xD's EBX counts them (11 KiB
            # with AMX, where the frame holds 2.8).
            self.xcr0 &= ~XFEATURE_MASK_USER_DYNAMIC
            self.xsave_size = xsave_size_of(self.xcr0, _cpuid)
        self.vdso = Vdso(self.pool)
        self.vdso.tsc_offset = 0      # the program reads the host's own TSC
        self.spin_cycles = spin_cycles()
        # The lock under which the kernel changes address spaces (it sets
        # this; a bare machine, in unit tests, has only its own).
        self.kernel_lock = threading.Lock()
        self.idle = IdleProcesses()   # child processes kept for the next address space
        self._watched = {}            # pidfd -> ChildProcess
        self._watch_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        # The pidfds, and _wake_r: a byte for rewake(), its end to stop.
        self._epoll = select.epoll()
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._stopping = {}           # context -> (process, slot): rewake()
        self.children_made = 0
        self.notes = []
        self._watcher = threading.Thread(target=self._watch_loop, name="systrap-reaper",
                                         daemon=True)
        self._watcher.start()

    @property
    def cpuid(self):
        """CPUID entries as KVM_GET_SUPPORTED_CPUID lists them (host_cpuid)."""
        entries = self.__dict__.get("_cpuid")
        if entries is None:
            entries = self.__dict__["_cpuid"] = host_cpuid()
        return entries

    # --- what the kernel builds ----------------------------------------------
    def new_context(self, patch_syscalls=True):
        return SystrapContext(self, patch_syscalls)

    def new_address_space(self):
        return AddressSpace(self.pool, None, make_table=self.make_table)

    def make_table(self, pool, kernel_pdpt):
        return HostMappings(self)

    # --- child deaths -----------------------------------------------------------
    # One thread waits for any child's end (its pidfd readable) and wakes
    # the tasks that were running in it. The pidfds sit in a host epoll:
    # adding or removing one needs no wake-up of that thread (a poll set
    # had to be rebuilt, a thread switch on every spawn and every end).
    def watch(self, proc):
        self.children_made += 1
        if proc.pidfd is None:
            return
        with self._watch_lock:
            self._watched[proc.pidfd] = proc
            self._epoll.register(proc.pidfd, select.EPOLLIN)

    def unwatch(self, proc):
        with self._watch_lock:
            if self._watched.pop(proc.pidfd, None) is not None:
                self._epoll.unregister(proc.pidfd)

    def rewake(self, ctx, proc, slot):
        """ctx's task is killed and its stop word set (SystrapContext.abandon):
        wake its wait on slot's word every REWAKE_S until the context has
        left the slot. One wake is not enough: it can come just before the
        waiter sleeps again, and the program can hold the slot's word at
        the value the waiter sleeps on."""
        with self._watch_lock:
            self._stopping[ctx] = (proc, slot)
            if self._wake_w is not None:
                try:
                    os.write(self._wake_w, b"r")
                except BlockingIOError:
                    pass                    # (the watcher has bytes to read already)

    def _rewake_all(self):
        with self._watch_lock:
            for ctx, (proc, slot) in list(self._stopping.items()):
                if ctx.process is not proc or ctx.slot != slot:
                    del self._stopping[ctx]         # (left: its wait returned)
                else:
                    lib.systrap_wake_all(proc.state_ptr(slot))
            return bool(self._stopping)

    def _watch_loop(self):
        rewaking = False
        while True:
            try:
                events = self._epoll.poll(REWAKE_S if rewaking else -1)
            except OSError:
                return                      # closed
            dead = []
            rewaking = self._rewake_all() if rewaking or events else False
            with self._watch_lock:
                for fd, _ in events:
                    if fd == self._wake_r:
                        if not os.read(self._wake_r, 512):
                            return
                        continue
                    # Still watched: a pidfd unwatched (and closed) since
                    # the wait returned may have been reused by a live child's.
                    proc = self._watched.get(fd)
                    if proc is not None and _readable(fd):
                        del self._watched[fd]
                        self._epoll.unregister(fd)
                        dead.append(proc)
            for proc in dead:
                proc.died()

    # --- reports -------------------------------------------------------------
    def note(self, line):
        """Something for `stats()` (the debug log's machine line)."""
        self.notes.append(line)

    def facts(self):
        return [
            ("platform", "systrap (seccomp SIGSYS to a stub, futex handshake)"),
            ("xcr0", "%#x" % (self.xcr0 or 0)),
            ("xsave", "%d bytes" % self.xsave_size),
            ("vdso", self.vdso.describe()),
            ("handshake", "spin up to %d TSC cycles while recent waits fit, then futex"
             % self.spin_cycles if self.spin_cycles else "futex (no spin: one CPU, or turned off)"),
        ]

    def stats(self):
        return "systrap children=%d%s" % (self.children_made,
                                          "".join("; " + n for n in self.notes[-5:]))

    def check_integrity(self):
        """Nothing of the sentry's lies where a program can write it here:
        the stub's pages are read-only file mappings, its slots the
        program's own (checked as untrusted on every use)."""

    def ready(self):
        """Nothing is left to a thread here (KVM's Machine finishes in one)."""

    def close(self):
        self.idle.close()
        self.zygote.close()
        with self._watch_lock:
            os.close(self._wake_w)
            self._wake_w = None
        self.pool.close()
