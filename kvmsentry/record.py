"""Record classes: the part of dataclasses the sentry uses, cheaper to
define.

`@record` reads a class's annotated fields and their defaults and adds
__init__ (calling __post_init__ if the class has one), __repr__, __eq__
and, with frozen=True, __hash__ and assignment that raises, as
@dataclass does with eq=True. Importing dataclasses pulls in inspect
(with ast and dis), and every @dataclass runs inspect.signature: ~10 ms
of each `kvmsentry do` start for a dozen classes. The methods are
generated source, as dataclasses' are, so instances cost the same.
"""


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
    names = list(cls.__dict__.get("__annotations__", {}))
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
    fields = ", ".join("self.%s" % n for n in names) + ("," if len(names) == 1 else "")
    others = ", ".join("other.%s" % n for n in names) + ("," if len(names) == 1 else "")
    source = (
        "def __init__(self, %s):\n    %s\n"
        "def __repr__(self):\n    return %r %% (type(self).__qualname__, %s)\n"
        "def __eq__(self, other):\n"
        "    if other.__class__ is not self.__class__:\n        return NotImplemented\n"
        "    return (%s) == (%s)\n"
        "def __hash__(self):\n    return hash((%s))\n"
        % (", ".join(params), "\n    ".join(body or ["pass"]),
           "%s(" + ", ".join("%s=%%r" % n for n in names) + ")", fields,
           fields, others, fields))
    exec(source, space)
    cls.__init__ = space["__init__"]
    cls.__init__.__qualname__ = cls.__qualname__ + ".__init__"
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = space["__repr__"]
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = space["__eq__"]
    if frozen:
        cls.__hash__ = space["__hash__"]
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    elif "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
        cls.__hash__ = None          # mutable and compared by value: unhashable
    cls.__record_fields__ = tuple(names)
    return cls


def replace(obj, **changes):
    """A new record like obj with `changes` (as dataclasses.replace)."""
    values = {name: getattr(obj, name) for name in type(obj).__record_fields__}
    values.update(changes)
    return type(obj)(**values)
