"""Formula nodes that choose: comparisons, and PromQL's set operators as values.

`formulas.py` holds the arithmetic of the model's formulas (inputs, numbers, `+ - * /`, `max`,
`min`, rounding); this module holds what decides whether a value exists at all: a comparison
(`Cmp`), a value kept only where a comparison holds (`Where`, PromQL `and`), a value dropped
where another exists (`Unless`), a 0/1 flag (`Flag`, `bool`), the first operand that has a value
(`Either`, `or`) and a constant shaped like an input (`Like`). Both renderings, the Python value
and the PromQL, follow the same rule as in `formulas.py`: "no value" in Python exactly where
PromQL's vector matching would give no element.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

from pleg_doctor.core.formulas import (
    PREC_ADD,
    PREC_AND,
    PREC_CMP,
    PREC_MUL,
    PREC_OR,
    Code,
    Compiled,
    Env,
    Expr,
    Names,
    as_expr,
    parenthesized,
)
from pleg_doctor.core.records import record

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "=="}


@record(eq=False)
class Cmp:
    """A comparison, for `Where` and `Flag`; false when either side has no value."""

    left: Expr
    op: str
    right: Expr

    @functools.cached_property
    def compiled(self) -> Callable[[Env], bool]:
        """The comparison as a closure."""
        test = _COMPARISONS[self.op]
        left, right = self.left.compiled, self.right.compiled

        def run(env: Env) -> bool:
            a = left(env)
            if a is None:
                return False
            b = right(env)
            return b is not None and test(a, b)

        return run

    def holds(self, env: Env) -> bool:
        """Whether the comparison holds for `env`."""
        return self.compiled(env)

    def emit(self, code: Code) -> str:
        """Append the statements testing the comparison to `code`; the name holding it."""
        target = code.temp()
        a = self.left._emit(code)
        code.line(f"if {a} is None:")
        code.line(f"    {target} = False")
        code.line("else:")
        code.depth += 1
        b = self.right._emit(code)
        code.line(f"{target} = {b} is not None and {a} {self.op} {b}")
        code.depth -= 1
        return target

    def filter_promql(self, names: Names, *, bool_modifier: bool = False) -> str:
        """PromQL keeping the elements where it holds (a vector always on the left side)."""
        left, op, right = self.left, self.op, self.right
        if left.is_constant():
            left, op, right = right, _FLIPPED[op], left
        modifier = " bool" if bool_modifier else ""
        return f"{parenthesized(left, names, PREC_CMP)} {op}{modifier} {parenthesized(right, names, PREC_CMP + 1)}"

    def inputs(self) -> frozenset[str]:
        """The names of the inputs the comparison reads."""
        return self.left.inputs() | self.right.inputs()


def gt(left: Expr | float, right: Expr | float) -> Cmp:
    """`left > right`."""
    return Cmp(as_expr(left), ">", as_expr(right))


def ge(left: Expr | float, right: Expr | float) -> Cmp:
    """`left >= right`."""
    return Cmp(as_expr(left), ">=", as_expr(right))


def lt(left: Expr | float, right: Expr | float) -> Cmp:
    """`left < right`."""
    return Cmp(as_expr(left), "<", as_expr(right))


def le(left: Expr | float, right: Expr | float) -> Cmp:
    """`left <= right`."""
    return Cmp(as_expr(left), "<=", as_expr(right))


def eq(left: Expr | float, right: Expr | float) -> Cmp:
    """`left == right`."""
    return Cmp(as_expr(left), "==", as_expr(right))


@record(eq=False)
class Where(Expr):
    """`value` where `condition` holds, else no value (`value and (condition)`)."""

    value: Expr
    condition: Cmp

    def _precedence(self) -> int:
        return PREC_AND

    def _compile(self) -> Compiled:
        inner, test = self.value.compiled, self.condition.compiled

        def run(env: Env) -> float | None:
            return inner(env) if test(env) else None

        return run

    def _emit(self, code: Code) -> str:
        holds = self.condition.emit(code)
        target = code.temp()
        code.branch(f"not {holds}", target, lambda: self.value._emit(code))
        return target

    def _expand(self, names: Names) -> str:
        value = parenthesized(self.value, names, PREC_AND)
        return f"{value} and ({self.condition.filter_promql(names)})"

    def _inputs(self) -> frozenset[str]:
        return self.value.inputs() | self.condition.inputs()


@record(eq=False)
class Unless(Expr):
    """`value` where `other` has no value (`value unless other`)."""

    value: Expr
    other: Expr

    def _precedence(self) -> int:
        return PREC_AND

    def _compile(self) -> Compiled:
        inner, other = self.value.compiled, self.other.compiled

        def run(env: Env) -> float | None:
            return inner(env) if other(env) is None else None

        return run

    def _emit(self, code: Code) -> str:
        other = self.other._emit(code)
        target = code.temp()
        code.branch(f"{other} is not None", target, lambda: self.value._emit(code))
        return target

    def _expand(self, names: Names) -> str:
        value = parenthesized(self.value, names, PREC_AND)
        return f"{value} unless {parenthesized(self.other, names, PREC_AND + 1)}"

    def _inputs(self) -> frozenset[str]:
        return self.value.inputs() | self.other.inputs()


@record(eq=False)
class Flag(Expr):
    """1 where `condition` holds, 0 where it does not, no value where a side has none (`bool`)."""

    condition: Cmp

    def _precedence(self) -> int:
        return PREC_CMP

    def _compile(self) -> Compiled:
        test = self.condition.compiled
        left, right = self.condition.left.compiled, self.condition.right.compiled

        def run(env: Env) -> float | None:
            if left(env) is None or right(env) is None:
                return None
            return 1.0 if test(env) else 0.0

        return run

    def _emit(self, code: Code) -> str:
        condition = self.condition
        target = code.temp()
        a = condition.left._emit(code)

        def right() -> str:
            inner = code.temp()
            b = condition.right._emit(code)
            code.branch(f"{b} is None", inner, lambda: f"1.0 if {a} {condition.op} {b} else 0.0")
            return inner

        code.branch(f"{a} is None", target, right)
        return target

    def _expand(self, names: Names) -> str:
        return self.condition.filter_promql(names, bool_modifier=True)

    def _inputs(self) -> frozenset[str]:
        return self.condition.inputs()


@record(eq=False)
class Either(Expr):
    """The first operand that has a value (`a or b or ...`)."""

    operands: tuple[Expr, ...]

    def _precedence(self) -> int:
        return PREC_OR

    def __init__(self, *operands: Expr) -> None:
        if any(o.is_constant() for o in operands):
            raise ValueError("Either needs vectors: use Like(anchor, number) for a constant")
        object.__setattr__(self, "operands", operands)

    def _compile(self) -> Compiled:
        parts = [o.compiled for o in self.operands]

        def run(env: Env) -> float | None:
            for part in parts:
                value = part(env)
                if value is not None:
                    return value
            return None

        return run

    def _emit(self, code: Code) -> str:
        target = code.temp()
        opened = 0
        for operand in self.operands:
            value = operand._emit(code)
            code.line(f"{target} = {value}")
            code.line(f"if {target} is None:")
            code.depth += 1
            opened += 1
        code.line("pass")
        code.depth -= opened
        return target

    def _expand(self, names: Names) -> str:
        return " or ".join(parenthesized(o, names, PREC_OR + 1) for o in self.operands)

    def _inputs(self) -> frozenset[str]:
        return frozenset().union(*(o.inputs() for o in self.operands))


@record(eq=False)
class Like(Expr):
    """The constant `value` wherever `anchor` has a value (`anchor * 0 + value`)."""

    anchor: Expr
    value: Expr

    def __init__(self, anchor: Expr, value: Expr | float) -> None:
        constant = as_expr(value)
        if not constant.is_constant():
            raise ValueError("Like needs a number or a Param as its value")
        object.__setattr__(self, "anchor", anchor)
        object.__setattr__(self, "value", constant)

    def _precedence(self) -> int:
        return PREC_ADD

    def _compile(self) -> Compiled:
        inner, constant = self.anchor.compiled, self.value.compiled

        def run(env: Env) -> float | None:
            return None if inner(env) is None else constant(env)

        return run

    def _emit(self, code: Code) -> str:
        target = code.temp()
        anchor = self.anchor._emit(code)
        code.branch(f"{anchor} is None", target, lambda: self.value._emit(code))
        return target

    def _expand(self, names: Names) -> str:
        anchor = parenthesized(self.anchor, names, PREC_MUL)
        return f"{anchor} * 0 + {self.value.promql(names)}"

    def _inputs(self) -> frozenset[str]:
        return self.anchor.inputs() | self.value.inputs()
