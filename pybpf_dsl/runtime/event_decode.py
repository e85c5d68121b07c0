"""Decoding buffer samples into ctypes instances.

The buffer callbacks receive a sample as an address and a size (bcc's
convention).  :class:`EventDecoder` turns that, or any bytes-like object,
into an instance of one ctypes type (a Structure built from BTF by
``ctypes_bridge``, or any ctypes type)::

    decode = decoder(Event)
    def handle(cpu, data, size):
        event = decode(data, size)     # a copy: safe to keep
        peek = decode.view(data)       # no copy: valid during the callback only

For many samples at once use :meth:`EventBatch.as_array
<pybpf_dsl.runtime.event_batch.EventBatch.as_array>`.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any, Callable, Generic, TypeVar

__all__ = ["EventDecoder", "decoder", "decode_event"]

T = TypeVar("T")


class EventDecoder(Generic[T]):
    """Builds ``ctype`` instances from sample addresses or buffers.

    ``decode.view(addr)`` is the sample at ``addr`` seen in place, without a
    copy (what bcc's ``table.event(data)`` returns): valid only while the
    callback runs.  It is ``ctype.from_address`` itself, bound once, so a
    view costs one C call.  ``decode(data, size)`` returns a copy.
    """

    __slots__ = ("ctype", "size", "view", "_copy")

    def __init__(self, ctype: type[T]) -> None:
        self.ctype = ctype
        self.size = ctypes.sizeof(ctype)  # type: ignore[arg-type]
        self.view: Callable[[int], T] = ctype.from_address  # type: ignore[attr-defined]
        self._copy: Callable[..., T] = ctype.from_buffer_copy  # type: ignore[attr-defined]

    def __call__(self, data: Any, size: int | None = None) -> T:
        """A copy of the sample, from an address (int) or a bytes-like object.

        A sample shorter than the type (``size``, or the buffer's length) is
        zero-filled; a longer one is truncated to the type's size.
        """
        n = self.size
        if data.__class__ is int:
            if size is None or size >= n:  # the callback fast path: two C calls
                return self._copy(self.view(data))
            obj = self.ctype()
            ctypes.memmove(ctypes.addressof(obj), data, max(size, 0))  # type: ignore[arg-type]
            return obj
        view = memoryview(data).cast("B")
        if size is not None:
            view = view[:size]
        if len(view) >= n:
            return self._copy(view)
        obj = self.ctype()
        ctypes.memmove(ctypes.addressof(obj), view.tobytes(), len(view))  # type: ignore[arg-type]
        return obj

    def __repr__(self) -> str:
        return f"<EventDecoder {self.ctype.__name__} ({self.size} bytes)>"


@lru_cache(maxsize=256)
def decoder(ctype: type[T]) -> EventDecoder[T]:
    """The (cached) decoder for ``ctype``."""
    return EventDecoder(ctype)


def decode_event(ctype: type[T], data: Any, size: int | None = None) -> T:
    """One-off decode of a sample (address or bytes) into a new ``ctype`` instance."""
    return decoder(ctype)(data, size)
