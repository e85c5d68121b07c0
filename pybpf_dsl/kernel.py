"""Kernel types by name, read from the running kernel's BTF.

::

    from pybpf_dsl.kernel import task_struct, sock

    @tracepoint("sched:sched_process_exec")
    def on_exec(args) -> int:
        task = bpf.current_task()             # Ptr[task_struct], kernel memory
        ppid = task.real_parent.tgid          # offsets from /sys/kernel/btf/vmlinux
        ...

A kernel struct is a :class:`KernelStructType`: its members are decoded
from BTF the first time they are looked at (``task_struct`` has hundreds),
members of anonymous structs and unions are reachable directly, as in C,
and pointers are kernel pointers: reading through one is a
``bpf_probe_read_kernel`` in ordinary programs and a direct load in
BTF-typed ones (tp_btf, fentry, iter).  Bitfield members read like
integers (the containing unit is loaded, shifted and masked, sign-extended
when signed); flexible array members (``struct cgroup *ancestors[]``) index
without bounds in kernel memory, where every read is a checked probe read.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from . import types as T
from .runtime.btf import BTF, Kind, kernel_btf

__all__ = ["KernelStructType", "kernel_type", "dsl_type", "struct_by_name"]

_MODIFIERS = (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG)
_INTS = {1: 8, 2: 16, 4: 32, 8: 64}


class KernelStructType(T.StructType):
    """A kernel struct or union from BTF, decoded lazily."""

    kernel = True   # Ptr[this] is a kernel pointer

    def __init__(self, btf: BTF, type_id: int) -> None:
        t = btf[type_id]
        self.btf, self.type_id = btf, type_id
        self.name = t.name or f"anon_{type_id}"
        self.size = t.size
        self.align = next(a for a in (8, 4, 2, 1) if t.size % a == 0) if t.size else 1
        self.pycls = None
        self.is_union = t.kind == Kind.UNION

    def __reduce__(self):
        return (_kernel_struct, (self.type_id,))

    @cached_property
    def fields(self) -> list[T.Field]:  # type: ignore[override]
        out: list[T.Field] = []
        self._collect(self.btf[self.type_id], 0, out)
        return out

    def _collect(self, t: Any, base: int, out: list[T.Field]) -> None:
        for m in t.members:
            if m.bitfield_size:
                ft = dsl_type(self.btf, m.type_id)
                if m.name and isinstance(ft, T.IntType):
                    out.append(_bitfield(m.name, ft, 8 * base + m.bit_offset, m.bitfield_size))
                continue
            off = base + m.bit_offset // 8
            if not m.name:
                inner = self.btf.resolve(m.type_id)
                if inner.kind in (Kind.STRUCT, Kind.UNION):
                    self._collect(inner, off, out)
                continue
            ft = dsl_type(self.btf, m.type_id)
            if ft is not None:
                out.append(T.Field(m.name, ft, off))

    @cached_property
    def by_name(self) -> dict[str, T.Field]:  # type: ignore[override]
        return {f.name: f for f in self.fields}

    @cached_property
    def ctype(self) -> Any:
        from .ctypes_bridge import ctype_for
        return ctype_for(self.btf, self.type_id)


def _bitfield(name: str, t: T.IntType, bitpos: int, bits: int) -> T.BitField:
    """The member ``bits`` wide at absolute bit ``bitpos``, read from the smallest aligned unit holding it."""
    for size in (1, 2, 4, 8):
        start = bitpos // 8 & ~(size - 1)
        if bitpos + bits <= 8 * (start + size):
            return T.BitField(name, t, start, bitpos - 8 * start, bits, size)
    start = bitpos // 8           # straddles an 8-byte unit (packed structs): an unaligned window
    return T.BitField(name, t, start, bitpos - 8 * start, bits, 8)


_structs: dict[tuple[int, int], KernelStructType] = {}


def _struct(btf: BTF, type_id: int) -> KernelStructType:
    key = (id(btf), type_id)
    st = _structs.get(key)
    if st is None:
        st = _structs[key] = KernelStructType(btf, type_id)
    return st


def _kernel_struct(type_id: int) -> KernelStructType:
    return _struct(kernel_btf(), type_id)


def dsl_type(btf: BTF, type_id: int, space: str = "kernel") -> T.Type | None:
    """The DSL type of BTF type ``type_id`` (None: no value layout the DSL can use).

    Pointers point into ``space`` ("kernel": probe-read; "btf": loaded directly).
    """
    t = btf.resolve(type_id)
    k = t.kind
    if k == Kind.INT:
        if t.int_bool and t.size == 1:
            return T.bool
        if t.size == 1 and (t.int_char or t.name == "char"):
            return T.char
        bits = _INTS.get(t.size)
        return T.IntType(bits, t.int_signed) if bits else T.ArrayType(T.u8, t.size)
    if k in (Kind.ENUM, Kind.ENUM64):
        return T.IntType(_INTS.get(t.size, 32), t.signed)
    if k == Kind.PTR:
        target = btf.resolve(t.type_id)
        if target.kind in (Kind.STRUCT, Kind.UNION):
            inner: T.Type = _struct(btf, target.id)
        else:
            inner = dsl_type(btf, target.id, space) if target.kind in (Kind.INT, Kind.ENUM, Kind.PTR) else None
            inner = inner or T.u8
        return T.PtrType(inner, space)
    if k == Kind.ARRAY:
        elem, _, n = t.array
        et = dsl_type(btf, elem, space)
        if et is None or et.size == 0:
            return None
        return T.ArrayType(et, n) if n > 0 else T.FlexArrayType(et)
    if k in (Kind.STRUCT, Kind.UNION):
        return _struct(btf, t.id)
    if k == Kind.FLOAT:
        return T.ArrayType(T.u8, t.size)
    return None


def struct_by_name(name: str, btf: BTF | None = None) -> KernelStructType:
    """The kernel struct (or union) called ``name``; AttributeError naming it otherwise."""
    btf = btf or kernel_btf()
    for kind in (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF):
        found = btf.find_all(name, kind)
        for t in found:
            r = btf.resolve(t.id)
            if r.kind in (Kind.STRUCT, Kind.UNION):
                return _struct(btf, r.id)
    raise AttributeError(f"the running kernel's BTF has no struct or union named {name!r}")


def kernel_type(name: str) -> KernelStructType:
    """``kernel_type("task_struct")``: same as ``from pybpf_dsl.kernel import task_struct``."""
    return struct_by_name(name)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return struct_by_name(name)
