"""2 MiB runs of frames behind large anonymous mappings, cut by partial
munmap, mprotect, MADV_DONTNEED, fork and mremap: the sandbox must print
what Linux prints (tests/programs/huge_pages.c). One build flavour: the
paths under test are the sentry's, not the libc's."""


def same_as_native(programs, name):
    """Run the program natively and sandboxed: the same output, no
    errors, both succeed. Returns the output."""
    path = programs.path(name, "musl-static")
    native = programs.run_native(path, cwd=programs.root)
    sandbox = programs.run_sandbox(path, cwd=programs.root)
    assert native[0] == 0, native[2]
    assert sandbox[1].decode().splitlines() == native[1].decode().splitlines()
    assert sandbox[2] == native[2] == b""
    assert sandbox[0] == 0
    return native[1].decode()


def test_huge_ranges_split_like_linux(programs):
    text = same_as_native(programs, "huge_pages")
    assert "child status 0" in text and "hugepage flags: hg 1 nh 0" in text
    assert "rss fell by the unmapped pages: 1" in text


def test_reused_memory_reads_zero(programs):
    """Freed 2 MiB runs are kept allocated and zeroed for the next mapping
    (mm/pool.py): memory mapped again after munmap, MADV_DONTNEED or a
    child's exit reads zero, as on Linux (tests/programs/reused_memory.c)."""
    assert "dirty words 0" in same_as_native(programs, "reused_memory")
