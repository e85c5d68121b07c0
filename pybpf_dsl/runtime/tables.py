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
``values()`` and ``clear()`` use the kernel's batch commands on hash, array,
per-CPU and LRU maps (one syscall per few thousand entries, decoded whole),
and fall back to walking keys where the kernel has no batch support.
"""

from __future__ import annotations

import ctypes as ct
import errno as _errno
import gc
import os
from collections.abc import MutableMapping
from functools import reduce
from typing import Any, Callable, Iterator

from ..errors import SyscallError, syscall_error
from . import histogram
from .cpus import num_possible_cpus
from .maps import PERCPU_TYPES, Map, percpu_slot_size
from .syscall import elem_call as _elem_call
from .table_text import format_value, scan_value
from .uapi import Cmd, MapType

__all__ = [
    "table_for", "TableBase", "HashTable", "LruHash", "Array", "ArrayBase", "ProgArray",
    "PerfEventArray", "PerCpuHash", "LruPerCpuHash", "PerCpuArray", "LpmTrie", "StackTrace",
    "CgroupArray", "DevMap", "DevMapHash", "CpuMap", "XskMap", "MapInMapArray", "MapInMapHash",
    "QueueStack", "RingBuf", "SockMap", "SockHash", "CgroupStorage", "PerCpuCgroupStorage",
    "LocalStorage", "BloomFilter", "default_ctype",
]

_LOOKUP, _UPDATE = int(Cmd.MAP_LOOKUP_ELEM), int(Cmd.MAP_UPDATE_ELEM)
_addressof = ct.addressof
_CHUNK = 8192                 # entries per batch syscall
_NO_BATCH = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, 524})   # 524: ENOTSUPP
_BATCH_TYPES = frozenset({MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                          MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
_FAST_CODES = frozenset("bBhHiIlLqQfd?cP")
_CTYPES = (ct._SimpleCData, ct.Structure, ct.Union, ct.Array, ct._Pointer)
_INT_BY_SIZE = {1: ct.c_ubyte, 2: ct.c_ushort, 4: ct.c_uint, 8: ct.c_ulonglong}


class _Unsupported(Exception):
    """The kernel has no batch command for this map type."""


def default_ctype(size: int) -> Any:
    """The ctypes type bcc-style tables use for ``size`` bytes with no declared type."""
    return _INT_BY_SIZE.get(size) or (ct.c_ubyte * size)


def _decoder(ctype: Any) -> Callable[[Any, int], list]:
    """A function turning the first ``n`` elements of a ctypes array into objects of ``ctype``."""
    code = getattr(ctype, "_type_", None)
    if isinstance(code, str) and code in _FAST_CODES and issubclass(ctype, ct._SimpleCData):
        size = ct.sizeof(ctype)

        def fast(arr: Any, n: int) -> list:
            return list(map(ctype, memoryview(arr).cast("B")[: n * size].cast(code).tolist()))
        return fast
    return lambda arr, n: arr[:n]   # structs and arrays: views into the batch buffer


def _fd_of(obj: Any) -> int:
    """An fd from an int, an object with fileno(), or an object with an ``fd`` attribute."""
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "fileno"):
        return obj.fileno()
    fd = getattr(obj, "fd", None)
    if fd is not None:
        return _fd_of(fd)
    raise TypeError(f"expected a file descriptor, got {type(obj).__name__}")


# ---------------------------------------------------------------- the base class

class TableBase(MutableMapping):
    """A bcc table: a live map seen as a mapping of ``Key`` to ``Leaf`` ctypes objects.

    ``bpf`` is the owning program object (or None), ``map`` the :class:`Map`,
    ``map_fd``/``map_id`` its fd and kernel id.  Missing keys raise KeyError;
    a failed update raises :class:`~pybpf_dsl.errors.SyscallError`
    (:class:`~pybpf_dsl.errors.MapFullError` when the map is full).
    """

    def __init__(self, map: Map, key_type: Any = None, leaf_type: Any = None,
                 name: str = "", owner: Any = None) -> None:
        self.map = map
        self.bpf = owner
        self.map_fd = map.fileno()
        self.map_id = map.id
        self.ttype = int(map.type)
        self.flags = map.flags
        self.max_entries = map.max_entries
        self.name = self._name = name or map.name
        self.Key = key_type or map.key_type or self._default_key(map)
        self.Leaf = leaf_type or map.value_type or self._default_leaf(map)
        self._check_size("key", self.Key, map.key_size)
        self._check_size("leaf", self.Leaf, map.value_size)
        self._cbs: dict = {}
        self._no_batch: set[Cmd] = set() if map.type in _BATCH_TYPES else set(Cmd)
        self._decode_key = _decoder(self.Key)
        self._decode_leaf = _decoder(self.Leaf)

    @staticmethod
    def _default_key(map: Map) -> Any:
        return default_ctype(map.key_size)

    @staticmethod
    def _default_leaf(map: Map) -> Any:
        return default_ctype(map.value_size)

    def _check_size(self, what: str, ctype: Any, size: int) -> None:
        if ct.sizeof(ctype) != size:
            raise ValueError(f"table {self.name!r}: {what} type {ctype.__name__} is "
                             f"{ct.sizeof(ctype)} bytes, the map's {what} is {size}")

    def get_fd(self) -> int:
        """The map's file descriptor."""
        return self.map_fd

    # -- conversions
    def _key(self, key: Any) -> Any:
        if isinstance(key, int):
            return self.Key(key)
        if isinstance(key, (bytes, bytearray)):
            return self.Key.from_buffer_copy(key)
        return key

    def _leaf(self, leaf: Any) -> Any:
        if isinstance(leaf, int):
            return self.Leaf(leaf)
        if isinstance(leaf, (bytes, bytearray)):
            return self.Leaf.from_buffer_copy(leaf)
        return leaf

    def key_sprintf(self, key: Any) -> bytes:
        """The key in bcc's printed form (``b"{ 0x1 \\"comm\\" }"``)."""
        return format_value(self.Key, self._key(key)).encode("latin-1")

    def leaf_sprintf(self, leaf: Any) -> bytes:
        """The leaf in bcc's printed form."""
        return format_value(self.Leaf, self._leaf(leaf)).encode("latin-1")

    def key_scanf(self, key_str: str | bytes) -> Any:
        """Parse bcc's printed form (ints in any C base) into a Key."""
        return scan_value(self.Key, key_str)

    def leaf_scanf(self, leaf_str: str | bytes) -> Any:
        """Parse bcc's printed form into a Leaf."""
        return scan_value(self.Leaf, leaf_str)

    # -- single elements
    # The two per-entry hot paths call the syscall layer directly on ctypes addresses.
    def __getitem__(self, key: Any) -> Any:
        leaf = self.Leaf()
        err = _elem_call(_LOOKUP, self.map_fd, _addressof(self._key(key)), _addressof(leaf), 0)
        if err:
            if err == _errno.ENOENT:
                raise KeyError(key)
            raise syscall_error("BPF_MAP_LOOKUP_ELEM", err, f"looking up in table {self.name!r}")
        return leaf

    def __setitem__(self, key: Any, leaf: Any) -> None:
        if type(key) is not self.Key:
            key = self._key(key)
        if type(leaf) is not self.Leaf:
            leaf = self._leaf(leaf)
        err = _elem_call(_UPDATE, self.map_fd, _addressof(key), _addressof(leaf), 0)
        if err:
            raise syscall_error("BPF_MAP_UPDATE_ELEM", err, f"could not update table {self.name!r}")

    def __delitem__(self, key: Any) -> None:
        if not self.map.delete(self._key(key)):
            raise KeyError(key)

    # -- iteration (live, BPF_MAP_GET_NEXT_KEY)
    def __iter__(self) -> Iterator[Any]:
        key = None
        nxt = self.Key()
        while self.map.get_next_key(key, nxt):
            yield nxt
            key, nxt = nxt, self.Key()

    def iter(self) -> Iterator[Any]:
        return self.__iter__()

    def next(self, key: Any) -> Any:
        """The key after ``key`` (the first when None); StopIteration at the end."""
        nxt = self.Key()
        if not self.map.get_next_key(None if key is None else self._key(key), nxt):
            raise StopIteration()
        return nxt

    def __len__(self) -> int:
        return len(self.keys())

    def itervalues(self) -> Iterator[Any]:
        for key in self:
            try:
                yield self[key]
            except KeyError:   # deleted between finding the key and reading it
                pass

    def iteritems(self) -> Iterator[tuple[Any, Any]]:
        for key in self:
            try:
                yield key, self[key]
            except KeyError:
                pass

    # -- bulk reads
    def keys(self) -> list:  # type: ignore[override]
        """Every key, as a list (one batch syscall per few thousand entries where supported)."""
        fetched = self._fetch(Cmd.MAP_LOOKUP_BATCH, "keys")
        return fetched if fetched is not None else list(self.__iter__())

    def items(self) -> list:  # type: ignore[override]
        """Every (key, leaf) pair, as a list."""
        fetched = self._fetch(Cmd.MAP_LOOKUP_BATCH, "items")
        return fetched if fetched is not None else list(self.iteritems())

    def values(self) -> list:  # type: ignore[override]
        """Every leaf, as a list."""
        fetched = self._fetch(Cmd.MAP_LOOKUP_BATCH, "values")
        return fetched if fetched is not None else list(self.itervalues())

    def clear(self) -> None:
        """Delete every entry."""
        if self._fetch(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, "nothing") is None:
            for k in list(self.__iter__()):
                self.map.delete(k)

    def zero(self) -> None:
        """Set every present entry's leaf to zero."""
        keys = self.keys()
        if keys:
            self._update_batch(keys, [self.Leaf() for _ in keys])

    # -- batches
    def _raw_leaf_type(self) -> Any:
        return self.Leaf

    def _decode_values(self, arr: Any, n: int) -> list:
        return self._decode_leaf(arr, n)

    def _fetch(self, cmd: Cmd, what: str) -> list | None:
        """Every entry through batch ``cmd`` (lookup, or lookup-and-delete); None if unsupported.

        ``what`` picks the result: a list of "items" (pairs), "keys" or
        "values", or "nothing" (just run the command: clear).  Decoding
        creates many small objects at once, so the cyclic GC is paused
        meanwhile: its repeated full passes would otherwise dominate.
        """
        if cmd in self._no_batch:
            return None
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            out: list = []
            dec_k, dec_v = self._decode_key, self._decode_values
            for karr, varr, n in self._chunks(cmd):
                if what == "items":
                    out.extend(zip(dec_k(karr, n), dec_v(varr, n)))
                elif what == "keys":
                    out.extend(dec_k(karr, n))
                elif what == "values":
                    out.extend(dec_v(varr, n))
            return out
        except _Unsupported:
            self._no_batch.add(cmd)
            return None
        finally:
            if gc_was_on:
                gc.enable()

    def _chunks(self, cmd: Cmd) -> Iterator[tuple[Any, Any, int]]:
        """Run batch ``cmd`` until the map is exhausted, yielding (keys, values, count) arrays."""
        key_t, leaf_t = self.Key, self._raw_leaf_type()
        chunk = max(1, min(self.max_entries, _CHUNK))
        token = (ct.c_ubyte * max(8, ct.sizeof(key_t)))()
        first = True
        while True:
            karr, varr = (key_t * chunk)(), (leaf_t * chunk)()
            try:
                n, finished = self.map.batch(cmd, karr, varr, chunk,
                                             in_batch=None if first else token, out_batch=token)
            except SyscallError as e:
                if e.errno == _errno.ENOSPC and chunk < self.max_entries:
                    chunk *= 2          # one hash bucket holds more than a chunk
                    continue
                if first and e.errno in _NO_BATCH:
                    raise _Unsupported from e
                raise
            first = False
            if n:
                yield karr, varr, n
            if finished:
                return

    def _as_array(self, ctype: Any, items: Any) -> Any:
        if isinstance(items, ct.Array) and items._type_ is ctype:
            return items
        conv = self._key if ctype is self.Key else self._leaf
        return (ctype * len(items))(*[conv(x) for x in items])

    def _check_count(self, n: int) -> None:
        if n < 1 or n > self.max_entries:
            raise ValueError(f"batch of {n} entries: need 1..{self.max_entries}")

    def _update_batch(self, keys: Any, values: Any) -> None:
        karr = self._as_array(self.Key, keys)
        varr = self._as_array(self._raw_leaf_type(), values)
        if len(karr) != len(varr):
            raise ValueError("keys array length != values array length")
        self._check_count(len(karr))
        kbase, ksize = ct.addressof(karr), ct.sizeof(karr._type_)
        vbase, vsize = ct.addressof(varr), ct.sizeof(varr._type_)
        start = 0
        if Cmd.MAP_UPDATE_BATCH not in self._no_batch:
            try:
                for start in range(0, len(karr), _CHUNK):
                    n = min(_CHUNK, len(karr) - start)
                    self.map.batch(Cmd.MAP_UPDATE_BATCH, kbase + start * ksize,
                                   vbase + start * vsize, n)
                return
            except SyscallError as e:
                if start or e.errno not in _NO_BATCH:
                    raise
                self._no_batch.add(Cmd.MAP_UPDATE_BATCH)
        for i in range(len(karr)):    # addresses of element i in both arrays
            self.map.update(kbase + i * ksize, vbase + i * vsize)

    def items_lookup_batch(self) -> Iterator[tuple[Any, Any]]:
        """Yield every (key, leaf) read with BPF_MAP_LOOKUP_BATCH."""
        fetched = self._fetch(Cmd.MAP_LOOKUP_BATCH, "items")
        if fetched is None:
            raise SyscallError("BPF_MAP_LOOKUP_BATCH", _errno.EOPNOTSUPP,
                               f"table {self.name!r} ({MapType(self.ttype).name})")
        yield from fetched

    def items_lookup_and_delete_batch(self) -> Iterator[tuple[Any, Any]]:
        """Yield every (key, leaf), deleting them (BPF_MAP_LOOKUP_AND_DELETE_BATCH)."""
        fetched = self._fetch(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, "items")
        if fetched is None:
            raise SyscallError("BPF_MAP_LOOKUP_AND_DELETE_BATCH", _errno.EOPNOTSUPP,
                               f"table {self.name!r} ({MapType(self.ttype).name})")
        yield from fetched

    def items_delete_batch(self, ct_keys: Any = None) -> None:
        """Delete ``ct_keys`` (a ctypes array or a sequence of keys; absent keys are
        skipped), or everything when None."""
        if ct_keys is None:
            if self._fetch(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, "nothing") is None:
                raise SyscallError("BPF_MAP_LOOKUP_AND_DELETE_BATCH", _errno.EOPNOTSUPP,
                                   f"table {self.name!r} ({MapType(self.ttype).name})")
            return
        karr = self._as_array(self.Key, ct_keys)
        self._check_count(len(karr))
        base, size, done = ct.addressof(karr), ct.sizeof(self.Key), 0
        while done < len(karr):
            n, _ = self.map.batch(Cmd.MAP_DELETE_BATCH, base + done * size, None, len(karr) - done)
            done += n + 1      # the kernel stops at an absent key (ENOENT): skip it

    def items_update_batch(self, ct_keys: Any, ct_values: Any) -> None:
        """Set each key to the value at the same position (arrays or sequences)."""
        self._update_batch(ct_keys, ct_values)

    # -- histograms
    def print_log2_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Callable | None = None, bucket_fn: Callable | None = None,
                        strip_leading_zero: bool | None = None,
                        bucket_sort_fn: Callable | None = None) -> None:
        """Print a log2 histogram (see :func:`pybpf_dsl.runtime.histogram.print_log2_hist`)."""
        histogram.print_log2_hist(self, val_type, section_header, section_print_fn, bucket_fn,
                                  strip_leading_zero, bucket_sort_fn)

    def print_linear_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                          section_print_fn: Callable | None = None, bucket_fn: Callable | None = None,
                          strip_leading_zero: bool | None = None,
                          bucket_sort_fn: Callable | None = None) -> None:
        """Print a linear histogram (see :func:`pybpf_dsl.runtime.histogram.print_linear_hist`)."""
        histogram.print_linear_hist(self, val_type, section_header, section_print_fn, bucket_fn,
                                    strip_leading_zero, bucket_sort_fn)

    def print_json_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Callable | None = None, bucket_fn: Callable | None = None,
                        bucket_sort_fn: Callable | None = None) -> None:
        """Print the histogram as bcc's JSON-like dicts."""
        histogram.print_json_hist(self, val_type, section_header, section_print_fn, bucket_fn,
                                  bucket_sort_fn)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} fd={self.map_fd}>"


