"""Live BPF maps: create (or reuse a pinned one), open by fd/id/pin, raw element ops.

A :class:`Map` owns one map FD.  It knows the map's shape (type, key and
value sizes, max_entries, flags) and offers the byte-level operations the
user-space tables of :mod:`pybpf_dsl.runtime.tables` are built on::

    spec = MapSpec("counts", MapType.HASH, 4, 8, 10240)
    with Map.create(spec) as m:
        m.update(b"\\x01\\0\\0\\0", (5).to_bytes(8, "little"))
        m.get(b"\\x01\\0\\0\\0")            # -> b"\\x05\\0..."

Buffers passed to the element operations may be ctypes instances (the fast
path tables use), ``bytes`` (inputs only), writable buffers such as
``bytearray``, raw addresses (``int``) or ``None`` for NULL.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from typing import Any, Iterator

from ..errors import BPFError, syscall_error
from . import syscall
from .closing import Closing
from .cpus import num_possible_cpus
from .fd import FD
from .mapspec import MapSpec, PinMode
from .tracefs import bpffs_root
from .uapi import BPF_ANY, Cmd, MapType, ffi

__all__ = ["Map", "PERCPU_TYPES", "percpu_slot_size"]

#: Map types whose values hold one slot per possible CPU.
PERCPU_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH,
                          MapType.PERCPU_CGROUP_STORAGE})
_MAP_IN_MAP = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})

_LOOKUP = int(Cmd.MAP_LOOKUP_ELEM)
_UPDATE = int(Cmd.MAP_UPDATE_ELEM)
_DELETE = int(Cmd.MAP_DELETE_ELEM)
_NEXT = int(Cmd.MAP_GET_NEXT_KEY)
_POP = int(Cmd.MAP_LOOKUP_AND_DELETE_ELEM)
_elem_call = syscall.elem_call
_addressof = ctypes.addressof
_c_char_p = ctypes.c_char_p
_c_void_p = ctypes.c_void_p


def percpu_slot_size(value_size: int) -> int:
    """Bytes one CPU's value takes in a per-CPU map read (rounded up to 8)."""
    return (value_size + 7) & ~7


def _address(buf: Any, size: int, what: str) -> int:
    """The address of ``buf`` for the kernel; ``size`` is checked for byte buffers."""
    if buf is None:
        return 0
    try:
        return _addressof(buf)
    except TypeError:
        pass
    if isinstance(buf, int):
        return buf
    if isinstance(buf, bytes):
        if len(buf) < size:
            raise ValueError(f"{what} is {len(buf)} bytes, the map needs {size}")
        return ctypes.cast(_c_char_p(buf), _c_void_p).value or 0
    view = memoryview(buf)
    if view.readonly:
        raise TypeError(f"{what}: pass bytes, a writable buffer or a ctypes object")
    if view.nbytes < size:
        raise ValueError(f"{what} is {view.nbytes} bytes, the map needs {size}")
    return _addressof((ctypes.c_char * view.nbytes).from_buffer(view))


def _bpffs_mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[2:3] == ["bpf"]]


