"""Exact arithmetic on expressions, parsed safely: the calculator tool's logic. Pure, no I/O.

An expression is parsed with Python's own `ast` module (never evaluated as code) and computed over
`fractions.Fraction`, so `0.1 + 0.2` is exactly `0.3` and `1/3` stays a third. Written here rather
than taken from a library: simpleeval and its kind compute in binary floating point, which is what
an exact calculator must not do, and a computer-algebra system (SymPy) is tens of megabytes for the
four operations and powers a tool needs.
"""

from __future__ import annotations

import ast
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction

MAX_EXPRESSION_CHARACTERS = 500
# Multiplication and division as people write them (the signs U+00D7 and U+00F7).
_OPERATOR_SPELLINGS = str.maketrans({"\u00d7": "*", "\u00f7": "/"})
MAX_EXPONENT = 1000
MAX_DIGITS = 400  # of any number the calculator produces: beyond, it is not a useful answer
DECIMAL_PLACES = 20  # when a result does not end as a decimal


class CannotCompute(ValueError):
    """The expression is not one the calculator can compute; the message says why, for the model."""


def evaluate(expression: str) -> Fraction:
    if not expression.strip():
        raise CannotCompute("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARACTERS:
        raise CannotCompute(f"the expression is longer than {MAX_EXPRESSION_CHARACTERS} characters")
    source = expression.translate(_OPERATOR_SPELLINGS).replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise CannotCompute(f"not an arithmetic expression: {error.msg}") from error
    return _value(tree.body, source)


def _number(node: ast.Constant, source: str) -> Fraction:
    if isinstance(node.value, bool) or not isinstance(node.value, int | float):
        raise CannotCompute(f"{node.value!r} is not a number")
    if isinstance(node.value, int):
        return _checked(Fraction(node.value))
    # From the literal as written, not the float Python read it as: 0.1 is one tenth, and
    # 0.1234567890123456789 keeps every digit.
    text = ast.get_source_segment(source, node) or repr(node.value)
    return _checked(Fraction(Decimal(text)))


def _value(node: ast.expr, source: str) -> Fraction:
    if isinstance(node, ast.Constant):
        return _number(node, source)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        operand = _value(node.operand, source)
        return operand if isinstance(node.op, ast.UAdd) else -operand
    if isinstance(node, ast.BinOp):
        return _checked(_binary(node.op, _value(node.left, source), _value(node.right, source)))
    if isinstance(node, ast.Name):
        raise CannotCompute(f"unknown name {node.id!r}: only numbers and + - * / // % ** ( ) are understood")
    if isinstance(node, ast.Call):
        raise CannotCompute(
            "functions are not supported: only numbers and + - * / // % ** ( ) are understood"
        )
    raise CannotCompute(f"{ast.unparse(node)!r} is not arithmetic the calculator understands")


def _binary(operator: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    if isinstance(operator, ast.Add):
        return left + right
    if isinstance(operator, ast.Sub):
        return left - right
    if isinstance(operator, ast.Mult):
        return left * right
    if isinstance(operator, ast.Div | ast.FloorDiv | ast.Mod):
        if right == 0:
            raise CannotCompute("division by zero")
        if isinstance(operator, ast.Div):
            return left / right
        return Fraction(left // right) if isinstance(operator, ast.FloorDiv) else left % right
    if isinstance(operator, ast.Pow):
        return _power(left, right)
    raise CannotCompute(f"the operator {type(operator).__name__} is not supported")


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise CannotCompute("only whole-number exponents give exact results")
    if abs(exponent) > MAX_EXPONENT:
        raise CannotCompute(f"exponents beyond ±{MAX_EXPONENT} are not computed")
    if base == 0 and exponent < 0:
        raise CannotCompute("division by zero")
    return base ** int(exponent)


def _checked(value: Fraction) -> Fraction:
    if max(len(str(abs(value.numerator))), len(str(value.denominator))) > MAX_DIGITS:
        raise CannotCompute(f"the result has more than {MAX_DIGITS} digits")
    return value


def as_text(value: Fraction) -> str:
    """The exact result: a whole number, a decimal that ends, or a fraction with its decimal value."""
    if value.denominator == 1:
        return str(value.numerator)
    twos = fives = 0
    rest = value.denominator
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest == 1:  # the decimal ends: written out with integers, every digit exact
        places = max(twos, fives)
        scaled = abs(value.numerator) * 10**places // value.denominator
        whole, fraction = divmod(scaled, 10**places)
        sign = "-" if value < 0 else ""
        return f"{sign}{whole}.{str(fraction).zfill(places).rstrip('0')}"
    # Enough precision for every digit of the whole part and DECIMAL_PLACES after the point.
    with localcontext() as context:
        context.prec = len(str(abs(value.numerator) // value.denominator)) + DECIMAL_PLACES + 5
        decimal = Decimal(value.numerator) / Decimal(value.denominator)
        try:
            approximate = format(round(decimal, DECIMAL_PLACES), "f")
        except InvalidOperation:
            approximate = str(decimal)
    return f"{value.numerator}/{value.denominator} (≈ {approximate})"
