"""The DSL's types: fixed-width integers, bool, char, arrays, structs and pointers.

::

    from pybpf_dsl.types import u8, u32, s64, char, Array, Struct, Ptr

    class Event(Struct):
        pid: u32
        comm: Array[char, 16]

Every type is an interned, hashable object with a C layout (``size``,
``align``) and a ctypes twin (``.ctype``) that user space uses to decode the
same bytes.  Integer types are also callable: ``u8(300) == 44`` wraps the
way the kernel does, so the same expression means the same thing in CPython
and in BPF.

Integer semantics (C's, with ``int`` = s32 and ``long`` = s64):

* integer promotion: bool, char, u8, s8, u16 and s16 operands become s32
  before arithmetic, comparisons and shifts;
* usual arithmetic conversions: if both are signed or both unsigned, the
  wider wins; otherwise an unsigned type at least as wide wins, else the
  signed type (s64 with u32 gives s64; s32 with u32 gives u32);
* a Python int literal adapts to the other operand: it takes that
  operand's promoted type when it fits, else the narrowest of s64/u64 that
  holds it; a literal on its own is s64 (u64 above 2**63 - 1);
* results wrap around; ``//`` and ``%`` truncate toward zero like C and the
  BPF instructions (so ``-7 // 2 == -3`` and ``-7 % 2 == -1``); dividing by
  zero gives 0 and ``x % 0 == x`` (the BPF instruction set's definition);
  the shift count is taken modulo the width of the promoted left operand;
  ``>>`` on a signed type is arithmetic;
* assigning to a typed place converts like C (truncate or extend);
* ``char`` is unsigned (the kernel is built with -funsigned-char).
"""

from __future__ import annotations

import builtins
import ctypes
import sys
from functools import cached_property
from typing import Any

__all__ = [
    "Type", "IntType", "BoolType", "ArrayType", "FlexArrayType", "StructType", "PtrType", "Field", "BitField",
    "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "char", "bool",
    "Array", "Struct", "Ptr", "type_of", "promote", "common_type", "literal_type",
]


class Type:
    """Base of every DSL type.  ``size`` and ``align`` follow the BPF C ABI."""

    size: int
    align: int
    name: str

    def __repr__(self) -> str:
        return self.name

    @property
    def ctype(self) -> Any:
        """The ctypes type with the same layout."""
        raise NotImplementedError


class IntType(Type):
    """A fixed-width integer type; calling it wraps a Python int into range."""

    _cache: dict[tuple[int, bool, str], "IntType"] = {}

    def __new__(cls, bits: int, signed: builtins.bool, name: str = "") -> "IntType":
        key = (bits, signed, name or cls.__name__)
        self = cls._cache.get(key)
        if self is None:
            self = super().__new__(cls)
            self.bits = bits
            self.signed = signed
            self.name = name or f"{'s' if signed else 'u'}{bits}"
            self.size = self.align = bits // 8
            self.mask = (1 << bits) - 1
            self.min = -(1 << (bits - 1)) if signed else 0
            self.max = (1 << (bits - 1)) - 1 if signed else self.mask
            cls._cache[key] = self
        return self

    def __call__(self, value: int = 0) -> int:
        return self.wrap(int(value))

    def wrap(self, value: int) -> int:
        """``value`` reduced modulo 2**bits into this type's range."""
        value &= self.mask
        if self.signed and value > self.max:
            value -= 1 << self.bits
        return value

    def fits(self, value: int) -> builtins.bool:
        """True when ``value`` is representable without wrapping."""
        return self.min <= value <= self.max

    def __reduce__(self):
        return (IntType, (self.bits, self.signed, self.name))

    @cached_property
    def ctype(self) -> Any:
        table = {8: (ctypes.c_int8, ctypes.c_uint8), 16: (ctypes.c_int16, ctypes.c_uint16),
                 32: (ctypes.c_int32, ctypes.c_uint32), 64: (ctypes.c_int64, ctypes.c_uint64)}
        return table[self.bits][0 if self.signed else 1]


class BoolType(IntType):
    """``bool``: one byte in memory, 0 or 1."""

    def __new__(cls) -> "BoolType":
        return super().__new__(cls, 8, False, "bool")  # type: ignore[return-value]

    def wrap(self, value: int) -> int:
        return 1 if value else 0

    @cached_property
    def ctype(self) -> Any:
        return ctypes.c_bool


u8, u16, u32, u64 = (IntType(b, False) for b in (8, 16, 32, 64))
s8, s16, s32, s64 = (IntType(b, True) for b in (8, 16, 32, 64))
char = IntType(8, False, "char")
bool = BoolType()  # noqa: A001 - the DSL's name for it


