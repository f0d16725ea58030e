"""The /dev/kvm file descriptor: capability checks and VM creation."""
import os

from kvmsentry._kvm import ffi, lib
from kvmsentry.errors import KvmUnavailable  # noqa: F401 (kvm.KvmUnavailable)
from kvmsentry.kvm import ioctls

KVM_API_VERSION = 12
REQUIRED_CAPS = {
    "KVM_CAP_USER_MEMORY": ioctls.KVM_CAP_USER_MEMORY,
    "KVM_CAP_EXT_CPUID": ioctls.KVM_CAP_EXT_CPUID,
    "KVM_CAP_SYNC_REGS": ioctls.KVM_CAP_SYNC_REGS,
    "KVM_CAP_IMMEDIATE_EXIT": ioctls.KVM_CAP_IMMEDIATE_EXIT,
    "KVM_CAP_XCRS": ioctls.KVM_CAP_XCRS,
}


def check_ioctl(ret, request):
    """Raise OSError(errno, '<ioctl name>: <strerror>') for a failed ioctl."""
    if ret < 0:
        err = ffi.errno
        raise OSError(err, "%s: %s" % (ioctls.NAMES.get(request, hex(request)),
                                       os.strerror(err)))
    return ret


def ioctl_int(fd, request, arg=0):
    return check_ioctl(lib.kvmsentry_ioctl_int(fd, request, arg), request)


def ioctl_ptr(fd, request, ptr):
    return check_ioctl(lib.kvmsentry_ioctl_ptr(fd, request, ptr), request)


class Kvm:
    """An open /dev/kvm."""

    def __init__(self, path="/dev/kvm"):
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KvmUnavailable("%s does not exist: this machine has no KVM "
                                 "(load kvm_intel/kvm_amd or enable nested "
                                 "virtualization)" % path) from None
        except PermissionError:
            raise KvmUnavailable("%s is not readable and writable by this user "
                                 "(add the user to group 'kvm' or run as root)"
                                 % path) from None
        except OSError as e:
            raise KvmUnavailable("%s: %s" % (path, e.strerror)) from None
        version = ioctl_int(self.fd, ioctls.KVM_GET_API_VERSION)
        if version != KVM_API_VERSION:
            raise KvmUnavailable("%s speaks KVM API %d, kvmsentry needs %d"
                                 % (path, version, KVM_API_VERSION))
        missing = [name for name, cap in REQUIRED_CAPS.items()
                   if not self.check_extension(cap)]
        if missing:
            raise KvmUnavailable("%s lacks %s" % (path, ", ".join(missing)))
        self.vcpu_mmap_size = ioctl_int(self.fd, ioctls.KVM_GET_VCPU_MMAP_SIZE)

    def check_extension(self, cap):
        return ioctl_int(self.fd, ioctls.KVM_CHECK_EXTENSION, cap)

    def supported_cpuid(self, max_entries=256):
        """KVM_GET_SUPPORTED_CPUID as a list of dicts."""
        buf = ffi.new("struct kvm_cpuid2 *", {"nent": max_entries,
                                              "entries": max_entries})
        buf.nent = max_entries
        ioctl_ptr(self.fd, ioctls.KVM_GET_SUPPORTED_CPUID, buf)
        out = []
        for i in range(buf.nent):
            e = buf.entries[i]
            out.append(dict(function=e.function, index=e.index, flags=e.flags,
                            eax=e.eax, ebx=e.ebx, ecx=e.ecx, edx=e.edx))
        return out

    def create_vm(self):
        from kvmsentry.kvm.vm import Vm
        return Vm(self, ioctl_int(self.fd, ioctls.KVM_CREATE_VM, 0))

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
