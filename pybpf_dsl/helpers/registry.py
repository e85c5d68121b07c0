"""The helper registry: one decorator declares a kernel helper, its id, signature and CPython model.

::

    @helper(14)
    def get_current_pid_tgid() -> u64:
        "tgid << 32 | pid of the current task."
        return os.getpid() << 32 | threading.get_native_id()

Parameter annotations say how each argument is passed:

* an integer type: a value converted to that type;
* ``Buf``: a struct or array place, passed as (address, size);
* ``Mem``: a pointer or address-sized integer (source of a probe read);
* ``MapArg``: a map declaration.

The decorated body is the CPython model the reference interpreter runs.
"""

from __future__ import annotations

import ast
import inspect
from functools import cached_property
from typing import Any, Callable

from .. import types as T

__all__ = ["Helper", "helper", "helper_by_name", "Buf", "Mem", "MapArg", "HELPERS"]


class _Kind:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


Buf, Mem, MapArg = _Kind("Buf"), _Kind("Mem"), _Kind("MapArg")

HELPERS: dict[str, "Helper"] = {}


class Helper:
    """A kernel helper callable from BPF code as ``bpf.<name>(...)``."""

    def __init__(self, helper_id: int, fn: Callable[..., Any], ret: Any = None) -> None:
        self.id = helper_id
        self.name = fn.__name__
        self.model = fn
        self.__doc__ = fn.__doc__

    @cached_property
    def _signature(self) -> tuple[list[Any], Any]:
        """(parameter kinds, return type), read from the model's annotations on first use."""
        sig = inspect.signature(self.model, eval_str=True)
        r = sig.return_annotation
        return [p.annotation for p in sig.parameters.values()], None if r in (None, inspect.Signature.empty) else r

    @property
    def params(self) -> list[Any]:
        """How each argument is passed: an integer type, Buf, Mem or MapArg."""
        return self._signature[0]

    @property
    def ret(self) -> Any:
        """The result type (None: no value)."""
        return self._signature[1]

    def __repr__(self) -> str:
        return f"<helper {self.name} #{self.id}>"

    def __call__(self, *args: Any) -> Any:
        return self.model(*args)

    # -- typing --------------------------------------------------------------------
    def type_call(self, ty: Any, e: ast.Call) -> None:
        if len(e.args) != len(self.params):
            raise ty.err(e, f"bpf.{self.name}() takes {len(self.params)} argument(s), {len(e.args)} given")
        for a, kind in zip(e.args, self.params):
            ty.expr(a)
            if kind is Buf:
                t = a.ty.target if isinstance(a.ty, T.PtrType) else a.ty
                if not isinstance(t, (T.ArrayType, T.StructType)):
                    raise ty.err(a, f"bpf.{self.name}() writes into a struct or array, not a {a.ty}",
                                 "pass a char array field such as `ev.comm`")
            elif kind is Mem:
                if a.ty is None:
                    ty.const_type(a, T.u64)
                if not isinstance(a.ty, (T.PtrType, T.IntType)):
                    raise ty.err(a, f"bpf.{self.name}() needs a pointer or address, not a {a.ty}")
            elif kind is MapArg:
                from ..maps import MapDecl
                if not isinstance(a.static, MapDecl):
                    raise ty.err(a, f"bpf.{self.name}() needs a map")
            else:
                ty.check_assignable(a, kind)
        e.ty = self.ret

    # -- code generation -----------------------------------------------------------
    def gen_call(self, g: Any, e: ast.Call) -> Any:
        from ..lower.codegen import I32, I64, PTR
        args = []
        for a, kind in zip(e.args, self.params):
            if kind is Buf:
                t = a.ty.target if isinstance(a.ty, T.PtrType) else a.ty
                args += [g.gen(a) if isinstance(a.ty, T.PtrType) else g.addr(a), I32(t.size)]
            elif kind is Mem:
                v = g.gen(a)
                args.append(v if isinstance(a.ty, T.PtrType) else g.b.inttoptr(g.convert(v, a.ty, T.u64), PTR))
            elif kind is MapArg:
                args.append(g.mg.map_global(a.static))
            else:
                args.append(g.convert(g.value(a, kind), kind, T.u64) if kind.bits < 64 else g.value(a, kind))
        ret = I64 if self.ret is None or isinstance(self.ret, T.IntType) else PTR
        v = g.call_helper(self.id, ret, args)
        if isinstance(self.ret, T.IntType) and self.ret.bits < 64:
            return g.convert(v, T.u64, self.ret)
        if isinstance(self.ret, T.PtrType):
            return v
        return v if self.ret is not None else None


def helper(helper_id: int) -> Callable[[Callable[..., Any]], Helper]:
    """Declare a kernel helper with number ``helper_id`` (see include/uapi/linux/bpf.h)."""
    def wrap(fn: Callable[..., Any]) -> Helper:
        h = Helper(helper_id, fn)
        HELPERS[h.name] = h
        return h
    return wrap


def helper_by_name(name: str) -> Helper:
    """The registered helper called ``name``."""
    from . import core  # noqa: F401 - registers the helpers
    return HELPERS[name]
