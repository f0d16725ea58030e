"""Thin cffi binding to the KVM API: Kvm -> Vm -> Vcpu."""
from kvmsentry.kvm.system import Kvm, KvmUnavailable  # noqa: F401
