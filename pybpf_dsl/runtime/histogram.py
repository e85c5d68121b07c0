"""bcc's histogram printers, with bcc's exact output format.

Tables delegate ``print_log2_hist``, ``print_linear_hist`` and
``print_json_hist`` here.  The row formatters (:func:`log2_lines`,
:func:`linear_lines`, :func:`json_hist`) are pure functions of a list of
bucket counts; the ``print_*`` functions read a table's items, split them
into sections when the key is a struct (``{bucket, slot}``, bcc's
``BPF_HISTOGRAM(dist, struct key)``) and print.

Log2 slot ``i`` counts values in ``[2**(i-1), 2**i - 1]`` (slot 1 is
``0 -> 1``); slot 0 is never printed, matching bcc.
"""

from __future__ import annotations

import ctypes
import math
from time import strftime
from typing import Any, Callable, Iterable

__all__ = ["log2_lines", "linear_lines", "json_hist", "print_log2_hist",
           "print_linear_hist", "print_json_hist", "STARS_MAX", "LOG2_INDEX_MAX",
           "LINEAR_INDEX_MAX"]

STARS_MAX = 40
LOG2_INDEX_MAX = 65     # any 64-bit value's log2 slot
LINEAR_INDEX_MAX = 1025


def _stars(val: int, val_max: int, width: int) -> str:
    # bcc appends '*' while i <= width*val/val_max - 1 and i < width.
    t = width * val / val_max - 1
    return "*" * (min(width, math.floor(t) + 1) if t >= 0 else 0)


def _extent(vals: list[int]) -> tuple[int, int]:
    idx_max, val_max = -1, 0
    for i, v in enumerate(vals):
        if v > 0:
            idx_max = i
        if v > val_max:
            val_max = v
    return idx_max, val_max


def log2_lines(vals: list[int], val_type: str = "value",
               strip_leading_zero: bool | None = None) -> list[str]:
    """The lines bcc prints for log2 bucket counts ``vals`` (header first)."""
    idx_max, val_max = _extent(vals)
    if idx_max <= 32:
        header = "     %-19s : count     distribution"
        body = "%10d -> %-10d : %-8d |%-*s|"
        stars = STARS_MAX
    else:
        header = "               %-29s : count     distribution"
        body = "%20d -> %-20d : %-8d |%-*s|"
        stars = STARS_MAX // 2
    lines = [header % val_type] if idx_max > 0 else []
    for i in range(1, idx_max + 1):
        low, high = (1 << i) >> 1, (1 << i) - 1
        if low == high:
            low -= 1
        val = vals[i]
        if strip_leading_zero and not val:
            continue
        strip_leading_zero = False
        lines.append(body % (low, high, val, stars, _stars(val, val_max, stars)))
    return lines


def linear_lines(vals: list[int], val_type: str = "value",
                 strip_leading_zero: bool | None = None) -> list[str]:
    """The lines bcc prints for linear bucket counts ``vals`` (header first)."""
    idx_max, val_max = _extent(vals)
    body = "        %-10d : %-8d |%-*s|"
    lines = ["     %-13s : count     distribution" % val_type] if idx_max >= 0 else []
    for i in range(idx_max + 1):
        val = vals[i]
        if strip_leading_zero and not val:
            continue
        strip_leading_zero = False
        lines.append(body % (i, val, STARS_MAX, _stars(val, val_max, STARS_MAX)))
    return lines


def json_hist(vals: list[int], val_type: str = "value",
              section_bucket: tuple[str, Any] | None = None) -> dict:
    """The dict bcc's print_json_hist prints for log2 bucket counts ``vals``."""
    max_nonzero = 0
    for i, v in enumerate(vals):
        if v != 0:
            max_nonzero = i
    data = []
    index, prev = 1, 0
    for i in range(1, max_nonzero + 1):
        index *= 2
        data.append({"interval-start": prev, "interval-end": index - 1, "count": int(vals[i])})
        prev = index
    hist = {"ts": strftime("%Y-%m-%d %H:%M:%S"), "val_type": val_type, "data": data}
    if section_bucket:
        hist[section_bucket[0]] = section_bucket[1]
    return hist


# ---------------------------------------------------------------- tables

