"""Formulas written once: evaluated in Python by the model, rendered as PromQL by the rules.

The model's arithmetic (`model.py`) and the recording rules of `pleg-doctor rules` must compute
the same thing from the same inputs, or a node would be judged one way by the CLI and another by
its alerts. So each formula is a small expression tree (`Expr`) over named inputs, built once,
and two renderings are derived from it:

* `Expr.evaluate(env)` (compiled once to closures by `Expr.compiled`; a formula evaluated
  more than `HOT_EVALUATIONS` times, once per node of a fleet, is then generated as one
  function, `Expr.generated`): the value for a mapping of input name → number, what the model
  uses;
* `Expr.promql(names)`: a PromQL expression, given the PromQL of each input (a recorded series
  or the full expression), what the rules use.

"No value" has one meaning in both: an input may be `None` in Python exactly where its series is
absent in Prometheus, and every operator treats it the way PromQL's vector matching does.
Arithmetic with a missing operand has no value; `Max`/`Min` skip missing operands (PromQL: an
`or` of the operands, aggregated); `Either` takes the first operand that has a value (`or`);
`Where` keeps a value only when a comparison holds (`and`; these two and `Like` are in
`conditions.py`); `Div` has no value for a divisor
that is not positive (`/ (d > 0)`), never ±Inf or NaN. `Like(anchor, value)` is a constant that
exists where `anchor` does (`anchor * 0 + value`): PromQL's `or` needs a vector, not a number.

Every input of one formula must carry the same labels in PromQL (all per node, or all per node
and operation type): the operators match element by element and never aggregate across them.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pleg_doctor.core.records import record

Env = Mapping[str, float | None]
Compiled = Callable[[Env], float | None]

TERM_LABEL = "pleg_term"
"""The label `Max`/`Min` tag their operands with, so `or` keeps each of them (then dropped)."""

# PromQL operator precedence, highest binding first (prometheus/promql/parser: `^` is above
# `* / %`, which are above `+ -`, above the comparisons, above `and`/`unless`, above `or`).
PREC_ATOM = 100
PREC_MUL = 5
PREC_ADD = 4
PREC_CMP = 3
PREC_AND = 2
PREC_OR = 1

_SELECTOR_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$")


@record(eq=False)
class Names:
    """What PromQL stands for each input, and for each formula already recorded as a series."""

    inputs: Mapping[str, str]
    """Input name → its PromQL (a recorded series, a full expression, or a number for a Param)."""
    recorded: Mapping[Expr, str] = dataclasses.field(default_factory=dict)
    """Sub-formula → the name of the series that records it: rendered by name, not expanded."""


class Expr:
    """A formula over named inputs; build with `Var`, `Num` and the operators below."""

    @property
    def precedence(self) -> int:
        """How tightly the PromQL rendering binds (operands of lower precedence get parentheses)."""
        return self._precedence()

    def _precedence(self) -> int:
        return PREC_ATOM

    _evaluations = 0
    _generated: Compiled | None = None

    def evaluate(self, env: Env) -> float | None:
        """The value for `env` (input name → number or None), None when it has none.

        The first `HOT_EVALUATIONS` go through the closures (`compiled`); a formula evaluated
        more often than that (once per node of a fleet) is then generated as one function
        (`generated`), which computes the same values several times faster.
        """
        generated = self._generated
        if generated is not None:
            return generated(env)
        # Past any frozen `__setattr__`: these are caches, not fields.
        evaluations = self._evaluations + 1
        object.__setattr__(self, "_evaluations", evaluations)
        if evaluations >= HOT_EVALUATIONS:
            object.__setattr__(self, "_generated", self.generated)
        return self.compiled(env)

    @functools.cached_property
    def compiled(self) -> Compiled:
        """The formula as nested closures: cheap to build, what a single diagnosis uses."""
        return self._compile()

    def _compile(self) -> Compiled:
        raise NotImplementedError

    @functools.cached_property
    def generated(self) -> Compiled:
        """The formula as one generated Python function: the closures' values and the same
        order of reading `env` (an operand is read only where the closures read it), without
        a call per node of the tree. Building it costs about a millisecond (a `compile`), so
        only formulas evaluated thousands of times are generated; the closures stand in for
        any formula the generator cannot write (`_emit`)."""
        code = Code()
        try:
            result = self._emit(code)
            return code.function(result)
        except (NotImplementedError, SyntaxError, RecursionError, MemoryError):
            return self.compiled

    def _emit(self, code: Code) -> str:
        """Append the statements computing this node to `code`; the name holding its value."""
        raise NotImplementedError

    def promql(self, names: Names) -> str:
        """The PromQL of the formula, given the PromQL of each input and recorded formula."""
        recorded = names.recorded.get(self)
        return recorded if recorded is not None else self.expand(names)

    def expand(self, names: Names) -> str:
        """The PromQL of this node itself (its operands may still be recorded names)."""
        return self._expand(names)

    def _expand(self, names: Names) -> str:
        raise NotImplementedError

    def rendered_precedence(self, names: Names) -> int:
        """The precedence of what `promql` gives: a recorded name binds like an atom."""
        return PREC_ATOM if self in names.recorded else self.precedence

    def inputs(self) -> frozenset[str]:
        """The names of the inputs the formula reads."""
        return self._inputs()

    def _inputs(self) -> frozenset[str]:
        raise NotImplementedError

    def is_constant(self) -> bool:
        """True for a number (`Num`, `Param`): PromQL renders it as a scalar, not a vector."""
        return self._constant()

    def _constant(self) -> bool:
        return False

    # The operators: numbers become `Num`.
    def __add__(self, other: Expr | float) -> Expr:
        return BinOp("+", self, as_expr(other))

    def __radd__(self, other: float) -> Expr:
        return BinOp("+", as_expr(other), self)

    def __sub__(self, other: Expr | float) -> Expr:
        return BinOp("-", self, as_expr(other))

    def __rsub__(self, other: float) -> Expr:
        return BinOp("-", as_expr(other), self)

    def __mul__(self, other: Expr | float) -> Expr:
        return BinOp("*", self, as_expr(other))

    def __rmul__(self, other: float) -> Expr:
        return BinOp("*", as_expr(other), self)

    def __truediv__(self, other: Expr | float) -> Expr:
        return Div(self, as_expr(other))

    def __hash__(self) -> int:
        return id(self)


def as_expr(value: Expr | float) -> Expr:
    """A number as a `Num`, an expression as itself (operands may be written as plain numbers)."""
    return value if isinstance(value, Expr) else Num(float(value))


HOT_EVALUATIONS = 64
"""Evaluations of a formula after which it is generated as one function (`Expr.generated`):
`diagnose` and `check` evaluate each formula a few times, `fleet` once per node."""


class Code:
    """The Python source of one generated formula (`Expr.generated`): statements, each value in
    a local name (`t1`, `t2`...), constants and functions passed in by name (`k1`...)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.names: dict[str, Any] = {}
        self._temps = 0

    def temp(self) -> str:
        """A new local name."""
        self._temps += 1
        return f"t{self._temps}"

    def constant(self, value: Any) -> str:
        """The name `value` (a number, a function) is passed in as."""
        name = f"k{len(self.names)}"
        self.names[name] = value
        return name

    def line(self, text: str) -> None:
        """One statement at the current depth."""
        self.lines.append("    " * self.depth + text)

    def branch(self, condition: str, target: str, otherwise: Callable[[], str]) -> None:
        """`target = None` where `condition` holds, else `target` = what `otherwise` emits
        (its statements run only then: an operand is read only where the closures read it)."""
        self.line(f"if {condition}:")
        self.line(f"    {target} = None")
        self.line("else:")
        self.depth += 1
        self.line(f"{target} = {otherwise()}")
        self.depth -= 1

    def guarded(self, first: Expr, absent: str, second: Expr, value: str) -> str:
        """The name of `value` (`{a}`, `{b}`: the operands' names), None where `absent` holds
        for the first operand (read first) or the second (read only then) has no value."""
        target = self.temp()
        a = first._emit(self)

        def rest() -> str:
            b = second._emit(self)
            return f"None if {b} is None else " + value.format(a=a, b=b)

        self.branch(absent.format(a=a), target, rest)
        return target

    def function(self, result: str) -> Compiled:
        """The statements as `run(env)` returning `result`."""
        source = "def run(env):\n" + "\n".join([*self.lines, f"    return {result}"]) + "\n"
        namespace = dict(self.names)
        # The source is written here from the formula's own tree (input names through repr,
        # operators from the fixed tables above): no outside text reaches it.
        exec(compile(source, "<formula>", "exec"), namespace)
        run: Compiled = namespace["run"]
        return run


