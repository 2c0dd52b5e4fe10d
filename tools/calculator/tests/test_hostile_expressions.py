"""Hostile arithmetic: whatever the notation (exponents in a literal, `**`, huge literals, long chains
of products, `//`, `%`), every calculation ends with the exact answer or a refusal naming the limit,
having made no number larger than the limit allows (counted, never timed)."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calculator_tool.arithmetic import MAX_DIGITS, MAX_EXPRESSION_CHARACTERS, CannotCompute, Step, evaluate
from calculator_tool.handler import CalculatorInput, calculate
from shared.tool import ToolError

LIMIT_BITS = (10**MAX_DIGITS).bit_length()  # a number within the limit has at most these bits
# What one operation on two numbers within the limit can make before it is reduced and checked.
MOST_BITS_MADE = 2 * LIMIT_BITS + 2
# The reasons a well-formed expression of numbers may be refused; anything else is a failure.
REFUSALS = ("would have about", "division by zero", "only whole-number exponents")


@dataclass(frozen=True)
class Literal:
    text: str

    def value(self) -> Fraction:
        # Only once the calculator computed it (so it is within the limit): cheap here too.
        text = self.text.replace("_", "")
        return Fraction(int(text, 0)) if text.startswith(("0x", "0o", "0b")) else Fraction(Decimal(text))


@dataclass(frozen=True)
class Operation:
    symbol: str
    left: Literal | Operation
    right: Literal | Operation


def written(node: Literal | Operation) -> str:
    if isinstance(node, Literal):
        return node.text
    return f"({written(node.left)} {node.symbol} {written(node.right)})"


def reference(node: Literal | Operation) -> Fraction:
    """What Python's own Fractions make of the same tree (only called once the calculator answered)."""
    if isinstance(node, Literal):
        return node.value()
    left, right = reference(node.left), reference(node.right)
    operations = {
        "+": lambda: left + right,
        "-": lambda: left - right,
        "*": lambda: left * right,
        "/": lambda: left / right,
        "//": lambda: Fraction(left // right),
        "%": lambda: left % right,
        "**": lambda: Fraction(left**right),
    }
    return operations[node.symbol]()


def digits(most: int) -> st.SearchStrategy[str]:
    """A whole number of up to `most` digits, written as Python writes it (no leading zeros)."""
    return st.text(alphabet="0123456789", min_size=1, max_size=most).map(lambda text: str(int(text)))


exponents = st.one_of(
    st.integers(-30, 30).map(str),
    st.builds(lambda sign, number: sign + number, st.sampled_from(["", "-", "+"]), digits(13) | digits(400)),
)
literals = st.one_of(
    st.integers(0, 10**6).map(str),
    digits(451),  # up to 451 digits: past the limit
    digits(120).map(lambda number: hex(int(number))),
    st.builds(lambda mantissa, exponent: f"{mantissa}e{exponent}", st.integers(0, 999), exponents),
    st.builds(
        lambda whole, fraction, exponent: f"{whole}.{fraction}e{exponent}",
        st.integers(0, 99),
        st.integers(0, 10**6),
        st.integers(-2000, 2000),
    ),
    st.sampled_from(["1e999999999", "9e99999999", "0e999999999", "1_000", "0.1", "0.5e-399"]),
).map(Literal)
trees = st.recursive(
    literals,
    lambda children: st.builds(
        Operation, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "**"]), children, children
    ),
    max_leaves=16,
)


def steps_of(expression: str) -> tuple[Fraction | CannotCompute, list[Step]]:
    steps: list[Step] = []
    try:
        return evaluate(expression, steps.append), steps
    except CannotCompute as refused:
        return refused, steps


def assert_nothing_grew_past_the_limit(expression: str, steps: list[Step]) -> None:
    assert len(steps) <= len(expression)  # each step is a literal or an operator written in the text
    for step in steps:
        assert all(max(bits) <= LIMIT_BITS for bits in step.operand_bits), step
        assert max(step.result_bits) <= MOST_BITS_MADE, step


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_every_expression_ends_exact_or_refused_by_name_having_made_nothing_past_the_limit(
    tree: Literal | Operation,
) -> None:
    expression = written(tree)

    outcome, steps = steps_of(expression)

    assert_nothing_grew_past_the_limit(expression, steps)
    if len(expression) > MAX_EXPRESSION_CHARACTERS:
        assert isinstance(outcome, CannotCompute)
        assert f"longer than {MAX_EXPRESSION_CHARACTERS} characters" in str(outcome)
    elif isinstance(outcome, CannotCompute):
        assert any(reason in str(outcome) for reason in REFUSALS), outcome
        if "would have about" in str(outcome):
            assert str(outcome).endswith(f"digits; the limit is {MAX_DIGITS}")
    else:
        assert outcome == reference(tree)
        assert max(abs(outcome.numerator), outcome.denominator) < 10**MAX_DIGITS


@settings(max_examples=150, deadline=None)
@given(trees.filter(lambda tree: len(written(tree)) <= MAX_EXPRESSION_CHARACTERS))
def test_the_tool_answers_every_expression_or_refuses_it_naming_the_reason_never_failing(
    tree: Literal | Operation,
) -> None:
    expression = written(tree)

    try:
        answered, refused = calculate(CalculatorInput(expression=expression), "caller"), ""
    except ToolError as error:
        answered, refused = "", str(error)

    if refused:
        assert refused.startswith("cannot compute '")
        assert any(reason in refused for reason in REFUSALS), refused
        assert len(refused) < 300  # the expression quoted as an excerpt, not whole
    else:
        assert answered.startswith(f"{expression} = ")


@settings(max_examples=60, deadline=None)
@given(trees)
def test_no_calculation_allocates_more_than_a_few_hundred_kilobytes(tree: Literal | Operation) -> None:
    """Measured apart from the calculator's own account of its steps: 1e999999999 made in full
    would take 415 MB, and 10 ** 10 ** 6 (the smallest power that takes a noticeable time) 415 KB."""
    expression = written(tree)
    tracemalloc.start()
    try:
        steps_of(expression)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 400_000


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789eE._+-*/%()^x ", max_size=80) | st.text(max_size=200))
def test_any_text_is_an_exact_answer_or_a_refusal_never_another_exception(text: str) -> None:
    outcome, steps = steps_of(text)

    assert isinstance(outcome, Fraction | CannotCompute)
    assert_nothing_grew_past_the_limit(text, steps)


@pytest.mark.parametrize(
    "expression",
    [
        "1e999999999",
        "9e99999999**9",
        "(10**399)**1000",
        "9**9**9",
        "2**2**2**2**2**2",
        "(1/3)**-100000",
        "10**399 * 10**399 * 10**399",
        "10**399 // 0.1**399",
        "10**-399 / 10**399",
        "0x" + "f" * 497,
    ],
)
def test_the_expressions_that_used_to_hang_or_fail_are_refused_naming_the_limit(expression: str) -> None:
    outcome, steps = steps_of(expression)

    assert isinstance(outcome, CannotCompute)
    assert str(outcome).endswith(f"digits; the limit is {MAX_DIGITS}")
    assert_nothing_grew_past_the_limit(expression, steps)
