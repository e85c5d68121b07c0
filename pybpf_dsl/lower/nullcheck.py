"""Pass 3: a pointer that may be NULL (a map lookup, a ring-buffer reserve) is tested before use.

The verifier rejects such programs too, but with a register dump; this pass
names the user's line and the fix.  It follows the function's control flow
with the set of local names known to be non-NULL:

* ``if p:``, ``if p is not None:``, ``if p != 0:``, ``while p ...`` and the
  operands after ``p and ...`` know ``p``; the ``else`` branch of
  ``if not p:`` / ``if p is None:`` does too, and so does the code after an
  ``if not p: return`` (or break/continue);
* assigning a maybe-NULL value forgets it; joins keep what both sides know;
* reading a field or element through ``p``, passing ``p`` on (to a helper,
  a map, a function, ``print``) or submitting it are uses.
"""

from __future__ import annotations

import ast
from typing import Any

from .. import types as T
from .source import fail
from .typer import NOSTATIC

__all__ = ["check_null_tests"]

State = frozenset


def _nullable(e: ast.expr) -> bool:
    t = getattr(e, "ty", None)
    return isinstance(t, T.PtrType) and t.nullable


def _null_const(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant) and (e.value is None or e.value == 0)


class _Loop:
    def __init__(self) -> None:
        self.breaks: list[State] = []
        self.continues: list[State] = []


def _meet(states: list[State | None]) -> State | None:
    live = [s for s in states if s is not None]
    if not live:
        return None
    out = live[0]
    for s in live[1:]:
        out &= s
    return out


