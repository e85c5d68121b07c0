"""Typing of map method calls: ``m.lookup(k)``, ``events.reserve()``, ``q.pop(out)``...

Each call gets ``e.margs`` (the argument nodes by parameter name, ``ctx``
included when it was passed explicitly) and its result type ``e.ty``.
"""

from __future__ import annotations

import ast
from typing import Any

from .. import types as T
from ..runtime.uapi import MapType

__all__ = ["type_map_method", "SIGNATURES"]

# method -> (parameters, defaults for trailing ones, accepts a leading ctx)
SIGNATURES: dict[str, tuple[tuple[str, ...], dict[str, int], bool]] = {
    "lookup": (("key",), {}, False),
    "update": (("key", "value", "flags"), {"flags": 0}, False),
    "insert": (("key", "value"), {}, False),
    "delete": (("key",), {}, False),
    "increment": (("key", "n"), {"n": 1}, False),
    "atomic_increment": (("key", "n"), {"n": 1}, False),     # bcc's spelling of increment
    "lookup_or_try_init": (("key", "init"), {}, False),      # bcc's insert-if-absent + lookup
    "record": (("value",), {}, False),
    "reserve": ((), {}, False),
    "submit": (("record",), {}, False),
    "discard": (("record",), {}, False),
    "output": (("value", "packet"), {"packet": 0}, True),
    "get_stackid": (("flags",), {"flags": 0}, True),
    "tail_call": (("index",), {}, True),
    "call": (("index",), {}, True),
    "redirect": (("key", "flags"), {"flags": 0}, False),
    "push": (("value", "flags"), {"flags": 0}, False),
    "pop": (("out",), {}, False),
    "peek": (("out",), {}, False),
    "contains": (("value",), {}, False),
    "lookup_in": (("outer_key", "key"), {}, False),
    "perf_read": (("cpu",), {"cpu": 0xFFFFFFFF}, False),
    **{name: (("key", "flags"), {"flags": 0}, True) for name in (
        "sock_map_update", "msg_redirect_map", "sk_redirect_map",
        "sock_hash_update", "msg_redirect_hash", "sk_redirect_hash")},
}


def _bind(ty: Any, e: ast.Call, name: str) -> dict[str, ast.expr]:
    params, defaults, takes_ctx = SIGNATURES[name]
    args = list(e.args)
    bound: dict[str, ast.expr] = {}
    if takes_ctx and args:
        ty.expr(args[0])
        if isinstance(args[0].ty, T.PtrType):   # an explicit context: m.output(ctx, v)
            bound["ctx"] = args.pop(0)
    if len(args) > len(params):
        raise ty.err(e, f"{name}() takes at most {len(params)} argument(s), {len(args)} given",
                     f"call it as {name}({', '.join(params)})")
    for p, a in zip(params, args):
        bound[p] = a
    for kw in e.keywords:
        if kw.arg not in params or kw.arg in bound:
            raise ty.err(kw.value, f"{name}() got an unexpected keyword {kw.arg!r}",
                         f"its parameters are: {', '.join(params) or 'none'}")
        bound[kw.arg] = kw.value
    for p in params:
        if p not in bound:
            if p not in defaults:
                raise ty.err(e, f"{name}() is missing its {p!r} argument",
                             f"call it as {name}({', '.join(params)})")
            bound[p] = ast.copy_location(ast.Constant(defaults[p]), e)
    return bound


def _value_arg(ty: Any, a: ast.expr, vt: T.Type, m: Any, what: str) -> None:
    """``a`` must be a value of ``vt`` (an aggregate place, a pointer to one, or an integer)."""
    ty.expr(a)
    if isinstance(vt, (T.StructType, T.ArrayType)):
        at = a.ty.target if isinstance(a.ty, T.PtrType) and a.ty.space == "direct" else a.ty
        if at is not vt:
            raise ty.err(a, f"{m.name}.{what} needs a {vt.name}, got {a.ty}",
                         f"build one with `v = {vt.name}()` and set its fields")
        return
    ty.check_assignable(a, vt)


def type_map_method(ty: Any, e: ast.Call, m: Any, name: str) -> None:
    """Annotate ``m.<name>(...)``: bind the arguments, check them and set the result type."""
    margs = _bind(ty, e, name)
    e.margs = margs
    for p in ("flags", "n", "index", "cpu", "packet"):
        if p in margs:
            ty.expr(margs[p])
            ty.check_assignable(margs[p], T.u64 if p in ("flags", "cpu") else (m.value_type if p == "n" else T.u32))
    if name == "output" and m.map_type != MapType.PERF_EVENT_ARRAY and margs["packet"].static != 0:
        raise ty.err(margs["packet"], f"{m.name} is not a PerfBuf: only perf outputs append packet bytes",
                     "declare it as PerfBuf[T] (bcc's perf_submit_skb)")
    if "key" in margs:
        kt = m.inner.key_type if name == "lookup_in" else m.key_type
        _value_arg(ty, margs["key"], kt, m, name + "() key")
    if "outer_key" in margs:
        _value_arg(ty, margs["outer_key"], m.key_type, m, name + "() outer key")
    for p in ("value", "init"):
        if p in margs:
            _value_arg(ty, margs[p], m.value_type, m, f"{name}() {p}")
    if "out" in margs:
        ty.place(margs["out"]) if not isinstance(margs["out"], ast.Name) else ty.expr(margs["out"])
        if margs["out"].ty is not m.value_type:
            raise ty.err(margs["out"], f"{name}() writes a {m.value_type} into its argument, "
                         f"not into a {margs['out'].ty}", f"declare it: `out: {m.value_type} = 0`")
    if "record" in margs:
        ty.expr(margs["record"])
        rt = margs["record"].ty
        if not (isinstance(rt, T.PtrType) and rt.target is m.value_type):
            raise ty.err(margs["record"], f"{name}() takes the pointer reserve() returned, not a {rt}")
    if name in ("increment", "atomic_increment") and not isinstance(m.value_type, T.IntType):
        raise ty.err(e, f"{m.name} values are {m.value_type}, not integers", "use lookup() and update the fields")
    e.ty = _result(m, name)


def _result(m: Any, name: str) -> T.Type | None:
    if name == "lookup" and m.value_type is None:   # values are kernel objects: only test for one
        return T.bool
    if name in ("lookup", "lookup_or_try_init", "reserve"):
        return T.PtrType(m.value_type, "direct", True)
    if name == "lookup_in":
        return T.PtrType(m.inner.value_type, "direct", True)
    if name in ("increment", "atomic_increment", "record", "submit", "discard"):
        return None
    if name == "contains":
        return T.bool
    if name == "perf_read":
        return T.u64
    return T.s64
