"""The table core (a map, its Leaf type and name) and bcc's keyed table: TableBase, HashTable.

:class:`TableBase` is the mapping protocol over a live map.  Single
entries go straight to the bpf() call on the ctypes objects' addresses;
``items()``, ``keys()``, ``values()``, ``len()`` and ``clear()`` use the
kernel's batch commands (:mod:`.batch`) on the map types that have them and
walk keys with BPF_MAP_GET_NEXT_KEY elsewhere; densely filled hash and array
maps are read (and counted) in one kernel pass instead (:mod:`.dump`).
"""

from __future__ import annotations

import ctypes as ct
import errno as _errno
import gc
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

from ...errors import BPFError, SyscallError, syscall_error
from .. import histogram
from ..maps import Map
from ..syscall import ELEM_ATTR_SIZE, SYS_BPF, last_errno, pack_elem_attr, raw_elem_call
from ..table_text import format_value, scan_value
from ..uapi import Cmd, MapType
from .batch import CHUNK, BatchReader, BatchUnsupported, Chunk, delete_batch, write_batch
from .elements import batch_decoder, default_ctype, to_ctype

__all__ = ["TableCore", "TableBase", "HashTable", "LruHash"]

_LOOKUP, _UPDATE = int(Cmd.MAP_LOOKUP_ELEM), int(Cmd.MAP_UPDATE_ELEM)
_BATCH_TYPES = frozenset({MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                          MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
_addressof = ct.addressof
_ITEMS, _KEYS, _VALUES = "items", "keys", "values"
_DECODE_BLOCK = 2048  # entries decoded at a time: ~0.5 MiB of new objects, cache-sized


class TableCore:
    """What every table has: the :class:`Map`, its ``Leaf`` ctypes type, a name, an owner.

    ``bpf`` is the owning program object (or None), ``map_fd``/``map_id``
    the map's fd and kernel id, ``ttype`` its type number.
    """

    def __init__(self, map: Map, leaf_type: Any = None, name: str = "", owner: Any = None) -> None:
        self.map = map
        self.bpf = owner
        self.map_fd = map.fileno()
        self.map_id = map.id
        self.ttype = int(map.type)
        self.flags = map.flags
        self.max_entries = map.max_entries
        self.name = self._name = name or map.name
        self.Leaf = leaf_type or map.value_type or self._default_leaf(map)
        self._check_size("leaf", self.Leaf, map.value_size)

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

    fileno = get_fd

    def _leaf(self, leaf: Any) -> Any:
        return to_ctype(self.Leaf, leaf)

    def leaf_sprintf(self, leaf: Any) -> bytes:
        """The leaf in bcc's printed form (``b"{ 0x1 \\"comm\\" }"``)."""
        return format_value(self.Leaf, self._leaf(leaf)).encode("latin-1")

    def leaf_scanf(self, leaf_str: str | bytes) -> Any:
        """Parse bcc's printed form (ints in any C base) into a Leaf."""
        return scan_value(self.Leaf, leaf_str)

    def _unsupported(self, call: str) -> SyscallError:
        return SyscallError(call, _errno.EOPNOTSUPP,
                            f"table {self.name!r} ({MapType(self.ttype).name})")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} fd={self.map_fd}>"


class TableBase(TableCore, MutableMapping):
    """A bcc table: a live map seen as a mapping of ``Key`` to ``Leaf`` ctypes objects.

    Missing keys raise KeyError; a failed update raises
    :class:`~pybpf_dsl.errors.SyscallError` (:class:`~pybpf_dsl.errors.MapFullError`
    when the map is full).  Ints (and bytes) are accepted for keys and leaves.
    ``batch_chunk`` is how many entries one batch syscall asks for.
    """

    batch_chunk: int = CHUNK

    def __init__(self, map: Map, key_type: Any = None, leaf_type: Any = None,
                 name: str = "", owner: Any = None) -> None:
        super().__init__(map, leaf_type, name, owner)
        self.Key = key_type or map.key_type or self._default_key(map)
        self._check_size("key", self.Key, map.key_size)
        self._no_batch: set[Cmd] = set() if map.type in _BATCH_TYPES else set(Cmd)
        self._dump_ok = True  # until the kernel refuses the one-pass walker (.dump)
        self._seen: int | None = None  # entries the last whole-map read found
        # Whether an int key/leaf is just Key(i)/Leaf(i) (no override): the hot paths inline it.
        cls = type(self)
        self._plain_int_key = cls._key is TableBase._key
        self._plain_int_leaf = cls._leaf is TableCore._leaf

    @staticmethod
    def _default_key(map: Map) -> Any:
        return default_ctype(map.key_size)

    # -- conversions
    def _key(self, key: Any) -> Any:
        return to_ctype(self.Key, key)

    def key_sprintf(self, key: Any) -> bytes:
        """The key in bcc's printed form."""
        return format_value(self.Key, self._key(key)).encode("latin-1")

    def key_scanf(self, key_str: str | bytes) -> Any:
        """Parse bcc's printed form into a Key."""
        return scan_value(self.Key, key_str)

    # -- single elements: the per-entry hot paths make the bpf() call inline
    def __getitem__(self, key: Any) -> Any:
        if type(key) is not self.Key:
            key = self.Key(key) if type(key) is int and self._plain_int_key else self._key(key)
        leaf = self.Leaf()
        if raw_elem_call(SYS_BPF, _LOOKUP, pack_elem_attr(self.map_fd, 0, _addressof(key),
                                                          _addressof(leaf), 0), ELEM_ATTR_SIZE) < 0:
            err = last_errno()
            if err == _errno.ENOENT:
                raise KeyError(key)
            raise syscall_error("BPF_MAP_LOOKUP_ELEM", err, f"looking up in table {self.name!r}")
        return leaf

    def __setitem__(self, key: Any, leaf: Any) -> None:
        if type(key) is not self.Key:
            key = self.Key(key) if type(key) is int and self._plain_int_key else self._key(key)
        if type(leaf) is not self.Leaf:
            leaf = self.Leaf(leaf) if type(leaf) is int and self._plain_int_leaf else self._leaf(leaf)
        if raw_elem_call(SYS_BPF, _UPDATE, pack_elem_attr(self.map_fd, 0, _addressof(key),
                                                          _addressof(leaf), 0), ELEM_ATTR_SIZE) < 0:
            raise syscall_error("BPF_MAP_UPDATE_ELEM", last_errno(),
                                f"could not update table {self.name!r}")

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
    def __len__(self) -> int:
        counted = None
        if self._one_pass(copy=False):
            from .dump import count
            try:
                counted = count(self.map)
            except (BPFError, OSError):
                self._dump_ok = False
        if counted is None:
            counted = self._drain(Cmd.MAP_LOOKUP_BATCH)
        if counted is None:
            counted = sum(1 for _ in self.__iter__())
        self._seen = counted
        return counted

    def _one_pass(self, copy: bool) -> bool:
        """Whether to read the whole map in one kernel pass (:mod:`.dump`) rather than in
        batches, judging by the last count seen (half the slots before the first)."""
        if not self._dump_ok:
            return False
        from .dump import dumpable, pays_off  # on first use: it brings the program loader
        return dumpable(self.map) and pays_off(
            self.map, self.max_entries // 2 if self._seen is None else self._seen, copy=copy)

    def keys(self) -> list:  # type: ignore[override]
        """Every key, as a list (one batch syscall per few thousand entries where supported)."""
        fetched = self._read(Cmd.MAP_LOOKUP_BATCH, _KEYS)
        return fetched if fetched is not None else list(self.__iter__())

    def items(self) -> list:  # type: ignore[override]
        """Every (key, leaf) pair, as a list."""
        fetched = self._read(Cmd.MAP_LOOKUP_BATCH, _ITEMS)
        return fetched if fetched is not None else list(self.iteritems())

    def values(self) -> list:  # type: ignore[override]
        """Every leaf, as a list."""
        fetched = self._read(Cmd.MAP_LOOKUP_BATCH, _VALUES)
        return fetched if fetched is not None else list(self.itervalues())

    def clear(self) -> None:
        """Delete every entry."""
        if self._drain(Cmd.MAP_LOOKUP_AND_DELETE_BATCH) is None:
            for k in list(self.__iter__()):
                self.map.delete(k)

    def zero(self) -> None:
        """Set every present entry's leaf to zero."""
        keys = self.keys()
        if keys:
            self._update_batch(keys, (self.Leaf * len(keys))())

    def _leaves(self, raw: list) -> list:
        """Leaves as read from the kernel -> as this table presents them."""
        return raw

    def _read(self, cmd: Cmd, want: str, one_pass: bool = True) -> list | None:
        """Every entry through batch ``cmd``, as a list of ``want``; None if unsupported.
        A lookup of a map that one kernel pass reads faster (:mod:`.dump`) takes
        that pass instead, unless ``one_pass`` is False.

        Decoding creates many small objects at once, so the cyclic GC is paused
        meanwhile: its repeated passes over the young objects would dominate.
        """
        if cmd in self._no_batch:
            return None
        key_t, keys_of = batch_decoder(self.Key)
        leaf_t, leaves_of = batch_decoder(self.Leaf)
        chunks: Any = None
        if one_pass and cmd == Cmd.MAP_LOOKUP_BATCH and self._one_pass(copy=True):
            chunks = self._dumped(key_t, leaf_t)
        if chunks is None:
            chunks = BatchReader(self.map, cmd, key_t, leaf_t, chunk=self.batch_chunk)
        leaves = self._leaves
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            out: list = []
            for karr, varr, n, _ in chunks:
                # Block by block: a pair's objects are still in the CPU cache when zip() takes them.
                for lo in range(0, n, _DECODE_BLOCK):
                    hi = min(n, lo + _DECODE_BLOCK)
                    if want == _ITEMS:
                        out += zip(keys_of(karr, lo, hi), leaves(leaves_of(varr, lo, hi)))
                    elif want == _KEYS:
                        out += keys_of(karr, lo, hi)
                    else:
                        out += leaves(leaves_of(varr, lo, hi))
            self._seen = len(out)
            return out
        except BatchUnsupported:
            self._no_batch.add(cmd)
            return None
        finally:
            if gc_was_on:
                gc.enable()

    def _dumped(self, key_t: Any, leaf_t: Any) -> list[Chunk] | None:
        """The whole map as one chunk read by :func:`.dump.dump`; None (and batch reads
        from now on) when the kernel refuses the walker program."""
        from .dump import dump
        try:
            buf, n = dump(self.map)
        except (BPFError, OSError):
            self._dump_ok = False
            return None
        return [Chunk((key_t * n).from_buffer(buf), (leaf_t * n).from_buffer(buf, n * self.map.key_size), n, True)]

    def _drain(self, cmd: Cmd) -> int | None:
        """Run batch ``cmd`` over the whole map without decoding; the entry count, or None."""
        if cmd in self._no_batch:
            return None
        try:
            return sum(c.count for c in BatchReader(self.map, cmd, self.Key, self.Leaf, reuse=True,
                                                    chunk=self.batch_chunk))
        except BatchUnsupported:
            self._no_batch.add(cmd)
            return None

    # -- batch calls
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
        varr = self._as_array(self.Leaf, values)
        if len(karr) != len(varr):
            raise ValueError("keys array length != values array length")
        self._check_count(len(karr))
        if Cmd.MAP_UPDATE_BATCH not in self._no_batch:
            try:
                write_batch(self.map, karr, varr)
                return
            except BatchUnsupported:
                self._no_batch.add(Cmd.MAP_UPDATE_BATCH)
        kbase, ksize = _addressof(karr), ct.sizeof(karr._type_)
        vbase, vsize = _addressof(varr), ct.sizeof(varr._type_)
        for i in range(len(karr)):    # addresses of element i in both arrays
            self.map.update(kbase + i * ksize, vbase + i * vsize)

    def items_lookup_batch(self) -> Iterator[tuple[Any, Any]]:
        """Yield every (key, leaf) read with BPF_MAP_LOOKUP_BATCH."""
        fetched = self._read(Cmd.MAP_LOOKUP_BATCH, _ITEMS, one_pass=False)
        if fetched is None:
            raise self._unsupported("BPF_MAP_LOOKUP_BATCH")
        yield from fetched

    def items_lookup_and_delete_batch(self) -> Iterator[tuple[Any, Any]]:
        """Yield every (key, leaf), deleting them (BPF_MAP_LOOKUP_AND_DELETE_BATCH)."""
        fetched = self._read(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, _ITEMS)
        if fetched is None:
            raise self._unsupported("BPF_MAP_LOOKUP_AND_DELETE_BATCH")
        yield from fetched

    def items_delete_batch(self, ct_keys: Any = None) -> None:
        """Delete ``ct_keys`` (a ctypes array or a sequence of keys; absent keys are
        skipped), or everything when None."""
        if ct_keys is None:
            if self._drain(Cmd.MAP_LOOKUP_AND_DELETE_BATCH) is None:
                raise self._unsupported("BPF_MAP_LOOKUP_AND_DELETE_BATCH")
            return
        karr = self._as_array(self.Key, ct_keys)
        self._check_count(len(karr))
        delete_batch(self.map, karr)

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


class HashTable(TableBase):
    """BPF_MAP_TYPE_HASH."""


class LruHash(HashTable):
    """BPF_MAP_TYPE_LRU_HASH: the kernel evicts the least recently used entry when full."""
