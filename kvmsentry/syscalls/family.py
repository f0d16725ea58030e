"""Handler families (the sys_*.py modules) as the table names them:
imported when one of their handlers is first called, so a run imports
only the families it uses (after pivot_root an import is a lookup in
code read before it, see sandbox/preload.py). dispatch.py replaces a
Handler by its function at the first call."""
import sys
from operator import itemgetter

_attribute = object.__getattribute__


class Family:
    """syscalls/<name>.py, not imported yet: family.foo is its handler foo.
    (__getattribute__, not __getattr__: the table asks for ~320 handlers
    at every start, and each failed ordinary lookup before __getattr__
    raised and caught an AttributeError, ~0.3 ms in all.)"""
    __slots__ = ("_module",)

    def __init__(self, name):
        self._module = "kvmsentry.syscalls." + name

    def __getattribute__(self, name):
        if name[:2] == "__":
            return _attribute(self, name)
        return _new(Handler, (_attribute(self, "_module"), name))


class Handler(tuple):
    """A handler of a family not imported yet: (module, name), a tuple
    made by tuple.__new__ (no Python __init__ for each of the ~320)."""
    __slots__ = ()
    module = property(itemgetter(0))
    name = property(itemgetter(1))

    def resolve(self):
        """The handler function (importing its family)."""
        module = sys.modules.get(self.module)
        if module is None:
            __import__(self.module)
            module = sys.modules[self.module]
        return getattr(module, self.name)

    def __call__(self, *args):
        return self.resolve()(*args)

    @property
    def __doc__(self):
        return self.resolve().__doc__

    def __repr__(self):
        return "<handler %s.%s>" % self


_new = tuple.__new__