def _count(v: Any) -> int:
    """A bucket's count: ``.value`` of a ctypes int, the sum of a per-CPU array, or an int."""
    if isinstance(v, ctypes.Array):
        return sum(v)
    return getattr(v, "value", v)


def _sections(table: Any, index_max: int, bucket_fn: Callable | None,
              bucket_sort_fn: Callable | None) -> list[tuple[Any, list[int]]]:
    """Split a struct-keyed histogram into (bucket, counts) sections, like bcc."""
    fields = table.Key._fields_
    f1, f2 = fields[0][0], fields[1][0]
    if f2 == "__pad_1" and len(fields) == 3:
        f2 = fields[2][0]
    sections: dict[Any, list[int]] = {}
    for k, v in table.items():
        bucket = getattr(k, f1)
        if bucket_fn:
            bucket = bucket_fn(bucket)
        vals = sections.setdefault(bucket, [0] * index_max)
        vals[getattr(k, f2)] = _count(v)
    order: Iterable = list(sections)
    if bucket_sort_fn:
        order = bucket_sort_fn(list(order))
    return [(b, sections[b]) for b in order]


def _flat(table: Any, index_max: int, name: str) -> list[int]:
    vals = [0] * index_max
    for k, v in table.items():
        idx = getattr(k, "value", k)
        try:
            vals[idx] = _count(v)
        except IndexError:
            raise IndexError(f"Index in {name}() of {idx} exceeds max of {index_max}.") from None
    return vals


def _struct_key(table: Any) -> bool:
    return issubclass(table.Key, ctypes.Structure)


def _print_sections(table: Any, lines_fn: Callable, index_max: int, name: str, val_type: str,
                    section_header: str, section_print_fn: Callable | None,
                    bucket_fn: Callable | None, strip_leading_zero: bool | None,
                    bucket_sort_fn: Callable | None) -> None:
    if _struct_key(table):
        for bucket, vals in _sections(table, index_max, bucket_fn, bucket_sort_fn):
            if section_print_fn:
                print("\n%s = %s" % (section_header, section_print_fn(bucket)))
            else:
                print("\n%s = %r" % (section_header, bucket))
            for line in lines_fn(vals, val_type, strip_leading_zero):
                print(line)
    else:
        for line in lines_fn(_flat(table, index_max, name), val_type, strip_leading_zero):
            print(line)


def print_log2_hist(table: Any, val_type: str = "value", section_header: str = "Bucket ptr",
                    section_print_fn: Callable | None = None, bucket_fn: Callable | None = None,
                    strip_leading_zero: bool | None = None,
                    bucket_sort_fn: Callable | None = None) -> None:
    """Print ``table`` (slot -> count, or {bucket, slot} -> count) as bcc's log2 histogram."""
    _print_sections(table, log2_lines, LOG2_INDEX_MAX, "print_log2_hist", val_type,
                    section_header, section_print_fn, bucket_fn, strip_leading_zero,
                    bucket_sort_fn)


def print_linear_hist(table: Any, val_type: str = "value", section_header: str = "Bucket ptr",
                      section_print_fn: Callable | None = None, bucket_fn: Callable | None = None,
                      strip_leading_zero: bool | None = None,
                      bucket_sort_fn: Callable | None = None) -> None:
    """Print ``table`` (value -> count, or {bucket, value} -> count) as bcc's linear histogram."""
    _print_sections(table, linear_lines, LINEAR_INDEX_MAX, "print_linear_hist", val_type,
                    section_header, section_print_fn, bucket_fn, strip_leading_zero,
                    bucket_sort_fn)


def print_json_hist(table: Any, val_type: str = "value", section_header: str = "Bucket ptr",
                    section_print_fn: Callable | None = None, bucket_fn: Callable | None = None,
                    bucket_sort_fn: Callable | None = None) -> None:
    """Print ``table`` as bcc's JSON-like histogram dicts (one per section)."""
    if _struct_key(table):
        for bucket, vals in _sections(table, LOG2_INDEX_MAX, bucket_fn, bucket_sort_fn):
            label = section_print_fn(bucket) if section_print_fn else bucket
            print(json_hist(vals, val_type, (section_header, label)))
    else:
        print(json_hist(_flat(table, LOG2_INDEX_MAX, "print_json_hist"), val_type))
