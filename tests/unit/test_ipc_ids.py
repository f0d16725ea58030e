"""IPC id allocation (kernel/ipc/namespace.IpcIds) against Linux's rules:
indexes handed out cyclically, the sequence bumped when the cycle wraps,
stale ids refused. (The guest tests compare whole programs with Linux;
these pin the allocator's corner cases that need 32,768 objects.)"""
import errno

import pytest
from hypothesis import given, settings, strategies as st

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import Credentials
from kvmsentry.kernel.ipc.namespace import IPCMNI, IpcIds, IpcPerm


class Obj:
    def __init__(self, key=0):
        self.perm = IpcPerm(key, Credentials(0, 0, 0, 0), 0o600)


def test_ids_are_cyclic_and_stale_ids_fail():
    ids = IpcIds(IPCMNI)
    a, b = Obj(), Obj()
    assert (ids.add(a), ids.add(b)) == (0, 1)
    ids.remove(a)
    c = Obj()
    assert ids.add(c) == 2                   # not the freed index 0
    with pytest.raises(SyscallError) as e:
        ids.get(0)
    assert e.value.errno == errno.EINVAL
    assert ids.get(2) is c and ids.max_index() == 2


def test_wrapping_bumps_the_sequence():
    ids = IpcIds(IPCMNI)
    ids.last_index = IPCMNI - 2
    first = Obj()
    assert ids.add(first) == IPCMNI - 1
    wrapped = Obj()
    assert ids.add(wrapped) == IPCMNI * 1 + 0          # index 0, sequence 1
    assert ids.get(IPCMNI) is wrapped
    with pytest.raises(SyscallError):
        ids.get(0)                                      # same index, old sequence


def test_full_family_is_enospc():
    ids = IpcIds(3)
    for _ in range(3):
        ids.add(Obj())
    with pytest.raises(SyscallError) as e:
        ids.add(Obj())
    assert e.value.errno == errno.ENOSPC


@settings(max_examples=50, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_live_ids_stay_unique_and_found(ops):
    """Any interleaving of creations and removals: every live object is
    found by its id, and no two live objects share an id."""
    ids, live = IpcIds(IPCMNI), []
    for create in ops:
        if create or not live:
            obj = Obj()
            ids.add(obj)
            live.append(obj)
        else:
            ids.remove(live.pop(0))
        assert len({o.perm.id for o in live}) == len(live)
        for o in live:
            assert ids.get(o.perm.id) is o
