"""execve's argv/envp (sys_process._string_array): the pointers are read
a few at a time, never across a page boundary before the array's NULL
says the next page holds more (it may not be mapped), and every string
is found, however many pointers there are."""
import struct

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls import sys_process

PAGE = 4096


class FakeMM:
    """Memory of pages given; a read past them faults (EFAULT)."""

    def __init__(self, pages):
        self.pages = pages                  # page address -> bytearray(PAGE)
        self.reads = []

    def copy_in(self, addr, n):
        self.reads.append((addr, n))
        out = bytearray()
        while n:
            page, off = addr & ~(PAGE - 1), addr & (PAGE - 1)
            if page not in self.pages:
                raise SyscallError(14)
            k = min(n, PAGE - off)
            out += self.pages[page][off:off + k]
            addr, n = addr + k, n - k
        return bytes(out)

    def read_cstring(self, addr, limit=4096):
        data = self.copy_in(addr, 64)
        return data[:data.index(b"\0")]


class FakeTask:
    def __init__(self, mm):
        self.mm = mm


def _layout(n, array_at):
    """n strings on one page, their pointer array (NULL-ended) at array_at,
    which may run to the end of its page: the next page is not mapped."""
    strings = 0x10000
    pages = {strings: bytearray(PAGE), array_at & ~(PAGE - 1): bytearray(PAGE)}
    ptrs = []
    for i in range(n):
        s = b"s%d" % i
        at = strings + 8 * i
        pages[strings][8 * i:8 * i + len(s) + 1] = s + b"\0"
        ptrs.append(at)
    ptrs.append(0)
    page = pages[array_at & ~(PAGE - 1)]
    off = array_at & (PAGE - 1)
    page[off:off + 8 * len(ptrs)] = struct.pack("<%dQ" % len(ptrs), *ptrs)
    return FakeMM(pages), [b"s%d" % i for i in range(n)]


def test_a_short_array_is_one_small_read():
    mm, want = _layout(2, 0x20760)
    assert sys_process._string_array(FakeTask(mm), 0x20760) == want
    arrays = [(a, n) for a, n in mm.reads if 0x20000 <= a < 0x21000]
    assert arrays == [(0x20760, 8 * sys_process.POINTERS_AT_ONCE)]


@pytest.mark.parametrize("n", [0, 31, 32, 33, 100, 500])
def test_every_string_is_read_and_no_read_crosses_the_arrays_end_page(n):
    at = 0x21000 - 8 * (n + 1)               # the NULL is the page's last word
    mm, want = _layout(n, at)
    assert sys_process._string_array(FakeTask(mm), at) == want
    for addr, size in mm.reads:
        if 0x20000 <= addr < 0x21000:
            assert addr + size <= 0x21000
