"""A KVM VM file descriptor: memory slots and vCPU creation."""
import os

from kvmsentry._kvm import ffi
from kvmsentry.kvm import ioctls
from kvmsentry.kvm.system import ioctl_int, ioctl_ptr


class Vm:
    def __init__(self, kvm, fd):
        self.kvm = kvm
        self.fd = fd
        self.vcpus = []

    def set_user_memory_region(self, slot, guest_phys, size, host_addr, flags=0):
        region = ffi.new("struct kvm_userspace_memory_region *", dict(
            slot=slot, flags=flags, guest_phys_addr=guest_phys,
            memory_size=size, userspace_addr=host_addr))
        ioctl_ptr(self.fd, ioctls.KVM_SET_USER_MEMORY_REGION, region)

    def set_tss_addr(self, addr):
        """Intel needs three pages of guest-physical space for real mode."""
        ioctl_int(self.fd, ioctls.KVM_SET_TSS_ADDR, addr)

    def get_nr_mmu_pages(self):
        return ioctl_int(self.fd, ioctls.KVM_GET_NR_MMU_PAGES, 0)

    def set_nr_mmu_pages(self, count):
        """Cap the shadow MMU's page count; lowering it zaps the oldest
        shadow pages that are not an active root."""
        ioctl_int(self.fd, ioctls.KVM_SET_NR_MMU_PAGES, count)

    def create_vcpu(self, index):
        from kvmsentry.kvm.vcpu import Vcpu
        vcpu = Vcpu(self, index, ioctl_int(self.fd, ioctls.KVM_CREATE_VCPU, index))
        self.vcpus.append(vcpu)
        return vcpu

    def close(self):
        for vcpu in self.vcpus:
            vcpu.close()
        self.vcpus = []
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
