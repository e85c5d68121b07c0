"""Runs of equal record headers, found with memoryview comparisons (no native code).

A perf ring or BPF ring buffer written by one program holds long runs of
records of one size; the readers find such a run and then deliver it in one
tight loop (one Python call per event, no per-event header parsing).

:func:`equal_run` finds the run by comparing strided memoryviews: the
headers of records 1..k against those of records 0..k-1.  CPython compares
them in C, at under 1 ns per record, and stops at the first difference, so
this is as fast as a native scan and cheaper to call (no ctypes call, no
JIT: the callback paths stay free of llvmlite).  The common case, every
pending record alike, is one comparison; otherwise the run's end is found by
galloping then bisecting, O(k) compared headers for a run of k records
whatever the ``limit``, and a lone record costs one item comparison.
"""

from __future__ import annotations

__all__ = ["equal_run"]


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