# ---------------------------------------------------------------- hashes

class HashTable(TableBase):
    """BPF_MAP_TYPE_HASH."""


class LruHash(HashTable):
    """BPF_MAP_TYPE_LRU_HASH: the kernel evicts the least recently used entry when full."""


class MapInMapHash(HashTable):
    """BPF_MAP_TYPE_HASH_OF_MAPS: set a map (Map, table or fd); lookups give the inner map id."""

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, _CTYPES) else self.Leaf(_fd_of(getattr(leaf, "map", leaf)))


class DevMapHash(HashTable):
    """BPF_MAP_TYPE_DEVMAP_HASH: key -> ifindex (or struct bpf_devmap_val)."""


class SockHash(HashTable):
    """BPF_MAP_TYPE_SOCKHASH: set a socket (or its fd); lookups give the socket cookie."""

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, _CTYPES) else self.Leaf(_fd_of(leaf))


# ---------------------------------------------------------------- arrays

class ArrayBase(TableBase):
    """Common behaviour of array maps: ``len`` is max_entries, int and negative indices."""

    def _key(self, key: Any) -> Any:
        if isinstance(key, int):
            if key < 0:
                key += self.max_entries
            key = self.Key(key)
        elif isinstance(key, (bytes, bytearray)):
            key = self.Key.from_buffer_copy(key)
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
        self._update_batch(keys, (self._raw_leaf_type() * self.max_entries)())


