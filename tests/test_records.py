"""`core.records.record` behaves like `@dataclasses.dataclass(frozen=True)`, class for class.

Each case builds the same class body twice, once as a frozen dataclass and once as a record, and
compares what users of the class see: construction (and its TypeErrors), repr, equality, hashing,
immutability, and the `dataclasses` functions the code base uses on records.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from pleg_doctor.core.records import record


def _body() -> dict[str, Any]:
    class Body:
        """A docstring."""

        kind: ClassVar[str] = "not a field"
        node: str
        seconds: float | None = None
        notes: tuple[str, ...] = dataclasses.field(default_factory=tuple)
        labels: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)
        secret: str | None = dataclasses.field(default=None, repr=False)

        def describe(self) -> str:
            return f"{self.node} {self.seconds}"

    return {k: v for k, v in vars(Body).items() if k not in ("__dict__", "__weakref__")}


def _pair(**options: Any) -> tuple[type, type]:
    """(the frozen dataclass, the record) of the same body, both named `Pair`."""
    dataclass_options = {"frozen": True, **options}
    made = dataclasses.dataclass(**dataclass_options)(type("Pair", (), _body()))
    recorded = record(**options)(type("Pair", (), _body()))
    return made, recorded


def _outcome(action: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "returned", action()
    except Exception as exc:  # the exception's type is what must match
        return "raised", type(exc).__name__


NAN = math.nan

CASES: dict[str, Callable[[type], Any]] = {
    "keywords": lambda C: repr(C(node="a", seconds=1.5)),
    "defaults": lambda C: repr(C(node="a")),
    "repr=False hidden": lambda C: repr(C(node="a", secret="hunter2")),
    "default factory is fresh": lambda C: C(node="a").labels is not C(node="a").labels,
    "positional": lambda C: repr(C("a", 2.0, ("n",))),
    "too many positional": lambda C: C("a", 1.0, (), {}, None, 6),
    "missing": lambda C: C(),
    "unexpected keyword": lambda C: C(node="a", nodes="b"),
    "twice": lambda C: C("a", node="b"),
    "equal": lambda C: C(node="a", seconds=1.0) == C(node="a", seconds=1.0),
    "different": lambda C: C(node="a") == C(node="b"),
    "compare=False ignored": lambda C: C(node="a", labels={"x": "1"}) == C(node="a"),
    "same NaN object": lambda C: C(node="a", seconds=NAN) == C(node="a", seconds=NAN),
    "other type": lambda C: C(node="a") == ("a", None, (), {}),
    "hash equal": lambda C: hash(C(node="a", seconds=1.0)) == hash(C(node="a", seconds=1.0)),
    "in a set": lambda C: len({C(node="a"), C(node="a"), C(node="b")}),
    "assign field": lambda C: setattr(C(node="a"), "node", "b"),
    "assign new": lambda C: setattr(C(node="a"), "other", 1),
    "delete": lambda C: delattr(C(node="a"), "node"),
    "replace": lambda C: repr(dataclasses.replace(C(node="a"), seconds=3.0)),
    "fields": lambda C: [f.name for f in dataclasses.fields(C)],
    "asdict": lambda C: dataclasses.asdict(C(node="a", notes=("x",))),
    "is_dataclass": lambda C: dataclasses.is_dataclass(C),
    "match_args": lambda C: C.__match_args__,
    "deepcopy": lambda C: repr(copy.deepcopy(C(node="a", notes=("x",)))),
    "vars order": lambda C: list(vars(C(seconds=2.0, node="a"))),
    "own method": lambda C: C(node="a", seconds=2.0).describe(),
    "classvar": lambda C: (C.kind, "kind" in C.__match_args__),
    "docstring": lambda C: C.__doc__,
}


@pytest.mark.parametrize("options", [{}, {"kw_only": True}], ids=["positional", "kw_only"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_record_behaves_as_the_frozen_dataclass(case, options):
    made, recorded = _pair(**options)
    assert _outcome(lambda: CASES[case](recorded)) == _outcome(lambda: CASES[case](made))


def test_eq_false_compares_and_hashes_by_identity():
    made, recorded = _pair(eq=False)
    for cls in (made, recorded):
        one, other = cls(node="a"), cls(node="a")
        assert one != other
        assert one == one
        assert hash(one) == object.__hash__(one)
        with pytest.raises(dataclasses.FrozenInstanceError):
            one.node = "b"


def test_a_class_keeps_its_own_init_repr_eq_and_hash():
    @record
    class Own:
        """Methods written by hand win, as with dataclasses."""

        value: int

        def __init__(self, *values: int) -> None:
            object.__setattr__(self, "value", sum(values))

        def __repr__(self) -> str:
            return f"Own<{self.value}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Own) and other.value % 2 == self.value % 2

        def __hash__(self) -> int:
            return self.value % 2

    assert Own(1, 2).value == 3
    assert repr(Own(4)) == "Own<4>"
    assert Own(1) == Own(3)
    assert hash(Own(5)) == 1


def test_a_class_defining_only_eq_gets_a_field_hash_as_a_frozen_dataclass_does():
    def body() -> dict[str, Any]:
        def __eq__(self: Any, other: object) -> bool:
            return True

        return {"__annotations__": {"value": "int"}, "__eq__": __eq__}

    made = dataclasses.dataclass(frozen=True)(type("OnlyEq", (), body()))
    recorded = record(type("OnlyEq", (), body()))
    for cls in (made, recorded):
        assert hash(cls(7)) == hash((7,))
        assert cls(1) == cls(2)


@record(kw_only=True)
class Picklable:
    """A record at module level, as every record of the code base is."""

    node: str
    seconds: float | None = None


def test_a_record_pickles_and_copies():
    value = Picklable(node="a", seconds=1.0)
    assert pickle.loads(pickle.dumps(value)) == value
    assert copy.copy(value) == value


def test_subclass_of_a_record_sets_its_own_attributes_but_not_the_fields():
    @record
    class Base:
        """A record."""

        value: int

    class Child(Base):
        pass

    child = Child(1)
    child.extra = 2  # type: ignore[attr-defined]  # not a field, not the record's own class
    assert child.extra == 2  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.value = 3  # type: ignore[misc]
