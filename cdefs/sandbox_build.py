"""cffi API-mode build of kvmsentry._sandbox (the sentry's confinement)
from cdefs/sandbox.cdef, linked against libseccomp (Debian:
libseccomp-dev). setup.py runs it through `cffi_modules`; by hand:
    python cdefs/sandbox_build.py
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(name):
    with open(os.path.join(HERE, name)) as f:
        return f.read()


ffibuilder = FFI()
ffibuilder.cdef(_read("sandbox.cdef"))
ffibuilder.set_source("kvmsentry._sandbox", _read("sandbox_helpers.c"),
                      libraries=["seccomp"])

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, ".."), verbose=True)
