"""Fix, before pivot_root, every module the sentry could load later.

After pivot_root no host path exists, so a lazy `import` (of a kvmsentry
module, or of the standard library: a codec looked up by name, traceback
and its helpers) could not read its file. Executing every module up front
made each start pay for all of them; instead their compiled code is read
now (one read per file) and a finder at the front of sys.meta_path serves
every later import of them from memory. Either way the code the sentry
can run is fixed before the program's first instruction; now a run
executes only the modules it uses.

What needs the host when imported is imported now: extension modules (the
seccomp filter refuses executable mappings), modules that load a shared
library with ctypes, package data files.
"""
import ctypes
import marshal
import os
import sys
from importlib.machinery import ModuleSpec, PathFinder
from importlib.util import MAGIC_NUMBER, cache_from_source

import kvmsentry

# Standard-library modules the sentry's modules import (directly or not),
# plus what the sentry reaches lazily: codecs looked up by name on first
# use, and what an error report imports. tests/unit/test_preload.py
# imports every module read without the host's files, so a module missing
# here fails there.
STDLIB = (
    "__future__", "_bisect", "_bz2", "_cffi_backend", "_collections_abc", "_compression",
    "_ctypes", "_heapq", "_json", "_lzma", "_opcode", "_posixsubprocess", "_random",
    "_sha512", "_socket", "_struct", "_weakrefset", "abc", "argparse", "array", "ast",
    "bisect", "bz2", "codecs", "collections", "collections.abc", "contextlib", "copy",
    "copyreg", "ctypes", "ctypes._endian", "dataclasses", "dis", "encodings.aliases",
    "encodings.ascii", "encodings.idna", "encodings.latin_1", "encodings.unicode_escape",
    "encodings.utf_16", "encodings.utf_32", "encodings.utf_8", "enum", "fcntl", "fnmatch",
    "functools", "genericpath", "gettext", "heapq", "importlib", "importlib._abc",
    "importlib.machinery", "importlib.util", "inspect", "io", "ioctl_opt", "ipaddress",
    "json", "json.decoder", "json.encoder", "json.scanner", "keyword", "linecache",
    "locale", "lzma", "math", "mmap", "opcode", "operator", "os", "pathlib", "posixpath",
    "random", "re", "re._casefix", "re._compiler", "re._constants", "re._parser",
    "reprlib", "resource", "select", "selectors", "shutil", "signal", "socket",
    "stringprep", "struct", "subprocess", "tempfile", "termios", "textwrap", "threading",
    "token", "tokenize", "traceback", "tty", "types", "unicodedata", "urllib",
    "urllib.parse", "warnings", "weakref", "zlib",
)

# kvmsentry modules that reach the host when imported (besides extension
# modules, always imported now).
IMPORTED_NOW = (
    "kvmsentry.arch.disasm",          # loads libcapstone with ctypes
)

# Shared libraries the C library loads on demand: glibc dlopen()s libgcc_s
# to unwind a thread in pthread_exit (CPython ends daemon threads that way
# at exit); loaded now, its later dlopen finds it by soname.
LIBRARIES = ("libgcc_s.so.1",)
_loaded = []


def _read_package_data():
    """Package files read lazily (cached by their readers): the kvm
    platform's stub, if this sentry runs on it."""
    machine = sys.modules.get("kvmsentry.platform.kvm.machine")
    if machine is not None:
        machine.stub_image()


def _module_files():
    """(name, path, is_package) of every module of the kvmsentry package,
    found by walking its directories (pkgutil.walk_packages imports typing
    and each package to do the same)."""
    for where in kvmsentry.__path__:
        for directory, subdirs, files in os.walk(where):
            subdirs[:] = sorted(d for d in subdirs
                                if os.path.isfile(os.path.join(directory, d, "__init__.py")))
            relative = os.path.relpath(directory, where)
            package = "kvmsentry" if relative == "." else \
                "kvmsentry." + relative.replace(os.sep, ".")
            for name in sorted(files):
                stem = name.split(".", 1)[0]
                path = os.path.join(directory, name)
                if name == "__init__.py":
                    yield package, path, True
                elif name.endswith(".py") or name.endswith(".so"):
                    yield package + "." + stem, path, False


