"""Which platform runs guest code: `--platform=kvm|systrap|auto`, or the
KVMSENTRY_PLATFORM environment variable when the option is not given
(how the test suite's second pass pins the other platform). The default
is auto: kvm on hardware virtualization (kvm_intel/kvm_amd), where a VM
exit costs about a microsecond, and systrap on a nested kvm_pvm or without
/dev/kvm, where systrap's round trip is several times cheaper than a
ring-3 VM exit (see DESIGN.md).
"""
import os

PLATFORMS = ("kvm", "systrap", "auto")
DEFAULT = "auto"


def requested(option=None):
    """The platform name asked for: the option, the environment, the default."""
    name = option or os.environ.get("KVMSENTRY_PLATFORM") or DEFAULT
    if name not in PLATFORMS:
        raise ValueError("unknown platform %r (known platforms: %s)"
                         % (name, ", ".join(PLATFORMS)))
    return name


def resolve(name):
    """kvm or systrap for a requested name (auto decided from this host)."""
    if name != "auto":
        return name
    if not os.path.exists("/dev/kvm") or os.path.isdir("/sys/module/kvm_pvm"):
        return "systrap"
    return "kvm"


def make_machine(name, pool_bytes, max_vcpus=None, background=False):
    """The platform's machine (the kernel's view of it: pool, contexts,
    address spaces). Raises KvmUnavailable for kvm without /dev/kvm.
    background: KVM's waiting steps run in a thread; ready() joins it."""
    if resolve(name) == "systrap":
        from kvmsentry.platform.systrap.machine import SystrapMachine
        return SystrapMachine(pool_bytes=pool_bytes, max_vcpus=max_vcpus)
    from kvmsentry.platform.kvm.machine import Machine
    return Machine(pool_bytes=pool_bytes, max_vcpus=max_vcpus, background=background)
