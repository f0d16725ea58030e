"""2 MiB runs of frames behind large anonymous mappings, cut by partial
munmap, mprotect, MADV_DONTNEED, fork and mremap: the sandbox must print
what Linux prints (tests/programs/huge_pages.c). One build flavour: the
paths under test are the sentry's, not the libc's."""


def test_huge_ranges_split_like_linux(programs):
    path = programs.path("huge_pages", "musl-static")
    native = programs.run_native(path, cwd=programs.root)
    sandbox = programs.run_sandbox(path, cwd=programs.root)
    assert native[0] == 0, native[2]
    assert sandbox[1].decode().splitlines() == native[1].decode().splitlines()
    assert sandbox[2] == native[2] == b""
    assert sandbox[0] == 0
    text = native[1].decode()
    assert "child status 0" in text and "hugepage flags: hg 1 nh 0" in text
    assert "rss fell by the unmapped pages: 1" in text


def test_reused_memory_reads_zero(programs):
    """Freed 2 MiB runs are kept allocated and zeroed for the next mapping
    (mm/pool.py): memory mapped again after munmap, MADV_DONTNEED or a
    child's exit reads zero, as on Linux (tests/programs/reused_memory.c)."""
    path = programs.path("reused_memory", "musl-static")
    native = programs.run_native(path, cwd=programs.root)
    sandbox = programs.run_sandbox(path, cwd=programs.root)
    assert native[0] == 0, native[2]
    assert sandbox[1].decode().splitlines() == native[1].decode().splitlines()
    assert sandbox[2] == native[2] == b""
    assert sandbox[0] == 0
    assert "dirty words 0" in native[1].decode()