class ProgArray(ArrayBase):
    """BPF_MAP_TYPE_PROG_ARRAY: set a program (fd, FD or object with ``.fd``); lookups give its id."""

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, _CTYPES) else self.Leaf(_fd_of(leaf))


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


class DevMap(ArrayBase):
    """BPF_MAP_TYPE_DEVMAP: index -> ifindex (or struct bpf_devmap_val)."""


class CpuMap(ArrayBase):
    """BPF_MAP_TYPE_CPUMAP: cpu -> queue size (or struct bpf_cpumap_val)."""


class XskMap(ArrayBase):
    """BPF_MAP_TYPE_XSKMAP: queue index -> AF_XDP socket fd."""

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, _CTYPES) else self.Leaf(_fd_of(leaf))


class MapInMapArray(ArrayBase):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS: set a map (Map, table or fd); lookups give the inner map id."""

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, _CTYPES) else self.Leaf(_fd_of(getattr(leaf, "map", leaf)))


class SockMap(ArrayBase):
    """BPF_MAP_TYPE_SOCKMAP: set a socket (or its fd); lookups give the socket cookie."""

    def _leaf(self, leaf: Any) -> Any:
        return leaf if isinstance(leaf, _CTYPES) else self.Leaf(_fd_of(leaf))


class _EventTable:
    """``event(data)``: decode an event address with the front end's ``event_type``."""

    event_type: Any = None

    def event(self, data: int) -> Any:
        """The event at address ``data`` as an ``event_type`` ctypes struct."""
        if self.event_type is None:
            raise TypeError(f"table {self.name!r} has no event type (the program did not record "  # type: ignore[attr-defined]
                            "what it submits): use ctypes.cast(data, ctypes.POINTER(T)).contents")
        return ct.cast(data, ct.POINTER(self.event_type)).contents


