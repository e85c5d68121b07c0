"""Map declarations for DSL programs: module globals that become BTF-defined ``.maps``.

::

    opens = HashMap[u32, u64](max_entries=10240)
    read_sizes = Histogram()                  # log2 slots, like bcc's BPF_HISTOGRAM
    events = RingBuf[OpenEvent](pages=64)

    @tracepoint("syscalls:sys_enter_openat")
    def on_openat(args) -> int:
        opens[bpf.tgid()] += 1                # atomic; a missing key starts at 0
        v = counts.lookup(key)                # Ptr[V] or NULL
        if v:
            v.hits += 1
        ...

A declaration only describes the map (kind, key and value types, size,
flags, pinning).  Its name is the module-level variable it is assigned to
(or ``name=``).  The kernel object exists once the program is loaded with
:func:`pybpf_dsl.load`, where ``prog["opens"]`` is bcc's table over it.

In plain CPython a declaration is a dict-like model with the kernel's
semantics, which the reference interpreter uses.
"""

from __future__ import annotations

import ctypes
from typing import Any

from . import types as T
from .runtime.uapi import BPF_F_NO_PREALLOC, MapType

__all__ = [
    "MapDecl", "HashMap", "ArrayMap", "PerCpuHash", "PerCpuArray", "LruHash", "LruPerCpuHash",
    "LpmTrie", "Histogram", "RingBuf", "PerfBuf", "PerfArray", "StackTrace", "Queue", "Stack", "ProgArray",
    "DevMap", "CpuMap", "XskMap", "SockMap", "SockHash", "ArrayOfMaps", "HashOfMaps", "BloomFilter",
    "PERF_MAX_STACK_DEPTH",
]

PERF_MAX_STACK_DEPTH = 127
_PAGE = 4096


def _dsl_type(obj: Any, what: str) -> T.Type:
    t = T.type_of(obj)
    if t is None:
        raise TypeError(f"{what} must be a DSL type (u32, a Struct subclass, Array[char, 16], ...), got {obj!r}")
    return t


class _Params(type):
    """``HashMap[K, V]`` / ``RingBuf[T]``: a subclass with the type parameters filled in."""

    _cache: dict[tuple[type, tuple], type] = {}

    def __getitem__(cls, params: Any) -> type:
        params = params if isinstance(params, tuple) else (params,)
        names = cls.type_params
        if len(params) != len(names):
            raise TypeError(f"{cls.__name__}[...] takes {len(names)} type(s): "
                            f"{cls.__name__}[{', '.join(n.upper() for n in names)}]")
        types = tuple(_dsl_type(p, f"{cls.__name__} {n} type") for p, n in zip(params, names))
        key = (cls, types)
        sub = _Params._cache.get(key)
        if sub is None:
            label = ", ".join(t.name for t in types)
            sub = type(cls)(f"{cls.__name__}[{label}]", (cls,), dict(zip(names, types)))
            _Params._cache[key] = sub
        return sub


