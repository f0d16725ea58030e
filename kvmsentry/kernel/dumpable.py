"""The dumpable flag of an address space (prctl PR_SET_DUMPABLE, cleared
by a set*id call), kept in a weak set keyed by the AddressSpace: a new
one (execve) starts dumpable. Its own module so that /proc's ownership
checks ask it without importing prctl's handlers."""
import weakref

_undumpable = weakref.WeakSet()               # AddressSpaces with dumpable 0


def is_dumpable(mm):
    return mm not in _undumpable


def set_dumpable(mm, value):
    (_undumpable.discard if value else _undumpable.add)(mm)
