"""Per-CPU tables: one value slot per possible CPU, with sum, max, average and a reducer.

The kernel reads and writes per-CPU values in 8-byte aligned slots; as in
bcc, 4-byte (and smaller) integer leaves are widened to 8 bytes in
``Leaf`` and narrowed back to the declared type (``sLeaf``) on read.
"""

from __future__ import annotations

import ctypes as ct
from functools import reduce
from typing import Any, Callable

from ..cpus import num_possible_cpus
from ..maps import percpu_slot_size
from .arrays import Array
from .base import HashTable

__all__ = ["PerCpu", "PerCpuHash", "LruPerCpuHash", "PerCpuArray"]


class PerCpu:
    """Mixin for per-CPU tables; the constructor takes ``reducer=`` after the table arguments."""

    Leaf: Any
    map: Any

    def __init__(self, *args: Any, reducer: Callable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reducer = reducer
        self.total_cpu = num_possible_cpus()
        self.sLeaf = s = self.Leaf
        slot = percpu_slot_size(ct.sizeof(s))
        self.alignment = ct.sizeof(s) % 8
        if not self.alignment:
            elem = s
        elif issubclass(s, ct._SimpleCData) and s._type_ in "bBhHiIlLqQ":
            elem = ct.c_int64 if s._type_ in "bhilq" else ct.c_uint64
        else:
            elem = type(f"{s.__name__}_slot", (ct.Structure,),
                        {"_fields_": [("v", s), ("_pad", ct.c_ubyte * (slot - ct.sizeof(s)))]})
        self._elem = elem
        self.Leaf = elem * self.total_cpu

    def _to_values(self, raw: Any) -> Any:
        if not self.alignment:
            return raw
        ret = (self.sLeaf * self.total_cpu)()
        if issubclass(self._elem, ct.Structure):
            for i in range(self.total_cpu):
                ret[i] = raw[i].v
        else:
            ret[:] = raw[:]    # truncates widened ints back to the declared type
        return ret

    def _reduced(self, vals: Any) -> Any:
        return reduce(self.reducer, vals) if self.reducer else vals

    def _leaves(self, raw: list) -> list:
        return list(map(self._reduced, map(self._to_values, raw)))

    def _leaf(self, leaf: Any) -> Any:
        if isinstance(leaf, ct.Array) and not isinstance(leaf, self.Leaf) and len(leaf) == self.total_cpu:
            out = self.Leaf()
            for i in range(self.total_cpu):
                out[i] = leaf[i] if not issubclass(self._elem, ct.Structure) else self._elem(leaf[i])
            return out
        if isinstance(leaf, int):
            return self.Leaf(*([leaf] * self.total_cpu))
        return leaf

    def getvalue(self, key: Any) -> Any:
        """The per-CPU values of ``key`` as an array of the declared leaf type."""
        raw = self.Leaf()
        if not self.map.lookup(self._key(key), raw):  # type: ignore[attr-defined]
            raise KeyError(key)
        return self._to_values(raw)

    def __getitem__(self, key: Any) -> Any:
        return self._reduced(self.getvalue(key))

    def _int_leaf(self, what: str) -> None:
        if not issubclass(self.sLeaf, ct._SimpleCData):
            raise IndexError(f"Leaf must be an integer type for default {what} functions")

    def sum(self, key: Any) -> Any:
        """The sum over CPUs, as the declared leaf type."""
        self._int_leaf("sum")
        return self.sLeaf(sum(self.getvalue(key)))

    def max(self, key: Any) -> Any:
        """The maximum over CPUs, as the declared leaf type."""
        self._int_leaf("max")
        return self.sLeaf(max(self.getvalue(key)))

    def average(self, key: Any) -> float:
        """The sum over CPUs divided by the number of possible CPUs."""
        return self.sum(key).value / self.total_cpu


class PerCpuHash(PerCpu, HashTable):
    """BPF_MAP_TYPE_PERCPU_HASH; ``reducer`` folds the per-CPU values on read."""


class LruPerCpuHash(PerCpuHash):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH."""


class PerCpuArray(PerCpu, Array):
    """BPF_MAP_TYPE_PERCPU_ARRAY; ``del t[i]`` zeroes every CPU's slot."""
