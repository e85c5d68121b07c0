"""Typing of calls: casts, constructors, BPF functions, helpers, map methods and builtins."""

from __future__ import annotations

import ast
import builtins
from typing import Any

from .. import types as T
from .typer import NOSTATIC, MapMethod

__all__ = ["type_call"]


def type_call(ty: Any, e: ast.Call) -> None:
    """Annotate the call ``e`` (``ty`` is the running Typer)."""
    from ..decorators import BPFFunction
    from ..helpers.registry import Helper
    ty.expr(e.func)
    if e.func.static is builtins.print:
        from .printgen import type_print
        e.callee = builtins.print
        type_print(ty, e)
        return
    if e.keywords and not isinstance(e.func.static, MapMethod):
        raise ty.err(e, "keyword arguments are not supported here", "pass arguments by position")
    fn = e.func.static
    if fn is NOSTATIC:
        raise ty.err(e, f"{ast.unparse(e.func)} is not callable in BPF code")
    e.callee = fn
    t = T.type_of(fn) if not isinstance(fn, (BPFFunction, Helper, MapMethod)) else None
    if t is not None:
        _type_ctor(ty, e, t)
    elif isinstance(fn, BPFFunction):
        _type_bpf_call(ty, e, fn)
    elif isinstance(fn, Helper):
        fn.type_call(ty, e)
    elif isinstance(fn, MapMethod):
        fn.map.type_method(ty, e, fn.name)
    elif fn is builtins.len:
        _type_len(ty, e)
    elif fn in (builtins.min, builtins.max, builtins.abs):
        _type_minmax(ty, e, fn)
    elif callable(fn) and hasattr(fn, "__code__"):
        raise ty.err(e, f"{ast.unparse(e.func)}() is a plain Python function: BPF code cannot call it",
                     "mark it @bpf_function (with typed parameters) to compile it too")
    else:
        raise ty.err(e, f"{ast.unparse(e.func)} cannot be called from BPF code",
                     "call helpers through `bpf.`, functions marked @bpf_function, or map methods")


def _type_ctor(ty: Any, e: ast.Call, t: T.Type) -> None:
    if isinstance(t, T.IntType):
        if len(e.args) != 1:
            raise ty.err(e, f"{t}(...) takes exactly one value")
        a = e.args[0]
        ty.expr(a)
        if a.ty is None and isinstance(a.static, int):
            e.static, e.ty = t.wrap(a.static), t
            return
        if not (isinstance(a.ty, T.IntType) or isinstance(a.ty, T.PtrType)):
            raise ty.err(a, f"cannot convert a {a.ty} to {t}")
        e.ty, e.kind = t, "cast"
        return
    if isinstance(t, T.PtrType):      # a cast, like C's (struct task_struct *)ctx->args[0]
        if len(e.args) != 1:
            raise ty.err(e, f"{t}(...) takes exactly one value")
        a = e.args[0]
        ty.expr(a)
        ty.const_type(a, T.u64)
        from_int = isinstance(a.ty, T.IntType)
        if not (from_int or isinstance(a.ty, T.PtrType)):
            raise ty.err(a, f"cannot convert a {a.ty} to {t}")
        if t.space == "direct" and (from_int or a.ty.space != "direct"):
            raise ty.err(e, f"a {t} must come from the context, a map lookup or a reservation, not from "
                         f"{'an integer' if from_int else 'a ' + a.ty.space + ' pointer'}",
                         f"read kernel memory through Ptr[{t.target.name}, 'kernel'](x) instead")
        e.ty, e.kind = t, "cast"
        return
    if isinstance(t, (T.StructType, T.ArrayType)):
        if e.args:
            raise ty.err(e, f"{t.name}() takes no arguments: it makes a zeroed value",
                         "assign fields afterwards: `v = T()` then `v.x = 1`")
        e.ty, e.kind = t, "zero"
        return
    raise ty.err(e, f"cannot construct a {t} in BPF code")


def _type_bpf_call(ty: Any, e: ast.Call, fn: Any) -> None:
    from .typer import TYPING
    if fn in TYPING:
        cycle = " -> ".join(f.name for f in TYPING[TYPING.index(fn):]) + f" -> {fn.name}"
        raise ty.err(e, f"recursive call ({cycle}): BPF programs cannot recurse",
                     "rewrite it as a bounded loop (`for i in range(N):`)")
    params, ret = fn.signature()
    hidden = 1 if isinstance(ret, (T.StructType, T.ArrayType)) else 0   # the result's out-pointer
    if not fn.inline and len(params) + hidden > 5:
        what = f"{len(params)} parameters" + (" and returns a struct (one more register)" if hidden else "")
        raise ty.err(e, f"{fn.name}() has {what}; a BPF-to-BPF call passes at most 5",
                     "pass a pointer to a Struct, or mark it @bpf_function (inlined)")
    if len(e.args) != len(params):
        names = ", ".join(f"{n}: {t}" for n, t in params)
        raise ty.err(e, f"{fn.name}() takes {len(params)} argument(s), {len(e.args)} given",
                     f"call it as {fn.name}({names})")
    for a, (_, pt) in zip(e.args, params):
        ty.expr(a)
        if isinstance(pt, T.PtrType) and pt.space == "direct" and a.ty is pt.target \
                and isinstance(a.ty, (T.StructType, T.ArrayType)):
            _check_reference(ty, a, fn)
            a.byref = True
        else:
            ty.check_assignable(a, pt)
    fn.typed()
    e.ty, e.kind = ret, "bpfcall"


def _check_reference(ty: Any, a: ast.expr, fn: Any) -> None:
    """``a`` (a struct or array) passed to a ``Ptr[T]`` parameter: it must be writable memory."""
    base = a
    while isinstance(base, (ast.Attribute, ast.Subscript)) and getattr(base, "map", None) is None:
        if getattr(base, "space", "direct") != "direct":
            break
        base = base.value
    ok = isinstance(base, ast.Name) and base.id in ty.locals or isinstance(getattr(base, "ty", None), T.PtrType)
    if not ok or getattr(a, "space", "direct") != "direct":
        raise ty.err(a, f"{fn.name}() takes a pointer: pass a local variable, or a field of one or of a map value",
                     f"copy {ast.unparse(a)} into a local first: `v = {ast.unparse(a)}`")


def _type_len(ty: Any, e: ast.Call) -> None:
    if len(e.args) != 1:
        raise ty.err(e, "len() takes one argument")
    a = e.args[0]
    ty.expr(a)
    at = a.ty.target if isinstance(a.ty, T.PtrType) else a.ty
    if not isinstance(at, T.ArrayType):
        raise ty.err(a, f"len() needs an array, got {a.ty}")
    e.static = at.n


def _type_minmax(ty: Any, e: ast.Call, fn: Any) -> None:
    want = 1 if fn is builtins.abs else 2
    if len(e.args) != want:
        raise ty.err(e, f"{fn.__name__}() takes {want} argument(s) in BPF code")
    for a in e.args:
        ty.expr(a)
    if all(ty.is_const(a) for a in e.args):
        e.static = fn(*(a.static for a in e.args))
        return
    ct: T.IntType | None = None
    for a in e.args:
        if a.ty is not None:
            if not isinstance(a.ty, T.IntType):
                raise ty.err(a, f"{fn.__name__}() needs integers, got {a.ty}")
            ct = T.promote(a.ty) if ct is None else T.common_type(ct, a.ty)
    for a in e.args:
        ty.const_type(a, ct)
    e.ty, e.kind = ct, fn.__name__