class ArrayType(Type):
    """``Array[T, n]``: n elements of T, laid out like a C array."""

    _cache: dict[tuple[Type, int], "ArrayType"] = {}

    def __new__(cls, elem: Type, n: int) -> "ArrayType":
        key = (elem, n)
        self = cls._cache.get(key)
        if self is None:
            if not isinstance(n, int) or n <= 0:
                raise TypeError(f"Array length must be a positive int, got {n!r}")
            self = super().__new__(cls)
            self.elem, self.n = elem, n
            self.size, self.align = elem.size * n, elem.align
            self.name = f"Array[{elem.name}, {n}]"
            cls._cache[key] = self
        return self

    def __call__(self) -> Any:
        """A zeroed value (a ctypes array) for use in CPython."""
        return self.ctype()

    @cached_property
    def ctype(self) -> Any:
        # char arrays are c_char arrays, so decoded events give bytes: ev.comm.decode()
        return (ctypes.c_char if self.elem is char else self.elem.ctype) * self.n


class FlexArrayType(ArrayType):
    """A C flexible array member (``T name[]``, as in kernel structs): no size, no bounds.

    Its elements are read through probe reads (any index) or, in BTF
    memory, at constant indexes the verifier checks.
    """

    def __new__(cls, elem: Type) -> "FlexArrayType":
        key = (elem, 0)
        self = ArrayType._cache.get(key)
        if self is None:
            self = Type.__new__(cls)
            self.elem, self.n = elem, 0
            self.size, self.align = 0, elem.align
            self.name = f"Array[{elem.name}, ...]"
            ArrayType._cache[key] = self
        return self


class PtrType(Type):
    """``Ptr[T]``: a pointer; fields and elements are read through it.

    ``space`` says how: ``"direct"`` memory the verifier lets the program load
    (context, map values, ring-buffer records), ``"kernel"`` memory read with
    bpf_probe_read_kernel, ``"user"`` memory only read explicitly with
    bpf.probe_read_user*.  ``nullable`` pointers must be tested (``if p:``).
    """

    _cache: dict[tuple[Type, str, builtins.bool], "PtrType"] = {}
    size = align = 8

    def __new__(cls, target: Type, space: str = "direct", nullable: builtins.bool = False) -> "PtrType":
        key = (target, space, nullable)
        self = cls._cache.get(key)
        if self is None:
            self = super().__new__(cls)
            self.target, self.space, self.nullable = target, space, nullable
            self.name = f"Ptr[{target.name}]" if space == "direct" else f"Ptr[{target.name}, {space!r}]"
            cls._cache[key] = self
        return self

    @cached_property
    def ctype(self) -> Any:
        return ctypes.c_uint64


class Field:
    """One struct member: name, type and byte offset."""

    __slots__ = ("name", "type", "offset")

    def __init__(self, name: str, type: Type, offset: int) -> None:
        self.name, self.type, self.offset = name, type, offset

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r}, {self.offset})"


class BitField(Field):
    """A bitfield member: ``bit_size`` bits at ``bit_offset`` in the ``window``-byte unit at ``offset``."""

    __slots__ = ("bit_offset", "bit_size", "window")

    def __init__(self, name: str, type: "IntType", offset: int, bit_offset: int, bit_size: int,
                 window: int) -> None:
        super().__init__(name, type, offset)
        self.bit_offset, self.bit_size, self.window = bit_offset, bit_size, window

    def __repr__(self) -> str:
        return f"BitField({self.name!r}, {self.type!r}, {self.offset}, bits {self.bit_offset}+{self.bit_size})"