class PerfEventArray(_EventTable, ArrayBase):
    """BPF_MAP_TYPE_PERF_EVENT_ARRAY: per-CPU perf buffers or counters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.perf_buffer = None
        self._events: dict[int, Any] = {}

    def open_perf_buffer(self, callback: Callable, page_cnt: int = 8, lost_cb: Callable | None = None,
                         wakeup_events: int = 1) -> Any:
        """Open a perf ring per CPU; ``callback(cpu, data, size)`` runs for each event on poll.

        ``page_cnt`` (a power of two) sizes each ring; ``lost_cb(count)`` gets
        lost-sample counts.  The reader is stored in the owner's
        ``perf_buffers[name]`` so ``perf_buffer_poll()`` finds it.
        """
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise ValueError("Perf buffer page_cnt must be a power of two")
        from .perf_buffer import PerfBuffer
        buf = PerfBuffer(self.map_fd, callback, lost_cb, page_cnt=page_cnt,
                         wakeup_events=wakeup_events)
        self.perf_buffer = buf
        if self.bpf is not None:
            self.bpf.perf_buffers[self.name] = buf
        return buf

    def open_perf_event(self, typ: int, config: int, pid: int = -1) -> None:
        """Open counter ``(typ, config)`` on every online CPU for the program's perf_read()."""
        from . import syscall, uapi
        from .cpus import online_cpus
        for cpu in online_cpus():
            attr = uapi.ffi.new("struct perf_event_attr *")
            attr.type, attr.size, attr.config = typ, uapi.PERF_ATTR_SIZE, config
            fd = syscall.perf_event_open(attr, pid, cpu, what=f"opening counter on CPU {cpu}")
            self.map.update(self.Key(cpu), self.Leaf(fd.fileno()))
            old = self._events.pop(cpu, None)
            if old is not None:
                old.close()
            self._events[cpu] = fd

    def __delitem__(self, key: Any) -> None:
        k = self._key(key)
        self.map.delete(k)
        ev = self._events.pop(k.value, None)
        if ev is not None:
            ev.close()

    def close(self) -> None:
        """Close the perf buffer and counters this table opened."""
        if self.perf_buffer is not None:
            if self.bpf is not None and self.bpf.perf_buffers.get(self.name) is self.perf_buffer:
                del self.bpf.perf_buffers[self.name]
            self.perf_buffer.close()
            self.perf_buffer = None
        for cpu in list(self._events):
            del self[cpu]


