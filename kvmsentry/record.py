"""Record classes: the part of dataclasses the sentry uses, cheaper to
define.

`@record` reads a class's annotated fields and their defaults and adds
__init__ (calling __post_init__ if the class has one), __repr__, __eq__
and, with frozen=True, __hash__ and assignment that raises, as
@dataclass does with eq=True. Importing dataclasses pulls in inspect
(with ast and dis), and every @dataclass runs inspect.signature: ~10 ms
of each `kvmsentry do` start for a dozen classes. __init__ is generated
source, as dataclasses' is, so making an instance costs the same; it is
compiled when the first instance is made. The other methods read the
fields with one attrgetter.
"""
from operator import attrgetter


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def field(*, default_factory):
    """A field whose default is default_factory() for each instance."""
    return _Factory(default_factory)


_MISSING = object()


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError("cannot assign to field %r" % name)


def _frozen_delattr(self, name):
    raise FrozenInstanceError("cannot delete field %r" % name)


def record(cls=None, *, frozen=False):
    """Class decorator (also as @record(frozen=True))."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def _make(cls, frozen):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    space = {"_MISSING": _MISSING, "_set": object.__setattr__}
    params, body = [], []
    for name in names:
        default = cls.__dict__.get(name, _MISSING)
        if isinstance(default, _Factory):
            space["_f_" + name] = default.make
            params.append("%s=_MISSING" % name)
            value = "_f_%s() if %s is _MISSING else %s" % (name, name, name)
            delattr(cls, name)
        elif default is not _MISSING:
            space["_d_" + name] = default
            params.append("%s=_d_%s" % (name, name))
            value = name
        else:
            if params and "=" in params[-1]:
                raise TypeError("%s: field %r without a default follows one with a "
                                "default" % (cls.__name__, name))
            params.append(name)
            value = name
        body.append("_set(self, %r, %s)" % (name, value) if frozen
                    else "self.%s = %s" % (name, value))
    if "__post_init__" in cls.__dict__:
        body.append("self.__post_init__()")
    source = "def __init__(self, %s):\n    %s\n" % (", ".join(params),
                                                  "\n    ".join(body or ["pass"]))

    def __init__(self, *args, **kwargs):
        # Compiled at the class's first instance (many are never made in a
        # run); then in its place.
        exec(source, space)
        made = space["__init__"]
        made.__qualname__ = cls.__qualname__ + ".__init__"
        cls.__init__ = made
        made(self, *args, **kwargs)
    cls.__init__ = __init__
    values = _values_getter(names)
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr
    if "__eq__" not in cls.__dict__:
        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return values(self) == values(other)
        cls.__eq__ = __eq__
    if frozen:
        cls.__hash__ = lambda self: hash(values(self))
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    elif "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
        cls.__hash__ = None          # mutable and compared by value: unhashable
    cls.__record_fields__ = names
    return cls


def _values_getter(names):
    """obj -> the tuple of its field values."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _repr(self):
    return "%s(%s)" % (type(self).__qualname__, ", ".join(
        "%s=%r" % (name, getattr(self, name)) for name in self.__record_fields__))


def replace(obj, **changes):
    """A new record like obj with `changes` (as dataclasses.replace)."""
    values = {name: getattr(obj, name) for name in type(obj).__record_fields__}
    values.update(changes)
    return type(obj)(**values)
