"""The fd table hands out the lowest free fd at or above `lowest`, as
Linux does, whatever the history of opens, dups and closes."""
from hypothesis import given, strategies as st

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.fd_table import FdTable


class _File:
    def release(self):
        pass


ops = st.lists(st.one_of(
    st.tuples(st.just("install"), st.integers(0, 12)),
    st.tuples(st.just("install_at"), st.integers(0, 20)),
    st.tuples(st.just("close"), st.integers(0, 20)),
    st.tuples(st.just("copy"), st.just(0)),
), max_size=80)


@given(ops)
def test_lowest_free_fd_like_linux(seq):
    table, used = FdTable(), set()
    for op, n in seq:
        if op == "install":
            expected = n
            while expected in used:
                expected += 1
            try:
                fd = table.install(_File(), lowest=n, limit=16)
            except SyscallError:
                assert expected >= 16
                continue
            assert fd == expected
            used.add(fd)
        elif op == "install_at":
            table.install_at(n, _File())
            used.add(n)
        elif op == "close":
            if n in used:
                table.close(n)
                used.discard(n)
        else:
            table = table.copy()
        assert set(table.fds()) == used


def test_thousands_of_opens_stay_cheap():
    table = FdTable()
    for i in range(20000):
        assert table.install(_File(), limit=1 << 20) == i
    table.close(7)
    assert table.install(_File(), limit=1 << 20) == 7
    assert table.install(_File(), limit=1 << 20) == 20000
