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
import _ctypes
import marshal
import os
import sys
from importlib.machinery import ModuleSpec
from importlib.util import MAGIC_NUMBER, cache_from_source, source_hash

import kvmsentry

# Standard-library modules the sentry's modules import (directly or not),
# plus what it reaches lazily: codecs looked up by name on first use, and
# what an error report imports. tests/unit/test_preload.py imports every
# module read without the host's files, so a module missing here fails
# there. Those only the OCI front end and `kvmsentry platforms` import are
# in FRONT_END_STDLIB, left out when their modules are (`do`).
STDLIB = (
    "__future__", "_bisect", "_cffi_backend", "_collections_abc", "_ctypes", "_heapq",
    "_socket", "_struct", "_weakrefset", "abc", "argparse", "array",
    "bisect", "codecs", "collections", "collections.abc", "contextlib", "copy", "copyreg",
    "ctypes", "ctypes._endian", "encodings.aliases", "encodings.ascii", "encodings.latin_1",
    "encodings.unicode_escape", "encodings.utf_16", "encodings.utf_32", "encodings.utf_8",
    "enum", "fcntl", "fnmatch", "functools", "genericpath", "gettext", "heapq", "importlib",
    "importlib._abc", "importlib.machinery", "importlib.util", "io", "ioctl_opt", "ipaddress",
    "keyword", "linecache", "locale", "math", "mmap", "operator", "os", "pathlib",
    "posixpath", "re", "re._casefix", "re._compiler", "re._constants", "re._parser",
    "reprlib", "resource", "select", "selectors", "signal", "socket", "stat", "struct",
    "termios", "textwrap", "threading", "token", "tokenize", "traceback", "tty",
    "types", "urllib", "urllib.parse", "warnings", "weakref",
)
FRONT_END_STDLIB = (
    "_bz2", "_compression", "_datetime", "_json", "_lzma", "_opcode", "_posixsubprocess",
    "_random", "_sha512", "ast", "bz2", "dataclasses", "datetime", "dis", "inspect", "json",
    "json.decoder", "json.encoder", "json.scanner", "lzma", "opcode", "random", "shutil",
    "subprocess", "tempfile", "zlib",
)
FRONT_ENDS = ("kvmsentry.cli.oci", "kvmsentry.runtime", "kvmsentry.platform.report")

# kvmsentry modules that reach the host when imported (besides extension
# modules, always imported now).
IMPORTED_NOW = (
    "kvmsentry.arch.disasm",          # loads libcapstone with ctypes
    "kvmsentry.syscalls.sys_mmap",    # reads /proc/meminfo (the commit limit)
)

# Shared libraries the C library loads on demand: glibc dlopen()s libgcc_s
# to unwind a thread in pthread_exit (CPython ends daemon threads that way
# at exit); loaded now, its later dlopen finds it by soname.
LIBRARIES = ("libgcc_s.so.1",)
_loaded = []
# The code cache's finder (sandbox/code_cache.py), when `do` installed one:
# what it holds is in memory already.
cached = None


def _read_package_data():
    """Package files read lazily (cached by their readers): the kvm
    platform's stub, if this sentry runs on it."""
    machine = sys.modules.get("kvmsentry.platform.kvm.machine")
    if machine is not None:
        machine.stub_image()


def _module_files():
    """(name, path, is_package) of every module of the kvmsentry package,
    found by listing its directories (pkgutil.walk_packages imports typing
    and each package to do the same)."""
    pending = [("kvmsentry", where) for where in kvmsentry.__path__]
    while pending:
        package, directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if entry.is_dir():
                    if name != "__pycache__":
                        init = os.path.join(entry.path, "__init__.py")
                        if os.path.exists(init):
                            yield package + "." + name, init, True
                            pending.append((package + "." + name, entry.path))
                elif name.endswith(".py"):
                    if name != "__init__.py":
                        yield package + "." + name[:-3], entry.path, False
                elif name.endswith(".so"):
                    yield package + "." + name.split(".", 1)[0], entry.path, False


def _read(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, os.fstat(fd).st_size + 1)
    finally:
        os.close(fd)


