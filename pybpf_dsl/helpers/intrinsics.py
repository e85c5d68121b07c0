"""Helpers whose typing or code is more than one helper call.

``bpf.current_task()`` (a typed ``Ptr[task_struct]``), ``bpf.comm()`` (the
task name as a char array: ``if bpf.comm() == "bash":``),
``bpf.usdt_arg(ctx, n)``, ``bpf.trace_printk("%s: %d", ev.comm, x)``.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any

from .. import types as T
from .registry import HELPERS, Helper

__all__ = ["Intrinsic"]

_GET_CURRENT_TASK, _GET_CURRENT_TASK_BTF, _GET_CURRENT_COMM, _TRACE_PRINTK = 35, 158, 16, 6


class Intrinsic(Helper):
    """A ``bpf.<name>`` entry with its own typing and code generation."""

    def __init__(self, fn: Any, type_call: Any, gen_call: Any) -> None:
        super().__init__(0, fn)
        self._type, self._gen = type_call, gen_call
        HELPERS[self.name] = self

    def type_call(self, ty: Any, e: ast.Call) -> None:
        self._type(ty, e)

    def gen_call(self, g: Any, e: ast.Call) -> Any:
        return self._gen(g, e)


def _nargs(ty: Any, e: ast.Call, name: str, n: int) -> None:
    if len(e.args) != n:
        raise ty.err(e, f"bpf.{name}() takes {n} argument(s), {len(e.args)} given")
    for a in e.args:
        ty.expr(a)


# -- current_task ------------------------------------------------------------------

def _task_ptr(space: str) -> T.PtrType:
    from ..kernel import struct_by_name
    return T.PtrType(struct_by_name("task_struct"), space)


def current_task() -> Any:
    """The current ``task_struct`` (kernel memory: fields are probe-read, offsets from BTF)."""
    raise NotImplementedError("kernel pointers exist only inside BPF programs")


def current_task_btf() -> Any:
    """The current ``task_struct`` as a BTF pointer (direct loads; tracing programs only)."""
    raise NotImplementedError("kernel pointers exist only inside BPF programs")


def _type_task(space: str) -> Any:
    def type_call(ty: Any, e: ast.Call) -> None:
        _nargs(ty, e, "current_task", 0)
        e.ty = _task_ptr(space)
    return type_call


def _gen_task(helper_id: int) -> Any:
    def gen(g: Any, e: ast.Call) -> Any:
        from ..lower.codegen import PTR
        return g.call_helper(helper_id, PTR, [])
    return gen


Intrinsic(current_task, _type_task("kernel"), _gen_task(_GET_CURRENT_TASK))
Intrinsic(current_task_btf, _type_task("btf"), _gen_task(_GET_CURRENT_TASK_BTF))


# -- comm ----------------------------------------------------------------------------

_COMM = T.ArrayType(T.char, 16)


def comm() -> Any:
    """The current task's name as ``Array[char, 16]`` (compare it: ``bpf.comm() == "bash"``)."""
    with open("/proc/thread-self/comm", "rb") as f:
        name = f.read().strip()[:15]
    buf = _COMM.ctype()
    buf.value = name
    return buf


def _type_comm(ty: Any, e: ast.Call) -> None:
    _nargs(ty, e, "comm", 0)
    e.ty = _COMM


def _gen_comm(g: Any, e: ast.Call) -> Any:
    from ..lower.codegen import I32, I64
    buf = g.alloca(_COMM, "comm", zero=False)
    g.call_helper(_GET_CURRENT_COMM, I64, [buf, I32(16)])
    return buf


Intrinsic(comm, _type_comm, _gen_comm)


# -- usdt_arg ------------------------------------------------------------------------

def usdt_arg(ctx: Any, n: int) -> int:
    """USDT argument ``n`` (1-based) of the probe that fired, as an s64."""
    raise NotImplementedError("USDT arguments exist only inside BPF programs")


def _type_usdt(ty: Any, e: ast.Call) -> None:
    _nargs(ty, e, "usdt_arg", 2)
    n = e.args[1].static
    if not isinstance(n, int) or not 1 <= n <= 12:
        raise ty.err(e.args[1], "the USDT argument number must be a constant from 1 to 12",
                     "e.g. bpf.usdt_arg(ctx, 1)")
    if not isinstance(e.args[0].ty, T.PtrType):
        raise ty.err(e.args[0], "bpf.usdt_arg() takes the program's context first", "bpf.usdt_arg(ctx, 1)")
    e.ty = T.s64


def _gen_usdt(g: Any, e: ast.Call) -> Any:
    from ..lower.probeargs import gen_usdt_arg
    return gen_usdt_arg(g, e, e.args[1].static)


Intrinsic(usdt_arg, _type_usdt, _gen_usdt)


# -- trace_printk ----------------------------------------------------------------------

_C_CONVERSION = re.compile(r"%([-+ #0]*\d*)(?:hh|h|ll|l|z)?([diuxXcsp%])")


def trace_printk(fmt: str, *args: Any) -> int:
    """Write a line to the kernel's trace_pipe (debugging only: the pipe is shared by everyone).

    Up to 3 arguments: integers, pointers, and char arrays for ``%s`` (as in bcc).
    """
    py_fmt = _C_CONVERSION.sub(lambda m: "%" + m[1] + ("d" if m[2] in "iu" else "x" if m[2] == "p" else m[2]), fmt)
    vals = tuple(a.value.decode(errors="replace") if hasattr(a, "value") else a for a in args)
    line = py_fmt % vals if vals else py_fmt
    os.write(2, line.encode() + (b"" if line.endswith("\n") else b"\n"))
    return 0


def _is_text(t: Any) -> bool:
    return isinstance(t, T.ArrayType) and t.elem.size == 1


def _is_place(e: ast.expr) -> bool:
    return isinstance(e, (ast.Name, ast.Attribute, ast.Subscript))


def _type_printk(ty: Any, e: ast.Call) -> None:
    if not 1 <= len(e.args) <= 4:
        raise ty.err(e, "bpf.trace_printk() takes a format and up to 3 arguments")
    for a in e.args:
        ty.expr(a)
    if not isinstance(e.args[0].static, str):
        raise ty.err(e.args[0], "the format must be a string literal", 'bpf.trace_printk("pid %d", pid)')
    for a in e.args[1:]:
        ty.const_type(a, T.u64)
        if not isinstance(a.ty, (T.IntType, T.PtrType)) and not _is_text(a.ty):
            raise ty.err(a, f"trace_printk prints integers, pointers and char arrays (%s), not {a.ty}")
    e.ty = T.s64


def _gen_printk(g: Any, e: ast.Call) -> Any:
    from ..lower.codegen import I8, I32, I64
    data = e.args[0].static.encode() + b"\0"
    t = T.ArrayType(T.u8, len(data))
    buf = g.alloca(t, "fmt")
    for i, byte in enumerate(data):
        if byte:
            g.store(I8(byte), g.b.gep(buf, [I64(i)], source_etype=I8), T.u8)
    args = [buf, I32(len(data))] + [g.value(a, T.u64) if isinstance(a.ty, T.IntType)
                                      else g.addr(a) if _is_text(a.ty) and _is_place(a) else g.gen(a)
                                      for a in e.args[1:]]
    return g.call_helper(_TRACE_PRINTK, I64, args)


Intrinsic(trace_printk, _type_printk, _gen_printk)
