"""The calculator's exact arithmetic: what `evaluate` computes, what it refuses and why, and `as_text`."""

from __future__ import annotations

from fractions import Fraction

import pytest

from calculator_tool.arithmetic import (
    MAX_DIGITS,
    MAX_EXPRESSION_CHARACTERS,
    CannotCompute,
    as_text,
    evaluate,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", Fraction(14)),
        ("(2 + 3) * 4", Fraction(20)),
        ("2 ** 3 ** 2", Fraction(512)),  # powers group to the right
        ("-2 ** 2", Fraction(-4)),  # the power binds tighter than the sign
        ("10 - 4 - 3", Fraction(3)),  # subtraction groups to the left
        ("7 // 2", Fraction(3)),
        ("-7 // 2", Fraction(-4)),  # floor division rounds down
        ("7 % 3", Fraction(1)),
        ("+5", Fraction(5)),
    ],
)
def test_an_expression_is_computed_with_the_usual_precedence(expression: str, expected: Fraction) -> None:
    assert evaluate(expression) == expected


def test_a_sum_of_decimal_literals_is_exact_not_binary_floating_point() -> None:
    assert evaluate("0.1 + 0.2") == Fraction(3, 10)
    assert as_text(evaluate("0.1 + 0.2")) == "0.3"


def test_a_third_stays_a_third() -> None:
    assert evaluate("1 / 3") == Fraction(1, 3)
    assert evaluate("1 / 3 * 3") == 1


def test_the_caret_and_the_written_signs_are_read_as_operators() -> None:
    assert evaluate("2 ^ 10") == 1024
    assert evaluate("6 \u00d7 7") == 42
    assert evaluate("8 \u00f7 2") == 4


def test_a_negative_whole_exponent_gives_an_exact_fraction() -> None:
    assert evaluate("10 ** -2") == Fraction(1, 100)


@pytest.mark.parametrize("expression", ["1 / 0", "1 // 0", "1 % 0", "5 / (2 - 2)", "0 ** -1"])
def test_a_division_by_zero_is_refused_by_name(expression: str) -> None:
    with pytest.raises(CannotCompute, match="division by zero"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["", "   ", "\n\t"])
def test_an_empty_expression_is_refused(expression: str) -> None:
    with pytest.raises(CannotCompute, match="empty"):
        evaluate(expression)


def test_an_expression_longer_than_the_limit_is_refused_before_parsing() -> None:
    too_long = "1+" * (MAX_EXPRESSION_CHARACTERS // 2) + "1"
    with pytest.raises(CannotCompute, match=f"longer than {MAX_EXPRESSION_CHARACTERS} characters"):
        evaluate(too_long)


def test_an_expression_at_the_length_limit_is_computed() -> None:
    at_limit = "1+" * ((MAX_EXPRESSION_CHARACTERS - 1) // 2) + "1"
    assert len(at_limit) <= MAX_EXPRESSION_CHARACTERS
    assert evaluate(at_limit) == (MAX_EXPRESSION_CHARACTERS - 1) // 2 + 1


def test_text_that_is_not_python_syntax_is_refused_as_not_arithmetic() -> None:
    with pytest.raises(CannotCompute, match="not an arithmetic expression"):
        evaluate("1 +")


@pytest.mark.parametrize("name", ["x", "nan", "inf", "__import__", "pi"])
def test_a_name_is_refused_and_named_in_the_message(name: str) -> None:
    with pytest.raises(CannotCompute, match=f"unknown name '{name}'"):
        evaluate(f"{name} + 1")


@pytest.mark.parametrize("expression", ["abs(-1)", "__import__('os').system('true')", "(1).__class__()"])
def test_a_function_call_is_refused(expression: str) -> None:
    with pytest.raises(CannotCompute, match="functions are not supported"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["(1).real", "(2).__class__", "1 .numerator"])
def test_attribute_access_is_refused(expression: str) -> None:
    with pytest.raises(CannotCompute, match="is not arithmetic the calculator understands"):
        evaluate(expression)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("True + 1", "True is not a number"),
        ("'a' * 3", "'a' is not a number"),
        ("1j * 2", "1j is not a number"),
        ("[1, 2]", "is not arithmetic"),
        ("1 < 2", "is not arithmetic"),
        ("~1", "is not arithmetic"),
        ("1 and 2", "is not arithmetic"),
        ("4 << 1", "operator LShift is not supported"),
        ("3 @ 4", "operator MatMult is not supported"),
    ],
)
def test_what_is_not_arithmetic_on_numbers_is_refused_with_the_reason(expression: str, reason: str) -> None:
    with pytest.raises(CannotCompute, match=reason.replace("(", r"\(")):
        evaluate(expression)


