"""cffi API-mode builds of the package's three C modules, each from a
declarations file and a helpers file in cdefs/:

    kvmsentry._kvm      the KVM API and the vCPU run loop's helpers
    kvmsentry._sandbox  the sentry's confinement (libseccomp; Debian: libseccomp-dev)
    kvmsentry._systrap  the sentry's side of the systrap platform's handshake

setup.py runs them through `cffi_modules`; to rebuild by hand:
    python cdefs/build.py
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(name):
    with open(os.path.join(HERE, name)) as f:
        return f.read()


def _module(name, stem, **kwargs):
    ffibuilder = FFI()
    ffibuilder.cdef(_read(stem + ".cdef"))
    ffibuilder.set_source("kvmsentry." + name, _read(stem + "_helpers.c"), **kwargs)
    return ffibuilder


kvm = _module("_kvm", "kvm")
sandbox = _module("_sandbox", "sandbox", libraries=["seccomp"])
systrap = _module("_systrap", "systrap", include_dirs=[HERE])   # (systrap_spin.h)

if __name__ == "__main__":
    for ffibuilder in (kvm, sandbox, systrap):
        ffibuilder.compile(tmpdir=os.path.join(HERE, ".."), verbose=True)