# ---------------------------------------------------------------- per-CPU

class _PerCpu:
    """Per-CPU values: one slot per possible CPU; 4-byte ints are read as 8 (bcc)."""

    def _setup_percpu(self, reducer: Callable | None) -> None:
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

    def _raw_leaf_type(self) -> Any:
        return self.Leaf

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

    def _present(self, raw: Any) -> Any:
        vals = self._to_values(raw)
        return reduce(self.reducer, vals) if self.reducer else vals

    def _decode_values(self, arr: Any, n: int) -> list:
        return [self._present(arr[i]) for i in range(n)]

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
        if not self.map.lookup(self._key(key), raw):
            raise KeyError(key)
        return self._to_values(raw)

    def __getitem__(self, key: Any) -> Any:
        vals = self.getvalue(key)
        return reduce(self.reducer, vals) if self.reducer else vals

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


class PerCpuHash(_PerCpu, HashTable):
    """BPF_MAP_TYPE_PERCPU_HASH; ``reducer`` folds the per-CPU values on read."""

    def __init__(self, *args: Any, reducer: Callable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_percpu(reducer)


class LruPerCpuHash(PerCpuHash):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH."""


class PerCpuArray(_PerCpu, Array):
    """BPF_MAP_TYPE_PERCPU_ARRAY; ``del t[i]`` zeroes every CPU's slot."""

    def __init__(self, *args: Any, reducer: Callable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_percpu(reducer)


# ---------------------------------------------------------------- other keyed maps

class LpmTrie(TableBase):
    """BPF_MAP_TYPE_LPM_TRIE: keys are ``{u32 prefixlen; u8 data[]}``; ``len()`` is not supported."""

    @staticmethod
    def _default_key(map: Map) -> Any:
        return type("LpmKey", (ct.Structure,), {
            "_fields_": [("prefixlen", ct.c_uint), ("data", ct.c_ubyte * (map.key_size - 4))]})

    def __len__(self) -> int:
        raise NotImplementedError


class StackTrace(TableBase):
    """BPF_MAP_TYPE_STACK_TRACE: ``walk(stack_id)`` yields the addresses of one stack."""

    MAX_DEPTH = 127
    BPF_F_STACK_BUILD_ID = 1 << 5
    BPF_STACK_BUILD_ID_EMPTY = 0
    BPF_STACK_BUILD_ID_VALID = 1
    BPF_STACK_BUILD_ID_IP = 2

    @staticmethod
    def _default_leaf(map: Map) -> Any:
        if map.flags & StackTrace.BPF_F_STACK_BUILD_ID:
            entry = type("StackBuildId", (ct.Structure,), {"_fields_": [
                ("status", ct.c_int), ("build_id", ct.c_ubyte * 20), ("offset", ct.c_ulonglong)]})
            return type("StackTrace", (ct.Structure,), {
                "_fields_": [("trace", entry * (map.value_size // ct.sizeof(entry)))]})
        return type("StackTrace", (ct.Structure,), {
            "_fields_": [("ip", ct.c_ulonglong * (map.value_size // 8))]})

    def walk(self, stack_id: int, resolve: Callable[[int], Any] | None = None) -> Iterator[Any]:
        """The frames of ``stack_id`` (innermost first), through ``resolve`` when given.

        KeyError (raised here, not on iteration) when the stack id is unknown.
        """
        return self._frames(self[self.Key(stack_id)], resolve)

    def _frames(self, stack: Any, resolve: Callable[[int], Any] | None) -> Iterator[Any]:
        build_id = self.flags & self.BPF_F_STACK_BUILD_ID
        frames = stack.trace if build_id else stack.ip
        for n in range(min(self.MAX_DEPTH, len(frames))):
            if build_id:
                entry = frames[n]
                if entry.status in (self.BPF_STACK_BUILD_ID_IP, self.BPF_STACK_BUILD_ID_EMPTY):
                    return
                addr = entry
            else:
                addr = frames[n]
                if addr == 0:
                    return
            yield resolve(addr) if resolve else addr

    def __len__(self) -> int:
        return sum(1 for _ in self.__iter__())

    def clear(self) -> None:
        """Does nothing, as in bcc (stack ids stay valid for counts read later)."""


class CgroupStorage(TableBase):
    """BPF_MAP_TYPE_CGROUP_STORAGE: entries exist while a program using them is attached."""

    @staticmethod
    def _default_key(map: Map) -> Any:
        if map.key_size == 8:
            return ct.c_ulonglong
        return type("CgroupStorageKey", (ct.Structure,), {
            "_fields_": [("cgroup_inode_id", ct.c_ulonglong), ("attach_type", ct.c_uint)]})


class PerCpuCgroupStorage(_PerCpu, CgroupStorage):
    """BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE."""

    def __init__(self, *args: Any, reducer: Callable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_percpu(reducer)


class LocalStorage(TableBase):
    """Task, socket, inode and cgroup local storage: keyed by an fd (pidfd, socket, file, cgroup).

    Keys may be ints or objects with ``fileno()``.  The kernel cannot
    enumerate these maps from user space, so iteration raises TypeError.
    """

    def _key(self, key: Any) -> Any:
        return key if isinstance(key, _CTYPES) else self.Key(_fd_of(key))

    def _no_walk(self) -> Any:
        raise TypeError(f"{MapType(self.ttype).name} maps cannot be walked from user space; "
                        "look entries up by fd")

    __iter__ = __len__ = keys = items = values = clear = _no_walk  # type: ignore[assignment]


class RingBuf(_EventTable, TableBase):
    """BPF_MAP_TYPE_RINGBUF: ``open_ring_buffer(callback)``; no elements from user space."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ring_buffer = None

    @staticmethod
    def _default_key(map: Map) -> Any:
        return ct.c_ubyte * 0

    _default_leaf = _default_key

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def open_ring_buffer(self, callback: Callable, ctx: Any = None) -> Any:
        """Register ``callback(ctx, data, size)`` with the owner's ring buffer reader."""
        from .ring_buffer import RingBuffer
        owner = self.bpf
        if owner is not None:
            if owner.ring_buffer is None:
                owner.ring_buffer = RingBuffer()
            reader = owner.ring_buffer
        else:
            reader = self.ring_buffer or RingBuffer()
        self.ring_buffer = reader
        reader.add(self.map_fd, callback, ctx)
        return reader


# ---------------------------------------------------------------- value-only maps

class _ValueOnly:
    """Maps with values but no keys: queues, stacks and bloom filters."""

    BPF_EXIST = 2

    def __init__(self, map: Map, key_type: Any = None, leaf_type: Any = None,
                 name: str = "", owner: Any = None) -> None:
        self.map = map
        self.bpf = owner
        self.map_fd = map.fileno()
        self.map_id = map.id
        self.ttype = int(map.type)
        self.flags = map.flags
        self.max_entries = map.max_entries
        self.name = self._name = name or map.name
        self.Leaf = leaf_type or map.value_type or default_ctype(map.value_size)
        if ct.sizeof(self.Leaf) != map.value_size:
            raise ValueError(f"table {self.name!r}: leaf type {self.Leaf.__name__} is "
                             f"{ct.sizeof(self.Leaf)} bytes, the map's value is {map.value_size}")

    def get_fd(self) -> int:
        return self.map_fd

    def _leaf(self, leaf: Any) -> Any:
        return self.Leaf(leaf) if isinstance(leaf, int) else leaf

    def leaf_sprintf(self, leaf: Any) -> bytes:
        return format_value(self.Leaf, self._leaf(leaf)).encode("latin-1")

    def leaf_scanf(self, leaf_str: str | bytes) -> Any:
        return scan_value(self.Leaf, leaf_str)

    def push(self, leaf: Any, flags: int = 0) -> None:
        """Add ``leaf``; with BPF_EXIST a full queue/stack drops its oldest element."""
        self.map.update(None, self._leaf(leaf), flags)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} fd={self.map_fd}>"


class QueueStack(_ValueOnly):
    """BPF_MAP_TYPE_QUEUE (FIFO) and BPF_MAP_TYPE_STACK (LIFO)."""

    def pop(self) -> Any:
        """Remove and return the head; KeyError when empty."""
        leaf = self.Leaf()
        if not self.map.lookup_and_delete(None, leaf):
            raise KeyError("Could not pop from table")
        return leaf

    def peek(self) -> Any:
        """Return the head without removing it; KeyError when empty."""
        leaf = self.Leaf()
        if not self.map.lookup(None, leaf):
            raise KeyError("Could not peek table")
        return leaf

    def itervalues(self) -> Iterator[Any]:
        """Pop up to max_entries elements (destructive, as in bcc)."""
        for _ in range(self.max_entries):
            try:
                yield self.pop()
            except KeyError:
                return

    def values(self) -> list:
        """Pop every element into a list (empties the map, as in bcc)."""
        return list(self.itervalues())


class BloomFilter(_ValueOnly):
    """BPF_MAP_TYPE_BLOOM_FILTER: ``push(v)`` adds, ``peek(v)``/``v in t`` may give false positives."""

    def peek(self, leaf: Any) -> bool:
        """False when ``leaf`` was certainly never pushed."""
        return self.map.lookup(None, self._leaf(leaf))

    def __contains__(self, leaf: Any) -> bool:
        return self.peek(leaf)


# ---------------------------------------------------------------- choosing the class

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