class Snapshot:
    """A meta-path finder and loader serving modules from code read
    earlier: name -> (path, is_package, code bytes, marshalled?)."""

    def __init__(self):
        self.modules = {}

    def add(self, name, path, is_package):
        """Read the module's code now: its cached bytecode when that is
        current (as the source loader checks it: source mtime and size),
        else its source."""
        try:
            with open(cache_from_source(path), "rb") as f:
                cached = f.read()
        except (OSError, NotImplementedError):
            cached = b""
        st = os.stat(path)
        # A timestamp-based pyc: magic, flags 0, source mtime, source size.
        if cached[:4] == MAGIC_NUMBER and cached[4:8] == b"\0\0\0\0" and \
                int.from_bytes(cached[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF and \
                int.from_bytes(cached[12:16], "little") == st.st_size & 0xFFFFFFFF:
            self.modules[name] = (path, is_package, cached[16:], True)
            return
        with open(path, "rb") as f:
            self.modules[name] = (path, is_package, f.read(), False)

    def find_spec(self, name, path=None, target=None):
        entry = self.modules.get(name)
        if entry is None:
            return None
        spec = ModuleSpec(name, self, origin=entry[0], is_package=entry[1])
        if entry[1]:
            spec.submodule_search_locations = [os.path.dirname(entry[0])]
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path, _, data, marshalled = self.modules[module.__spec__.name]
        code = marshal.loads(data) if marshalled else compile(data, path, "exec")
        exec(code, module.__dict__)


def _stdlib_file(name, found):
    """(path, is_package) of a standard-library module, found without
    importing it or its package; None for built-in and missing ones."""
    parent, _, _ = name.rpartition(".")
    if parent:
        where = found.get(parent)
        if where is None:
            where = getattr(sys.modules.get(parent), "__path__", None)
        if where is None:
            return None
        spec = PathFinder.find_spec(name, list(where))
    else:
        spec = PathFinder.find_spec(name)
    if spec is None or not spec.has_location or not spec.origin:
        return None
    if spec.submodule_search_locations is not None:
        found[name] = spec.submodule_search_locations
    return spec.origin, spec.submodule_search_locations is not None


def fix_modules(skip=()):
    """Import now what needs the host to import; read the code of every
    other kvmsentry module and of STDLIB for later imports from memory.
    Modules in `skip` (names of modules or packages) are left out: a front
    end the running command does not use (`do` has no use for the OCI
    runtime's). Returns how many modules were read."""
    def skipped(name):
        return name.startswith("kvmsentry.__main__") or any(
            name == s or name.startswith(s + ".") for s in skip)
    snapshot = Snapshot()
    extensions = []
    for name, path, is_package in _module_files():
        if name in sys.modules or skipped(name):
            continue
        if path.endswith(".so"):
            extensions.append(name)
        else:
            snapshot.add(name, path, is_package)
    found = {}
    for name in STDLIB:
        if name in sys.modules:
            continue
        where = _stdlib_file(name, found)
        if where is None:
            continue
        if where[0].endswith(".py"):
            snapshot.add(name, *where)
        else:
            extensions.append(name)
    sys.meta_path.insert(0, snapshot)
    for name in extensions + list(IMPORTED_NOW):
        if not skipped(name):
            __import__(name)
    _read_package_data()
    _loaded.extend(ctypes.CDLL(lib) for lib in LIBRARIES)
    return len(snapshot.modules)


def import_everything(skip=()):
    """Import every kvmsentry module (but `skip`, as fix_modules) and
    STDLIB; return how many. For measuring what all of them cost."""
    fix_modules(skip)
    names = [name for name, _, _ in _module_files()
             if not name.startswith("kvmsentry.__main__") and
             not any(name == s or name.startswith(s + ".") for s in skip)]
    for name in names + list(STDLIB):
        __import__(name)
    return len(names) + len(STDLIB)
