"""Storage tables: cgroup storage (per attached program) and fd-keyed local storage."""

from __future__ import annotations

import ctypes as ct
from typing import Any

from ..maps import Map
from ..uapi import MapType
from .base import TableBase
from .elements import CTYPES, fd_of
from .percpu import PerCpu

__all__ = ["CgroupStorage", "PerCpuCgroupStorage", "LocalStorage"]


class CgroupStorage(TableBase):
    """BPF_MAP_TYPE_CGROUP_STORAGE: entries exist while a program using them is attached."""

    @staticmethod
    def _default_key(map: Map) -> Any:
        if map.key_size == 8:
            return ct.c_ulonglong
        return type("CgroupStorageKey", (ct.Structure,), {
            "_fields_": [("cgroup_inode_id", ct.c_ulonglong), ("attach_type", ct.c_uint)]})


class PerCpuCgroupStorage(PerCpu, CgroupStorage):
    """BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE."""


class LocalStorage(TableBase):
    """Task, socket, inode and cgroup local storage: keyed by an fd (pidfd, socket, file, cgroup).

    Keys may be ints or objects with ``fileno()``.  The kernel cannot
    enumerate these maps from user space, so iteration raises TypeError.
    """

    def _key(self, key: Any) -> Any:
        return key if isinstance(key, CTYPES) else self.Key(fd_of(key))

    def _no_walk(self) -> Any:
        raise TypeError(f"{MapType(self.ttype).name} maps cannot be walked from user space; "
                        "look entries up by fd")

    __iter__ = __len__ = keys = items = values = clear = _no_walk  # type: ignore[assignment]
