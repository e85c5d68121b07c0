"""User-space half of the DSL's ``print(...)``: record layouts and their formatting.

A ``print("pid", pid, f"opened {ev.filename}")`` call site in a probe is
compiled into a ring-buffer record holding only the values: a u32 site id
followed by each value at a fixed offset.  The format (literal text,
separators, conversions and format specs) stays here, in user space, like
bpftrace's printf.  Both the loaded program's reader and the CPython
reference interpreter format records with :func:`PrintSite.format`, so the
two print the same text.

A value's layout is a small JSON-able descriptor (it is cached with the
object):

* ``["i", bits, signed]`` an integer, ``["b"]`` a bool, ``["p"]`` an address
  (printed in hex);
* ``["s", n]`` a char array, printed as text up to its first NUL;
* ``["a", elem, n, elem_size]`` an array, printed as a list;
* ``["t", name, [[field, desc, offset], ...]]`` a struct, printed as
  ``name(field=value, ...)``;
* ``["f", bit_offset, bits, signed]`` a bitfield member of a kernel struct.
"""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any, Callable

__all__ = ["PRINT_MAP", "PRINT_LOST_MAP", "PrintSite", "PrintReader", "Address", "StructValue", "describe", "decode",
           "sites_to_json", "sites_from_json"]

PRINT_MAP = "pybpf_print"     # the internal ring buffer carrying print records
PRINT_LOST_MAP = "pybpf_print_lost"   # a one-slot u64 array: records dropped because the ring was full


class Address(int):
    """A pointer value: prints as ``0x...`` and takes integer format specs."""

    def __repr__(self) -> str:
        return hex(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else int.__format__(self, spec)


class StructValue:
    """A decoded struct: ``Name(a=1, comm='bash')``; fields are attributes."""

    def __init__(self, name: str, fields: list[tuple[str, Any]]) -> None:
        self._name, self._fields = name, fields
        for fname, value in fields:
            setattr(self, fname, value)

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(f'{n}={v!r}' for n, v in self._fields)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StructValue) and (self._name, self._fields) == (other._name, other._fields)


def describe(t: Any) -> list:
    """The descriptor of DSL type ``t`` (see the module docstring)."""
    from . import types as T
    if t is T.bool:
        return ["b"]
    if isinstance(t, T.IntType):
        return ["i", t.bits, t.signed]
    if isinstance(t, T.PtrType):
        return ["p"]
    if isinstance(t, T.ArrayType):
        if t.elem is T.char:
            return ["s", t.n]
        return ["a", describe(t.elem), t.n, t.elem.size]
    if isinstance(t, T.StructType):
        fields = []
        for f in t.fields:
            bits = getattr(f, "bit_size", 0)
            d = ["f", f.bit_offset, bits, f.type.signed] if bits else describe(f.type)
            fields.append([f.name, d, f.offset])
        return ["t", t.name, fields]
    raise TypeError(f"cannot print a {t}")


def decode(desc: list, buf: bytes, off: int = 0) -> Any:
    """The Python value of the bytes at ``buf[off:]`` laid out as ``desc``."""
    kind = desc[0]
    if kind == "i":
        return int.from_bytes(buf[off: off + desc[1] // 8], "little", signed=desc[2])
    if kind == "b":
        return bool(buf[off])
    if kind == "p":
        return Address(int.from_bytes(buf[off: off + 8], "little"))
    if kind == "s":
        return buf[off: off + desc[1]].split(b"\0", 1)[0].decode("utf-8", "replace")
    if kind == "a":
        elem, n, size = desc[1], desc[2], desc[3]
        return [decode(elem, buf, off + i * size) for i in range(n)]
    if kind == "f":
        bit_off, bits, signed = desc[1], desc[2], desc[3]
        nbytes = (bit_off % 8 + bits + 7) // 8
        word = int.from_bytes(buf[off + bit_off // 8: off + bit_off // 8 + nbytes], "little")
        v = (word >> (bit_off % 8)) & ((1 << bits) - 1)
        return v - (1 << bits) if signed and v >> (bits - 1) else v
    return StructValue(desc[1], [(name, decode(d, buf, off + foff)) for name, d, foff in desc[2]])


_CONVERSIONS = {"r": repr, "s": str, "a": ascii}


class PrintSite:
    """One ``print(...)`` call site: literal text and value slots, in order.

    ``parts`` holds strings (literal text) and slots ``[offset, desc,
    conversion, spec]`` (conversion is ``""``, ``"r"``, ``"s"`` or ``"a"``).
    """

    def __init__(self, parts: list, size: int, where: str = "") -> None:
        self.parts, self.size, self.where = parts, size, where

    def format(self, record: bytes) -> str:
        """The text this site prints for ``record`` (the bytes after nothing: offsets are absolute)."""
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
                continue
            offset, desc, conv, spec = p
            v = decode(desc, record, offset)
            if conv:
                v = _CONVERSIONS[conv](v)
            out.append(format(v, spec))
        return "".join(out)

    def to_json(self) -> list:
        return [self.parts, self.size, self.where]


def sites_to_json(sites: list[PrintSite]) -> bytes:
    """Serialise call sites (stored next to a cached object)."""
    return json.dumps([s.to_json() for s in sites]).encode()


def sites_from_json(data: bytes) -> list[PrintSite]:
    """The call sites :func:`sites_to_json` wrote."""
    return [PrintSite(*s) for s in json.loads(data)]


class PrintReader:
    """Reads the print ring of a loaded object and writes each record's text to ``sink``.

    ``sink`` is a callable taking the text (default: write to sys.stdout).
    """

    def __init__(self, map_fd: int, sites: list[PrintSite], lost_fd: int | None = None) -> None:
        from .runtime.ring_buffer import RingBuffer
        self.sites = sites
        self.sink: Callable[[str], Any] | None = None
        self.lost = 0                       # records the kernel dropped (ring full), as reported so far
        self._lost_fd = lost_fd
        self._ring = RingBuffer()
        self._ring.add(map_fd, self._record)

    def _report_lost(self) -> None:
        """Write bcc's "Possibly lost N samples" to stderr when the drop counter grew."""
        if self._lost_fd is None:
            return
        from .runtime.syscall import map_lookup
        from .runtime.uapi import ffi
        key, value = ffi.new("uint32_t *"), ffi.new("uint64_t *")
        map_lookup(self._lost_fd, key, value)
        if value[0] > self.lost:
            sys.stderr.write(f"Possibly lost {value[0] - self.lost} samples\n")
            self.lost = value[0]

    def _record(self, _ctx: Any, data: int, size: int) -> None:
        rec = ctypes.string_at(data, size)
        text = self.sites[int.from_bytes(rec[:4], "little")].format(rec)
        if self.sink is not None:
            self.sink(text)
        else:
            sys.stdout.write(text)

    def fileno(self) -> int:
        """Readable when records are waiting."""
        return self._ring.fileno()

    def poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` for records and print them; returns how many."""
        n = self._ring.poll(timeout_ms)
        self._report_lost()
        return n

    def consume(self) -> int:
        """Print the records waiting, without blocking."""
        n = self._ring.consume()
        self._report_lost()
        return n

    def close(self) -> None:
        self._ring.close()
