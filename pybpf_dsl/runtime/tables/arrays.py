"""Array tables: ``len`` is max_entries, keys are bounded ints (negative counts from the end)."""

from __future__ import annotations

import ctypes as ct
import os
from typing import Any, Iterator

from .base import TableBase
from .elements import to_ctype

__all__ = ["ArrayBase", "Array", "CgroupArray"]


class ArrayBase(TableBase):
    """Common behaviour of array maps: ``len`` is max_entries, int and negative indices."""

    def _key(self, key: Any) -> Any:
        if isinstance(key, int) and key < 0:
            key += self.max_entries
        key = to_ctype(self.Key, key)
        if not isinstance(key, ct._SimpleCData):
            raise IndexError("Array index must be an integer type")
        if not 0 <= key.value < self.max_entries:
            raise IndexError("Array index out of range")
        return key

    def __len__(self) -> int:
        return self.max_entries

    def __iter__(self) -> Iterator[Any]:
        return map(self.Key, range(self.max_entries))

    def keys(self) -> list:  # type: ignore[override]
        return list(self.__iter__())

    def clearitem(self, key: Any) -> None:
        """Zero the slot at ``key``."""
        self.map.update(self._key(key), self.Leaf())

    def clear(self) -> None:
        """Delete every present slot (arrays of fds, maps, devices)."""
        for k in self.__iter__():
            self.map.delete(k)


class Array(ArrayBase):
    """BPF_MAP_TYPE_ARRAY: ``del t[i]`` and ``clear()`` zero slots (arrays cannot delete)."""

    def __delitem__(self, key: Any) -> None:
        self.clearitem(key)

    def clear(self) -> None:
        self.zero()

    def zero(self) -> None:
        keys = (self.Key * self.max_entries)(*range(self.max_entries))
        self._update_batch(keys, (self.Leaf * self.max_entries)())


class CgroupArray(ArrayBase):
    """BPF_MAP_TYPE_CGROUP_ARRAY: set a cgroup fd or a cgroup directory path."""

    def __setitem__(self, key: Any, leaf: Any) -> None:
        if isinstance(leaf, int):
            super().__setitem__(key, self.Leaf(leaf))
        elif isinstance(leaf, (str, bytes)):
            fd = os.open(leaf, os.O_RDONLY | os.O_CLOEXEC)
            try:
                super().__setitem__(key, self.Leaf(fd))
            finally:
                os.close(fd)
        else:
            raise TypeError("Cgroup array key must be either FD or cgroup path")
