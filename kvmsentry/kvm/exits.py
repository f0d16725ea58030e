"""What KVM_RUN returned, decoded. Values only: the binding decides nothing."""

KVM_EXIT_IO = 2
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17


class _Exit:
    """An immutable value, equal to another of its type with equal fields.
    (Frozen dataclasses would do; these cost nothing at import, which
    every sandbox start pays.)"""
    __slots__ = ()

    def __init__(self, *values):
        if len(values) != len(self.__slots__):
            raise TypeError("%s takes %d values" % (type(self).__name__, len(self.__slots__)))
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("%s is immutable" % type(self).__name__)

    def _fields(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(other) is type(self) and other._fields() == self._fields()

    def __hash__(self):
        return hash((type(self), self._fields()))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (name, getattr(self, name)) for name in self.__slots__))


class IoOut(_Exit):
    __slots__ = ("port", "size")


class IoIn(_Exit):
    __slots__ = ("port", "size")


class Hlt(_Exit):
    __slots__ = ()


class Shutdown(_Exit):
    """Triple fault: the guest's own exception handling failed."""
    __slots__ = ()


class FailEntry(_Exit):
    __slots__ = ("reason",)


class InternalError(_Exit):
    __slots__ = ("suberror", "data")


class Mmio(_Exit):
    __slots__ = ("address", "is_write")


class Interrupted(_Exit):
    """KVM_RUN returned EINTR or immediate_exit was set: a host signal."""
    __slots__ = ()


class Unknown(_Exit):
    __slots__ = ("reason",)


# IoOut objects for the few ports in use are interned: the hot path
# allocates nothing.
_io_out_cache = {}


def io_out(port, size):
    key = (port, size)
    ex = _io_out_cache.get(key)
    if ex is None:
        ex = _io_out_cache[key] = IoOut(port, size)
    return ex


HLT = Hlt()
SHUTDOWN = Shutdown()
INTERRUPTED = Interrupted()
