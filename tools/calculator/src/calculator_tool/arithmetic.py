"""Exact arithmetic on expressions, parsed safely: the calculator tool's logic. Pure, no I/O.

An expression is parsed with Python's own `ast` module (never evaluated as code) and computed over
`fractions.Fraction`, so `0.1 + 0.2` is exactly `0.3` and `1/3` stays a third. Written here rather
than taken from a library: simpleeval and its kind compute in binary floating point, which is what
an exact calculator must not do, and a computer-algebra system (SymPy) is tens of megabytes for the
four operations and powers a tool needs.

Every number is bounded before it is made. A result may have at most `MAX_DIGITS` digits (in its
numerator and in its denominator): a literal's size is read from its text (`1e999999999` is a one
and 999,999,999 zeros, refused without building it), a power's from its operands' sizes
(`9 ** 9 ** 9` is refused before it is computed), and every other operation takes two operands
already within the limit, so what it makes before reduction has at most twice the limit's digits:
cheap to compute, then checked. The check compares with a constant (never `str()`, which Python
refuses past 4,300 digits and which is slow long before that), and a refusal says how many digits
the result would have had and what the limit is.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction

from contracts.tools import excerpt, quoted

MAX_EXPRESSION_CHARACTERS = 500
# Multiplication and division as people write them (the signs U+00D7 and U+00F7).
_OPERATOR_SPELLINGS = str.maketrans({"\u00d7": "*", "\u00f7": "/"})
MAX_DIGITS = 400  # of any number the calculator makes: beyond, it is not a useful answer
_TOO_MANY_DIGITS = 10**MAX_DIGITS  # the least whole number with more than MAX_DIGITS digits
DECIMAL_PLACES = 20  # when a result does not end as a decimal
# A decimal literal as Python reads one: digits, a point, an exponent (underscores between digits).
_DECIMAL_LITERAL = re.compile(
    r"(?P<whole>[0-9_]*)(?:\.(?P<fraction>[0-9_]*))?(?:[eE](?P<exponent>[+-]?[0-9_]+))?"
)
_OPERATIONS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}


class CannotCompute(ValueError):
    """The expression is not one the calculator can compute; the message says why, for the model."""


@dataclass(frozen=True)
class Step:
    """One number the calculator made: how (a literal, or an operator), from operands how large, and
    how large the result (bits of numerator and denominator; a number's digits are about 0.3 times
    its bits). What `evaluate` reports to `on_step`, so tests can see that nothing grew unbounded."""

    operation: str
    operand_bits: tuple[tuple[int, int], ...]
    result_bits: tuple[int, int]


OnStep = Callable[[Step], None]


def _bits(value: Fraction) -> tuple[int, int]:
    return value.numerator.bit_length(), value.denominator.bit_length()


def _about(log10_digits: float) -> str:
    """A digit count given by its logarithm, written to be read: "1,000,000,000" or "10^500"."""
    if log10_digits < 15:
        return f"{round(10**log10_digits):,}"
    return f"10^{int(log10_digits)}"


def _too_large(log10_digits: float, what: str = "the result") -> CannotCompute:
    return CannotCompute(f"{what} would have about {_about(log10_digits)} digits; the limit is {MAX_DIGITS}")


def _digit_count_log10(log10_number: float) -> float:
    """log10 of how many digits a number whose log10 is `log10_number` has (floor + 1)."""
    return math.log10(math.floor(log10_number) + 1) if log10_number < 1e15 else math.log10(log10_number)


def _digits_log10(number: int) -> float:
    """log10 of how many digits a positive whole number has, without writing it out (no `str`).
    Only for numbers `_checked` sees, which have at most a few times MAX_DIGITS digits."""
    digits = math.floor(math.log10(number)) + 1
    if number < 10 ** (digits - 1):  # log10 rounded up across a power of ten
        digits -= 1
    return math.log10(digits)


def _checked(value: Fraction, what: str = "the result") -> Fraction:
    largest = max(abs(value.numerator), value.denominator)
    if largest >= _TOO_MANY_DIGITS:
        raise _too_large(_digits_log10(largest), what)
    return value


class _Evaluation:
    def __init__(self, source: str, on_step: OnStep | None) -> None:
        self._source = source
        self._on_step = on_step

    def _made(self, operation: str, operands: tuple[Fraction, ...], result: Fraction) -> Fraction:
        if self._on_step is not None:
            self._on_step(Step(operation, tuple(_bits(value) for value in operands), _bits(result)))
        return result

    def value(self, node: ast.expr) -> Fraction:
        if isinstance(node, ast.Constant):
            return self._number(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            operand = self.value(node.operand)
            return operand if isinstance(node.op, ast.UAdd) else self._made("-", (operand,), -operand)
        if isinstance(node, ast.BinOp):
            return self._binary(node.op, self.value(node.left), self.value(node.right))
        if isinstance(node, ast.Name):
            raise CannotCompute(
                f"unknown name {quoted(node.id)}: only numbers and + - * / // % ** ( ) are understood"
            )
        if isinstance(node, ast.Call):
            raise CannotCompute(
                "functions are not supported: only numbers and + - * / // % ** ( ) are understood"
            )
        raise CannotCompute(f"{quoted(ast.unparse(node))} is not arithmetic the calculator understands")

    def _number(self, node: ast.Constant) -> Fraction:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CannotCompute(f"{excerpt(repr(node.value))} is not a number")
        text = ast.get_source_segment(self._source, node) or repr(node.value)
        # A whole-number literal (decimal, 0x, 0o, 0b) is at most MAX_EXPRESSION_CHARACTERS long,
        # so Python has already made it cheaply; a decimal one is made from its text, sized first.
        value = Fraction(node.value) if isinstance(node.value, int) else _decimal_literal(text)
        return _checked(self._made("literal", (), value), f"the number {quoted(text)}")

    def _binary(self, operator: ast.operator, left: Fraction, right: Fraction) -> Fraction:
        symbol = _OPERATIONS.get(type(operator))
        if symbol is None:
            raise CannotCompute(f"the operator {type(operator).__name__} is not supported")
        if symbol == "**":
            result = _power(left, right)
        elif symbol in {"/", "//", "%"} and right == 0:
            raise CannotCompute("division by zero")
        else:
            # Both operands are within the limit, so this makes at most about 2 * MAX_DIGITS
            # digits before Fraction reduces it: cheap, and checked right after.
            result = _arithmetic(symbol, left, right)
        return _checked(self._made(symbol, (left, right), result))


def _arithmetic(symbol: str, left: Fraction, right: Fraction) -> Fraction:
    if symbol == "+":
        return left + right
    if symbol == "-":
        return left - right
    if symbol == "*":
        return left * right
    if symbol == "/":
        return left / right
    if symbol == "//":
        return Fraction(left // right)
    return left % right


def _decimal_literal(text: str) -> Fraction:
    """A decimal literal from its text, not from the float Python read it as (0.1 is one tenth, and
    0.1234567890123456789 keeps every digit), its size known before it is made."""
    match = _DECIMAL_LITERAL.fullmatch(text)
    if match is None:
        raise CannotCompute(f"{quoted(text)} is not a number the calculator reads")
    whole = (match["whole"] or "").replace("_", "")
    fraction = (match["fraction"] or "").replace("_", "")
    # At most MAX_EXPRESSION_CHARACTERS digits: within Python's limit on reading whole numbers.
    exponent = int((match["exponent"] or "0").replace("_", ""))
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return Fraction(0)
    significant = digits.rstrip("0")
    scale = exponent - len(fraction) + (len(digits) - len(significant))  # value = significant * 10**scale
    what = f"the number {quoted(text)}"
    if scale >= 0:
        if len(significant) + scale > MAX_DIGITS:  # exactly its digit count
            raise _too_large(math.log10(len(significant) + scale), what)
        return Fraction(int(significant) * 10**scale)
    # The denominator is 10**-scale over what it shares with `significant`, which is at most
    # `significant` itself: so it has at least -scale - len(significant) digits.
    if -scale - len(significant) >= MAX_DIGITS:
        raise _too_large(math.log10(-scale - len(significant) + 2), what)
    return Fraction(int(significant), 10**-scale)


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise CannotCompute("only whole-number exponents give exact results")
    power = exponent.numerator
    if base == 0 and power < 0:
        raise CannotCompute("division by zero")
    largest = max(abs(base.numerator), base.denominator)
    if largest > 1 and power != 0:
        # The numerator and denominator share no factor, so each is raised whole: the result has
        # |power| * log10(largest) digits, give or take one (float rounding), known before it is made.
        log10_size = math.log10(abs(power)) + math.log10(math.log10(largest))  # log10(log10(result))
        if log10_size > math.log10(MAX_DIGITS + 1):
            raise _too_large(_digit_count_log10(10**log10_size) if log10_size < 15 else log10_size)
    # 0, 1 and -1 stay as small whatever the power, which is computed by repeated squaring.
    return base**power


def evaluate(expression: str, on_step: OnStep | None = None) -> Fraction:
    """The exact value of an arithmetic expression, or `CannotCompute` saying why not. `on_step`
    is told of each number made, in order."""
    if not expression.strip():
        raise CannotCompute("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARACTERS:
        raise CannotCompute(f"the expression is longer than {MAX_EXPRESSION_CHARACTERS} characters")
    source = expression.translate(_OPERATOR_SPELLINGS).replace("^", "**")
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" and its kind are not for the model
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise CannotCompute(f"not an arithmetic expression: {error.msg}") from error
    except ValueError as error:  # a NUL character, which Python's parser refuses outright
        raise CannotCompute("not an arithmetic expression: it contains a NUL character") from error
    except (RecursionError, MemoryError) as error:
        raise CannotCompute("not an arithmetic expression: it is nested too deeply") from error
    try:
        return _Evaluation(source, on_step).value(tree.body)
    except RecursionError as error:
        raise CannotCompute("the expression is nested too deeply") from error


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
