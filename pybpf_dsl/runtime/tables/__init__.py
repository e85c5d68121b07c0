"""bcc's user-space table API over live maps.

:func:`table_for` picks the class for a map's type, exactly as bcc's
``Table()`` does (HashTable, Array, PerCpuHash, ...), plus classes bcc lacks
(DevMapHash, SockMap, SockHash, CgroupStorage, LocalStorage, BloomFilter)::

    counts = table_for(Map.create(spec), key_type=ct.c_uint, leaf_type=ct.c_ulong)
    counts[1] = ct.c_ulong(5)          # ints work too: counts[1] = 5
    for k, v in sorted(counts.items(), key=lambda kv: kv[1].value): ...
    counts.clear()

``Key`` and ``Leaf`` are ctypes types (defaults: the unsigned integer of the
map's key/value size, or a ``c_ubyte`` array).  ``items()``, ``keys()``,
``values()``, ``len()`` and ``clear()`` use the kernel's batch commands on
hash, array, per-CPU and LRU maps (one syscall per few thousand entries,
decoded whole, the next chunk fetched while the current one is decoded)
and fall back to walking keys where the kernel has no batch support.

Modules: :mod:`.base` (the mapping protocol, hashes), :mod:`.batch` (batch
reads and writes), :mod:`.elements` (ctypes types), :mod:`.arrays`,
:mod:`.percpu`, :mod:`.objects` (programs, maps, sockets, devices),
:mod:`.special` (LPM trie, stack traces), :mod:`.storage`, :mod:`.events`
(perf and ring buffers), :mod:`.values` (queue, stack, bloom filter).
"""

from __future__ import annotations

from typing import Any, Callable

from ..maps import PERCPU_TYPES, Map
from ..uapi import MapType
from .arrays import Array, ArrayBase, CgroupArray
from .base import HashTable, LruHash, TableBase
from .elements import default_ctype
from .events import PerfEventArray, RingBuf
from .objects import (CpuMap, DevMap, DevMapHash, MapInMapArray, MapInMapHash, ProgArray, SockHash,
                      SockMap, XskMap)
from .percpu import LruPerCpuHash, PerCpuArray, PerCpuHash
from .special import LpmTrie, StackTrace
from .storage import CgroupStorage, LocalStorage, PerCpuCgroupStorage
from .values import BloomFilter, QueueStack

__all__ = [
    "table_for", "TableBase", "HashTable", "LruHash", "Array", "ArrayBase", "ProgArray",
    "PerfEventArray", "PerCpuHash", "LruPerCpuHash", "PerCpuArray", "LpmTrie", "StackTrace",
    "CgroupArray", "DevMap", "DevMapHash", "CpuMap", "XskMap", "MapInMapArray", "MapInMapHash",
    "QueueStack", "RingBuf", "SockMap", "SockHash", "CgroupStorage", "PerCpuCgroupStorage",
    "LocalStorage", "BloomFilter", "default_ctype",
]

_CLASSES: dict[MapType, type] = {
    MapType.HASH: HashTable, MapType.ARRAY: Array, MapType.PROG_ARRAY: ProgArray,
    MapType.PERF_EVENT_ARRAY: PerfEventArray, MapType.PERCPU_HASH: PerCpuHash,
    MapType.PERCPU_ARRAY: PerCpuArray, MapType.LPM_TRIE: LpmTrie, MapType.STACK_TRACE: StackTrace,
    MapType.LRU_HASH: LruHash, MapType.LRU_PERCPU_HASH: LruPerCpuHash,
    MapType.CGROUP_ARRAY: CgroupArray, MapType.DEVMAP: DevMap, MapType.DEVMAP_HASH: DevMapHash,
    MapType.CPUMAP: CpuMap, MapType.XSKMAP: XskMap, MapType.ARRAY_OF_MAPS: MapInMapArray,
    MapType.HASH_OF_MAPS: MapInMapHash, MapType.QUEUE: QueueStack, MapType.STACK: QueueStack,
    MapType.RINGBUF: RingBuf, MapType.SOCKMAP: SockMap, MapType.SOCKHASH: SockHash,
    MapType.REUSEPORT_SOCKARRAY: SockMap, MapType.CGROUP_STORAGE: CgroupStorage,
    MapType.PERCPU_CGROUP_STORAGE: PerCpuCgroupStorage, MapType.TASK_STORAGE: LocalStorage,
    MapType.SK_STORAGE: LocalStorage, MapType.INODE_STORAGE: LocalStorage,
    MapType.CGRP_STORAGE: LocalStorage, MapType.BLOOM_FILTER: BloomFilter,
}


def table_for(map: Map, key_type: Any = None, leaf_type: Any = None, reducer: Callable | None = None,
              name: str = "", owner: Any = None) -> Any:
    """The bcc table object for ``map``, chosen by its type.

    ``key_type``/``leaf_type`` override the map's ctypes types; ``reducer``
    folds per-CPU values; ``owner`` is the program object whose
    ``perf_buffers``/``ring_buffer`` the buffer tables register with.
    """
    cls = _CLASSES.get(map.type)
    if cls is None:
        raise TypeError(f"no table class for {map.type.name} maps (map {map.name!r})")
    if map.type in PERCPU_TYPES:
        return cls(map, key_type, leaf_type, name, owner, reducer=reducer)
    return cls(map, key_type, leaf_type, name, owner)
