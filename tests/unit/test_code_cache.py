"""sandbox/code_cache.py: the code of every module `do` may import, in one
file, served only while it matches the sources."""
import importlib.util
import marshal
import os
import sys

import pytest

from kvmsentry.sandbox import code_cache


@pytest.fixture(autouse=True)
def _writes_caches(monkeypatch):
    # (PYTHONDONTWRITEBYTECODE makes _save a no-op, as for a .pyc.)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def _module_code(cache, name):
    return marshal.loads(cache.code_of(name))


def _source_code(name):
    spec = importlib.util.find_spec(name)
    with open(spec.origin, "rb") as f:
        return compile(f.read(), spec.origin, "exec", dont_inherit=True)


def test_a_saved_cache_serves_what_the_sources_compile_to(tmp_path):
    cache, blobs = code_cache._refresh(None)
    assert blobs is not None                    # nothing to keep: all of it is new
    assert {"kvmsentry.kernel.kernel", "kvmsentry.syscalls.dispatch", "enum",
            "threading"} <= set(cache.modules)
    assert not any(n.startswith("kvmsentry.__main__") for n in cache.modules)
    path = str(tmp_path / "cache.bin")
    code_cache._save(path, cache, blobs)
    loaded = code_cache._open(path)
    assert loaded.modules == cache.modules
    for name in ("kvmsentry.errors", "kvmsentry.kernel.waiter"):
        assert _module_code(loaded, name).co_consts == _source_code(name).co_consts
    # Unchanged sources: nothing to rewrite.
    again, blobs = code_cache._refresh(loaded)
    assert blobs is None and again is loaded


def test_a_changed_source_or_interpreter_is_not_served_from_the_cache(tmp_path):
    cache, blobs = code_cache._refresh(None)
    # As if kvmsentry.errors had changed since: another stamp, other code.
    path, is_package, (mtime, size), offset, length = cache.modules["kvmsentry.errors"]
    junk = marshal.dumps(compile("X = 1\n", path, "exec"))
    blobs.append(junk)
    cache.modules["kvmsentry.errors"] = (path, is_package, (mtime - 1, size),
                                        sum(map(len, blobs[:-1])), len(junk))
    del cache.modules["kvmsentry.record"]       # as if the module were new
    file = str(tmp_path / "cache.bin")
    code_cache._save(file, cache, blobs)
    stale = code_cache._open(file)
    assert _module_code(stale, "kvmsentry.errors").co_names == ("X",)
    fresh, blobs = code_cache._refresh(stale)
    assert blobs is not None
    assert fresh.modules["kvmsentry.errors"][2] == (mtime, size)
    assert "X" not in _module_code(fresh, "kvmsentry.errors").co_names
    assert "kvmsentry.record" in fresh.modules
    # A file written for another interpreter is not read at all.
    with open(file, "r+b") as f:
        index_length = int.from_bytes(f.read(8), "little")
        header, modules, *rest = marshal.loads(f.read(index_length))
    other = marshal.dumps(((header[0], b"\0\0\r\n") + header[2:], modules, *rest))
    with open(file, "wb") as f:
        f.write(len(other).to_bytes(8, "little") + other)
    assert code_cache._open(file) is None
    assert code_cache._open(str(tmp_path / "missing")) is None
    os.unlink(file)


def test_the_package_listing_is_kept_while_no_directory_changed():
    cache, _ = code_cache._refresh(None)
    names = {name for name, _, _ in cache.listing}
    assert {"kvmsentry.kernel.kernel", "kvmsentry._sandbox", "kvmsentry.kernel"} <= names
    # Extension modules have no source: remembered, so no start searches for one.
    assert "_socket" in cache.absent and "_socket" not in cache.modules
    listing, dirs = code_cache._listing(cache)
    assert listing is cache.listing and dirs is cache.dirs
    # A directory whose mtime moved (a file added, removed or renamed in
    # it) is listed again.
    (directory, mtime), *rest = cache.dirs
    cache.dirs = ((directory, mtime - 1), *rest)
    listing, dirs = code_cache._listing(cache)
    assert listing is not cache.listing and sorted(listing) == sorted(cache.listing)
    assert dict(dirs)[directory] == mtime
    again, blobs = code_cache._refresh(cache)
    assert blobs is not None                    # rewritten with the new mtimes
    assert dict(again.dirs)[directory] == mtime


@pytest.mark.parametrize("difference", ["module missing", "module no longer wanted",
                                        "absent names differ"])
def test_a_cache_with_every_stamp_current_is_still_rebuilt_when_its_set_differs(difference):
    # The start's quick check (every source's stamp, nothing built) must
    # also see a cache that holds other modules than the sources ask for.
    cache, _ = code_cache._refresh(None)
    if difference == "module missing":
        del cache.modules["kvmsentry.record"]
    elif difference == "module no longer wanted":
        cache.modules["kvmsentry.no_such_module"] = cache.modules["kvmsentry.record"]
    else:
        cache.absent = cache.absent | {"kvmsentry_no_such_extension"}
    fresh, blobs = code_cache._refresh(cache)
    assert blobs is not None and fresh is not cache
    assert "kvmsentry.record" in fresh.modules
    assert "kvmsentry.no_such_module" not in fresh.modules
    assert "kvmsentry_no_such_extension" not in fresh.absent


def test_the_start_check_passes_only_a_cache_that_matches_every_source():
    # current() is the whole check of a start that changes nothing: one
    # stat per source and directory, no new index built.
    cache, _ = code_cache._refresh(None)
    assert cache.current()
    assert code_cache._refresh(cache) == (cache, None)
    name, entry = next(iter(cache.modules.items()))
    path, is_package, (mtime, size), offset, length = entry
    cache.modules[name] = (path, is_package, (mtime, size + 1), offset, length)
    assert not cache.current()
    cache.modules[name] = entry
    del cache.modules[name]
    assert not cache.current()


def test_a_module_served_from_the_cache_is_made_with_its_file_and_path(tmp_path):
    """importlib then finds __file__, __cached__ and a package's __path__
    instead of failing to look each up (an AttributeError formatted each)."""
    cache, blobs = code_cache._refresh(None)
    path = str(tmp_path / "cache.bin")
    code_cache._save(path, cache, blobs)
    loaded = code_cache._open(path)
    for name in ("kvmsentry.kernel.waiter", "kvmsentry.kernel"):
        spec = loaded.find_spec(name)
        module = loaded.create_module(spec)
        assert module.__name__ == name
        assert (module.__file__, module.__cached__) == (spec.origin, loaded.compiled_from)
        assert getattr(module, "__path__", None) == spec.submodule_search_locations
        assert (module.__file__.endswith("__init__.py")) == (name == "kvmsentry.kernel")
        module.__spec__ = spec                  # (importlib's part)
        loaded.exec_module(module)
        assert module.ALL_EVENTS if name.endswith("waiter") else module.__path__
