"""epoll instances (kernel/epoll.py) without a guest: the ready list fed by
queue callbacks, level vs edge triggering, EPOLLONESHOT, EPOLLEXCLUSIVE,
nesting, and Linux's rule that an item lives as long as its file."""
import errno
import os
import select

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import polling as pl
from kvmsentry.kernel.epoll import EpollFile, eventpoll_release
from kvmsentry.kernel.pipe import make_pipe
from kvmsentry.kernel.waiter import Queue, Waiter
from kvmsentry.vfs.file import File

IN = pl.POLLIN


def raises(err, fn, *args):
    with pytest.raises(SyscallError) as e:
        fn(*args)
    assert e.value.errno == err


def test_level_triggered_reports_until_drained():
    r, w = make_pipe()
    ep = EpollFile(2)
    ep.add(3, r, IN, 33)
    assert ep.harvest(8) == []
    w.write(b"xy")
    assert ep.harvest(8) == [(IN, 33)]
    assert ep.harvest(8) == [(IN, 33)]
    r.read(1)
    assert ep.harvest(8) == [(IN, 33)]
    r.read(1)
    assert ep.harvest(8) == []


def test_edge_triggered_reports_each_new_event_not_a_mask_change():
    r, w = make_pipe()
    ep = EpollFile(2)
    ep.add(3, r, IN | pl.EPOLLET, 7)
    w.write(b"a")
    assert ep.harvest(8) == [(IN, 7)]
    assert ep.harvest(8) == []                 # nothing new, data still there
    r.read(0)
    w.write(b"b")                              # mask unchanged, but a new event
    assert ep.harvest(8) == [(IN, 7)]
    assert ep.harvest(8) == []


def test_oneshot_disarms_until_modified():
    r, w = make_pipe()
    ep = EpollFile(2)
    ep.add(3, r, IN | pl.EPOLLONESHOT, 1)
    w.write(b"a")
    assert ep.harvest(8) == [(IN, 1)]
    w.write(b"b")
    assert ep.harvest(8) == []
    ep.modify(3, r, IN | pl.EPOLLONESHOT, 2)   # re-arm: ready already, so reported
    assert ep.harvest(8) == [(IN, 2)]
    raises(errno.EEXIST, ep.add, 3, r, IN, 0)
    ep.remove(3, r)
    raises(errno.ENOENT, ep.remove, 3, r)


def test_maxevents_leaves_the_rest_for_the_next_call():
    pipes = [make_pipe() for _ in range(3)]
    ep = EpollFile(2)
    for i, (r, w) in enumerate(pipes):
        ep.add(10 + i, r, IN, i)
        w.write(b"x")
    assert ep.harvest(2) == [(IN, 0), (IN, 1)]
    assert ep.harvest(2)[0] == (IN, 2)         # the one left over comes first


def test_ready_list_copies_report_once_in_order():
    """Two callbacks racing past the `linked` test leave an item on the
    ready list twice (no lock is taken there): it is still reported once
    per call and keeps its first place; an item dropped while listed is
    not reported."""
    pipes = [make_pipe() for _ in range(3)]
    ep = EpollFile(2)
    for i, (r, w) in enumerate(pipes):
        ep.add(10 + i, r, IN, i)
    first = ep.items[(10, pipes[0][0])]
    for _, w in pipes:
        w.write(b"x")
    ep._ready.append(first)                    # the racing callback's copy
    assert ep.harvest(8) == [(IN, 0), (IN, 1), (IN, 2)]
    assert ep.harvest(8) == [(IN, 0), (IN, 1), (IN, 2)]
    ep.remove(11, pipes[1][0])                 # dropped while on the list
    assert ep.harvest(8) == [(IN, 0), (IN, 2)]
    assert pl.poll_mask(ep) == IN | pl.POLLRDNORM


def test_exclusive_wakes_one_waiting_instance():
    r, w = make_pipe()
    a, b = EpollFile(2), EpollFile(2)
    a.add(3, r, IN | pl.EPOLLEXCLUSIVE, 0)
    b.add(3, r, IN | pl.EPOLLEXCLUSIVE, 0)
    a.sleepers.append(Waiter())                # both blocked in epoll_wait
    b.sleepers.append(Waiter())
    w.write(b"x")
    assert (len(a.harvest(8)), len(b.harvest(8))) == (1, 0)


