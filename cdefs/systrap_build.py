"""cffi API-mode build of kvmsentry._systrap (the sentry's side of the
systrap platform's futex handshake) from cdefs/systrap.cdef. setup.py runs
it through `cffi_modules`; by hand:
    python cdefs/systrap_build.py
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(name):
    with open(os.path.join(HERE, name)) as f:
        return f.read()


ffibuilder = FFI()
ffibuilder.cdef(_read("systrap.cdef"))
ffibuilder.set_source("kvmsentry._systrap", _read("systrap_helpers.c"))

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, ".."), verbose=True)
