"""Fixed-width integer semantics in Python: the meaning the kernel gives each operator.

Codegen emits instructions with exactly these results, and the reference
interpreter calls these functions, so one definition serves both.
"""

from __future__ import annotations

import ast

from .. import types as T

__all__ = ["binop", "compare"]


def _div(a: int, b: int) -> int:
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _mod(a: int, b: int) -> int:
    if b == 0:
        return a
    return a - b * _div(a, b)


def binop(op: ast.operator, ty: T.IntType, a: int, b: int) -> int:
    """``a op b`` with both operands already converted to ``ty``; the result is in ``ty``."""
    if isinstance(op, ast.Add):
        r = a + b
    elif isinstance(op, ast.Sub):
        r = a - b
    elif isinstance(op, ast.Mult):
        r = a * b
    elif isinstance(op, ast.FloorDiv):
        r = _div(a, b)
    elif isinstance(op, ast.Mod):
        r = _mod(a, b)
    elif isinstance(op, ast.LShift):
        r = a << (b & (ty.bits - 1))
    elif isinstance(op, ast.RShift):
        r = a >> (b & (ty.bits - 1))
    elif isinstance(op, ast.BitAnd):
        r = a & b
    elif isinstance(op, ast.BitOr):
        r = a | b
    elif isinstance(op, ast.BitXor):
        r = a ^ b
    else:  # the typer rejects every other operator
        raise AssertionError(op)
    return ty.wrap(r)


def compare(op: ast.cmpop, a: int, b: int) -> bool:
    """``a op b`` on two values already converted to the comparison type."""
    if isinstance(op, ast.Eq):
        return a == b
    if isinstance(op, ast.NotEq):
        return a != b
    if isinstance(op, ast.Lt):
        return a < b
    if isinstance(op, ast.LtE):
        return a <= b
    if isinstance(op, ast.Gt):
        return a > b
    return a >= b
