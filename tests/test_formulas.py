"""core/formulas.py: one formula, two renderings that mean the same thing.

Python's `None` is PromQL's absent series: these tests pin each operator's meaning in both
(tests/test_rules_integration.py then runs the rendered PromQL on a real Prometheus).
"""

from __future__ import annotations

import random

import pytest

from pleg_doctor.core import terms
from pleg_doctor.core.conditions import Cmp, Either, Flag, Like, Where, ge, gt, lt
from pleg_doctor.core.formulas import (
    HOT_EVALUATIONS,
    Ceil,
    Expr,
    Floor,
    Formula,
    Max,
    Min,
    Names,
    Num,
    Param,
    Var,
)

A, B, C = Var("a"), Var("b"), Var("c")
NAMES = Names(inputs={"a": "a", "b": "b", "c": "c", "k": "120"})


def test_arithmetic_has_no_value_without_both_sides():
    expr = A + B * 2 - C
    assert expr.evaluate({"a": 1.0, "b": 2.0, "c": 0.5}) == 4.5
    assert expr.evaluate({"a": 1.0, "b": None, "c": 0.5}) is None
    assert expr.promql(NAMES) == "a + b * 2 - c"
    assert expr.inputs() == {"a", "b", "c"}


def test_precedence_puts_parentheses_only_where_needed():
    assert ((A + B) * C).promql(NAMES) == "(a + b) * c"
    assert (A - (B - C)).promql(NAMES) == "a - (b - c)"
    assert (A - B - C).promql(NAMES) == "a - b - c"
    assert (A * (B + 1)).promql(NAMES) == "a * (b + 1)"


def test_division_has_no_value_for_a_divisor_that_is_not_positive():
    expr = A / B
    assert expr.evaluate({"a": 3.0, "b": 2.0}) == 1.5
    assert expr.evaluate({"a": 3.0, "b": 0.0}) is None
    assert expr.evaluate({"a": 3.0, "b": -1.0}) is None
    assert expr.promql(NAMES) == "a / (b > 0)"
    assert (A / 4).promql(NAMES) == "a / 4"
    assert (A / Param("k")).promql(NAMES) == "a / 120"


def test_max_and_min_skip_what_has_no_value_and_clamp_with_constants():
    expr = Max(A, B, 1.0)
    assert expr.evaluate({"a": 0.5, "b": None}) == 1.0
    assert expr.evaluate({"a": 3.0, "b": 2.0}) == 3.0
    assert expr.evaluate({"a": None, "b": None}) is None  # a constant alone is no value
    assert expr.promql(NAMES) == (
        'clamp_min(max without (pleg_term) (label_replace(a, "pleg_term", "0", "", "") '
        'or label_replace(b, "pleg_term", "1", "", "")), 1)'
    )
    assert Min(A, Param("k")).promql(NAMES) == "clamp_max(a, 120)"
    assert Min(A, Param("k")).evaluate({"a": 200.0, "k": 120.0}) == 120.0
    with pytest.raises(ValueError, match="not a number"):
        Max(Num(1.0), 2.0)


def test_either_where_like_and_flag():
    assert Either(A, B).evaluate({"a": None, "b": 2.0}) == 2.0
    assert Either(A, B).promql(NAMES) == "a or b"
    where = Where(A, gt(B, 0.0))
    assert where.evaluate({"a": 5.0, "b": 1.0}) == 5.0
    assert where.evaluate({"a": 5.0, "b": 0.0}) is None
    assert where.evaluate({"a": 5.0, "b": None}) is None
    assert where.promql(NAMES) == "a and (b > 0)"
    like = Like(A, 7.0)
    assert like.evaluate({"a": 1.0}) == 7.0 and like.evaluate({"a": None}) is None
    assert like.promql(NAMES) == "a * 0 + 7"
    flag = Flag(ge(A, 2.0))
    assert flag.evaluate({"a": 2.0}) == 1.0 and flag.evaluate({"a": 1.0}) == 0.0
    assert flag.evaluate({"a": None}) is None
    assert flag.promql(NAMES) == "a >= bool 2"
    # A constant on the left is moved right: PromQL filters keep the vector's elements.
    assert Where(A, lt(Num(10.0), B)).promql(NAMES) == "a and (b > 10)"
    with pytest.raises(ValueError, match="Like"):
        Either(A, Num(0.0))


def test_floor_and_ceil():
    assert Floor(A).evaluate({"a": 1.7}) == 1.0 and Ceil(A).evaluate({"a": 1.2}) == 2.0
    assert Floor(A / 120).promql(NAMES) == "floor(a / 120)"


def test_recorded_sub_formulas_are_read_by_name():
    inner = A + B
    outer = inner * C
    names = Names(inputs=NAMES.inputs, recorded={inner: "instance:ab:sum"})
    assert outer.promql(names) == "instance:ab:sum * c"
    assert inner.expand(names) == "a + b"  # the rule recording it expands it
    assert Var("a").promql(Names(inputs={"a": "x + y"})) == "(x + y)"


def test_the_model_terms_read_only_what_their_layer_provides():
    op_inputs = {"op_count", "op_sum_seconds", "op_timeouts", "op_over_top_mean_seconds"}
    assert terms.HUNG_CALL.expr.inputs() <= op_inputs | {terms.TAU.name}
    assert terms.ANSWERED_MEAN.expr.inputs() <= op_inputs | {"op_hung_call_seconds"}
    cost_fields = {formula.name for formula in terms.COSTS}
    for formula in terms.PREDICTION:
        known = (
            cost_fields
            | {f.name for f in terms.PREDICTION}
            | {
                "relist_threshold_seconds",
                "relist_period_seconds",
                terms.TAU.name,
                terms.HUNG_TOLERANCE.name,
            }
        )
        assert formula.expr.inputs() <= known, formula.name
    assert all(not name.startswith("op_") for f in terms.AGES for name in f.expr.inputs())


