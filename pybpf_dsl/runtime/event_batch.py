"""The bulk path of the buffer readers: many events copied out in one step.

At high event rates the cost of a Python call per event dominates.  The
readers offer two bulk paths that do no Python work per event: runs of equal
records are found and copied out with a few C-level memoryview and array
operations per run (see :mod:`.record_runs`), so no native code is loaded
and the first call costs what the later ones do.  Records of varying sizes
make short runs, copied record by record (one slice assignment each).

* ``drain()`` copies every pending record into one ``bytearray`` and returns
  an :class:`EventBatch` indexing it.  Records of equal size that follow each
  other (the common case: one struct type per buffer) are stored as *runs*
  ``(offset, stride, count, size, source)``.  The batch owns its data: it
  stays valid after the buffer moves on or closes::

      batch = perf_buffer.drain()
      events = batch.as_array(Event)      # ctypes array of Event, one step
      total = sum(e.bytes for e in events)

* ``read_into(out)`` copies events straight from the rings into an array
  the caller allocates once and reuses (see :func:`output_buffer`), up to
  its length, and returns how many it copied: the fastest path::

      out = (Event * 65536)()
      while True:
          n = perf_buffer.read_into(out, timeout_ms=100)
          handle(out, n)
"""

from __future__ import annotations

import ctypes
from array import array
from bisect import bisect_right
from typing import Any, Iterator, Sequence

from .record_runs import gather

__all__ = ["EventBatch", "output_buffer", "short_event"]


def output_buffer(out: Any) -> tuple[memoryview, int, int]:
    """(byte view, item size, capacity) of a reusable destination for ``read_into``.

    ``out`` is a writable, C-contiguous array: a ctypes array such as
    ``(Event * 4096)()``, an ``array.array``, a numpy record array...  Its
    items are the first dimension; each event's first ``item size`` bytes
    are copied into one item.
    """
    try:
        view = memoryview(out)
    except TypeError:
        raise TypeError(f"read_into needs a writable array such as (Event * 4096)(), "
                        f"not {type(out).__name__}") from None
    if view.readonly or view.ndim == 0 or not view.c_contiguous:
        raise TypeError("read_into needs a writable, contiguous array such as (Event * 4096)()")
    capacity = view.shape[0]
    item = view.nbytes // capacity if capacity else 0
    if capacity and not item:
        raise TypeError("read_into needs an array of items of at least one byte")
    return view.cast("B"), item, capacity


def short_event(size: int, item: int, what: str = "the destination items") -> ValueError:
    """The error for an event of ``size`` bytes, too small for ``item``-byte ``what``."""
    return ValueError(f"event of {size} bytes is smaller than {what} ({item} bytes): "
                      "decode it with a smaller type")


class EventBatch(Sequence[memoryview]):
    """Events drained from a perf buffer or ring buffer in one step.

    A sequence of payload memoryviews (``batch[i]``) over one private copy of
    the records.  ``sizes()`` and ``sources()`` give per-event sizes and
    sources (the CPU for a perf buffer, the ring's index in a
    :class:`~pybpf_dsl.runtime.ring_buffer.RingBuffer`); ``lost`` counts the
    samples the kernel reported lost while this batch was drained.
    """

    __slots__ = ("data", "runs", "lost", "_ends")

    def __init__(self, data: bytearray, runs: list[tuple[int, int, int, int, int]],
                 lost: int = 0) -> None:
        self.data = data
        #: ``(offset, stride, count, size, source)`` per run of equal-sized records
        self.runs = runs
        self.lost = lost
        ends, total = [], 0
        for run in runs:
            total += run[2]
            ends.append(total)
        self._ends = ends

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _locate(self, index: int) -> tuple[int, int, int]:
        """(offset, size, source) of event ``index``."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"event index {index} out of range for a batch of {n}")
        r = bisect_right(self._ends, index)
        offset, stride, count, size, source = self.runs[r]
        k = index - (self._ends[r] - count)
        return offset + k * stride, size, source

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        offset, size, _ = self._locate(index)
        return memoryview(self.data)[offset:offset + size]

    def __iter__(self) -> Iterator[memoryview]:
        view = memoryview(self.data)
        for offset, stride, count, size, _ in self.runs:
            for k in range(count):
                start = offset + k * stride
                yield view[start:start + size]

    def source(self, index: int) -> int:
        """The CPU (perf buffer) or ring index (ring buffer) event ``index`` came from."""
        return self._locate(index)[2]

    def sizes(self) -> array:
        """Every event's payload size, as an ``array('I')``."""
        out = array("I")
        for _, _, count, size, _ in self.runs:
            out.extend(array("I", [size]) * count)
        return out

    def sources(self) -> array:
        """Every event's source (CPU or ring index), as an ``array('i')``."""
        out = array("i")
        for _, _, count, _, source in self.runs:
            out.extend(array("i", [source]) * count)
        return out

    def as_array(self, ctype: type) -> ctypes.Array:
        """All events decoded as one ctypes array of ``ctype`` (a Structure, or any ctypes type).

        Each event's first ``sizeof(ctype)`` bytes are used; an event shorter
        than that raises ValueError.  The array owns its memory.
        """
        item = ctypes.sizeof(ctype)
        n = len(self)
        out = (ctype * n)()
        if n == 0 or item == 0:
            return out
        for _, _, _, size, _ in self.runs:
            if size < item:
                raise short_event(size, item, ctype.__name__)
        done = 0
        with memoryview(out) as typed, typed.cast("B") as dst, memoryview(self.data) as src:
            for offset, stride, count, _, _ in self.runs:
                gather(dst, done, src, offset, stride, count, item)
                done += count * item
        return out

    def __repr__(self) -> str:
        return f"<EventBatch {len(self)} events in {len(self.runs)} runs, lost={self.lost}>"