def parenthesized(expr: Expr, names: Names, at_least: int) -> str:
    """`expr` in PromQL, in parentheses when it binds less tightly than `at_least`."""
    text = expr.promql(names)
    return text if expr.rendered_precedence(names) >= at_least else f"({text})"


def number_text(value: float) -> str:
    """A number as PromQL reads it: `180`, `0.5`, `1e-09`."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@record(eq=False)
class Var(Expr):
    """A named input: a measured figure of one node (or of one node's operation)."""

    name: str

    def _compile(self) -> Compiled:
        name = self.name
        return lambda env: env[name]

    def _expand(self, names: Names) -> str:
        text = names.inputs[self.name]
        return text if _SELECTOR_RE.match(text) else f"({text})"

    def _emit(self, code: Code) -> str:
        target = code.temp()
        code.line(f"{target} = env[{self.name!r}]")
        return target

    def _inputs(self) -> frozenset[str]:
        return frozenset((self.name,))


@record(eq=False)
class Param(Expr):
    """A named constant of the whole evaluation: a number in PromQL (`inputs[name]`), looked up in
    `env` by Python (the window's length, the CRI timeout); `None` there makes it absent."""

    name: str

    def _compile(self) -> Compiled:
        name = self.name
        return lambda env: env[name]

    def _expand(self, names: Names) -> str:
        return names.inputs[self.name]

    def _emit(self, code: Code) -> str:
        target = code.temp()
        code.line(f"{target} = env[{self.name!r}]")
        return target

    def _inputs(self) -> frozenset[str]:
        return frozenset((self.name,))

    def _constant(self) -> bool:
        return True


@record(eq=False)
class Num(Expr):
    """A constant."""

    value: float

    def _compile(self) -> Compiled:
        value = self.value
        return lambda env: value

    def _expand(self, names: Names) -> str:
        return number_text(self.value)

    def _emit(self, code: Code) -> str:
        return code.constant(self.value)

    def _inputs(self) -> frozenset[str]:
        return frozenset()

    def _constant(self) -> bool:
        return True


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_PRECEDENCE = {"+": PREC_ADD, "-": PREC_ADD, "*": PREC_MUL}


@record(eq=False)
class BinOp(Expr):
    """`left op right` for `+ - *`: no value when either side has none."""

    op: str
    left: Expr
    right: Expr

    def _precedence(self) -> int:
        return _PRECEDENCE[self.op]

    def _compile(self) -> Compiled:
        apply = _ARITHMETIC[self.op]
        left, right = self.left.compiled, self.right.compiled

        def run(env: Env) -> float | None:
            a = left(env)
            if a is None:
                return None
            b = right(env)
            return None if b is None else apply(a, b)

        return run

    def _emit(self, code: Code) -> str:
        return code.guarded(self.left, "{a} is None", self.right, f"{{a}} {self.op} {{b}}")

    def _expand(self, names: Names) -> str:
        own = self.precedence
        left = parenthesized(self.left, names, own)
        right = parenthesized(self.right, names, own + 1)
        return f"{left} {self.op} {right}"

    def _inputs(self) -> frozenset[str]:
        return self.left.inputs() | self.right.inputs()


@record(eq=False)
class Div(Expr):
    """`numerator / divisor`, with no value unless the divisor is positive (never ±Inf, NaN)."""

    numerator: Expr
    divisor: Expr

    def _precedence(self) -> int:
        return PREC_MUL

    def _compile(self) -> Compiled:
        top, bottom = self.numerator.compiled, self.divisor.compiled

        def run(env: Env) -> float | None:
            b = bottom(env)
            if b is None or b <= 0:
                return None
            a = top(env)
            return None if a is None else a / b

        return run

    def _emit(self, code: Code) -> str:
        return code.guarded(self.divisor, "{a} is None or {a} <= 0", self.numerator, "{b} / {a}")

    def _expand(self, names: Names) -> str:
        left = parenthesized(self.numerator, names, PREC_MUL)
        if self.divisor.is_constant():
            return f"{left} / {parenthesized(self.divisor, names, PREC_MUL + 1)}"
        divisor = parenthesized(self.divisor, names, PREC_CMP + 1)
        return f"{left} / ({divisor} > 0)"

    def _inputs(self) -> frozenset[str]:
        return self.numerator.inputs() | self.divisor.inputs()


_PICK: dict[str, Callable[[list[float]], float]] = {"max": max, "min": min}


def _finite_or_itself(apply: Callable[[float], int]) -> Callable[[float], float]:
    """`apply` on a finite number; ±Inf and NaN stay what they are, as in PromQL."""
    return lambda value: float(apply(value)) if math.isfinite(value) else value


_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "floor": _finite_or_itself(math.floor),
    "ceil": _finite_or_itself(math.ceil),
    # PromQL's `round(v)` is `floor(v + 0.5)` (ties up), not Python's ties-to-even `round`.
    "round": _finite_or_itself(lambda value: math.floor(value + 0.5)),
}