class MapDecl(metaclass=_Params):
    """Base class of map declarations: kind, key/value types, size, flags and pinning.

    ``pinned=True`` pins the map on bpffs under its name (libbpf's
    LIBBPF_PIN_BY_NAME): a second program loading the same declaration
    reuses the pinned map and its contents.
    """

    map_type: MapType = MapType.UNSPEC
    type_params: tuple[str, ...] = ()
    key: T.Type | None = None
    value: T.Type | None = None
    key_size: int = 0      # for maps whose key/value have no BTF type
    value_size: int = 0
    default_entries: int | None = None

    def __init__(self, max_entries: int | None = None, *, flags: int = 0, pinned: bool = False,
                 name: str | None = None, map_extra: int = 0) -> None:
        if max_entries is None:
            max_entries = self.default_entries
        if max_entries is None:
            raise TypeError(f"{type(self).__name__}(...) needs max_entries=")
        if not isinstance(max_entries, int) or max_entries <= 0:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        for n in self.type_params:
            if getattr(self, n) is None:
                raise TypeError(f"declare the types: {type(self).__name__}"
                                f"[{', '.join(p.upper() for p in self.type_params)}](...)")
        self.max_entries = max_entries
        self.flags = flags
        self.pinned = pinned
        self.map_extra = map_extra
        self.name = name
        self.model: dict[Any, Any] = {}

    # -- description -------------------------------------------------------------
    @property
    def key_type(self) -> T.Type | None:
        """The DSL key type (None for maps without keys)."""
        return self.key

    @property
    def value_type(self) -> T.Type | None:
        """The DSL value type (None for maps whose values are kernel objects)."""
        return self.value

    def sizes(self) -> tuple[int, int]:
        """(key size, value size) as the kernel sees them."""
        return (self.key.size if self.key is not None else self.key_size,
                self.value.size if self.value is not None else self.value_size)

    def btf_kv(self) -> bool:
        """True when key and value are described by BTF types (``__type``)."""
        return self.key is not None and self.value is not None

    def ctypes_kv(self) -> tuple[Any, Any]:
        """ctypes key and leaf types for user-space tables (None: the table's default)."""
        return (self.key.ctype if self.key is not None else None,
                self.value.ctype if self.value is not None else None)

    def bind_name(self, name: str) -> None:
        """Name the map after the global it is assigned to (first binding wins)."""
        if self.name is None:
            self.name = name

    def methods(self) -> set[str]:
        """Names callable as ``m.<name>(...)`` in BPF code."""
        return set(type(self).method_names)

    method_names: tuple[str, ...] = ()
    subscript = False    # m[k], m[k] = v, del m[k], m[k] += n

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or '(unnamed)'} max_entries={self.max_entries}>"

    # -- compiler hooks (the code lives in pybpf_dsl.lower.mapgen) -------------------
    def emit_global(self, mg: Any) -> Any:
        from .lower.mapgen import emit_map_def
        return emit_map_def(mg, self)

    def type_method(self, ty: Any, e: Any, name: str) -> None:
        from .lower.maptyping import type_map_method
        type_map_method(ty, e, self, name)

    def gen_method(self, g: Any, e: Any, name: str) -> Any:
        from .lower.mapgen import gen_map_method
        return gen_map_method(g, e, self, name)

    def gen_load(self, g: Any, e: Any, into: Any = None) -> Any:
        from .lower.mapgen import gen_subscript_load
        return gen_subscript_load(g, e, self, into)

    def gen_store(self, g: Any, target: Any, value: Any) -> None:
        from .lower.mapgen import gen_subscript_store
        gen_subscript_store(g, target, value, self)

    def gen_aug(self, g: Any, s: Any) -> None:
        from .lower.mapgen import gen_subscript_aug
        gen_subscript_aug(g, s, self)

    def gen_delete(self, g: Any, t: Any) -> None:
        from .lower.mapgen import gen_subscript_delete
        gen_subscript_delete(g, t, self)

    # -- the CPython model ---------------------------------------------------------
    def interp_load(self, key: Any) -> Any:
        from .lower.mapmodel import load
        return load(self, key)

    def interp_contains(self, key: Any) -> bool:
        from .lower.mapmodel import contains
        return contains(self, key)

    def interp_store(self, key: Any, value: Any) -> None:
        from .lower.mapmodel import store
        store(self, key, value)

    def interp_add(self, key: Any, delta: int) -> None:
        from .lower.mapmodel import add
        add(self, key, delta)

    def interp_delete(self, key: Any) -> None:
        from .lower.mapmodel import delete
        delete(self, key)

    def interp_method(self, frame: Any, e: Any, name: str) -> Any:
        from .lower.mapmodel import call_method
        return call_method(frame, e, self, name)


_KEYED = ("lookup", "update", "insert", "delete", "increment", "atomic_increment", "lookup_or_try_init")


class HashMap(MapDecl):
    """``BPF_MAP_TYPE_HASH``: ``HashMap[K, V](max_entries=N)`` (bcc's BPF_HASH).

    Besides ``m[k]``: ``lookup``, ``update``, ``insert``, ``delete``, ``increment``,
    and bcc's spellings ``lookup_or_try_init(k, init)`` and ``atomic_increment(k, n=1)``.
    """

    map_type = MapType.HASH
    type_params = ("key", "value")
    default_entries = 10240
    method_names = _KEYED
    subscript = True