def test_exclusive_skips_an_instance_nobody_waits_on():
    r, w = make_pipe()
    a, b = EpollFile(2), EpollFile(2)
    a.add(3, r, IN | pl.EPOLLEXCLUSIVE, 0)
    b.add(3, r, IN | pl.EPOLLEXCLUSIVE, 0)
    b.sleepers.append(Waiter())
    w.write(b"x")
    assert len(b.harvest(8)) == 1


def _woken(waiter):
    return bool(select.select([waiter.fd], [], [], 0)[0])


def test_sleepers_are_woken_one_at_a_time():
    """An event wakes the oldest task in epoll_wait only; what its
    harvest leaves on the ready list wakes the next (ep_done_scan)."""
    r1, w1 = make_pipe()
    r2, w2 = make_pipe()
    ep = EpollFile(2)
    ep.add(3, r1, IN, 3)
    ep.add(4, r2, IN, 4)
    first, second = Waiter(), Waiter()
    ep.sleepers.extend([first, second])
    w1.write(b"x")
    w2.write(b"y")
    assert _woken(first) and not _woken(second)
    assert ep.harvest(1, first) == [(IN, 3)]
    assert _woken(second)


def test_one_level_triggered_item_still_ready_wakes_the_next_sleeper():
    """A ready list of one item (harvest's own path, no loop): the item,
    reported and still ready, goes back on the list and wakes the next
    task in epoll_wait, as ep_done_scan; once drained it does not."""
    r, w = make_pipe()
    ep = EpollFile(2)
    ep.add(3, r, IN, 3)
    first, second = Waiter(), Waiter()
    ep.sleepers.extend([first, second])
    w.write(b"xy")
    assert _woken(first) and not _woken(second)
    os.eventfd_read(first.fd)                  # (first took its wake)
    assert ep.harvest(8, first) == [(IN, 3)]
    assert _woken(second)
    r.read(2)
    assert ep.harvest(8, second) == [] and not _woken(first)


def test_nested_instance_wakes_the_outer_one():
    r, w = make_pipe()
    inner, outer = EpollFile(2), EpollFile(2)
    inner.add(3, r, IN, 5)
    outer.add(4, inner, IN, 6)
    assert outer.harvest(8) == [] and pl.poll_mask(inner) == 0
    w.write(b"x")
    assert outer.harvest(8) == [(IN, 6)]
    assert inner.harvest(8) == [(IN, 5)]
    raises(errno.ELOOP, inner.add, 5, outer, IN, 0)
    raises(errno.ELOOP, outer.add, 6, outer, IN, 0)


def test_item_lives_with_its_file_not_its_fd():
    r, w = make_pipe()
    ep = EpollFile(2)
    ep.add(3, r, IN, 9)
    # fd 3 closed but the file still open through a dup: still reported.
    w.write(b"x")
    assert ep.harvest(8) == [(IN, 9)]
    eventpoll_release(r)                       # the last reference went
    assert ep.harvest(8) == [] and not ep.items
    assert not r.queue.has_waiters()


class HostBacked(File):
    """A file whose readiness lives in a host fd (as a host socket's), with
    a queue of its own as well."""

    def __init__(self, fd):
        super().__init__(2)
        self.fd = fd
        self.queue = Queue()

    def host_fds(self):
        return [(self.fd, select.POLLIN)]

    def poll_events(self):
        return pl.POLLIN if select.select([self.fd], [], [], 0)[0] else 0


def test_host_backed_file_is_looked_at_and_its_fd_watched():
    r, w = os.pipe()
    try:
        file = HostBacked(r)
        inner, outer = EpollFile(2), EpollFile(2)
        inner.add(3, file, IN, 1)
        outer.add(4, inner, IN, 2)
        assert outer.host_fds() == [(r, select.POLLIN)]   # nested: still watched
        assert inner.harvest(8) == []
        os.write(w, b"x")                     # no notify: only the host fd knows
        assert inner.harvest(8) == [(IN, 1)]
        assert pl.poll_mask(inner) == pl.POLLIN | pl.POLLRDNORM
    finally:
        os.close(r)
        os.close(w)