@record(eq=False)
class _Extreme(Expr):
    """`Max`/`Min`: the largest/smallest operand that has a value; constants only bound it."""

    operands: tuple[Expr, ...]
    aggregation: ClassVar[str]
    clamp: ClassVar[str]

    def __init__(self, *operands: Expr | float) -> None:
        object.__setattr__(self, "operands", tuple(as_expr(o) for o in operands))
        if not any(not o.is_constant() for o in self.operands):
            raise ValueError(
                f"{type(self).__name__} needs at least one operand that is not a number"
            )

    def _compile(self) -> Compiled:
        vectors = [o.compiled for o in self.operands if not o.is_constant()]
        constants = [o.compiled for o in self.operands if o.is_constant()]
        pick = _PICK[self.aggregation]

        def run(env: Env) -> float | None:
            present = [v for f in vectors if (v := f(env)) is not None]
            if not present:
                return None  # a constant alone is no value: PromQL's clamp of nothing is nothing
            bounds = [v for f in constants if (v := f(env)) is not None]
            return pick([*present, *bounds])

        return run

    def _emit(self, code: Code) -> str:
        target, present = code.temp(), code.temp()
        values = [o._emit(code) for o in self.operands if not o.is_constant()]
        code.line(f"{present} = []")
        for value in values:
            code.line(f"if {value} is not None:")
            code.line(f"    {present}.append({value})")

        def bounded() -> str:
            for bound in (o._emit(code) for o in self.operands if o.is_constant()):
                code.line(f"if {bound} is not None:")
                code.line(f"    {present}.append({bound})")
            return f"{self.aggregation}({present})"

        code.branch(f"not {present}", target, bounded)
        return target

    def _expand(self, names: Names) -> str:
        vectors = [o for o in self.operands if not o.is_constant()]
        if len(vectors) == 1:
            text = vectors[0].promql(names)
        else:
            tagged = " or ".join(
                f'label_replace({o.promql(names)}, "{TERM_LABEL}", "{i}", "", "")'
                for i, o in enumerate(vectors)
            )
            text = f"{self.aggregation} without ({TERM_LABEL}) ({tagged})"
        for bound in (o for o in self.operands if o.is_constant()):
            text = f"{self.clamp}({text}, {bound.promql(names)})"
        return text

    def _inputs(self) -> frozenset[str]:
        return frozenset().union(*(o.inputs() for o in self.operands))