class LruHash(HashMap):
    """``BPF_MAP_TYPE_LRU_HASH``: evicts the least recently used entry when full."""

    map_type = MapType.LRU_HASH


class PerCpuHash(HashMap):
    """``BPF_MAP_TYPE_PERCPU_HASH``: one value per CPU; user space sees a list."""

    map_type = MapType.PERCPU_HASH


class LruPerCpuHash(HashMap):
    """``BPF_MAP_TYPE_LRU_PERCPU_HASH``."""

    map_type = MapType.LRU_PERCPU_HASH


class LpmTrie(HashMap):
    """``BPF_MAP_TYPE_LPM_TRIE``: the key is a Struct starting with ``prefixlen: u32``."""

    map_type = MapType.LPM_TRIE
    default_entries = None

    def __init__(self, max_entries: int | None = None, **kw: Any) -> None:
        kw["flags"] = kw.get("flags", 0) | BPF_F_NO_PREALLOC
        super().__init__(max_entries, **kw)
        k = self.key
        if not (isinstance(k, T.StructType) and k.fields and k.fields[0].name == "prefixlen"
                and k.fields[0].type is T.u32):
            raise TypeError("LpmTrie keys are a Struct whose first field is `prefixlen: u32`")


class ArrayMap(MapDecl):
    """``BPF_MAP_TYPE_ARRAY``: ``ArrayMap[V](max_entries=N)``, u32 keys, zero-filled (BPF_ARRAY)."""

    map_type = MapType.ARRAY
    type_params = ("value",)
    key = T.u32
    method_names = ("lookup", "update", "insert", "increment", "atomic_increment", "lookup_or_try_init")
    subscript = True


class PerCpuArray(ArrayMap):
    """``BPF_MAP_TYPE_PERCPU_ARRAY``: one value per CPU (scratch space, per-CPU counters)."""

    map_type = MapType.PERCPU_ARRAY


class Histogram(MapDecl):
    """bcc's BPF_HISTOGRAM: slot -> u64 count.

    ``Histogram()`` has 65 log2 slots (``h.record(v)`` adds 1 to slot
    ``bpf.log2l(v)``; user space prints ``prog["h"].print_log2_hist()``).
    ``Histogram(linear=True, max_entries=N)`` records ``min(v, N - 1)``
    (``print_linear_hist``).  ``Histogram[K]()`` with a Struct key
    ``{bucket, slot}`` prints one histogram per bucket, like
    ``BPF_HISTOGRAM(dist, struct key)``.  ``h.increment(slot, n=1)`` (or bcc's
    ``h.atomic_increment(slot)``) adds to a slot.
    """

    map_type = MapType.ARRAY
    type_params = ("key",)
    key = T.u32
    value = T.u64
    method_names = ("increment", "atomic_increment", "record", "lookup")
    subscript = True

    def __init__(self, max_entries: int | None = None, *, linear: bool = False, **kw: Any) -> None:
        super().__init__(max_entries or (100 if linear else 65), **kw)
        self.linear = linear
        if isinstance(self.key, T.StructType):
            self.map_type = MapType.HASH
        elif not isinstance(self.key, T.IntType):
            raise TypeError("Histogram keys are integers or a {bucket, slot} Struct")


class RingBuf(MapDecl):
    """``BPF_MAP_TYPE_RINGBUF`` of records of type T: ``RingBuf[Event](pages=64)``.

    In BPF: ``ev = events.reserve()``, ``if ev:`` fill it, ``events.submit(ev)``
    (or ``events.discard(ev)``); ``events.output(value)`` copies a value in.
    In user space: ``prog.poll(events)`` yields decoded records.
    """

    map_type = MapType.RINGBUF
    type_params = ("value",)
    method_names = ("reserve", "submit", "discard", "output")

    def __init__(self, pages: int = 64, **kw: Any) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"RingBuf pages must be a power of two, got {pages}")
        super().__init__(pages * _PAGE, **kw)

    def btf_kv(self) -> bool:
        return False

    def sizes(self) -> tuple[int, int]:
        return 0, 0

    def ctypes_kv(self) -> tuple[Any, Any]:
        return None, None


