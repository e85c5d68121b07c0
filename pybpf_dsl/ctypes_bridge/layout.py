"""The inverse direction: what a ctypes type looks like in memory, field by field."""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

from .from_btf import BITFIELDS_ATTR, HIDDEN_PREFIX

__all__ = ["FieldLayout", "layout"]


class FieldLayout(NamedTuple):
    """One field: ``bit_size`` is 0 except for bitfields (then ``offset`` is in bits)."""
    name: str
    offset: int
    size: int
    ctype: Any
    bit_size: int = 0


def layout(ct: Any) -> list[FieldLayout]:
    """The named fields of a ctypes Structure/Union in offset order.

    Padding added by :func:`~pybpf_dsl.ctypes_bridge.ctype_for` is left out,
    the fields of anonymous members appear as the struct's own (as in C),
    and bitfields are listed with their bit offset and width.
    """
    out: list[FieldLayout] = []
    anonymous = set(getattr(ct, "_anonymous_", ()))
    for name, ftype, *bits in getattr(ct, "_fields_", ()):
        if name.startswith(HIDDEN_PREFIX) and name not in anonymous:
            continue
        desc = getattr(ct, name)
        if name in anonymous:
            # bitfields of anonymous members are lifted into this type's own list below
            out += [f._replace(offset=f.offset + desc.offset) for f in layout(ftype) if not f.bit_size]
            continue
        if bits:  # a native ctypes bitfield
            out.append(FieldLayout(name, desc.offset * 8 + (desc.size & 0xFFFF), ctypes.sizeof(ftype),
                                   ftype, bits[0]))
        else:
            out.append(FieldLayout(name, desc.offset, desc.size, ftype))
    for name, bit_offset, width, _signed in getattr(ct, BITFIELDS_ATTR, ()):
        out.append(FieldLayout(name, bit_offset, (width + 7) // 8, int, width))
    out.sort(key=lambda f: f.offset * (1 if f.bit_size else 8))
    return out
