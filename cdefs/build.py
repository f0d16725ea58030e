"""cffi API-mode build of kvmsentry._kvm from the declarations in cdefs/.

setup.py runs this through `cffi_modules`; to rebuild by hand:
    python cdefs/build.py
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(name):
    with open(os.path.join(HERE, name)) as f:
        return f.read()


ffibuilder = FFI()
ffibuilder.cdef(_read("kvm.cdef"))
ffibuilder.set_source("kvmsentry._kvm", _read("kvm_helpers.c"))

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, ".."), verbose=True)