def test_a_fractional_exponent_is_refused_as_inexact() -> None:
    with pytest.raises(CannotCompute, match="whole-number exponents"):
        evaluate("2 ** 0.5")


def test_a_power_is_bounded_by_the_size_of_its_result_not_of_its_exponent() -> None:
    assert evaluate("2 ** 1328") == 2**1328  # 400 digits: the most a result may have
    assert evaluate("1 ** 10 ** 300") == 1
    assert evaluate("(-1) ** (10 ** 300 + 1)") == -1
    assert evaluate("0 ** 10 ** 300") == 0
    with pytest.raises(
        CannotCompute, match=f"the result would have about 401 digits; the limit is {MAX_DIGITS}"
    ):
        evaluate("2 ** 1329")
    with pytest.raises(CannotCompute, match="about 401 digits"):
        evaluate("0.5 ** 1329")  # the denominator counts too


def test_a_result_with_more_digits_than_the_bound_is_refused_saying_how_many_it_would_have() -> None:
    with pytest.raises(
        CannotCompute, match=f"the result would have about 401 digits; the limit is {MAX_DIGITS}"
    ):
        evaluate("10 ** 399 * 10")
    with pytest.raises(CannotCompute, match="about 401 digits"):
        evaluate("0.1 ** 400")
    with pytest.raises(CannotCompute, match=r"about 10\^299 digits"):
        evaluate("7 ** (10 ** 300)")


@pytest.mark.parametrize(
    ("literal", "digits"),
    [
        ("1e999999999", "1,000,000,000"),
        ("9e99999999", "100,000,000"),
        ("1e-999999999", "1,000,000,000"),
        ("1e400", "401"),
        ("1" * 401, "401"),
        ("0x" + "f" * 400, "482"),
    ],
)
def test_a_literal_too_large_is_refused_from_its_text_before_it_is_made(literal: str, digits: str) -> None:
    made: list[object] = []

    with pytest.raises(CannotCompute) as refused:
        evaluate(f"{literal} + 1", made.append)

    assert str(refused.value).startswith("the number '")
    assert str(refused.value).endswith(f"would have about {digits} digits; the limit is {MAX_DIGITS}")
    assert len(str(refused.value)) < 200  # the literal quoted as an excerpt
    assert all(step.operation == "literal" for step in made)  # refused before anything was added


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0e999999999", Fraction(0)),
        ("0.000e-999999999", Fraction(0)),
        ("1000e-3", Fraction(1)),
        ("1_000.5e1_0", Fraction(10005 * 10**9)),
        ("0.5e-399", Fraction(1, 2 * 10**399)),
    ],
)
def test_a_literal_whose_exponent_is_large_but_whose_value_is_not_is_computed(
    literal: str, value: Fraction
) -> None:
    assert evaluate(literal) == value


def test_a_huge_tower_of_powers_is_refused_rather_than_computed() -> None:
    with pytest.raises(CannotCompute, match="about 369,693,100 digits; the limit is 400"):
        evaluate("9 ** 9 ** 9")


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("0.1234567890123456789", Fraction(1234567890123456789, 10**19)),
        ("12345678901234567890.5", Fraction(246913578024691357810, 20)),
        ("1e350", Fraction(10**350)),  # beyond a float's range, within MAX_DIGITS
        ("1e-350", Fraction(1, 10**350)),
    ],
)
def test_a_decimal_literal_is_taken_from_its_text_not_from_a_float(literal: str, expected: Fraction) -> None:
    # The module promises "From the literal's text, not the float: 0.1 is one tenth."
    assert evaluate(literal) == expected


def test_a_difference_smaller_than_a_float_can_hold_is_not_lost() -> None:
    assert evaluate("0.30000000000000000001 - 0.3") == Fraction(1, 10**20)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(720), "720"),
        (Fraction(-3), "-3"),
        (Fraction(3, 8), "0.375"),
        (Fraction(-1, 4), "-0.25"),
        (Fraction(1, 3), "1/3 (≈ 0.33333333333333333333)"),
        (Fraction(2, 3), "2/3 (≈ 0.66666666666666666667)"),
    ],
)
def test_a_result_reads_as_a_whole_number_an_ending_decimal_or_a_fraction(value: Fraction, text: str) -> None:
    assert as_text(value) == text


@pytest.mark.parametrize(
    "value", [Fraction(10**30 + 1, 2), Fraction(1, 2**100), Fraction(-(10**40) - 1, 10**5)]
)
def test_an_ending_decimal_is_written_out_exactly_however_many_digits_it_has(value: Fraction) -> None:
    written = as_text(value)

    assert "/" not in written
    assert Fraction(written) == value
