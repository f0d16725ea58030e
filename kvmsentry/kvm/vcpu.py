"""A KVM vCPU file descriptor and its mmap'ed kvm_run.

Registers travel through kvm_run's sync-regs area: after every exit KVM
has stored the general registers there (kvm_valid_regs), and setting
kvm_dirty_regs makes the next KVM_RUN load them, with no extra ioctl.
"""
import errno
import mmap
import os

from kvmsentry._kvm import ffi, lib
from kvmsentry.kvm import exits, ioctls
from kvmsentry.kvm.system import ioctl_ptr

_IO = exits.KVM_EXIT_IO
_io_out = exits.io_out
_interned = {exits.KVM_EXIT_HLT: exits.HLT, exits.KVM_EXIT_SHUTDOWN: exits.SHUTDOWN}


class Vcpu:
    def __init__(self, vm, index, fd):
        self.vm = vm
        self.index = index
        self.fd = fd
        self._map = mmap.mmap(fd, vm.kvm.vcpu_mmap_size, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        self.run_struct = ffi.from_buffer("struct kvm_run *", self._map)
        self._io = lib.kvmsentry_run_io(self.run_struct)
        sync = lib.kvmsentry_run_sync(self.run_struct)
        self.regs = sync.regs          # live view: valid after every exit
        self.sync_sregs = sync.sregs
        self.run_struct.kvm_valid_regs = ioctls.KVM_SYNC_X86_REGS
        self.host_tid = None

    # --- the hot path -----------------------------------------------------
    # Both look the common exits up inline: a Python call less per exit.
    def run(self):
        """Enter the guest until it exits; return the decoded exit."""
        code = lib.kvmsentry_run(self.fd, self.run_struct)
        ex = _interned.get(code)
        return ex if ex is not None else self.decode(code)

    def return_and_run(self, rax, ret_rip, ret_flags, rip, rflags):
        """Load rax/rcx/r11/rip/rflags (a syscall's return), enter the guest
        and return the decoded exit: one C call for the whole round trip."""
        code = lib.kvmsentry_return_and_run(self.fd, self.run_struct, rax, ret_rip,
                                            ret_flags, rip, rflags)
        ex = _interned.get(code)
        return ex if ex is not None else self.decode(code)

    def decode(self, code):
        """The exit for an exit code of the C helpers (kvm_helpers.c)."""
        ex = _interned.get(code)
        if ex is not None:
            return ex
        if code < 0:
            if code == -errno.EINTR:
                self.run_struct.immediate_exit = 0
                return exits.INTERRUPTED
            raise OSError(-code, "KVM_RUN: %s" % os.strerror(-code))
        reason = code & 0xFF
        if reason == _IO:
            port, out, size = (code >> 8) & 0xFFFF, (code >> 24) & 1, code >> 26
            ex = _io_out(port, size) if out else exits.IoIn(port, size)
            _interned[code] = ex
            return ex
        return self._decode_slow(reason)

    def _decode_slow(self, reason):
        run = self.run_struct
        if reason == exits.KVM_EXIT_INTR:
            return exits.INTERRUPTED
        if reason == exits.KVM_EXIT_FAIL_ENTRY:
            return exits.FailEntry(lib.kvmsentry_run_fail_entry(run)[0])
        if reason == exits.KVM_EXIT_INTERNAL_ERROR:
            words = lib.kvmsentry_run_internal(run)
            ndata = min(words[1], 16)
            data = tuple(words[2 + 2 * i] | (words[3 + 2 * i] << 32)
                         for i in range(ndata))
            return exits.InternalError(words[0], data)
        if reason == exits.KVM_EXIT_MMIO:
            return exits.Mmio(0, False)
        return exits.Unknown(reason)

    def mark_regs_dirty(self):
        """Have the next KVM_RUN load self.regs."""
        self.run_struct.kvm_dirty_regs |= ioctls.KVM_SYNC_X86_REGS

    def request_exit(self):
        """Make the current or next KVM_RUN return at once (with a signal)."""
        self.run_struct.immediate_exit = 1

    # --- the slow path: whole-state ioctls ---------------------------------
    def get_regs(self):
        regs = ffi.new("struct kvm_regs *")
        ioctl_ptr(self.fd, ioctls.KVM_GET_REGS, regs)
        return regs

    def set_regs(self, regs):
        ioctl_ptr(self.fd, ioctls.KVM_SET_REGS, regs)

    def get_sregs(self):
        sregs = ffi.new("struct kvm_sregs *")
        ioctl_ptr(self.fd, ioctls.KVM_GET_SREGS, sregs)
        return sregs

    def set_sregs(self, sregs):
        ioctl_ptr(self.fd, ioctls.KVM_SET_SREGS, sregs)

    def set_msrs(self, pairs):
        """Set MSRs from (index, value) pairs; raise if KVM took fewer."""
        msrs = ffi.new("struct kvm_msrs *", {"entries": len(pairs)})
        msrs.nmsrs = len(pairs)
        for i, (index, value) in enumerate(pairs):
            msrs.entries[i].index = index
            msrs.entries[i].data = value
        n = ioctl_ptr(self.fd, ioctls.KVM_SET_MSRS, msrs)
        if n != len(pairs):
            raise OSError(errno.EINVAL, "KVM_SET_MSRS: MSR %#x refused"
                          % pairs[n][0])

    def get_msrs(self, indices):
        """Return {index: value} for the MSRs KVM could read."""
        msrs = ffi.new("struct kvm_msrs *", {"entries": len(indices)})
        msrs.nmsrs = len(indices)
        for i, index in enumerate(indices):
            msrs.entries[i].index = index
        n = ioctl_ptr(self.fd, ioctls.KVM_GET_MSRS, msrs)
        return {msrs.entries[i].index: msrs.entries[i].data for i in range(n)}

    def get_xsave(self):
        """The vCPU's FPU/SSE/AVX state as the 4 KiB kvm_xsave region."""
        buf = ffi.new("struct kvm_xsave *")
        ioctl_ptr(self.fd, ioctls.KVM_GET_XSAVE, buf)
        return bytes(ffi.buffer(buf))

    def set_xsave(self, data):
        buf = ffi.new("struct kvm_xsave *")
        ffi.buffer(buf)[:len(data)] = data
        ioctl_ptr(self.fd, ioctls.KVM_SET_XSAVE, buf)

    def set_cpuid(self, entries):
        cpuid = ffi.new("struct kvm_cpuid2 *", {"entries": len(entries)})
        cpuid.nent = len(entries)
        for i, e in enumerate(entries):
            dst = cpuid.entries[i]
            for k, v in e.items():
                setattr(dst, k, v)
        ioctl_ptr(self.fd, ioctls.KVM_SET_CPUID2, cpuid)

    def set_xcr0(self, value):
        xcrs = ffi.new("struct kvm_xcrs *", {"xcrs": 1})
        xcrs.nr_xcrs = 1
        xcrs.xcrs[0].xcr = 0
        xcrs.xcrs[0].value = value
        ioctl_ptr(self.fd, ioctls.KVM_SET_XCRS, xcrs)

    def close(self):
        self.regs = self.sync_sregs = self._io = self.run_struct = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass      # a task thread still holds kvm_run: the process is ending
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