class _PerfEventArray(MapDecl):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: one perf event fd per CPU (all possible CPUs by default)."""

    map_type = MapType.PERF_EVENT_ARRAY
    key_size = value_size = 4

    def __init__(self, max_entries: int | None = None, **kw: Any) -> None:
        from .runtime.cpus import num_possible_cpus
        super().__init__(max_entries or num_possible_cpus(), **kw)

    def btf_kv(self) -> bool:
        return False

    def sizes(self) -> tuple[int, int]:
        return 4, 4

    def ctypes_kv(self) -> tuple[Any, Any]:
        return ctypes.c_int, ctypes.c_int


class PerfBuf(_PerfEventArray):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` carrying records of type T (bcc's BPF_PERF_OUTPUT).

    In BPF: ``events.output(value)`` (``events.output(ctx, value)`` inside
    helper functions).  In user space: ``prog.poll(events)`` or bcc's
    ``prog["events"].open_perf_buffer(cb)`` + ``prog.perf_buffer_poll()``.
    In tc, socket and cgroup skb programs ``events.output(value, packet=n)``
    (bcc's perf_submit_skb) appends the first ``n`` bytes of the packet
    (at most ``ctx.len``): the callback's sample is the record then those bytes.
    """

    type_params = ("value",)
    method_names = ("output",)


