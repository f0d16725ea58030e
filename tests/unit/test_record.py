"""kvmsentry/record.py behaves as dataclasses does for what the sentry
uses: the same class decorated both ways is compared."""
import dataclasses

import pytest

from kvmsentry import record as rec


def _both(frozen):
    made = []
    for decorate, field in ((dataclasses.dataclass(frozen=frozen), dataclasses.field),
                            (rec.record(frozen=frozen), rec.field)):
        class Point:
            """A point."""
            x: int
            y: int = 2
            tags: list = field(default_factory=list)
            LIMIT = 10                       # not a field

            def __post_init__(self):
                if self.x > self.LIMIT:
                    raise ValueError("x")

            def norm(self):
                return abs(self.x) + abs(self.y)
        made.append(decorate(Point))
    return made


@pytest.mark.parametrize("frozen", [False, True])
def test_record_matches_dataclass(frozen):
    _same_as_dataclass(*_both(frozen), frozen)


@pytest.mark.parametrize("frozen", [False, True])
def test_a_class_made_often_gets_a_compiled_init_that_behaves_the_same(frozen):
    dc, rc = _both(frozen)
    generic = rc.__init__
    for _ in range(rec.COMPILE_AFTER - 1):
        rc(1)
    assert rc.__init__ is generic                 # (a start's few instances: no compile)
    rc(1)
    assert rc.__init__ is not generic and rc.__init__.__code__.co_varnames[:4] == (
        "self", "x", "y", "tags")
    _same_as_dataclass(dc, rc, frozen)


def _same_as_dataclass(dc, rc, frozen):
    for args, kw in (((1,), {}), ((1, 5), {}), ((), {"x": 3, "tags": [1]}), ((0, 0, [2]), {})):
        a, b = dc(*args, **kw), rc(*args, **kw)
        assert repr(a) == repr(b)
        assert (a.x, a.y, a.tags, a.norm()) == (b.x, b.y, b.tags, b.norm())
        assert b == rc(*args, **kw) and b != rc(9, 9) and b.__eq__(a) is NotImplemented
    assert dc(1).tags is not dc(1).tags and rc(1).tags is not rc(1).tags
    for cls in (dc, rc):
        with pytest.raises(ValueError):
            cls(11)
        with pytest.raises(TypeError):
            cls()
        with pytest.raises(TypeError):
            cls(1, 2, [], 4)
    assert rc.__doc__ == "A point." and rc.LIMIT == 10
    if frozen:
        assert hash(rc(1, 2, ())) == hash(rc(1, 2, ())) == hash(dc(1, 2, ()))
        with pytest.raises(AttributeError):
            rc(1).x = 2
        with pytest.raises(AttributeError):
            del rc(1).y
    else:
        assert rc.__hash__ is None and dc.__hash__ is None
        b = rc(1)
        b.x = 4
        assert b.x == 4


def test_replace_makes_a_new_record_and_runs_post_init():
    _, rc = _both(True)
    a = rc(1, 2, [7])
    b = rec.replace(a, y=5)
    assert (b.x, b.y, b.tags) == (1, 5, [7]) and (a.x, a.y) == (1, 2) and b is not a
    with pytest.raises(ValueError):
        rec.replace(a, x=11)
    with pytest.raises(TypeError):
        rec.replace(a, z=1)


def test_field_order_is_checked():
    with pytest.raises(TypeError):
        @rec.record
        class Bad:
            a: int = 1
            b: int


def test_named_tuple_matches_collections_namedtuple():
    import collections
    made = [make("Fault", "signo code fatal write", defaults=(False, 0))
            for make in (collections.namedtuple, rec.named_tuple)]
    nt, ours = made
    for args, kw in (((1, 2), {}), ((1, 2, True), {}), ((1,), {"code": 3, "write": 5}),
                     ((), {"signo": 4, "code": 5, "fatal": True, "write": 1})):
        a, b = nt(*args, **kw), ours(*args, **kw)
        assert repr(a) == repr(b) and tuple(a) == tuple(b) == b
        assert (b.signo, b.code, b.fatal, b.write) == (a.signo, a.code, a.fatal, a.write)
        assert b._replace(code=9, fatal=True) == a._replace(code=9, fatal=True)
        assert type(b._replace(code=9)) is ours and b._fields == a._fields
    for cls in made:
        for args, kw in (((), {}), ((1, 2, 3, 4, 5), {}), ((1, 2), {"signo": 1}),
                         ((1, 2), {"other": 1})):
            with pytest.raises(TypeError):
                cls(*args, **kw)

    class Sub(ours):
        __slots__ = ()

        @property
        def both(self):
            return self.signo + self.code
    assert Sub(1, 2).both == 3 and type(Sub(1, 2)._replace(code=5)) is Sub
    with pytest.raises(AttributeError):
        Sub(1, 2).signo = 3
