"""The compiled code of every module `kvmsentry do` may import, in one
file read at start (the preload's snapshot, kept between runs).

Importing a module the ordinary way costs a finder's search, a stat of
the source, an open and read of its .pyc and importlib's bookkeeping, in
Python, each time: about as much again as running the module's body, for
~150 modules on every start, and the preload then read ~200 files more
before pivot_root. Here one read brings the code of all of them (the
kvmsentry package and preload's standard-library list); a finder at the
front of sys.meta_path serves imports from it, each module unmarshalled
when first imported.

The file is mapped, not read: only the pages of the modules a run
imports are touched (reading all ~4 MB cost more than it saved). It is
a cache, as a .pyc is, and is trusted as one: it lives in
the package's __pycache__ and is rebuilt (atomically replaced) when any
source it holds changed size or mtime, a module was added, or the
interpreter differs. Every source is checked at load, so what is served
is what an ordinary import would run; after the load nothing is read
from the host again (the sentry goes on to pivot_root).
"""
import marshal
import mmap
import os
import struct
import sys
from importlib.util import MAGIC_NUMBER

import kvmsentry
from kvmsentry.sandbox import preload

FORMAT = 4
_LENGTH = struct.Struct("<Q")        # the file: index length, index, code blobs
_HEADER = (FORMAT, MAGIC_NUMBER, sys.implementation.cache_tag, os.path.dirname(os.__file__))


def cache_path():
    return os.path.join(os.path.dirname(kvmsentry.__file__), "__pycache__",
                        "code-cache.%s.bin" % sys.implementation.cache_tag)


def _stamp(path):
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def _listing(cache):
    """(preload._module_files()'s list, the package's directories with their
    mtimes): the cache's while no directory's mtime changed (adding,
    removing or renaming a file changes its directory's), else listed."""
    if cache is not None and cache.dirs:
        try:
            if all(os.stat(d).st_mtime_ns == mtime for d, mtime in cache.dirs):
                return cache.listing, cache.dirs
        except OSError:
            pass
    dirs = []
    for where in kvmsentry.__path__:
        for directory, subdirs, _ in os.walk(where):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            dirs.append((directory, os.stat(directory).st_mtime_ns))
    return tuple(preload._module_files()), tuple(dirs)


def _wanted(listing, old, absent, now_absent):
    """(name, path, is_package) of every module the cache should hold: the
    package's files as listed, the standard library's where the cache
    found them before (else searched for, unless the cache found no source
    for them before: extension modules). Names without a source are added
    to now_absent."""
    for name, path, is_package in listing:
        if not path.endswith(".so") and not name.startswith("kvmsentry.__main__"):
            yield name, path, is_package
    where = None
    for name in preload.STDLIB + preload.FRONT_END_STDLIB:
        if name in old:
            yield name, old[name][0], old[name][1]
            continue
        if name in absent:
            now_absent.add(name)
            continue
        if where is None:
            where = [os.path.dirname(os.__file__)] + [p for p in sys.path
                                                      if "site-packages" in p]
        path, is_package = preload._stdlib_file(name, where)
        if path is not None:
            yield name, path, is_package
        else:
            now_absent.add(name)


class CodeCache(preload.MemoryFinder):
    """A meta-path finder and loader serving modules from the cache file's
    mapping: name -> (path, is_package, (mtime_ns, size), offset, length).
    absent: the standard-library names it has no source for; listing,
    dirs: see _listing()."""

    def __init__(self, modules, code, absent=frozenset(), listing=(), dirs=()):
        self.modules = modules
        self._code = code               # the blobs: entries' offsets are into it
        self.absent = absent
        self.listing, self.dirs = listing, dirs
        self.compiled_from = cache_path()

    def code_of(self, name):
        """The module's marshalled code (a view of the mapping)."""
        entry = self.modules[name]
        return self._code[entry[3]:entry[3] + entry[4]]

    def exec_module(self, module):
        exec(marshal.loads(self.code_of(module.__spec__.name)), module.__dict__)

    def current(self):
        """Whether the file still holds what it would be rebuilt with: no
        directory of the package changed (no module added, removed or
        renamed), it holds (or knows to be without source) exactly the
        modules wanted, and no source's mtime or size changed (one stat
        each, the check a .pyc gets, in one tight loop: this runs at every
        start)."""
        wanted = {name for name, path, _ in self.listing
                  if not path.endswith(".so") and not name.startswith("kvmsentry.__main__")}
        wanted.update(preload.STDLIB + preload.FRONT_END_STDLIB)
        if wanted != self.modules.keys() | self.absent:
            return False
        stat = os.stat
        try:
            for directory, mtime in self.dirs:
                if stat(directory).st_mtime_ns != mtime:
                    return False
            for path, _, (mtime, size), _, _ in self.modules.values():
                st = stat(path)
                if st.st_mtime_ns != mtime or st.st_size != size:
                    return False
        except OSError:
            return False
        return bool(self.dirs)

    def forget(self, names):
        """Serve these no more (a front end the running command leaves out)."""
        for name in names:
            self.modules.pop(name, None)


