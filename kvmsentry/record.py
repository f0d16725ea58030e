"""Record classes: the part of dataclasses the sentry uses, cheaper to
define; and named tuples without collections.namedtuple's compiled
__new__ (named_tuple).

`@record` reads a class's annotated fields and their defaults and adds
__init__ (calling __post_init__ if the class has one), __repr__, __eq__
and, with frozen=True, __hash__ and assignment that raises, as
@dataclass does with eq=True. Importing dataclasses pulls in inspect
(with ast and dis), and every @dataclass runs inspect.signature: ~10 ms
of each `kvmsentry do` start for a dozen classes. A class's first
instances are made by one generic __init__ (_Fields.init: binds the
arguments as a def would); at the COMPILE_AFTER-th, __init__ becomes
generated source, as dataclasses' is, compiled then: a class made a few
times (a start makes six kinds, once or a few times each) costs no
compile (~0.1 ms each), one made often the same per instance as a
dataclass. The other methods read the fields with one attrgetter.
"""
from operator import attrgetter, itemgetter


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
COMPILE_AFTER = 16                # instances made by the generic __init__ first


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError("cannot assign to field %r" % name)


def _frozen_delattr(self, name):
    raise FrozenInstanceError("cannot delete field %r" % name)


def record(cls=None, *, frozen=False):
    """Class decorator (also as @record(frozen=True))."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


class _Fields:
    """A record class's fields, defaults and default factories: its
    __init__ until the COMPILE_AFTER-th instance, then the source of the
    compiled one."""

    def __init__(self, cls, names, frozen):
        self.cls, self.names, self.frozen = cls, names, frozen
        self.defaults, self.factories = {}, {}
        self.post_init = "__post_init__" in cls.__dict__
        self.made = 0
        for name in names:
            default = cls.__dict__.get(name, _MISSING)
            if isinstance(default, _Factory):
                self.factories[name] = default.make
                delattr(cls, name)
            elif default is not _MISSING:
                self.defaults[name] = default
            elif self.defaults or self.factories:
                raise TypeError("%s: field %r without a default follows one with a "
                                "default" % (cls.__name__, name))

    def init(self, obj, args, kwargs):
        put = object.__setattr__ if self.frozen else setattr
        for name, value in zip(self.names, _bind(self.cls.__qualname__ + ".__init__",
                                                 self.names, self._default, args, kwargs)):
            put(obj, name, value)
        if self.post_init:
            obj.__post_init__()

    def _default(self, name):
        make = self.factories.get(name)
        return make() if make is not None else self.defaults.get(name, _MISSING)

    def compiled(self):
        """__init__ as generated source, compiled."""
        space = {"_MISSING": _MISSING, "_set": object.__setattr__}
        params, body = [], []
        for name in self.names:
            value = name
            if name in self.factories:
                space["_f_" + name] = self.factories[name]
                params.append("%s=_MISSING" % name)
                value = "_f_%s() if %s is _MISSING else %s" % (name, name, name)
            elif name in self.defaults:
                space["_d_" + name] = self.defaults[name]
                params.append("%s=_d_%s" % (name, name))
            else:
                params.append(name)
            body.append("_set(self, %r, %s)" % (name, value) if self.frozen
                        else "self.%s = %s" % (name, value))
        if self.post_init:
            body.append("self.__post_init__()")
        exec("def __init__(self, %s):\n    %s\n" % (", ".join(params),
                                                    "\n    ".join(body or ["pass"])), space)
        made = space["__init__"]
        made.__qualname__ = self.cls.__qualname__ + ".__init__"
        return made


def _make(cls, frozen):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    fields = _Fields(cls, names, frozen)

    def __init__(self, *args, **kwargs):
        fields.init(self, args, kwargs)
        fields.made += 1
        if fields.made == COMPILE_AFTER and cls.__init__ is __init__:
            cls.__init__ = fields.compiled()
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


def _bind(where, names, default, args, kwargs):
    """The values of `names` from a call's arguments, as a def with those
    parameters binds them (default(name): a missing one's value, or
    _MISSING if it has none)."""
    if len(args) > len(names):
        raise TypeError("%s() takes %d positional arguments but %d were given"
                        % (where, len(names), len(args)))
    values = dict(zip(names, args))
    for name, value in kwargs.items():
        if name in values or name not in names:
            raise TypeError("%s() got %s argument %r" % (
                where, "multiple values for" if name in values else "an unexpected keyword",
                name))
        values[name] = value
    out = []
    for name in names:
        value = values.get(name, _MISSING)
        if value is _MISSING:
            value = default(name)
            if value is _MISSING:
                raise TypeError("%s() missing required argument %r" % (where, name))
        out.append(value)
    return out


def named_tuple(typename, field_names, defaults=()):
    """A base class as collections.namedtuple(typename, field_names,
    defaults=defaults) makes, for what the sentry uses of one (fields by
    name, _fields, _replace, the repr): namedtuple compiles a __new__ for
    each, ~0.1 ms of every start per class."""
    names = tuple(field_names.split())
    count = len(names)
    given = dict(zip(names[count - len(defaults):], defaults))

    def __new__(cls, *args, **kwargs):
        if kwargs or len(args) != count:
            args = _bind(typename, names, lambda name: given.get(name, _MISSING), args, kwargs)
        return _tuple_new(cls, args)

    def _replace(self, **changes):
        return _tuple_new(type(self), _bind(typename + "._replace", names,
                                            dict(zip(names, self)).get, (), changes))
    space = {"__slots__": (), "_fields": names, "__new__": __new__, "_replace": _replace,
             "__repr__": _tuple_repr, "__getnewargs__": tuple}
    for i, name in enumerate(names):
        space[name] = property(itemgetter(i))
    return type(typename, (tuple,), space)


_tuple_new = tuple.__new__


def _tuple_repr(self):
    return "%s(%s)" % (type(self).__name__, ", ".join(
        "%s=%r" % pair for pair in zip(self._fields, self)))


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
