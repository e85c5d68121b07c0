"""The reference interpreter: runs the typed IR in CPython with the kernel's semantics.

Calling a decorated function in plain Python lands here, so ``f(x)`` in a
test and ``f`` run by BPF_PROG_TEST_RUN mean the same thing.  Integers are
Python ints kept in their type's range; structs and arrays are ctypes
objects with the kernel's layout; an out-of-range index reads as zero and a
write to it is dropped, exactly like the compiled code.
"""

from __future__ import annotations

import ast
import ctypes
from typing import Any

from .. import types as T
from .semantics import binop, compare

__all__ = ["run"]


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _zero(t: T.Type) -> Any:
    if isinstance(t, (T.StructType, T.ArrayType)):
        return t.ctype()
    return 0


def _aggregate(t: Any) -> bool:
    return isinstance(t, (T.StructType, T.ArrayType))


def convert(v: Any, frm: T.Type | None, to: T.Type) -> Any:
    """C conversion of an interpreter value from ``frm`` to ``to``."""
    if isinstance(to, T.IntType):
        if isinstance(v, ctypes.Structure | ctypes.Array):
            return ctypes.addressof(v) & to.mask
        return to.wrap(int(v))
    return v


def run(bfn: Any, args: tuple[Any, ...]) -> Any:
    """Call the BPF function ``bfn`` on ``args`` under the DSL's semantics."""
    tf = bfn.typed()
    if len(args) != len(tf.params):
        raise TypeError(f"{bfn.name}() takes {len(tf.params)} argument(s), {len(args)} given")
    frame = Frame(tf)
    for (name, t), a in zip(tf.params, args):
        if _aggregate(t):       # by value, like C: the callee gets its own copy
            a = type(a).from_buffer_copy(a)
        frame.vars[name] = a if not isinstance(t, T.IntType) else convert(a, T.s64, t)
    try:
        frame.block(tf.node.body)
    except _Return as r:
        return r.value
    return None if tf.ret is None else _zero(tf.ret)


