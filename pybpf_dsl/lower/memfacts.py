"""What code generation knows about the memory an expression's address points into.

Two facts, both from the typed IR of one function:

* the alignment guaranteed for an aggregate's address (or a pointer's
  target), so copies move 8 bytes at a time where they can: stack slots are
  8-aligned, map values are as aligned as the kernel makes them
  (:func:`.mapgen.value_align`), a field or element is as aligned as its base
  and offset allow, and anything else has its type's natural alignment, as
  C assumes;
* whether helpers may read it in place: stack memory and map values are
  what the verifier accepts for key/value/data arguments, so those need no
  stack copy (the context or packet memory do).

A pointer local's facts hold for every value assigned to it (a fixpoint
over its assignments), so ``p = m.lookup(k)`` keeps the map's alignment
unless ``p`` is also assigned something weaker.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from .. import types as T

__all__ = ["MemFacts", "SLOT_ALIGN"]

SLOT_ALIGN = 8   # every aggregate stack slot (alloca) is 8-byte aligned


def gcd_align(align: int, off: int) -> int:
    """The alignment of ``base + off`` when ``base`` is ``align``-aligned."""
    align = max(align, 1)
    return align if off % align == 0 else min(align, off & -off)


@dataclass(frozen=True)
class _PtrFact:
    align: int          # beyond the target's natural alignment
    map_value: bool     # points at a map value or ring-buffer record


_TOP = _PtrFact(SLOT_ALIGN, True)       # what a NULL pointer may be assumed to be


def _meet(a: _PtrFact, b: _PtrFact) -> _PtrFact:
    return _PtrFact(min(a.align, b.align), a.map_value and b.map_value)


def _map_pointer(e: ast.expr) -> Any:
    """The MapMethod when ``e`` is a call returning a map value pointer (lookup, reserve, ...)."""
    from .typer import MapMethod
    callee = getattr(e, "callee", None)
    if isinstance(callee, MapMethod) and callee.name in ("lookup", "lookup_or_try_init", "reserve", "lookup_in"):
        return callee
    return None


class MemFacts:
    """Alignment and helper-readability of the places and pointers of one typed function."""

    def __init__(self, tf: Any) -> None:
        self.tf = tf
        self._ptr_locals: dict[str, _PtrFact] | None = None

    @property
    def ptr_locals(self) -> dict[str, _PtrFact]:
        """Pointer local -> what holds for every value assigned to it (computed on first use)."""
        if self._ptr_locals is None:
            params = {n for n, _ in self.tf.params}
            self._ptr_locals = {n: _TOP for n, t in self.tf.locals.items()
                                if isinstance(t, T.PtrType) and n not in params}
            if self._ptr_locals:
                self._settle()
        return self._ptr_locals

    def _settle(self) -> None:
        facts = self._ptr_locals
        stores = [(n.targets[0] if isinstance(n, ast.Assign) else n.target, n.value)
                  for n in ast.walk(self.tf.node)
                  if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None]
        stores = [(t.id, v) for t, v in stores if isinstance(t, ast.Name) and t.id in facts]
        changed = True
        while changed:      # facts only weaken, so this ends
            changed = False
            for name, v in stores:
                new = _meet(facts[name], self._ptr_fact(v))
                if new != facts[name]:
                    facts[name], changed = new, True

    def _ptr_fact(self, e: ast.expr) -> _PtrFact:
        if isinstance(e.static, int):
            return _TOP                                   # NULL
        if not isinstance(e.ty, T.PtrType):
            return _PtrFact(1, False)                     # an integer turned into a pointer
        if isinstance(e, ast.Name):
            return self.ptr_locals.get(e.id, _PtrFact(1, False))
        mm = _map_pointer(e)
        if mm is not None:
            from .mapgen import value_align
            return _PtrFact(value_align(mm.map, mm.name), True)
        return _PtrFact(1, False)

    def ptr_align(self, e: ast.expr) -> int:
        """The alignment guaranteed for the address the pointer expression ``e`` holds."""
        return max(e.ty.target.align, 1, self._ptr_fact(e).align)

    def align_of(self, e: ast.expr) -> int:
        """The alignment guaranteed for the address of the aggregate ``e`` (what codegen's ``gen`` returns)."""
        natural = max(e.ty.align, 1)
        if self._temporary(e):
            return SLOT_ALIGN
        if isinstance(e, ast.IfExp):
            return min(self.align_of(e.body), self.align_of(e.orelse))
        if not isinstance(e, (ast.Attribute, ast.Subscript)) or getattr(e, "dataloc", False):
            return natural
        base = e.value
        if getattr(e, "deref", False):
            return max(natural, self.ptr_align(base))
        base_align = self.ptr_align(base) if isinstance(base.ty, T.PtrType) else self.align_of(base)
        if isinstance(e, ast.Attribute):
            off = e.field.offset
        elif isinstance(e.slice.static, int):
            off = e.slice.static * e.ty.size
        else:
            off = e.ty.size         # some multiple of the element size
        return max(natural, gcd_align(base_align, off))

    def helper_readable(self, e: ast.expr) -> bool:
        """True when the aggregate ``e`` lives on the stack or in a map value (helpers read it in place)."""
        if self._temporary(e):
            return True
        if isinstance(e, ast.IfExp):
            return self.helper_readable(e.body) and self.helper_readable(e.orelse)
        if not isinstance(e, (ast.Attribute, ast.Subscript)) or getattr(e, "dataloc", False):
            return False
        base = e.value
        if isinstance(base.ty, T.PtrType):
            return self._ptr_fact(base).map_value
        return self.helper_readable(base)

    @staticmethod
    def _temporary(e: ast.expr) -> bool:
        """``e`` is a local, or codegen evaluates it into a stack slot of its own."""
        return (isinstance(e, ast.Name) or getattr(e, "kind", None) in ("zero", "bpfcall")
                or getattr(e, "map", None) is not None
                or (isinstance(e, (ast.Attribute, ast.Subscript)) and getattr(e, "space", "direct") == "kernel"
                    and not getattr(e, "dataloc", False)))
