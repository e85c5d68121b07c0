"""Runs of equal records: finding them and copying them out, with no native code.

A perf ring or BPF ring buffer written by one program holds long runs of
records of one size; the readers find such a run and then deliver it in one
step: one tight Python loop of callbacks, or one bulk copy.

:func:`equal_run` finds the run by comparing strided memoryviews: the
headers of records 1..k against those of records 0..k-1.  CPython compares
them in C, at under 1 ns per record, and stops at the first difference, so
this is as fast as a native scan and cheaper to call (no ctypes call).  The
common case, every pending record alike, is one comparison; otherwise the
run's end is found by galloping then bisecting, O(k) compared headers for a
run of k records whatever the ``limit``, and a lone record costs one item
comparison.

:func:`gather` copies the first bytes of every record of a run back to back
(the bulk paths' copy) with a few C-level operations per run, not one
Python operation per record.  Records are ``stride`` bytes apart and the
copied ``size`` bytes leave a *gap* of ``stride - size`` bytes (header,
padding, the rest of a longer sample) between two of them.  For a chunk of
the run at a time (small enough for the CPU cache and the malloc heap) the
source bytes are copied into an ``array`` of native words, then one strided
``del`` per word of the gap removes that word from every record (CPython
does it with one memmove per record, about 2 ns), then the compacted words
are copied to the destination: about 3 ns per record for a ring buffer
(8-byte gaps) and 5 ns for a perf ring (16-byte gaps).  When the gap is
much wider than the copied bytes, copying word columns with strided
memoryview assignments is cheaper (about 4 ns per word per record); a run
of a few records is copied record by record.
"""

from __future__ import annotations

from array import array

__all__ = ["equal_run", "gather"]

#: source bytes compacted at a time: well inside the L2 cache and under glibc's mmap threshold
#: (128 KiB), so the scratch array reuses heap memory instead of faulting in fresh pages
CHUNK_BYTES = 64 << 10
#: runs shorter than this are copied record by record (a slice assignment each)
SHORT_RUN = 8
_WORDS = ((8, "Q"), (4, "I"), (2, "H"), (1, "B"))


def equal_run(view: memoryview, index: int, step: int, limit: int) -> int:
    """How many items ``view[index + k * step]``, for ``k`` from 0, equal ``view[index]``
    before the first that differs: at least 1, at most ``limit``.

    ``view`` is a one-dimensional memoryview (e.g. of native ``Q`` or ``I``
    items, one per record header); items up to ``index + (limit - 1) * step``
    must lie inside it.
    """
    if limit < 2 or view[index + step] != view[index]:
        return 1
    if limit == 2 or _alike(view, index, step, 2, limit):
        return limit
    good, probe = 2, 4  # items before ``good`` are alike; some item before ``probe`` is not
    while probe < limit and _alike(view, index, step, good, probe):
        good, probe = probe, 2 * probe
    probe = min(probe, limit)
    while probe - good > 1:
        mid = (good + probe) // 2
        if _alike(view, index, step, good, mid):
            good = mid
        else:
            probe = mid
    return good


def _alike(view: memoryview, index: int, step: int, begin: int, end: int) -> bool:
    """Whether items ``begin``..``end - 1`` (``begin`` >= 1) each equal the one before."""
    first = index + begin * step
    last = index + end * step
    return view[first:last:step] == view[first - step:last - step:step]


def gather(dst: memoryview, dst_off: int, src: memoryview, src_off: int, stride: int,
           count: int, size: int) -> None:
    """Copy ``count`` chunks of ``size`` bytes, found every ``stride`` (>= ``size``) bytes from
    ``src[src_off]``, back to back into ``dst`` from ``dst[dst_off]``.

    ``dst`` and ``src`` are byte (``"B"``) memoryviews; every byte read or
    written must lie inside them.
    """
    if stride == size:
        dst[dst_off:dst_off + count * size] = src[src_off:src_off + count * size]
        return
    if count < SHORT_RUN:
        for pos in range(src_off, src_off + count * stride, stride):
            dst[dst_off:dst_off + size] = src[pos:pos + size]
            dst_off += size
        return
    width, fmt = next(word for word in _WORDS if not (size | stride) % word[0])
    if 2 * size < stride - size:
        _copy_columns(dst, dst_off, src, src_off, stride, count, size, width, fmt)
        return
    per_chunk = max(CHUNK_BYTES // stride, 1)
    for first in range(0, count, per_chunk):
        chunk = min(per_chunk, count - first)
        _compact(dst, dst_off + first * size, src, src_off + first * stride, stride, chunk, size,
                 width, fmt)


def _compact(dst: memoryview, dst_off: int, src: memoryview, src_off: int, stride: int,
             count: int, size: int, width: int, fmt: str) -> None:
    """:func:`gather` by removing the gap words between records from a copy of the run."""
    words = array(fmt)
    words.frombytes(src[src_off:src_off + (count - 1) * stride + size])
    keep, step = size // width, stride // width
    while step > keep:  # each pass removes one word of every gap
        del words[keep::step]
        step -= 1
    with memoryview(words) as compacted, compacted.cast("B") as data:
        dst[dst_off:dst_off + count * size] = data


def _copy_columns(dst: memoryview, dst_off: int, src: memoryview, src_off: int, stride: int,
                  count: int, size: int, width: int, fmt: str) -> None:
    """:func:`gather` one word column (the same word of every record) at a time."""
    columns, step = size // width, stride // width
    with dst[dst_off:dst_off + count * size] as out_bytes, out_bytes.cast(fmt) as out, \
            src[src_off:src_off + (count - 1) * stride + size] as in_bytes, \
            in_bytes.cast(fmt) as run:
        for column in range(columns):
            out[column::columns] = run[column::step]