def _pyc_stamp(st):
    return ((int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") +
            (st.st_size & 0xFFFFFFFF).to_bytes(4, "little"))


class MemoryFinder:
    """A meta-path finder and loader for modules held in memory: `modules`
    maps a name to an entry whose first two items are the source path and
    whether it is a package; subclasses say how a module is run.
    compiled_from: the file the code came from (the module's __cached__),
    when it is one file for all."""
    compiled_from = None

    def find_spec(self, name, path=None, target=None):
        entry = self.modules.get(name)
        if entry is None:
            return None
        spec = ModuleSpec(name, self, origin=entry[0], is_package=entry[1])
        if entry[1]:
            spec.submodule_search_locations = [os.path.dirname(entry[0])]
        spec.has_location = True
        if self.compiled_from is not None:
            spec.cached = self.compiled_from    # (importlib would derive one per module)
        return spec

    def create_module(self, spec):
        # With the attributes importlib's _init_module_attrs sets only after
        # failing to get them: each failed lookup on a module formats an
        # AttributeError (twice, with the spec's _initializing), ~4.5 k
        # instructions, for each of ~150 modules at every start.
        module = _module_type(spec.name)
        module.__file__ = spec.origin
        if spec.cached is not None:
            module.__cached__ = spec.cached
        if spec.submodule_search_locations is not None:
            module.__path__ = spec.submodule_search_locations
        return module


_module_type = type(sys)


class Snapshot(MemoryFinder):
    """Modules served from code read earlier: name -> (path, is_package,
    code bytes, marshalled?)."""

    def __init__(self):
        self.modules = {}

    def add(self, name, path, is_package):
        """Read the module's code now: its cached bytecode when that is
        current (as the source loader checks it: source mtime and size,
        or the source's hash for a hash-based pyc), else its source."""
        st = os.stat(path)
        try:
            cached = _read(cache_from_source(path))
        except OSError:
            cached = b""
        if cached[:4] == MAGIC_NUMBER:
            flags = cached[4:8]
            if flags == b"\0\0\0\0":          # timestamp-based: mtime, size
                current = cached[8:16] == _pyc_stamp(st)
            elif flags == b"\1\0\0\0":        # hash-based, never checked
                current = True
            elif flags == b"\3\0\0\0":        # hash-based, checked
                source = _read(path)
                current = cached[8:16] == source_hash(source)
            else:
                current = False
            if current:
                self.modules[name] = (path, is_package, cached[16:], True)
                return
        self.modules[name] = (path, is_package, _read(path), False)

    def exec_module(self, module):
        path, _, data, marshalled = self.modules[module.__spec__.name]
        code = marshal.loads(data) if marshalled else compile(data, path, "exec")
        exec(code, module.__dict__)


def _stdlib_file(name, where):
    """(path, is_package) of a pure-Python module of the standard library
    (or of site-packages), found without importing it or its package; or
    (None, False): built in, an extension module, or missing."""
    if name in sys.builtin_module_names:
        return None, False
    relative = name.replace(".", os.sep)
    for directory in where:
        for path, is_package in ((os.path.join(directory, relative + ".py"), False),
                                 (os.path.join(directory, relative, "__init__.py"), True)):
            if os.path.isfile(path):
                return path, is_package
    return None, False


def fix_modules(skip=()):
    """Import now what needs the host to import; read the code of every
    other kvmsentry module and of STDLIB for later imports from memory.
    Modules in `skip` (names of modules or packages) are left out: a front
    end the running command does not use (`do` has no use for the OCI
    runtime's). Returns how many modules were read."""
    names, prefixes = frozenset(skip), ("kvmsentry.__main__",) + tuple(s + "." for s in skip)

    def skipped(name):
        return name in names or name.startswith(prefixes)
    snapshot = Snapshot()
    imports = []
    held = {}
    if cached is not None:
        cached.forget([name for name in cached.modules if skipped(name)])
        held = cached.modules
    for name, path, is_package in cached.listing if cached is not None else _module_files():
        if name in sys.modules or skipped(name) or name in held:
            continue
        if path.endswith(".so"):
            imports.append(name)
        else:
            snapshot.add(name, path, is_package)
    stdlib = STDLIB
    if not all(skipped(name) for name in FRONT_ENDS):
        stdlib += FRONT_END_STDLIB
    # The standard library's directory, then site-packages (ioctl_opt).
    where = [os.path.dirname(os.__file__)] + [p for p in sys.path if "site-packages" in p]
    for name in stdlib:
        if name in sys.modules or name in held:
            continue
        path, is_package = _stdlib_file(name, where)
        if path is None:
            imports.append(name)          # an extension module: loaded now
        else:
            snapshot.add(name, path, is_package)
    sys.meta_path.insert(0, snapshot)
    for name in imports + list(IMPORTED_NOW):
        if not skipped(name):
            try:
                __import__(name)
            except ImportError:
                pass          # not in this Python: no module can import it later either
    _read_package_data()
    # (dlopen'd through _ctypes: ctypes's Python layer is not needed for it)
    _loaded.extend(_ctypes.dlopen(lib, os.RTLD_NOW) for lib in LIBRARIES)
    return len(snapshot.modules) + len(held)


def import_everything(skip=()):
    """Import every kvmsentry module (but `skip`, as fix_modules) and the
    standard library's modules they use; return how many. For measuring
    what all of them cost."""
    fix_modules(skip)
    names = [name for name, _, _ in _module_files()
             if not name.startswith("kvmsentry.__main__") and
             not any(name == s or name.startswith(s + ".") for s in skip)]
    for name in names + list(STDLIB):
        __import__(name)
    return len(names) + len(STDLIB)
