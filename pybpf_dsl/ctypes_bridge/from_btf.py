"""ctypes types built from BTF types, with the exact layout the compiler chose.

Structures are laid out explicitly (``_pack_ = 1`` plus padding fields), so
every member sits at BTF's byte offset and ``sizeof`` equals BTF's size
whatever ctypes' own alignment rules would say.  Bitfields become properties
over the bytes that hold them (ctypes' native bitfields do not follow the
compiler's layout in every case).  Pointers are ``c_uint64``: BPF pointers
are 64-bit kernel or user addresses, never dereferenced from Python.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Any

from ..errors import ObjectFormatError
from ..runtime.btf import BTF, BtfType, Kind

__all__ = ["ctype_for", "BITFIELDS_ATTR", "HIDDEN_PREFIX"]

BITFIELDS_ATTR = "_bitfields_"  # class attribute: [(name, bit_offset, bit_size, signed)]
HIDDEN_PREFIX = "_pybpf_"         # padding, bitfield storage and anonymous member names

_INTS = {(1, False): ctypes.c_uint8, (1, True): ctypes.c_int8, (2, False): ctypes.c_uint16,
         (2, True): ctypes.c_int16, (4, False): ctypes.c_uint32, (4, True): ctypes.c_int32,
         (8, False): ctypes.c_uint64, (8, True): ctypes.c_int64}
_FLOATS = {4: ctypes.c_float, 8: ctypes.c_double, 16: ctypes.c_longdouble}
_MODIFIERS = (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG)

_BUILDING = object()  # marks a type whose ctype is being built (catches self-containing BTF)
_cache: "weakref.WeakKeyDictionary[BTF, dict[int, Any]]" = weakref.WeakKeyDictionary()


def ctype_for(btf: BTF, type_id: int) -> Any:
    """The ctypes type of BTF type ``type_id`` (cached per BTF and id).

    ``void`` gives None; a forward declaration or a function raises TypeError.
    """
    per_btf = _cache.get(btf)
    if per_btf is None:
        per_btf = _cache[btf] = {}
    ct = per_btf.get(type_id)
    if ct is _BUILDING:
        raise ObjectFormatError(f"BTF type [{type_id}] contains itself by value")
    if ct is None and type_id not in per_btf:
        t = btf[type_id]
        per_btf[type_id] = _BUILDING
        try:
            ct = _build(btf, t)
        finally:
            del per_btf[type_id]
        per_btf[type_id] = ct
    return ct


def _inner(btf: BTF, type_id: int) -> Any:
    """ctype_for a type id found inside the BTF (a dangling id is malformed BTF)."""
    btf.ref(type_id)
    return ctype_for(btf, type_id)


def _int(size: int, signed: bool) -> Any:
    ct = _INTS.get((size, signed))
    if ct is None:  # __int128 and friends: raw bytes of the right size
        return ctypes.c_uint8 * size
    return ct


def _build(btf: BTF, t: BtfType) -> Any:
    kind = t.kind
    if kind == Kind.VOID:
        return None
    if kind in _MODIFIERS:
        return _inner(btf, t.type_id)
    if kind == Kind.INT:
        if t.int_bool and t.size == 1:
            return ctypes.c_bool
        if t.size == 1 and (t.int_char or t.name == "char"):  # char arrays read as bytes, as in bcc
            return ctypes.c_char
        return _int(t.size, t.int_signed)
    if kind == Kind.PTR:
        return ctypes.c_uint64
    if kind in (Kind.ENUM, Kind.ENUM64):
        return _int(t.size, t.signed)
    if kind == Kind.FLOAT:
        return _FLOATS.get(t.size) or ctypes.c_uint8 * t.size
    if kind == Kind.ARRAY:
        elem, _index, n = t.array
        elem_ct = _inner(btf, elem)
        if elem_ct is None:
            raise TypeError(f"BTF type [{t.id}] is an array of void")
        return elem_ct * n
    if kind in (Kind.STRUCT, Kind.UNION):
        return _composite(btf, t)
    if kind == Kind.VAR:
        return _inner(btf, t.type_id)
    if kind == Kind.DATASEC:
        return _datasec(btf, t)
    raise TypeError(f"BTF type [{t.id}] {t.name!r} is a {kind.name}: it has no value layout")


def _class_name(t: BtfType) -> str:
    return t.name or f"anon_{t.kind.name.lower()}_{t.id}"


def _pad(fields: list, at: int, upto: int) -> None:
    if upto > at:
        fields.append((f"{HIDDEN_PREFIX}pad{at}", ctypes.c_uint8 * (upto - at)))


def _composite(btf: BTF, t: BtfType) -> Any:
    base = ctypes.Union if t.kind == Kind.UNION else ctypes.Structure
    fields: list[tuple] = []
    anonymous: list[str] = []
    bitfields: list[tuple[str, int, int, bool]] = []
    pos = 0  # bytes laid out so far (structs only)
    pending_bits: list = []  # bitfields waiting for their covering bytes
    for index, m in enumerate(t.members):
        resolved = btf.resolve(m.type_id)
        is_bits = m.bitfield_size or (resolved.kind == Kind.INT and (
            m.bit_offset % 8 or resolved.int_bits != 8 * resolved.size))
        if is_bits:
            width = m.bitfield_size or resolved.int_bits
            signed = resolved.int_signed if resolved.kind == Kind.INT else resolved.signed
            pending_bits.append((m.name, m.bit_offset, width, signed))
            continue
        if pending_bits:
            pos = _flush_bits(fields, bitfields, pending_bits, pos, base is ctypes.Union)
        name = m.name or f"{HIDDEN_PREFIX}anon{index}"
        ct = _inner(btf, m.type_id)
        if ct is None:
            raise TypeError(f"member {name!r} of {_class_name(t)} has type void")
        off = m.bit_offset // 8
        if base is ctypes.Structure:
            if off < pos:
                raise TypeError(f"member {name!r} of {_class_name(t)} overlaps the previous one")
            _pad(fields, pos, off)
            pos = off + ctypes.sizeof(ct)
        fields.append((name, ct))
        if not m.name and resolved.kind in (Kind.STRUCT, Kind.UNION):
            anonymous.append(name)
            # ctypes forwards only real fields of anonymous members: lift their bitfields
            bitfields += [(bname, bit_off + 8 * off, width, signed)
                          for bname, bit_off, width, signed in getattr(ct, BITFIELDS_ATTR, ())]
    if pending_bits:
        pos = _flush_bits(fields, bitfields, pending_bits, pos, base is ctypes.Union)
    if base is ctypes.Structure:
        _pad(fields, pos, t.size)
    elif not fields or max(ctypes.sizeof(f[1]) for f in fields) < t.size:
        fields.append((f"{HIDDEN_PREFIX}pad", ctypes.c_uint8 * t.size))
    ns: dict[str, Any] = {"_pack_": 1, "_fields_": fields, "__module__": __name__}
    if anonymous:
        ns["_anonymous_"] = anonymous
    for name, bit_off, width, signed in bitfields:
        ns[name] = _bit_property(bit_off, width, signed)
    if bitfields:
        ns[BITFIELDS_ATTR] = bitfields
    cls = type(_class_name(t), (base,), ns)
    if ctypes.sizeof(cls) != t.size:
        raise TypeError(f"{_class_name(t)}: ctypes size {ctypes.sizeof(cls)} != BTF size {t.size}")
    return cls


def _flush_bits(fields: list, bitfields: list, pending: list, pos: int, union: bool) -> int:
    """Cover a run of bitfields with raw bytes; register a property per named bitfield."""
    start = min(b[1] for b in pending) // 8
    end = max((b[1] + b[2] + 7) // 8 for b in pending)
    if union:
        start = 0
    else:
        start = max(start, pos)
        if end < start:
            raise TypeError(f"bitfield {pending[0][0]!r} overlaps the member before it")
        _pad(fields, pos, start)
    fields.append((f"{HIDDEN_PREFIX}bits{start}", ctypes.c_uint8 * (end - start)))
    for name, bit_off, width, signed in pending:
        if name:
            bitfields.append((name, bit_off, width, signed))
    pending.clear()
    return end if not union else pos


def _bit_property(bit_offset: int, width: int, signed: bool) -> property:
    first = bit_offset // 8
    nbytes = (bit_offset % 8 + width + 7) // 8
    shift = bit_offset % 8
    mask = (1 << width) - 1

    def get(self: Any) -> int:
        raw = int.from_bytes(ctypes.string_at(ctypes.addressof(self) + first, nbytes), "little")
        v = (raw >> shift) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        return v

    def set_(self: Any, value: int) -> None:
        addr = ctypes.addressof(self) + first
        raw = int.from_bytes(ctypes.string_at(addr, nbytes), "little")
        raw = (raw & ~(mask << shift)) | ((value & mask) << shift)
        ctypes.memmove(addr, raw.to_bytes(nbytes, "little"), nbytes)

    return property(get, set_, doc=f"bitfield: {width} bits at bit {bit_offset}")


def _datasec(btf: BTF, t: BtfType) -> Any:
    """A structure of a data section's variables (.data, .bss, .rodata) at their offsets."""
    fields: list[tuple] = []
    pos = 0
    for v in sorted(t.vars, key=lambda v: v.offset):
        var = btf.ref(v.type_id)
        ct = _inner(btf, var.type_id if var.kind == Kind.VAR else v.type_id)
        _pad(fields, pos, v.offset)
        fields.append((var.name or f"__var{v.offset}", ct))
        pos = v.offset + ctypes.sizeof(ct)
    _pad(fields, pos, t.size)
    return type(t.name.strip(".").replace(".", "_") or "datasec", (ctypes.Structure,),
                {"_pack_": 1, "_fields_": fields, "__module__": __name__})