class Map(Closing):
    """A live kernel map.  Close it (or use ``with``) to drop this process's reference.

    Attributes: ``fd`` (:class:`FD`), ``name``, ``type`` (:class:`MapType`),
    ``key_size``, ``value_size``, ``max_entries``, ``flags``, ``map_extra``,
    ``id``, ``key_type``/``value_type`` (ctypes types from the spec, or None),
    ``pinned`` (the path this object pinned or reused, or None).
    """

    def __init__(self, fd: FD, *, spec: MapSpec | None = None, pinned: str | None = None) -> None:
        info = syscall.obj_info(fd.fileno(), "map")
        self.fd = fd
        self.id: int = info.id
        self.type = MapType(info.type)
        self.key_size: int = info.key_size
        self.value_size: int = info.value_size
        self.max_entries: int = info.max_entries
        self.flags: int = info.map_flags
        self.map_extra: int = info.map_extra
        self.btf_id: int = info.btf_id
        self.name: str = spec.name if spec is not None else ffi.string(info.name).decode()
        self.key_type = spec.key_type if spec is not None else None
        self.value_type = spec.value_type if spec is not None else None
        self.spec = spec
        self.pinned = pinned
        self._fdn = fd.fileno()
        self.value_slot_size = (percpu_slot_size(self.value_size) * num_possible_cpus()
                                if self.type in PERCPU_TYPES else self.value_size)

    # ------------------------------------------------------------ opening

    @classmethod
    def create(cls, spec: MapSpec, *, btf_fd: int = 0, inner_map_fd: int | None = None) -> "Map":
        """Create the map ``spec`` describes, or reuse its pinned instance.

        Pinning: ``spec.pinning == "path"`` pins at ``spec.pin_path`` (bcc's
        BPF_TABLE_PINNED); ``"by_name"`` pins at ``<pin root>/<spec.name>``,
        the pin root being ``spec.pin_path`` or the bpffs mount point.  A
        compatible pinned map is reused (its content is left alone), an
        incompatible one is an error; bpffs is mounted when absent.
        Map-in-map specs get their inner template from ``spec.inner`` unless
        ``inner_map_fd`` is given.  Global-data content (``spec.data``) is
        written after creation and the map frozen when ``spec.freeze``.
        """
        path = cls._pin_target(spec)
        if path is not None:
            reused = cls._open_pinned(path, spec)
            if reused is not None:
                return reused
        m = cls(cls._create_fd(spec, btf_fd, inner_map_fd), spec=spec)
        try:
            m._initialise(spec)
            if path is not None:
                try:
                    m.pin(path)
                except BPFError as e:
                    if e.errno != _errno.EEXIST:
                        raise
                    # Another process pinned the same map first: use theirs.
                    reused = cls._open_pinned(path, spec)
                    if reused is None:
                        raise
                    m.close()
                    return reused
        except BaseException:
            m.close()
            raise
        return m

    @staticmethod
    def _create_fd(spec: MapSpec, btf_fd: int, inner_map_fd: int | None) -> FD:
        inner: FD | None = None
        if spec.type in _MAP_IN_MAP and inner_map_fd is None:
            if spec.inner is None:
                raise ValueError(f"map-in-map {spec.name!r} needs an inner map template "
                                 "(MapSpec.inner) or inner_map_fd")
            inner = Map._create_fd(spec.inner, 0, None)
            inner_map_fd = inner.fileno()
        use_btf = btf_fd if (spec.btf_key_type_id or spec.btf_value_type_id) else 0
        try:
            return syscall.map_create(
                spec.type, spec.key_size, spec.value_size, spec.max_entries, flags=spec.flags,
                name=spec.kernel_name, inner_map_fd=inner_map_fd or 0, numa_node=spec.numa_node,
                btf_fd=use_btf, btf_key_type_id=spec.btf_key_type_id if use_btf else 0,
                btf_value_type_id=spec.btf_value_type_id if use_btf else 0,
                map_extra=spec.map_extra)
        finally:
            if inner is not None:
                inner.close()

    def _initialise(self, spec: MapSpec) -> None:
        if spec.data is not None:
            if len(spec.data) > self.value_size:
                raise ValueError(f"initial data of map {spec.name!r} is {len(spec.data)} bytes, "
                                 f"its value is {self.value_size}")
            value = bytes(spec.data) + bytes(self.value_size - len(spec.data))
            self.update(bytes(4), value)
        if spec.freeze:
            syscall.map_freeze(self._fdn)

    @staticmethod
    def _pin_target(spec: MapSpec) -> str | None:
        if spec.pinning == PinMode.PATH:
            if not spec.pin_path:
                raise ValueError(f"map {spec.name!r} is pinned by path but has no pin_path")
            return spec.pin_path
        if spec.pinning == PinMode.BY_NAME:
            return os.path.join(spec.pin_path or bpffs_root(), spec.name)
        return None

    @classmethod
    def _open_pinned(cls, path: str, spec: MapSpec) -> "Map | None":
        """The compatible map pinned at ``path``; None when nothing is pinned there."""
        _check_bpffs(path)
        if not os.path.exists(path):
            return None
        m = cls(syscall.obj_get(path, "map"), spec=spec, pinned=path)
        want = (spec.type, spec.key_size, spec.value_size, spec.max_entries)
        have = (m.type, m.key_size, m.value_size, m.max_entries)
        if want != have:
            m.close()
            fields = ("type", "key_size", "value_size", "max_entries")
            diff = ", ".join(f"{f} {h} != {w}" for f, h, w in zip(fields, have, want) if h != w)
            raise BPFError(f"map pinned at {path} does not match {spec.name!r} ({diff}): "
                           "remove the pin or change the map definition")
        return m

    @classmethod
    def from_fd(cls, fd: FD) -> "Map":
        """Wrap an open map FD (ownership moves to the Map)."""
        return cls(fd)

    @classmethod
    def from_id(cls, map_id: int) -> "Map":
        """Open the map with kernel id ``map_id``."""
        return cls(syscall.fd_by_id("map", map_id))

    @classmethod
    def from_pin(cls, path: str) -> "Map":
        """Open the map pinned at ``path``."""
        return cls(syscall.obj_get(path, "map"))

    # ------------------------------------------------------------ lifetime

    def fileno(self) -> int:
        """The map's file descriptor."""
        return self.fd.fileno()

    def close(self) -> None:
        """Release this process's reference (a pin keeps the map alive)."""
        self.fd.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self.fd.closed

    def pin(self, path: str) -> None:
        """Pin the map at ``path`` on bpffs, creating parent directories."""
        _check_bpffs(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        syscall.obj_pin(self._fdn, path)
        self.pinned = path

    def unpin(self) -> None:
        """Remove the pin this object created or reused (no-op when unpinned)."""
        path, self.pinned = self.pinned, None
        if path is not None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"id={self.id}"
        return (f"<Map {self.name!r} {self.type.name} key={self.key_size} "
                f"value={self.value_size} max={self.max_entries} {state}>")

    # ------------------------------------------------------------ element operations

    def _absent(self, err: int, call: str, doing: str) -> bool:
        """False when ``err`` is ENOENT (no such element); raise for anything else."""
        if err == _errno.ENOENT:
            return False
        raise syscall_error(call, err, f"{doing} map {self.name!r}")

    def lookup(self, key: Any, value: Any, flags: int = 0) -> bool:
        """Copy the value of ``key`` into ``value``; False when absent."""
        err = _elem_call(_LOOKUP, self._fdn, _address(key, self.key_size, "key"),
                         _address(value, self.value_slot_size, "value"), flags)
        return not err or self._absent(err, "BPF_MAP_LOOKUP_ELEM", "looking up in")

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """Set ``key`` to ``value`` (flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK)."""
        err = _elem_call(_UPDATE, self._fdn, _address(key, self.key_size, "key"),
                         _address(value, self.value_slot_size, "value"), flags)
        if err:
            raise syscall_error("BPF_MAP_UPDATE_ELEM", err, f"updating map {self.name!r}")

    def delete(self, key: Any) -> bool:
        """Delete ``key``; False when it was absent."""
        err = _elem_call(_DELETE, self._fdn, _address(key, self.key_size, "key"), 0, 0)
        return not err or self._absent(err, "BPF_MAP_DELETE_ELEM", "deleting from")

    def get_next_key(self, key: Any, next_key: Any) -> bool:
        """Write the key after ``key`` (the first key when None) into ``next_key``."""
        err = _elem_call(_NEXT, self._fdn, _address(key, self.key_size, "key"),
                         _address(next_key, self.key_size, "next key"), 0)
        return not err or self._absent(err, "BPF_MAP_GET_NEXT_KEY", "iterating")

    def lookup_and_delete(self, key: Any, value: Any, flags: int = 0) -> bool:
        """Copy and remove ``key`` (pop, for queues and stacks: key None); False when absent."""
        err = _elem_call(_POP, self._fdn, _address(key, self.key_size, "key"),
                         _address(value, self.value_slot_size, "value"), flags)
        return not err or self._absent(err, "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "popping from")

    def batch(self, cmd: Cmd, keys: Any, values: Any, count: int, *, in_batch: Any = None,
              out_batch: Any = None, elem_flags: int = 0) -> tuple[int, bool]:
        """One BPF_MAP_*_BATCH call on arrays of ``count`` keys/values.

        Returns ``(done, finished)``; ``finished`` is True when the map has
        no entries left after this chunk.
        """
        return syscall.map_batch(cmd, self._fdn, _address(keys, 0, "keys"),
                                 _address(values, 0, "values"), count,
                                 in_batch=_address(in_batch, 0, "in_batch"),
                                 out_batch=_address(out_batch, 0, "out_batch"),
                                 elem_flags=elem_flags)

    # ------------------------------------------------------------ byte conveniences

    def get(self, key: Any) -> bytes | None:
        """The value of ``key`` as bytes (all CPUs' slots for per-CPU maps), or None."""
        value = ctypes.create_string_buffer(self.value_slot_size)
        return value.raw if self.lookup(key, value) else None

    def keys(self) -> Iterator[bytes]:
        """Walk the keys with BPF_MAP_GET_NEXT_KEY (live: sees concurrent changes)."""
        cur = None
        nxt = ctypes.create_string_buffer(max(self.key_size, 1))
        while self.get_next_key(cur, nxt):
            cur = nxt.raw[: self.key_size]
            yield cur


def _check_bpffs(path: str) -> None:
    """Mount bpffs when needed and refuse pin paths outside a bpf filesystem."""
    bpffs_root()
    full = os.path.abspath(path)
    if not any(full.startswith(m.rstrip("/") + "/") for m in _bpffs_mounts()):
        raise ValueError(f"pin path {path} is not on a bpf filesystem "
                         f"(use a path under {bpffs_root()})")