class PerfArray(_PerfEventArray):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` of counters (bcc's BPF_PERF_ARRAY).

    In BPF: ``counters.perf_read()`` reads this CPU's counter (``perf_read(cpu)``
    a given slot): a u64 count, or a negative errno cast to u64 (-ENOENT: no
    counter there, -EINVAL: the counter is on another CPU).  In user space:
    ``prog["counters"].open_perf_event(PerfType.HARDWARE, PerfHwConfig.CPU_CYCLES)``.
    """

    method_names = ("perf_read",)


class _NoBtf(MapDecl):
    """Maps whose keys and values are ids or kernel objects, described by sizes only."""

    key_size = value_size = 4

    def btf_kv(self) -> bool:
        return False

    def ctypes_kv(self) -> tuple[Any, Any]:
        return None, None


class StackTrace(_NoBtf):
    """``BPF_MAP_TYPE_STACK_TRACE``: ``stacks.get_stackid(flags)`` -> id (bcc's BPF_STACK_TRACE)."""

    map_type = MapType.STACK_TRACE
    value_size = 8 * PERF_MAX_STACK_DEPTH
    default_entries = 1024
    method_names = ("get_stackid",)


class ProgArray(_NoBtf):
    """``BPF_MAP_TYPE_PROG_ARRAY`` (bcc's BPF_PROG_ARRAY): ``jump.call(ctx, index)`` tail-calls.

    ``jump.tail_call(index)`` is the same (bcc's spelling).  The call does
    not return when a program is at ``index``; otherwise execution goes on
    after it.  User space fills slots with programs of the same type:
    ``prog["jump"][0] = prog.programs["handler"]``.
    """

    map_type = MapType.PROG_ARRAY
    method_names = ("call", "tail_call")


class DevMap(_NoBtf):
    """``BPF_MAP_TYPE_DEVMAP``: index -> ifindex; ``tx.redirect(index)`` in XDP programs."""

    map_type = MapType.DEVMAP
    method_names = ("redirect",)


class CpuMap(DevMap):
    """``BPF_MAP_TYPE_CPUMAP``: cpu -> queue size; ``cpus.redirect(cpu)`` in XDP programs."""

    map_type = MapType.CPUMAP


class XskMap(DevMap):
    """``BPF_MAP_TYPE_XSKMAP``: queue -> AF_XDP socket; ``xsks.redirect(queue)``.

    ``xsks.lookup(queue)`` is True when an AF_XDP socket is bound at ``queue``.
    """

    map_type = MapType.XSKMAP
    key = T.u32
    method_names = ("redirect", "lookup")


class SockMap(_NoBtf):
    """``BPF_MAP_TYPE_SOCKMAP`` (bcc's BPF_SOCKMAP): index -> socket.

    In BPF: ``socks.sock_map_update(ctx, key, flags)`` in sock_ops programs,
    ``socks.msg_redirect_map(ctx, key, flags)`` in sk_msg and
    ``socks.sk_redirect_map(ctx, key, flags)`` in sk_skb programs (they return
    the verdict: SK_PASS, or SK_DROP when the slot is empty).  User space sets
    sockets: ``prog["socks"][0] = sock``; attach with ``prog.attach(f, map=socks)``.
    """

    map_type = MapType.SOCKMAP
    key = T.u32
    method_names = ("sock_map_update", "msg_redirect_map", "sk_redirect_map")


class SockHash(MapDecl):
    """``BPF_MAP_TYPE_SOCKHASH[K]`` (bcc's BPF_SOCKHASH): key -> socket.

    Keys are any DSL type (e.g. a struct of addresses and ports).  In BPF:
    ``sock_hash_update(ctx, key, flags)``, ``msg_redirect_hash(ctx, key, flags)``
    and ``sk_redirect_hash(ctx, key, flags)``, like :class:`SockMap`.
    """

    map_type = MapType.SOCKHASH
    type_params = ("key",)
    value_size = 4
    default_entries = 1024
    method_names = ("sock_hash_update", "msg_redirect_hash", "sk_redirect_hash")

    def btf_kv(self) -> bool:
        return False

    def ctypes_kv(self) -> tuple[Any, Any]:
        return self.key.ctype, None


class Queue(MapDecl):
    """``BPF_MAP_TYPE_QUEUE`` of T (FIFO): ``q.push(v)``, ``q.pop(out)``, ``q.peek(out)``.

    ``pop``/``peek`` write into the place ``out`` and return 0, or a negative
    errno when empty (-ENOENT).
    """

    map_type = MapType.QUEUE
    type_params = ("value",)
    method_names = ("push", "pop", "peek")

    def btf_kv(self) -> bool:
        return False

    def ctypes_kv(self) -> tuple[Any, Any]:
        return None, self.value.ctype


class Stack(Queue):
    """``BPF_MAP_TYPE_STACK`` of T (LIFO)."""

    map_type = MapType.STACK


class BloomFilter(Queue):
    """``BPF_MAP_TYPE_BLOOM_FILTER`` of T: ``f.push(v)``; ``f.contains(v)`` may be a false positive.

    ``hashes`` (1..15, default 5) is the number of hash functions.
    """

    map_type = MapType.BLOOM_FILTER
    method_names = ("push", "contains")

    def __init__(self, max_entries: int | None = None, *, hashes: int = 5, **kw: Any) -> None:
        if not 1 <= hashes <= 15:
            raise ValueError("BloomFilter hashes must be 1..15")
        super().__init__(max_entries, map_extra=hashes, **kw)


class ArrayOfMaps(MapDecl):
    """``BPF_MAP_TYPE_ARRAY_OF_MAPS``: ``ArrayOfMaps(inner=HashMap[K, V](max_entries=N), max_entries=M)``.

    In BPF: ``v = outer.lookup_in(i, k)`` looks ``k`` up in the inner map at
    slot ``i`` (a ``Ptr[V]`` or NULL).  User space sets slots to maps:
    ``prog["outer"][i] = prog.new_inner_map("outer")``.
    """

    map_type = MapType.ARRAY_OF_MAPS
    key = T.u32
    method_names = ("lookup_in",)

    def __init__(self, max_entries: int | None = None, *, inner: MapDecl, **kw: Any) -> None:
        if not isinstance(inner, MapDecl) or not inner.subscript:
            raise TypeError("inner= must be a keyed map declaration such as HashMap[u32, u64](max_entries=16)")
        super().__init__(max_entries, **kw)
        self.inner = inner

    def btf_kv(self) -> bool:
        return False

    def sizes(self) -> tuple[int, int]:
        return self.key.size, 4

    def ctypes_kv(self) -> tuple[Any, Any]:
        return self.key.ctype, ctypes.c_uint32


class HashOfMaps(ArrayOfMaps):
    """``BPF_MAP_TYPE_HASH_OF_MAPS``: ``HashOfMaps[K](inner=..., max_entries=M)``."""

    map_type = MapType.HASH_OF_MAPS
    type_params = ("key",)
