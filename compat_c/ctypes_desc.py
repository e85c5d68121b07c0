"""ctypes types from compat_c's C type descriptions (``CompiledObject.meta``).

bcc builds the ctypes type of each perf/ring buffer event from the C struct
given to ``perf_submit``; :func:`ctype_from_desc` does the same from the
description :mod:`compat_c.debuginfo` records, with bcc's choices: ``char``
is ``c_char`` (so ``event.comm`` reads as bytes), ``__int128`` is two
64-bit words, anonymous struct/union members are transparent.  Members sit
at the compiler's exact offsets (``_pack_ = 1`` plus explicit padding), and
bitfields read and write the bits the compiler chose::

    Event = ctype_from_desc(obj.meta["events"]["events"])
    ev = ctypes.cast(data, ctypes.POINTER(Event)).contents
"""

from __future__ import annotations

import ctypes as ct
from typing import Any

__all__ = ["ctype_from_desc"]

_INTS = {(1, False): ct.c_ubyte, (1, True): ct.c_byte, (2, False): ct.c_ushort, (2, True): ct.c_short,
         (4, False): ct.c_uint, (4, True): ct.c_int, (8, False): ct.c_ulonglong, (8, True): ct.c_longlong,
         (16, False): ct.c_uint64 * 2, (16, True): ct.c_int64 * 2}
_FLOATS = {4: ct.c_float, 8: ct.c_double, 16: ct.c_longdouble}
_SIGNED_BYTES = {"signed char", "__s8", "s8", "int8_t", "__int8_t"}
_PAD = "__pad_"


def ctype_from_desc(desc: dict[str, Any] | None) -> Any:
    """The ctypes type of a C type description (None for void or no description)."""
    if not desc:
        return None
    kind = desc["kind"]
    size = desc.get("size", 0)
    if kind == "int":
        if desc.get("name") in ("_Bool", "bool") and size == 1:
            return ct.c_bool
        if size == 1 and desc.get("signed") and desc.get("name") not in _SIGNED_BYTES:
            return ct.c_char
        return _INTS.get((size, bool(desc.get("signed")))) or ct.c_ubyte * size
    if kind == "float":
        return _FLOATS.get(size) or ct.c_ubyte * size
    if kind == "ptr":
        return ct.c_ulonglong
    if kind == "array":
        elem = ctype_from_desc(desc["type"])
        if elem is None:
            return ct.c_ubyte * size
        return elem * desc["len"]
    if kind in ("struct", "union"):
        return _composite(desc)
    return ct.c_ubyte * size if size else None


def _composite(desc: dict[str, Any]) -> Any:
    union = desc["kind"] == "union"
    fields: list[tuple[str, Any]] = []
    anonymous: list[str] = []
    props: dict[str, property] = {}
    pos = 0
    for i, f in enumerate(desc["fields"]):
        if f.get("bits"):
            props[f["name"]] = _bitfield(f["bit_offset"], f["bits"], bool(f["type"].get("signed")))
            continue
        ctype = ctype_from_desc(f["type"])
        if ctype is None:
            continue
        name = f["name"] or f"__anon{i}"
        if not f["name"]:
            anonymous.append(name)
        off = 0 if union else f["offset"]
        if off > pos:
            fields.append((f"{_PAD}{pos}", ct.c_ubyte * (off - pos)))
        elif off < pos:  # overlapping members cannot be expressed: keep the bytes reachable
            continue
        fields.append((name, ctype))
        if not union:
            pos = off + ct.sizeof(ctype)
    size = desc.get("size", 0)
    if not union and size > pos:
        fields.append((f"{_PAD}{pos}", ct.c_ubyte * (size - pos)))
    elif union and size > max((ct.sizeof(t) for _n, t in fields), default=0):
        fields.append((f"{_PAD}0", ct.c_ubyte * size))
    ns: dict[str, Any] = {"_pack_": 1, "_fields_": fields, **props}
    if anonymous:
        ns["_anonymous_"] = anonymous
    return type(desc.get("name") or "anon", (ct.Union if union else ct.Structure,), ns)


def _bitfield(bit_offset: int, width: int, signed: bool) -> property:
    """A property reading/writing ``width`` bits at ``bit_offset`` of the struct (little endian)."""
    first, shift = bit_offset // 8, bit_offset % 8
    nbytes = (shift + width + 7) // 8
    mask = (1 << width) - 1

    def get(self: Any) -> int:
        raw = int.from_bytes(ct.string_at(ct.addressof(self) + first, nbytes), "little")
        v = (raw >> shift) & mask
        return v - (1 << width) if signed and v >> (width - 1) else v

    def set_(self: Any, value: int) -> None:
        addr = ct.addressof(self) + first
        raw = int.from_bytes(ct.string_at(addr, nbytes), "little")
        raw = (raw & ~(mask << shift)) | ((value & mask) << shift)
        ct.memmove(addr, raw.to_bytes(nbytes, "little"), nbytes)

    return property(get, set_)
