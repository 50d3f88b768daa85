"""Typing rules of the language, as data and small pure functions.

The semantics (docs/language.md): a program computes what the same Python
code computes, with every integer result wrapped to its static type.

- An int literal (or frozen int global) takes the type of the other operand.
- Mixing widths widens to the wider type; equal widths with mixed
  signedness give the unsigned type (as C does).  Operands are converted
  (wrapped) to the result type, then the operation runs and wraps.
- Shifts keep the left operand's type; the count is read as unsigned.
- Comparisons are exact, like Python's: both sides are compared in a type
  that holds every value of each; a signed and an unsigned operand of the
  same width (or a u64 with any signed type) is an error that asks for a cast.
- ``x // 0 == 0`` and ``x % 0 == x``; signed ``//`` and ``%`` floor.

The reference evaluator used by the property tests (:func:`evaluate`) is the
executable form of these rules.
"""

from __future__ import annotations

from ..types import INT_TYPES, IntType, i8, i16, i32, i64, u8, u16, u32, u64

ARITH_OPS = {"+", "-", "*", "//", "%", "&", "|", "^"}
SHIFT_OPS = {"<<", ">>"}
COMPARE_OPS = {"==", "!=", "<", "<=", ">", ">="}

_BY_WIDTH = {(1, False): u8, (2, False): u16, (4, False): u32, (8, False): u64,
             (1, True): i8, (2, True): i16, (4, True): i32, (8, True): i64}


def int_type(size: int, signed: bool) -> IntType:
    return _BY_WIDTH[(size, signed)]


def plain(t: IntType) -> IntType:
    """bool and char compute as u8 / i8."""
    if t.is_bool:
        return u8
    if t.is_char:
        return i8
    return t


def arith_result(a: IntType, b: IntType) -> IntType:
    """The type of ``a op b`` for arithmetic and bitwise operators."""
    a, b = plain(a), plain(b)
    if a.size != b.size:
        return a if a.size > b.size else b
    if a.signed != b.signed:
        return int_type(a.size, False)
    return a


def compare_type(a: IntType, b: IntType) -> IntType | None:
    """A type holding every value of both, or None (then a cast is needed)."""
    a, b = plain(a), plain(b)
    if a.signed == b.signed:
        return a if a.size >= b.size else b
    s, u = (a, b) if a.signed else (b, a)
    if s.size > u.size:
        return s
    if u.size < 8 and s.size < u.size:
        return i64
    return None


def literal_fits(value: int, t: IntType) -> bool:
    t = plain(t)
    return t.min <= value <= t.max


def literal_type(value: int) -> IntType:
    """The type of a literal standing alone (``x = 5``): i64, or u64 when it needs it."""
    return i64 if value <= i64.max else u64


# ---------------------------------------------------------------- reference semantics


def apply(op: str, t: IntType, a: int, b: int) -> int:
    """``a op b`` for operands already of type ``t``, wrapped to ``t``."""
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "//":
        r = 0 if b == 0 else a // b
    elif op == "%":
        r = a if b == 0 else a % b
    elif op == "&":
        r = a & b
    elif op == "|":
        r = a | b
    elif op == "^":
        r = a ^ b
    elif op == "<<":
        n = b & 0xFFFFFFFFFFFFFFFF
        r = 0 if n >= t.bits else a << n
    elif op == ">>":
        n = b & 0xFFFFFFFFFFFFFFFF
        r = (-1 if a < 0 else 0) if n >= t.bits else a >> n
    else:  # pragma: no cover - guarded by callers
        raise ValueError(op)
    return t.wrap(r)


def compare(op: str, a: int, b: int) -> bool:
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def unary(op: str, t: IntType, a: int) -> int:
    if op == "-":
        return t.wrap(-a)
    if op == "~":
        return t.wrap(~a)
    raise ValueError(op)  # pragma: no cover


__all__ = [
    "ARITH_OPS",
    "SHIFT_OPS",
    "COMPARE_OPS",
    "INT_TYPES",
    "arith_result",
    "compare_type",
    "literal_fits",
    "literal_type",
    "int_type",
    "plain",
    "apply",
    "compare",
    "unary",
]
