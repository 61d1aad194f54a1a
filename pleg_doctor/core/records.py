"""`record`: a frozen dataclass without the code `dataclasses.dataclass` generates per class.

`dataclasses.dataclass(frozen=True)` writes the source of `__init__`, `__repr__`, `__eq__`,
`__hash__`, `__setattr__` and `__delattr__` for every class and compiles each with `exec`:
0.5-1 ms a class. `pleg-doctor check FILE` defines a few dozen classes before it reads a byte, and
cron runs it on every node every minute (`benchmarks/bench_startup.py`), so that compiling was
a fifth of its start-up. A `record` lets `dataclasses` do only its bookkeeping (the fields, their
defaults, `__match_args__`: `dataclasses.fields`, `replace` and `asdict` work as for any
dataclass) and gives the class the same methods written once here, reading the fields at call
time instead of compiling them in.

What a record behaves like is that of `@dataclasses.dataclass(frozen=True)` with the same
`kw_only` and `eq`: the constructor's arguments and errors, the `repr`, equality and hashing by
the fields (or by identity with `eq=False`), `dataclasses.FrozenInstanceError` on assignment. A
method the class defines itself is kept. Only `__dataclass_params__` tells it apart (its `init`,
`repr`, `eq` and `frozen` are False there, since `dataclasses` did not write those methods).

Pure: imports only the standard library's dataclasses and typing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        """Type checkers read `record` as a dataclass decorator; at run time nothing."""
        return lambda decorator: decorator


_T = TypeVar("_T")


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, kw_only: bool = False, eq: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(
    cls: type[_T] | None = None, /, *, kw_only: bool = False, eq: bool = True
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """The class as a frozen dataclass (`@record`, `@record(kw_only=True)`, `@record(eq=False)`)."""

    def wrap(cls: type[_T]) -> type[_T]:
        return _build(cls, kw_only=kw_only, eq=eq)

    return wrap if cls is None else wrap(cls)


def _build(cls: type[_T], *, kw_only: bool, eq: bool) -> type[_T]:
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False, kw_only=kw_only)
    fields = dataclasses.fields(cast(Any, cls))
    names = tuple(field.name for field in fields)
    own = cls.__dict__
    if "__init__" not in own:
        setattr(cls, "__init__", _init(cls, fields))  # noqa: B010 - on the class being built
    if "__repr__" not in own:
        shown = tuple(field.name for field in fields if field.repr)  # repr=False: a secret
        setattr(cls, "__repr__", _repr(shown))  # noqa: B010
    if eq:
        # dataclasses' rules for a frozen class: its own `__eq__` is kept, and its own
        # `__hash__` unless that is the None Python sets for a class defining `__eq__`.
        explicit_hash = own.get("__hash__", dataclasses.MISSING)
        if explicit_hash is dataclasses.MISSING or (explicit_hash is None and "__eq__" in own):
            hashed = (f.name for f in fields if (f.compare if f.hash is None else f.hash))
            setattr(cls, "__hash__", _hash(tuple(hashed)))  # noqa: B010
        if "__eq__" not in own:
            setattr(cls, "__eq__", _eq(tuple(f.name for f in fields if f.compare)))  # noqa: B010
    setattr(cls, "__setattr__", _frozen_setattr(cls, frozenset(names)))  # noqa: B010
    setattr(cls, "__delattr__", _frozen_delattr(cls, frozenset(names)))  # noqa: B010
    return cls


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """`__init__(self, positional..., *, keyword...)`, as a dataclass's takes its fields."""
    names = tuple(field.name for field in fields)
    positional = tuple(field.name for field in fields if not field.kw_only)
    defaults = {
        field.name: field.default for field in fields if field.default is not dataclasses.MISSING
    }
    factories = {
        field.name: field.default_factory
        for field in fields
        if field.default_factory is not dataclasses.MISSING
    }
    known = frozenset(names)
    where = f"{cls.__qualname__}.__init__()"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            if len(args) > len(positional):
                takes = len(positional) + 1  # self included, as Python counts
                raise TypeError(
                    f"{where} takes {takes} positional argument{'s' * (takes > 1)} but "
                    f"{len(args) + 1} were given"
                )
            given = dict(zip(positional, args, strict=False))
            for name in kwargs:
                if name in given:
                    raise TypeError(f"{where} got multiple values for argument {name!r}")
            given.update(kwargs)
        else:
            given = kwargs
        if not known.issuperset(given):
            unexpected = next(name for name in given if name not in known)
            raise TypeError(f"{where} got an unexpected keyword argument {unexpected!r}")
        values = self.__dict__  # fields are set in order, past the frozen __setattr__
        for name in names:
            if name in given:
                values[name] = given[name]
            elif name in defaults:
                values[name] = defaults[name]
            elif name in factories:
                values[name] = factories[name]()
            else:
                kind = "positional" if name in positional else "keyword-only"
                raise TypeError(f"{where} missing 1 required {kind} argument: {name!r}")

    __init__.__qualname__ = where[:-2]
    return __init__


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        inside = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({inside})"

    return __repr__


def _eq(names: tuple[str, ...]) -> Callable[[Any, object], bool]:
    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        # tuples, as dataclasses compare: a field that is the same object (NaN) is equal
        mine = tuple(getattr(self, name) for name in names)
        return mine == tuple(getattr(other, name) for name in names)

    return __eq__


def _hash(names: tuple[str, ...]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, name) for name in names))

    return __hash__


def _frozen_setattr(cls: type[Any], names: frozenset[str]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    return __setattr__


def _frozen_delattr(cls: type[Any], names: frozenset[str]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __delattr__
