"""Tables whose values name kernel objects: programs, maps, sockets, devices, CPUs.

Setting a program, map, socket or AF_XDP socket takes the object itself, a
table, an FD or a plain fd; reading gives what the kernel stores (the
program or map id, the socket cookie).
"""

from __future__ import annotations

from typing import Any

from .arrays import ArrayBase
from .base import HashTable
from .elements import CTYPES, fd_of

__all__ = ["ProgArray", "MapInMapArray", "MapInMapHash", "DevMap", "DevMapHash", "CpuMap",
           "XskMap", "SockMap", "SockHash"]


class _FdLeaf:
    """Leaves given as objects with a file descriptor (``fileno()``, ``.fd``) or ints."""

    Leaf: Any

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, CTYPES) else self.Leaf(fd_of(leaf))


class ProgArray(_FdLeaf, ArrayBase):
    """BPF_MAP_TYPE_PROG_ARRAY: set a program (fd, FD or object with ``.fd``); lookups give its id."""


class MapInMapArray(_FdLeaf, ArrayBase):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS: set a map (Map, table or fd); lookups give the inner map id."""


class MapInMapHash(_FdLeaf, HashTable):
    """BPF_MAP_TYPE_HASH_OF_MAPS: set a map (Map, table or fd); lookups give the inner map id."""


class XskMap(_FdLeaf, ArrayBase):
    """BPF_MAP_TYPE_XSKMAP: queue index -> AF_XDP socket fd."""


class SockMap(_FdLeaf, ArrayBase):
    """BPF_MAP_TYPE_SOCKMAP: set a socket (or its fd); lookups give the socket cookie."""


class SockHash(_FdLeaf, HashTable):
    """BPF_MAP_TYPE_SOCKHASH: set a socket (or its fd); lookups give the socket cookie."""


class DevMap(ArrayBase):
    """BPF_MAP_TYPE_DEVMAP: index -> ifindex (or struct bpf_devmap_val)."""


class DevMapHash(HashTable):
    """BPF_MAP_TYPE_DEVMAP_HASH: key -> ifindex (or struct bpf_devmap_val)."""


class CpuMap(ArrayBase):
    """BPF_MAP_TYPE_CPUMAP: cpu -> queue size (or struct bpf_cpumap_val)."""