class NullChecker:
    """Walks one typed function; raises CompileError at the first unchecked use."""

    def __init__(self, filename: str) -> None:
        self.file = filename
        self.loops: list[_Loop] = []

    # -- statements: each returns the state after it (None: control does not get there)
    def block(self, stmts: list[ast.stmt], s: State | None) -> State | None:
        for st in stmts:
            if s is None:
                return None
            s = getattr(self, "s_" + type(st).__name__, self.s_other)(st, s)
        return s

    def s_other(self, st: ast.stmt, s: State) -> State:
        for node in ast.iter_child_nodes(st):
            if isinstance(node, ast.expr):
                self.use(node, s)
        return s

    def s_Assign(self, st: ast.Assign, s: State) -> State:
        return self.assign(st.targets[0], st.value, s)

    def s_AnnAssign(self, st: ast.AnnAssign, s: State) -> State:
        return self.assign(st.target, st.value, s) if st.value is not None else s

    def assign(self, target: ast.expr, value: ast.expr, s: State) -> State:
        if isinstance(target, ast.Name) and _nullable(target):
            if isinstance(value, ast.Name):
                return s | {target.id} if value.id in s or not _nullable(value) else s - {target.id}
            self.use(value, s, allow_nullable=True)
            return s - {target.id} if _nullable(value) else s | {target.id}
        self.use(value, s)
        if not isinstance(target, ast.Name):
            self.use(target, s)
        return s

    def s_Expr(self, st: ast.Expr, s: State) -> State:
        self.use(st.value, s, allow_nullable=True)
        return s

    def s_Return(self, st: ast.Return, s: State) -> None:
        if st.value is not None:
            self.use(st.value, s)
        return None

    def s_Break(self, st: ast.Break, s: State) -> None:
        self.loops[-1].breaks.append(s)
        return None

    def s_Continue(self, st: ast.Continue, s: State) -> None:
        self.loops[-1].continues.append(s)
        return None

    def s_If(self, st: ast.If, s: State) -> State | None:
        yes, no = self.cond(st.test, s)
        return _meet([self.block(st.body, yes), self.block(st.orelse, no)])

    def s_While(self, st: ast.While, s: State) -> State | None:
        head = s
        while True:
            loop = _Loop()
            self.loops.append(loop)
            yes, no = self.cond(st.test, head)
            out = self.block(st.body, yes)
            self.loops.pop()
            new_head = _meet([head, out, *loop.continues])
            if new_head == head:
                infinite = isinstance(st.test, ast.Constant) and st.test.value
                return _meet(([] if infinite else [no]) + loop.breaks)
            head = new_head

    def s_For(self, st: ast.For, s: State) -> State | None:
        for a in st.iter.args:
            self.use(a, s)
        head = s
        while True:
            loop = _Loop()
            self.loops.append(loop)
            out = self.block(st.body, head)
            self.loops.pop()
            new_head = _meet([head, out, *loop.continues])
            if new_head == head:
                return _meet([head, *loop.breaks])
            head = new_head

    # -- conditions: (state when true, state when false) --------------------------
    def cond(self, e: ast.expr, s: State) -> tuple[State, State]:
        if isinstance(e, ast.Name) and _nullable(e):
            return s | {e.id}, s
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
            yes, no = self.cond(e.operand, s)
            return no, yes
        if isinstance(e, ast.BoolOp):
            is_and = isinstance(e.op, ast.And)
            cur, exits = s, []
            for v in e.values:
                yes, no = self.cond(v, cur)
                exits.append(no if is_and else yes)
                cur = yes if is_and else no
            joined = _meet(exits) or s
            return (cur, joined) if is_and else (joined, cur)
        if isinstance(e, ast.Compare) and len(e.ops) == 1:
            left, right, op = e.left, e.comparators[0], e.ops[0]
            if _null_const(left):
                left, right = right, left
            if isinstance(left, ast.Name) and _nullable(left) and _null_const(right):
                known = s | {left.id}
                if isinstance(op, (ast.NotEq, ast.IsNot)):
                    return known, s
                if isinstance(op, (ast.Eq, ast.Is)):
                    return s, known
        self.use(e, s, allow_nullable=True)
        return s, s

    # -- expressions -------------------------------------------------------------
    def use(self, e: ast.expr, s: State, allow_nullable: bool = False) -> None:
        """Check every evaluation inside ``e``; ``e`` itself may be maybe-NULL if ``allow_nullable``."""
        if getattr(e, "static", NOSTATIC) is not NOSTATIC:
            return
        if _nullable(e) and not allow_nullable:
            self.require(e, s)
        if isinstance(e, ast.Name):
            return
        if isinstance(e, ast.BoolOp):
            self.cond(e, s)
            return
        if isinstance(e, ast.IfExp):
            yes, no = self.cond(e.test, s)
            self.use(e.body, yes, allow_nullable)
            self.use(e.orelse, no, allow_nullable)
            return
        for child in ast.iter_child_nodes(e):
            if isinstance(child, ast.expr):
                self.use(child, s, allow_nullable=_is_null_test(e, child))
            elif isinstance(child, ast.keyword):
                self.use(child.value, s)

    def require(self, e: ast.expr, s: State) -> None:
        if isinstance(e, ast.Name):
            if e.id in s:
                return
            raise fail(f"{e.id!r} may be NULL here", e, self.file,
                       f"test it first: `if {e.id}:` (a map lookup gives NULL for a missing key, "
                       "reserve() when the ring is full)")
        raise fail(f"{ast.unparse(e)} may be NULL", e, self.file,
                   "assign it to a name and test it first: `v = m.lookup(k)` then `if v:`")


def _compares_null(e: ast.Compare) -> bool:
    return any(_null_const(x) for x in (e.left, *e.comparators))


def _is_null_test(parent: ast.expr, child: ast.expr) -> bool:
    """True for ``p`` in ``p is None`` / ``p == 0``: comparing with NULL is not a use."""
    return isinstance(parent, ast.Compare) and _compares_null(parent) and isinstance(child, ast.Name)


def check_null_tests(tf: Any) -> None:
    """Raise CompileError where ``tf`` uses a maybe-NULL pointer before testing it."""
    NullChecker(tf.filename).block(tf.node.body, frozenset())
