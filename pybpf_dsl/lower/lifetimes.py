"""Where a struct/array local is alive, so LLVM can give locals with disjoint lives one stack slot.

Python locals live for the whole function, but many large ones are used in
one stretch of code: an event built in one branch, a scratch copy filled and
sent.  A local qualifies when all its uses sit in consecutive statements of
one statement list and the first of them assigns it whole (``e = Event()``,
``v = m[k]``): its old contents are dead there, so codegen brackets those
statements with ``llvm.lifetime.start``/``end`` and LLVM's stack colouring
overlaps the slots of locals whose stretches do not overlap.  In a loop body
the stretch starts over in each iteration, which is right for the same reason.

A copy ``c = b`` where ``b``'s stretch ends and ``c``'s begins makes ``c``
the same slot as ``b`` (no copy at all): ``b = m[k]; c = b; c.x = 1;
m[k2] = c`` needs one struct of stack, not two.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lifetimes", "local_lifetimes"]


@dataclass
class Lifetimes:
    """Lifetime brackets: id(stmt) -> locals starting before / ending after it; and slot sharing."""

    starts: dict[int, list[str]] = field(default_factory=dict)
    ends: dict[int, list[str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)   # local -> the local whose slot it uses

    def scoped(self) -> set[str]:
        """Every local with brackets (its own or those of the local it shares a slot with)."""
        return {n for names in self.starts.values() for n in names} | set(self.aliases)


class _Names:
    """The names each AST node mentions (computed once per node)."""

    def __init__(self) -> None:
        self._seen: dict[int, frozenset[str]] = {}

    def __call__(self, node: ast.AST, name: str) -> bool:
        names = self._seen.get(id(node))
        if names is None:
            names = self._seen[id(node)] = frozenset(
                n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        return name in names


def _child_lists(s: ast.stmt) -> list[list[ast.stmt]]:
    return [getattr(s, f) for f in ("body", "orelse") if getattr(s, f, None)]


def _assigns_whole(s: ast.stmt, name: str, _uses: _Names) -> bool:
    if isinstance(s, ast.Assign):
        target = s.targets[0] if len(s.targets) == 1 else None
    elif isinstance(s, ast.AnnAssign) and s.value is not None:
        target = s.target
    else:
        return False
    return isinstance(target, ast.Name) and target.id == name and not _uses(s.value, name)


def _stretch(stmts: list[ast.stmt], name: str, _uses: _Names) -> tuple[ast.stmt, ast.stmt] | None:
    """The first and last statement of ``name``'s stretch in the innermost list holding all its uses."""
    idx = [i for i, s in enumerate(stmts) if _uses(s, name)]
    if not idx:
        return None
    first, last = idx[0], idx[-1]
    if first == last:
        s = stmts[first]
        inner = [lst for lst in _child_lists(s) if any(_uses(x, name) for x in lst)]
        header = any(_uses(getattr(s, f), name) for f in ("test", "iter", "target") if getattr(s, f, None))
        if len(inner) == 1 and not header:
            return _stretch(inner[0], name, _uses)
    if not _assigns_whole(stmts[first], name, _uses):
        return None
    return stmts[first], stmts[last]


def local_lifetimes(tf: Any, aggregate: Any) -> Lifetimes:
    """Lifetime brackets for the aggregate locals of typed function ``tf`` that qualify."""
    params = {n for n, _ in tf.params}
    lt = Lifetimes()
    spans = {}
    uses = _Names()
    for name, t in tf.locals.items():
        if name in params or not aggregate(t):
            continue
        span = _stretch(tf.node.body, name, uses)
        if span is not None:
            spans[name] = span
            lt.starts.setdefault(id(span[0]), []).append(name)
            lt.ends.setdefault(id(span[1]), []).append(name)
    for c, (first, _) in spans.items():
        b = first.value.id if isinstance(first.value, ast.Name) else None
        if b in spans and b != c and spans[b][1] is first and tf.locals[b] is tf.locals[c]:
            lt.ends[id(first)].remove(b)       # one slot from b's start to c's end
            lt.starts[id(first)].remove(c)
            lt.aliases[c] = b
    for c in lt.aliases:                       # chains: d = c = b all use b's slot
        while lt.aliases[c] in lt.aliases:
            lt.aliases[c] = lt.aliases[lt.aliases[c]]
    return lt
