"""Load, before pivot_root, every module and library the sentry could
load later.

After pivot_root no host path exists, so a lazy `import` (of a kvmsentry
module, or of the standard library: a codec looked up by name, traceback
and its helpers) would fail. Importing them all now costs a little
start-up time and makes later imports dictionary lookups.
"""
import ctypes
import importlib
import os

import kvmsentry

# Standard-library modules the sentry reaches lazily: codecs looked up by
# name on first use, and what an error report imports.
STDLIB = (
    "encodings.ascii", "encodings.latin_1", "encodings.utf_8", "encodings.idna",
    "encodings.utf_16", "encodings.utf_32", "encodings.unicode_escape",
    "traceback", "linecache", "tokenize",
)


# Shared libraries the C library loads on demand: glibc dlopen()s libgcc_s
# to unwind a thread in pthread_exit (CPython ends daemon threads that way
# at exit); loaded now, its later dlopen finds it by soname.
LIBRARIES = ("libgcc_s.so.1",)
_loaded = []


def _read_package_data():
    """Package files read lazily (cached by their readers)."""
    from kvmsentry.platform.kvm.machine import stub_image
    stub_image()


def _module_names():
    """Every module of the kvmsentry package, found by walking its
    directories (pkgutil.walk_packages imports typing to do the same)."""
    for where in kvmsentry.__path__:
        for directory, subdirs, files in os.walk(where):
            subdirs[:] = sorted(d for d in subdirs
                                if os.path.isfile(os.path.join(directory, d, "__init__.py")))
            relative = os.path.relpath(directory, where)
            package = "kvmsentry" if relative == "." else \
                "kvmsentry." + relative.replace(os.sep, ".")
            if package != "kvmsentry":
                yield package
            for name in sorted(files):
                stem = name.split(".", 1)[0]
                if name.endswith(".py") and stem != "__init__" or name.endswith(".so"):
                    yield package + "." + stem


def import_everything(skip=()):
    """Import every kvmsentry module and STDLIB; return how many. Modules
    in `skip` (names of modules or packages) are left out: a front end the
    running command does not use (`do` has no use for the OCI runtime's)."""
    def skipped(name):
        return name.startswith("kvmsentry.__main__") or any(
            name == s or name.startswith(s + ".") for s in skip)
    names = [name for name in _module_names() if not skipped(name)]
    for name in names + list(STDLIB):
        importlib.import_module(name)
    _read_package_data()
    _loaded.extend(ctypes.CDLL(lib) for lib in LIBRARIES)
    return len(names) + len(STDLIB)