def test_headroom_of_a_wedged_container_by_hand():
    """One hung 120 s call per relist, fast lists: worst age D + P + G ≈ 121 s, 59 s left."""
    env: dict[str, float | None] = {
        "relist_threshold_seconds": 180.0,
        "relist_period_seconds": 1.0,
        "runtime_request_timeout_seconds": 120.0,
        "list_podsandbox_seconds": 0.005,
        "list_containers_seconds": 0.005,
        "podsandbox_status_seconds": 0.0,
        "container_status_seconds": 0.0,
        "pods_inspected_per_relist": 1.0,
        "podsandbox_status_calls_per_relist": 1.0,
        "container_status_calls_per_relist": 0.0,
        "hung_calls_per_relist": 1.0,
        "hung_call_seconds": 120.0,
        "edge_seconds_per_relist": 0.0,  # no relist in progress at the window's edges
        "hung_calls_tolerance": 1e-9,
    }
    for formula in terms.PREDICTION:
        env[formula.name] = formula.evaluate(env)
    assert env["predicted_relist_worst_seconds"] == pytest.approx(120.02)
    assert env["hung_calls_tolerated"] == 1.0
    env |= {
        "predicted_relist_for_age_seconds": env["predicted_relist_worst_seconds"],
        "relist_over_top_mean_seconds": 120.0,
        "relist_p99_seconds": 10.0,
        "relist_recent_p99_seconds": None,
        "relists": 2.5,
        "relist_sum_seconds": 300.0,
        "pod_relist_sum_seconds": None,
        "last_seen_age_seconds": 61.0,
        "scrape_age_peak_seconds": None,  # no earlier scrape older than the stall floor
        "quiet_seconds": None,
        "window_seconds": 300.0,
    }
    for formula in (*terms.AGES, *terms.VERDICT_FIGURES):
        env[formula.name] = formula.evaluate(env)
    assert env["headroom_seconds"] == pytest.approx(180 - 121.03)
    assert env["stalled"] == 0.0 and env["stalled_for_seconds"] is None


def test_hung_calls_of_the_worst_relist_tolerate_the_noise_of_increase():
    """A wedged container's one hung call per relist, through Prometheus' increase() of two
    counters, measures 1.04: one call, not two (which would predict 240 s relists)."""
    worst = terms.HUNG_WORST.expr
    for per_relist, exact, extrapolated in ((0.0, 0, 0), (0.3, 1, 1), (1.04, 2, 1), (1.5, 2, 2)):
        env: dict[str, float | None] = {"hung_calls_per_relist": per_relist}
        env["hung_calls_tolerance"] = terms.EXACT_COUNTS_TOLERANCE
        assert worst.evaluate(env) == exact, per_relist
        env["hung_calls_tolerance"] = terms.INCREASE_TOLERANCE
        assert worst.evaluate(env) == extrapolated, per_relist


def _every_formula_and_part() -> list[Expr]:
    """Every formula of the model (`terms`), and every node inside each of them."""
    found: dict[int, Expr] = {}

    def walk(node: object) -> None:
        if isinstance(node, Expr) and id(node) not in found:
            found[id(node)] = node
        if isinstance(node, (Expr, Cmp)):
            for value in vars(node).values():
                for child in value if isinstance(value, tuple) else (value,):
                    if isinstance(child, (Expr, Cmp)):
                        walk(child)

    for value in vars(terms).values():
        if isinstance(value, Formula):
            walk(value.expr)
    return list(found.values())


VALUES = (None, 0.0, -1.0, 1e-9, 0.05, 0.5, 1.0, 2.0, 10.0, 119.2, 180.0, 300.0, 1e6)


def test_generated_formulas_give_the_closures_values_and_read_what_they_read():
    """`Expr.generated` (what a fleet evaluates per node) must equal the closures everywhere:
    the same value or None, and the same inputs read (a missing one raises in both or neither)."""
    rng = random.Random(14)
    exprs = _every_formula_and_part()
    assert len(exprs) > 100
    for expr in exprs:
        generated = expr.generated
        assert generated is not expr.compiled, expr
        names = sorted(expr.inputs())
        for _ in range(300):
            env = {name: rng.choice(VALUES) for name in names if rng.random() > 0.1}
            try:
                expected: object = expr.compiled(env)
            except KeyError as missing:
                expected = missing
            try:
                got: object = generated(env)
            except KeyError as missing:
                got = missing
            if isinstance(expected, KeyError):
                assert isinstance(got, KeyError) and got.args == expected.args, (expr, env)
            else:
                assert got == expected and type(got) is type(expected), (expr, env)


def test_a_formula_evaluated_often_switches_to_its_generated_function():
    formula = Formula("twice", Var("x") * 2.0 + Var("y"), "2x + y")
    for n in range(HOT_EVALUATIONS + 5):
        assert formula.evaluate({"x": float(n), "y": 1.0}) == 2.0 * n + 1.0
        assert formula.evaluate({"x": float(n), "y": None}) is None
    assert formula.expr._generated is formula.expr.generated


def test_a_formula_the_generator_cannot_write_keeps_its_closures():
    class Odd(Var):
        def _emit(self, code: object) -> str:
            raise NotImplementedError

    odd = Odd("x")
    assert odd.generated is odd.compiled
    assert [odd.evaluate({"x": 2.0}) for _ in range(HOT_EVALUATIONS + 1)][-1] == 2.0
