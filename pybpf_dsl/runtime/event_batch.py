"""The bulk path of the buffer readers: many events copied out in one step.

At high event rates the cost of a Python call per event dominates.
``PerfBuffer.drain()`` and ``RingBuffer.drain()`` instead copy every pending
record into one ``bytearray`` and return an :class:`EventBatch` that indexes
it.  Records of equal size that follow each other (the common case: one
struct type per buffer) are stored as *runs* ``(offset, stride, count,
size, source)`` found with strided memoryview comparisons, so neither the
drain nor :meth:`EventBatch.as_array` does Python work per event::

    batch = perf_buffer.drain()
    events = batch.as_array(Event)      # ctypes array of Event, one step
    total = sum(e.bytes for e in events)

The batch owns its data: it stays valid after the buffer moves on or closes.
"""

from __future__ import annotations

import ctypes
from array import array
from bisect import bisect_right
from typing import Iterator, Sequence

__all__ = ["EventBatch", "run_length", "gather"]

_WORD_FORMATS = ((8, "Q"), (4, "I"), (2, "H"), (1, "B"))
_FIRST_WINDOW = 16


def _uniform(view: memoryview, start: int, step: int, count: int, pattern: bytes) -> bool:
    return view[start:start + count * step:step].tobytes() == pattern * count


def run_length(checks: Sequence[tuple[memoryview, int, int, bytes]], limit: int) -> int:
    """How many records, from the first (known to match), keep every checked field equal.

    ``checks`` holds ``(view, first_index, step, pattern)``: item
    ``first_index + k*step`` of ``view`` must equal ``pattern`` for record
    ``k``.  Windows double while they match, then a binary search finds the
    end, so the cost is proportional to the run, never to ``limit``.
    """
    done, window = 1, _FIRST_WINDOW
    while done < limit:
        count = min(window, limit - done)
        if all(_uniform(v, first + done * step, step, count, pat) for v, first, step, pat in checks):
            done += count
            window *= 2
            continue
        lo, hi = 0, count  # the first lo records of the window match, the first hi do not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if all(_uniform(v, first + done * step, step, mid, pat) for v, first, step, pat in checks):
                lo = mid
            else:
                hi = mid
        return done + lo
    return done


def gather(dst: memoryview, src: memoryview, src_offset: int, stride: int, count: int,
           size: int) -> None:
    """Copy ``count`` chunks of ``size`` bytes found every ``stride`` bytes into ``dst``.

    ``dst`` and ``src`` are byte memoryviews; ``dst`` receives the chunks back
    to back.  Done as ``size / w`` strided word copies (``w`` the largest of 8,
    4, 2, 1 dividing both ``size`` and ``stride``), each one in C over every
    record, so the Python work does not grow with ``count``.
    """
    if count <= 0 or size <= 0:
        return
    # Ends exactly after the last chunk: item j of a strided slice then has
    # exactly ``count`` elements for every word j of the chunk.
    seg = src[src_offset:src_offset + (count - 1) * stride + size]
    if stride == size:
        dst[:count * size] = seg
        return
    width, fmt = next((w, f) for w, f in _WORD_FORMATS if size % w == 0 and stride % w == 0)
    words, step = size // width, stride // width
    if count <= words:
        for k in range(count):
            dst[k * size:(k + 1) * size] = seg[k * stride:k * stride + size]
        return
    s = seg.cast(fmt)
    d = dst[:count * size].cast(fmt)
    for j in range(words):
        d[j::words] = s[j::step]


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
        dst = memoryview(out).cast("B")
        src = memoryview(self.data)
        pos = 0
        for offset, stride, count, size, _ in self.runs:
            if size < item:
                raise ValueError(f"event of {size} bytes is smaller than {ctype.__name__} "
                                 f"({item} bytes): decode it with a smaller type")
            gather(dst[pos:], src, offset, stride, count, item)
            pos += count * item
        return out

    def __repr__(self) -> str:
        return f"<EventBatch {len(self)} events in {len(self.runs)} runs, lost={self.lost}>"
