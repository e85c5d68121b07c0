"""The ctypes types of table keys and leaves: defaults, fd-like arguments, batch elements.

Batch reads decode a chunk by slicing a ctypes array (``arr[start:stop]``),
which creates one view object per entry in C, with no per-entry Python code.
Arrays of structures, unions, arrays and subclasses of simple types slice
into objects, but arrays of the plain simple types (``c_uint``, ...) slice
into ints; those are read through :func:`batch_decoder`'s stand-in type, a
subclass that behaves as the declared type (``isinstance``, ``.value``,
``repr``, pickling and copying give a plain ``c_uint``).  Each entry
keeps its chunk's buffer alive (the entries are views into it).  Byte-swapped
types (``c_uint.__ctype_be__``) cannot be subclassed faithfully and are
decoded one by one.
"""

from __future__ import annotations

import ctypes as ct
import sys
from typing import Any, Callable

__all__ = ["default_ctype", "to_ctype", "fd_of", "batch_decoder", "CTYPES"]

#: Every ctypes instance is one of these.
CTYPES = (ct._SimpleCData, ct.Structure, ct.Union, ct.Array, ct._Pointer)
_INT_BY_SIZE = {1: ct.c_ubyte, 2: ct.c_ushort, 4: ct.c_uint, 8: ct.c_ulonglong}
_STAND_INS: dict[Any, Any] = {}
_NATIVE_ORDER = "__ctype_le__" if sys.byteorder == "little" else "__ctype_be__"


def default_ctype(size: int) -> Any:
    """The ctypes type bcc-style tables use for ``size`` bytes with no declared type."""
    return _INT_BY_SIZE.get(size) or (ct.c_ubyte * size)


def to_ctype(ctype: Any, obj: Any) -> Any:
    """``obj`` as a ``ctype`` object when it is an int or bytes; anything else unchanged."""
    if isinstance(obj, int):
        return ctype(obj)
    if isinstance(obj, (bytes, bytearray)):
        return ctype.from_buffer_copy(obj)
    return obj


def fd_of(obj: Any) -> int:
    """An fd from an int, an object with ``fileno()``, or an object with an ``fd`` attribute."""
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "fileno"):
        return obj.fileno()
    fd = getattr(obj, "fd", None)
    if fd is not None:
        return fd_of(fd)
    raise TypeError(f"expected a file descriptor, got {type(obj).__name__}")


def _repr(self: Any) -> str:
    return f"{type(self).__name__}({self.value!r})"


def _reduce(self: Any) -> tuple:
    return type(self).__base__, (self.value,)


def _slice(arr: Any, start: int, stop: int) -> list:
    return arr[start:stop]


def batch_decoder(ctype: Any) -> tuple[Any, Callable[[Any, int, int], list]]:
    """``(element, decode)``: batch buffers for ``ctype`` are arrays of ``element``, and
    ``decode(arr, start, stop)`` gives entries ``start:stop`` as ``ctype`` objects."""
    if ctype.__base__ is not ct._SimpleCData:
        return ctype, _slice            # structs, unions, arrays, subclasses: already objects
    if getattr(ctype, _NATIVE_ORDER, ctype) is not ctype:
        # Byte-swapped types (c_uint.__ctype_be__): a subclass would read in native order.
        return ctype, lambda arr, start, stop: list(map(ctype, arr[start:stop]))
    stand_in = _STAND_INS.get(ctype)
    if stand_in is None:
        stand_in = type(ctype)(ctype.__name__, (ctype,), {
            "__slots__": (), "__module__": ctype.__module__, "__qualname__": ctype.__qualname__,
            "__repr__": _repr, "__reduce__": _reduce, "__doc__": ctype.__doc__})
        _STAND_INS[ctype] = stand_in
    return stand_in, _slice
