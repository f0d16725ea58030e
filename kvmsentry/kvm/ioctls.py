"""KVM ioctl numbers, grouped by the file descriptor they are issued on.

Computed with ioctl-opt from <linux/kvm.h>'s definitions (KVMIO = 0xAE)
and the struct sizes the C compiler gave the cffi module.
"""
import ctypes

from ioctl_opt import IO, IOR, IOW, IOWR

from kvmsentry._kvm import ffi

KVMIO = 0xAE


def _size(ctype):
    """A ctypes stand-in of the struct's size: ioctl-opt takes ctypes types."""
    return ctypes.c_ubyte * ffi.sizeof(ctype)


# /dev/kvm
KVM_GET_API_VERSION = IO(KVMIO, 0x00)
KVM_CREATE_VM = IO(KVMIO, 0x01)
KVM_CHECK_EXTENSION = IO(KVMIO, 0x03)
KVM_GET_VCPU_MMAP_SIZE = IO(KVMIO, 0x04)
KVM_GET_SUPPORTED_CPUID = IOWR(KVMIO, 0x05, _size("struct kvm_cpuid2"))

# vm fd
KVM_CREATE_VCPU = IO(KVMIO, 0x41)
KVM_SET_NR_MMU_PAGES = IO(KVMIO, 0x44)
KVM_GET_NR_MMU_PAGES = IO(KVMIO, 0x45)
KVM_SET_USER_MEMORY_REGION = IOW(KVMIO, 0x46, _size("struct kvm_userspace_memory_region"))
KVM_SET_TSS_ADDR = IO(KVMIO, 0x47)
KVM_SET_IDENTITY_MAP_ADDR = IOW(KVMIO, 0x48, ctypes.c_uint64)

# vcpu fd
KVM_RUN = IO(KVMIO, 0x80)
KVM_GET_REGS = IOR(KVMIO, 0x81, _size("struct kvm_regs"))
KVM_SET_REGS = IOW(KVMIO, 0x82, _size("struct kvm_regs"))
KVM_GET_SREGS = IOR(KVMIO, 0x83, _size("struct kvm_sregs"))
KVM_SET_SREGS = IOW(KVMIO, 0x84, _size("struct kvm_sregs"))
KVM_GET_MSRS = IOWR(KVMIO, 0x88, _size("struct kvm_msrs"))
KVM_SET_MSRS = IOW(KVMIO, 0x89, _size("struct kvm_msrs"))
KVM_GET_FPU = IOR(KVMIO, 0x8C, _size("struct kvm_fpu"))
KVM_SET_FPU = IOW(KVMIO, 0x8D, _size("struct kvm_fpu"))
KVM_SET_CPUID2 = IOW(KVMIO, 0x90, _size("struct kvm_cpuid2"))
KVM_GET_XSAVE = IOR(KVMIO, 0xA4, _size("struct kvm_xsave"))
KVM_SET_XSAVE = IOW(KVMIO, 0xA5, _size("struct kvm_xsave"))
KVM_GET_XCRS = IOR(KVMIO, 0xA6, _size("struct kvm_xcrs"))
KVM_SET_XCRS = IOW(KVMIO, 0xA7, _size("struct kvm_xcrs"))

NAMES = {v: k for k, v in list(globals().items()) if k.startswith("KVM_") and k != "KVMIO"}

# Capabilities (KVM_CHECK_EXTENSION arguments).
KVM_CAP_USER_MEMORY = 3
KVM_CAP_EXT_CPUID = 7
KVM_CAP_SYNC_REGS = 74
KVM_CAP_IMMEDIATE_EXIT = 136
KVM_CAP_XCRS = 56

KVM_SYNC_X86_REGS = 1 << 0
KVM_SYNC_X86_SREGS = 1 << 1
KVM_SYNC_X86_EVENTS = 1 << 2
