"""Fixtures for tests that boot tiny guests on /dev/kvm.

A missing or unusable /dev/kvm fails these tests: CI runs on KVM hosts,
and a KVM test that skips there is a hidden failure.
"""
import pytest

from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE
from kvmsentry.platform.kvm.context import KvmContext
from kvmsentry.platform.kvm.machine import Machine
from progbuild import assemble

CODE = 0x400000
DATA = 0x600000


@pytest.fixture(scope="module")
def machine():
    m = Machine(pool_bytes=256 << 20)
    yield m
    m.close()


class Guest:
    """One address space with code at CODE and a data page at DATA."""

    def __init__(self, machine, source, patch=True):
        self.machine = machine
        self.mm = AddressSpace(machine.pool, machine.kernel_pdpt)
        self.mm.map_anonymous(CODE, 0x1000, PROT_READ | PROT_WRITE)
        self.mm.copy_out(CODE, assemble(source))
        self.mm.protect(CODE, 0x1000, PROT_READ | PROT_EXEC)
        self.mm.map_anonymous(DATA, 0x1000, PROT_READ | PROT_WRITE)
        self.ctx = KvmContext(machine, patch_syscalls=patch)
        self.ctx.set_address_space(self.mm)
        self.ctx.start(CODE, DATA + 0x1000)

    def close(self):
        self.ctx.close()
        self.mm.destroy()


@pytest.fixture
def guest(machine):
    made = []

    def make(source, patch=True):
        g = Guest(machine, source, patch)
        made.append(g)
        return g
    yield make
    for g in made:
        g.close()
