"""A syscall site's first SIGSYS is only noted (SystrapContext.
_trapped_syscall), without the kernel lock: patching.try_patch, under the
lock, sees a site from its second trap on, and a site's note is the same
either way."""
import types

from kvmsentry.platform.systrap import context as ctx_mod, patching

SITE_RIP = 0x401236                       # (rip after the 2-byte syscall)


class CountingLock:
    def __init__(self):
        self.taken = 0

    def __enter__(self):
        self.taken += 1

    def __exit__(self, *exc):
        pass


def _context(patches):
    machine = types.SimpleNamespace(xsave_size=512, spin_cycles=0, kernel_lock=CountingLock())
    ctx = ctx_mod.SystrapContext(machine)
    ctx.mm = types.SimpleNamespace(syscall_patches=patches)
    ctx.regs = types.SimpleNamespace(rip=SITE_RIP)
    ctx.msg = types.SimpleNamespace(arch=ctx_mod.AUDIT_ARCH_X86_64, nr=39)
    ctx.process = types.SimpleNamespace(threads=lambda: 1)
    return ctx, machine.kernel_lock


def test_a_sites_first_trap_is_noted_without_the_lock(monkeypatch):
    tried = []
    monkeypatch.setattr(patching, "try_patch",
                        lambda mm, proc, site, nr, threads: tried.append(site) or False)
    patches = patching.SitePatches()
    ctx, lock = _context(patches)
    ctx._trapped_syscall()
    assert patches.trapped == {SITE_RIP - 2} and lock.taken == 0 and tried == []
    ctx._trapped_syscall()                  # the second: try_patch, under the lock
    assert lock.taken == 1 and tried == [SITE_RIP - 2]


def test_an_address_space_without_patches_yet_goes_to_try_patch(monkeypatch):
    tried = []
    monkeypatch.setattr(patching, "try_patch",
                        lambda mm, proc, site, nr, threads: tried.append(site) or False)
    ctx, lock = _context(None)              # (try_patch makes its SitePatches)
    ctx._trapped_syscall()
    assert lock.taken == 1 and tried == [SITE_RIP - 2]


def test_a_first_trap_noted_during_munmaps_drop_does_not_break_it(monkeypatch):
    """Another thread's munmap (SitePatches.drop, under the kernel lock)
    may run while a first trap is noted without it: drop's look at the
    notes must not fail on a note added meanwhile ("Set changed size
    during iteration" was an internal error of the munmap)."""
    import sys
    import threading
    monkeypatch.setattr(patching, "try_patch", lambda *args: False)
    patches = patching.SitePatches()
    patches.trapped = set(range(0x10000000, 0x10000000 + 8 * 100_000, 8))
    ctx, _ = _context(patches)
    stop, failed = threading.Event(), []

    def munmaps():
        try:
            while not stop.is_set():
                patches.drop(0x1000, 0x2000)          # (covers none of the sites)
        except RuntimeError as e:
            failed.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=munmaps)
    thread.start()
    try:
        for i in range(20_000):
            ctx.regs.rip = 0x20000002 + 8 * i       # a new site each time: a first trap
            ctx._trapped_syscall()
            if failed:
                break
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)
    assert failed == []