def _open(path):
    """The cache file as a CodeCache (not yet installed), or None when there
    is none for this interpreter."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size < _LENGTH.size:
            return None
        mapping = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    try:
        (length,) = _LENGTH.unpack_from(mapping)
        header, modules, absent, listing, dirs = marshal.loads(
            memoryview(mapping)[_LENGTH.size:_LENGTH.size + length])
    except (ValueError, EOFError, TypeError, struct.error):
        return None
    if header != _HEADER:
        return None
    return CodeCache(modules, memoryview(mapping)[_LENGTH.size + length:], absent,
                     listing, dirs)


def _refresh(cache):
    """A CodeCache for every wanted module: entries of `cache` (or None)
    kept while their source is unchanged, the rest from the module's
    current .pyc or its compiled source. Returns (cache, blobs of a new
    file or None when the file is up to date)."""
    if cache is not None and cache.current():
        return cache, None
    old = cache.modules if cache is not None else {}
    absent = cache.absent if cache is not None else frozenset()
    now_absent = set()
    listing, dirs = _listing(cache)
    changed = cache is None or dirs is not cache.dirs
    # Every source's stamp first: on most starts nothing changed, and the
    # cache is used as it is, with no new index built.
    wanted = []
    for name, path, is_package in _wanted(listing, old, absent, now_absent):
        try:
            stamp = _stamp(path)
        except OSError:
            changed = True
            continue
        wanted.append((name, path, is_package, stamp))
        if not changed:
            kept = old.get(name)
            changed = kept is None or kept[0] != path or kept[2] != stamp
    if not changed and len(wanted) == len(old) and now_absent == absent:
        return cache, None
    entries, blobs, offset = {}, [], 0
    for name, path, is_package, stamp in wanted:
        kept = old.get(name)
        if kept is not None and kept[0] == path and kept[2] == stamp:
            data = cache.code_of(name)
        else:
            data = _compiled(name, path, is_package)
            if data is None:
                continue                    # an ordinary import reports it
        entries[name] = (path, is_package, stamp, offset, len(data))
        blobs.append(data)
        offset += len(data)
    return CodeCache(entries, memoryview(b"".join(blobs)), frozenset(now_absent), listing,
                     dirs), blobs


def _compiled(name, path, is_package):
    snapshot = preload.Snapshot()
    try:
        snapshot.add(name, path, is_package)
    except OSError:
        return None
    _, _, data, marshalled = snapshot.modules[name]
    if marshalled:
        return data
    try:
        return marshal.dumps(compile(data, path, "exec", dont_inherit=True))
    except (SyntaxError, ValueError):
        return None


def _save(path, cache, blobs):
    index = marshal.dumps((_HEADER, cache.modules, cache.absent, cache.listing, cache.dirs))
    write_atomically(path, [_LENGTH.pack(len(index)), index, *blobs])


def write_atomically(path, chunks):
    """Write a cache file (these, the seccomp program's) whole or not at
    all, and not where Python may not write bytecode; failing quietly,
    as a .pyc's write does."""
    if sys.dont_write_bytecode:
        return
    temporary = "%s.%d.tmp" % (path, os.getpid())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def install():
    """Put the cache's finder first on sys.meta_path (building or
    refreshing the file when it does not match the sources); returns it,
    or None when the interpreter runs optimized (other bytecode)."""
    if sys.flags.optimize:
        return None
    if preload.cached is not None:           # (main() called again, in one process)
        return preload.cached
    path = cache_path()
    cache, blobs = _refresh(_open(path))
    if blobs is not None:
        _save(path, cache, blobs)
    sys.meta_path.insert(0, cache)
    preload.cached = cache
    return cache