class Frame:
    """One activation of a function."""

    def __init__(self, tf: Any) -> None:
        self.tf = tf
        self.vars: dict[str, Any] = {n: _zero(t) for n, t in tf.locals.items()}

    # -- statements --------------------------------------------------------------
    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            getattr(self, "s_" + type(s).__name__)(s)

    def s_Pass(self, s: ast.Pass) -> None:
        pass

    def s_Expr(self, s: ast.Expr) -> None:
        if not getattr(s, "docstring", False):
            self.eval(s.value)

    def s_Return(self, s: ast.Return) -> None:
        if s.value is not None and _aggregate(self.tf.ret):   # by value: the caller gets a copy
            v = self.eval(s.value)
            raise _Return(type(v).from_buffer_copy(v))
        raise _Return(None if s.value is None else self.value(s.value, self.tf.ret))

    def s_Assign(self, s: ast.Assign) -> None:
        self.assign(s.targets[0], s.value)

    def s_AnnAssign(self, s: ast.AnnAssign) -> None:
        if s.value is not None:
            self.assign(s.target, s.value)

    def assign(self, target: ast.expr, value: ast.expr) -> None:
        m = getattr(target, "map", None)
        if m is not None:
            m.interp_store(self.value(target.slice, m.key_type), self.value(value, m.value_type))
            return
        tt = target.ty
        if _aggregate(tt):
            src = self.eval(value)
            dst = self.place_get(target)
            ctypes.memmove(ctypes.addressof(dst), ctypes.addressof(src), tt.size)
            return
        self.place_set(target, self.value(value, tt))

    def s_AugAssign(self, s: ast.AugAssign) -> None:
        if s.kind == "map":
            m = s.target.value.static
            key = self.value(s.target.slice, m.key_type)
            delta = self.value(s.value, m.value_type)
            m.interp_add(key, -delta if isinstance(s.op, ast.Sub) else delta)
            return
        tt = s.target.ty
        cur = convert(self.place_get(s.target), tt, s.opty)
        res = binop(s.op, s.opty, cur, self.value(s.value, s.opty))
        self.place_set(s.target, convert(res, s.opty, tt))

    def s_If(self, s: ast.If) -> None:
        self.block(s.body if self.truth(s.test) else s.orelse)

    def s_While(self, s: ast.While) -> None:
        while self.truth(s.test):
            try:
                self.block(s.body)
            except _Break:
                break
            except _Continue:
                continue

    def s_For(self, s: ast.For) -> None:
        cty = s.cty
        i = self.value(s.start, cty) if s.start is not None else 0
        stop = self.value(s.stop, cty)
        while (i < stop) if s.step > 0 else (i > stop):
            self.vars[s.target.id] = convert(i, cty, s.target.ty)
            try:
                self.block(s.body)
            except _Break:
                break
            except _Continue:
                pass
            i = cty.wrap(i + s.step)

    def s_Break(self, s: ast.Break) -> None:
        raise _Break()

    def s_Continue(self, s: ast.Continue) -> None:
        raise _Continue()

    def s_Delete(self, s: ast.Delete) -> None:
        for t in s.targets:
            m = t.value.static
            m.interp_delete(self.value(t.slice, m.key_type))

    # -- places ------------------------------------------------------------------
    def _container(self, e: ast.expr) -> tuple[Any, Any]:
        """(object, key) for a field or element; key None means out of range."""
        base = self.eval(e.value)
        if isinstance(e, ast.Attribute):
            return base, e.field.name
        if getattr(e, "deref", False):
            return base, "value" if isinstance(base, ctypes._SimpleCData) else ""
        at = e.value.ty.target if isinstance(e.value.ty, T.PtrType) else e.value.ty
        idx = self.value(e.slice, T.u64) if not isinstance(e.slice.static, int) else e.slice.static
        return base, (idx if idx < at.n else None)

    def place_get(self, e: ast.expr) -> Any:
        if isinstance(e, ast.Name):
            return self.vars[e.id]
        obj, key = self._container(e)
        if key is None:
            return _zero(e.ty)
        if key == "":
            return obj
        if _aggregate(e.ty) and isinstance(key, str):   # a view, not ctypes' bytes conversion
            return e.ty.ctype.from_buffer(obj, e.field.offset)
        v = getattr(obj, key) if isinstance(key, str) else obj[key]
        if isinstance(v, bytes):   # an element of a char array
            return v[0] if v else 0
        return int(v) if isinstance(v, (bool, int)) else v

    def place_set(self, e: ast.expr, v: Any) -> None:
        if isinstance(e, ast.Name):
            self.vars[e.id] = v
            return
        obj, key = self._container(e)
        if key is None:
            return
        if key == "":
            ctypes.memmove(ctypes.addressof(obj), ctypes.addressof(v), e.ty.size)
        elif isinstance(key, str):
            setattr(obj, key, v)
        elif isinstance(obj, ctypes.Array) and obj._type_ is ctypes.c_char:
            obj[key] = bytes([v])
        else:
            obj[key] = v

    # -- expressions -------------------------------------------------------------
    def value(self, e: ast.expr, want: T.Type) -> Any:
        if isinstance(e.static, int):
            return convert(e.static, None, want)
        return convert(self.eval(e), e.ty, want)

    def truth(self, e: ast.expr) -> bool:
        if isinstance(e.static, int):
            return bool(e.static)
        v = self.eval(e)
        return v is not None and v != 0 if not isinstance(v, (ctypes.Structure, ctypes.Array)) else True

    def eval(self, e: ast.expr) -> Any:
        if isinstance(e.static, int):
            return convert(e.static, None, e.ty or T.s64)
        return getattr(self, "e_" + type(e).__name__)(e)

    def e_Name(self, e: ast.Name) -> Any:
        return self.vars[e.id]

    def e_Attribute(self, e: ast.Attribute) -> Any:
        return self.place_get(e)

    def e_Subscript(self, e: ast.Subscript) -> Any:
        m = getattr(e, "map", None)
        if m is not None:
            return m.interp_load(self.value(e.slice, m.key_type))
        return self.place_get(e)

    def e_BinOp(self, e: ast.BinOp) -> Any:
        return binop(e.op, e.opty, self.value(e.left, e.opty), self.value(e.right, e.opty))

    def e_UnaryOp(self, e: ast.UnaryOp) -> Any:
        if isinstance(e.op, ast.Not):
            return 0 if self.truth(e.operand) else 1
        v = self.value(e.operand, e.ty)
        if isinstance(e.op, ast.USub):
            return e.ty.wrap(-v)
        if isinstance(e.op, ast.Invert):
            return e.ty.wrap(~v)
        return v

    def e_BoolOp(self, e: ast.BoolOp) -> Any:
        is_and = isinstance(e.op, ast.And)
        v = 0
        for sub in e.values:
            v = int(self.truth(sub)) if e.ty is T.bool else self.value(sub, e.ty)
            if bool(v) != is_and:
                return v
        return v

    def e_IfExp(self, e: ast.IfExp) -> Any:
        sub = e.body if self.truth(e.test) else e.orelse
        return self.eval(sub) if _aggregate(e.ty) else self.value(sub, e.ty)

    def e_Compare(self, e: ast.Compare) -> Any:
        if isinstance(e.ops[0], (ast.In, ast.NotIn)):
            return int(self.membership(e) != isinstance(e.ops[0], ast.NotIn))
        cache: dict[int, Any] = {}

        def operand(x: ast.expr, oty: T.Type) -> Any:
            if isinstance(x.static, int):
                return convert(x.static, None, oty)
            if id(x) not in cache:
                cache[id(x)] = self.eval(x)
            return convert(cache[id(x)], x.ty, oty)

        left = e.left
        for op, right, oty in zip(e.ops, e.comparators, e.optys):
            if oty == "str":
                arr, s = (left, right) if isinstance(right.static, str) else (right, left)
                data = bytes(self.eval(arr))
                want = s.static.encode()
                if len(want) < len(data):
                    want += b"\0"
                ok = data[: len(want)] == want
                ok = ok if isinstance(op, ast.Eq) else not ok
            elif oty == "none":
                v = self.eval(left)
                ok = (v is None or v == 0) == isinstance(op, ast.Is)
            else:
                ok = compare(op, operand(left, oty), operand(right, oty))
            if not ok:
                return 0
            left = right
        return 1

    def membership(self, e: ast.Compare) -> bool:
        m = getattr(e, "in_map", None)
        if m is not None:
            return m.interp_contains(self.value(e.left, m.key_type))
        left = self.eval(e.left)
        values = [(oty, self.value(elt, oty)) for elt, oty in zip(e.comparators[0].elts, e.optys)]
        return any(convert(left, e.left.ty, oty) == v for oty, v in values)

    def e_Call(self, e: ast.Call) -> Any:
        from ..helpers.registry import Helper, Buf
        from .typer import MapMethod
        fn = e.callee
        kind = getattr(e, "kind", None)
        if isinstance(fn, Helper):
            args = [self.eval(a) if k is Buf else self.value(a, k) if isinstance(k, T.IntType)
                    else self.eval(a) for a, k in zip(e.args, fn.params)]
            r = fn.model(*args)
            return convert(r, T.u64, fn.ret) if isinstance(fn.ret, T.IntType) else r
        if isinstance(fn, MapMethod):
            return fn.map.interp_method(self, e, fn.name)
        if kind == "cast":
            return convert(self.eval(e.args[0]), e.args[0].ty, e.ty)
        if kind == "zero":
            return _zero(e.ty)
        if kind == "print":
            from .printgen import interp_print
            return interp_print(self, e)
        if kind == "bpfcall":
            params, _ = fn.signature()
            return run(fn, tuple(self.eval(a) if getattr(a, "byref", False) else self.value(a, pt)
                                 for a, (_, pt) in zip(e.args, params)))
        if kind in ("min", "max", "abs"):
            vals = [self.value(a, e.ty) for a in e.args]
            return e.ty.wrap({"min": min, "max": max, "abs": lambda x: abs(x)}[kind](*vals))
        raise AssertionError(kind)