class StructType(Type):
    """The layout of a Struct subclass (or of a kernel struct read from BTF)."""

    def __init__(self, name: str, fields: list[Field], size: int, align: int,
                 pycls: Any = None) -> None:
        self.name, self.fields, self.size, self.align = name, fields, size, align
        self.by_name = {f.name: f for f in fields}
        self.pycls = pycls

    @classmethod
    def layout(cls, name: str, members: list[tuple[str, Type]], pycls: Any = None) -> "StructType":
        """Lay ``members`` out with C's rules (natural alignment, tail padding)."""
        fields, offset, align = [], 0, 1
        for fname, ftype in members:
            offset = -(-offset // ftype.align) * ftype.align
            fields.append(Field(fname, ftype, offset))
            offset += ftype.size
            align = max(align, ftype.align)
        return cls(name, fields, -(-offset // align) * align, align, pycls)

    def field(self, name: str) -> Field | None:
        """The member called ``name``, or None."""
        return self.by_name.get(name)

    @cached_property
    def ctype(self) -> Any:
        if self.pycls is not None and issubclass(self.pycls, ctypes.Structure):
            return self.pycls
        members = [(f.name, f.type.ctype) for f in self.fields]
        return type(self.name, (ctypes.Structure,), {"_fields_": members})


class _StructMeta(type(ctypes.Structure)):  # type: ignore[misc]
    """Turns ``class X(Struct)`` annotations into a C layout and ctypes fields."""

    def __new__(mcls, name, bases, ns, **kw):
        annotations = ns.get("__annotations__", {})
        if bases and annotations:
            members = []
            module = sys.modules.get(ns.get("__module__", ""))
            for fname, ftype in annotations.items():
                if isinstance(ftype, str):  # from __future__ import annotations
                    ftype = eval(ftype, vars(module) if module else {}, dict(ns))  # noqa: S307
                t = type_of(ftype)
                if t is None:
                    raise TypeError(f"{name}.{fname}: {ftype!r} is not a DSL type "
                                    "(use u8..u64, s8..s64, bool, char, Array[T, n], a Struct or Ptr[T])")
                members.append((fname, t))
            ns["_fields_"] = [(f, t.ctype) for f, t in members]
            cls = super().__new__(mcls, name, bases, ns, **kw)
            cls.__bpf_type__ = StructType.layout(name, members, cls)
            return cls
        return super().__new__(mcls, name, bases, ns, **kw)


class Struct(ctypes.Structure, metaclass=_StructMeta):
    """Base class of DSL structs; fields are class annotations with DSL types.

    In CPython an instance is a ctypes structure with the same bytes the
    kernel sees, so ``Event.from_buffer_copy(data)`` decodes a ring-buffer
    record.
    """

    def __repr__(self) -> str:
        inner = ", ".join(f"{f[0]}={getattr(self, f[0])!r}" for f in self._fields_)
        return f"{type(self).__name__}({inner})"


class _Subscriptable:
    """``Array[T, n]`` and ``Ptr[T]`` spellings."""

    def __init__(self, name: str, make: Any) -> None:
        self._name, self._make = name, make

    def __getitem__(self, params: Any) -> Type:
        params = params if isinstance(params, tuple) else (params,)
        args = [type_of(p) if not isinstance(p, (int, str)) else p for p in params]
        if any(a is None for a in args):
            raise TypeError(f"{self._name}[...] needs DSL types, got {params!r}")
        return self._make(*args)

    def __repr__(self) -> str:
        return self._name


def _ptr(target: Type, space: str | None = None) -> PtrType:
    """``Ptr[T]``; pointers to kernel structs (from :mod:`pybpf_dsl.kernel`) are kernel pointers."""
    if space is None:
        space = "kernel" if getattr(target, "kernel", False) else "direct"
    if space not in ("direct", "kernel", "user", "btf"):
        raise TypeError(f"Ptr[T, space]: space is 'kernel', 'user', 'btf' or 'direct', not {space!r}")
    return PtrType(target, space)


Array = _Subscriptable("Array", ArrayType)
Ptr = _Subscriptable("Ptr", _ptr)


def type_of(obj: Any) -> Type | None:
    """The DSL type an annotation denotes, or None if it is not one."""
    if isinstance(obj, Type):
        return obj
    t = getattr(obj, "__bpf_type__", None)
    if isinstance(t, Type):
        return t
    if obj is builtins.int:
        return s64
    if obj is builtins.bool:
        return bool
    return None


def promote(t: IntType) -> IntType:
    """C's integer promotion: types narrower than 32 bits become s32."""
    return s32 if t.bits < 32 else t


def common_type(a: IntType, b: IntType) -> IntType:
    """C's usual arithmetic conversions on two (already typed) operands."""
    a, b = promote(a), promote(b)
    if a is b:
        return a
    if a.signed == b.signed:
        return a if a.bits >= b.bits else b
    unsigned, signed = (a, b) if not a.signed else (b, a)
    return unsigned if unsigned.bits >= signed.bits else signed


def literal_type(value: int, other: IntType | None = None) -> IntType:
    """The type a Python int literal takes next to an operand of type ``other``."""
    if other is not None:
        p = promote(other)
        if p.fits(value):
            return p
    if s64.fits(value):
        return s64
    if u64.fits(value):
        return u64
    raise OverflowError(f"{value} does not fit in 64 bits")
