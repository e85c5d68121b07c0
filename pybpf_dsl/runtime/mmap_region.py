"""A shared memory mapping of a kernel object (perf ring, BPF ring buffer).

:class:`MappedRegion` owns one ``mmap`` of a file descriptor: it knows the
address (what bcc-style callbacks receive) and offers memoryviews cast to
the native integer formats the buffer readers index.  Native formats matter:
an aligned ``Q`` or ``I`` item access is one machine load or store, so the
kernel never sees a torn ``data_tail`` or ``consumer_pos``.
"""

from __future__ import annotations

import weakref

from ..errors import syscall_error
from .uapi import MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, ffi, libc

__all__ = ["MappedRegion"]


def _unmap(addr: int, length: int) -> None:
    libc.munmap(ffi.cast("void *", addr), length)


class MappedRegion:
    """``mmap(fd, length, offset)`` with ``MAP_SHARED``, unmapped on close or GC.

    ``view`` is a byte memoryview of the whole mapping; :meth:`cast` gives
    views in other native formats.  Every view handed out must be dropped
    before :meth:`close` (the owner of the region guarantees that).
    """

    __slots__ = ("addr", "length", "view", "_finalizer", "__weakref__")

    def __init__(self, fd: int, length: int, offset: int = 0, writable: bool = False,
                 what: str | None = None) -> None:
        prot = PROT_READ | (PROT_WRITE if writable else 0)
        ptr = libc.mmap(ffi.NULL, length, prot, MAP_SHARED, fd, offset)
        if ptr == MAP_FAILED:
            raise syscall_error("mmap", ffi.errno, what)
        self.addr = int(ffi.cast("uintptr_t", ptr))
        self.length = length
        self.view = memoryview(ffi.buffer(ptr, length))
        self._finalizer = weakref.finalize(self, _unmap, self.addr, length)

    def cast(self, fmt: str) -> memoryview:
        """The mapping as a memoryview of native ``fmt`` items ("I", "Q", "H"...)."""
        return self.view.cast(fmt)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Unmap (idempotent).  Addresses from this region are invalid afterwards."""
        if self._finalizer.alive:
            self.view = memoryview(b"")
            self._finalizer()