class Max(_Extreme):
    """The largest operand with a value (`max without (pleg_term) (a or b ...)`, `clamp_min`)."""

    aggregation = "max"
    clamp = "clamp_min"


class Min(_Extreme):
    """The smallest operand with a value (`min without (pleg_term) (a or b ...)`, `clamp_max`)."""

    aggregation = "min"
    clamp = "clamp_max"


@record(eq=False)
class _Function(Expr):
    """A PromQL function of one argument that Python computes the same way."""

    argument: Expr
    name: ClassVar[str]

    def _compile(self) -> Compiled:
        inner = self.argument.compiled
        apply = _FUNCTIONS[self.name]

        def run(env: Env) -> float | None:
            value = inner(env)
            return None if value is None else apply(value)

        return run

    def _emit(self, code: Code) -> str:
        target = code.temp()
        value = self.argument._emit(code)
        apply = code.constant(_FUNCTIONS[self.name])
        code.line(f"{target} = None if {value} is None else {apply}({value})")
        return target

    def _expand(self, names: Names) -> str:
        return f"{self.name}({self.argument.promql(names)})"

    def _inputs(self) -> frozenset[str]:
        return self.argument.inputs()


class Floor(_Function):
    """`floor(x)`."""

    name = "floor"


class Ceil(_Function):
    """`ceil(x)`."""

    name = "ceil"


class Round(_Function):
    """`round(x)`: the nearest whole number, ties up (`floor(x + 0.5)`, as PromQL rounds)."""

    name = "round"


@record(eq=False)
class Formula:
    """A named formula with what it means, as the docs and the rules' comments show it."""

    name: str
    expr: Expr
    text: str
    """The formula in the model's symbols (README "The model in one screen")."""

    def evaluate(self, env: Env) -> float | None:
        """`self.expr.evaluate(env)`."""
        return self.expr.evaluate(env)
