"""The CPython model of maps, used when DSL code runs in the reference interpreter.

Each declaration keeps ``decl.model``: key -> ctypes value, with the
kernel's answers (hash maps fill up and refuse new keys with -E2BIG,
arrays always hold ``max_entries`` zeroed values and refuse deletion with
-EINVAL, queues and stacks pop from their ends, ``BPF_NOEXIST`` gives
-EEXIST).  A lookup returns the stored ctypes object itself, so writes
through it land in the map, as through a kernel map-value pointer.
"""

from __future__ import annotations

import ast
import ctypes
import errno
from typing import Any

from .. import types as T
from ..runtime.uapi import BPF_EXIST, BPF_NOEXIST, MapType

__all__ = ["load", "store", "add", "delete", "contains", "call_method", "model_key"]

_ARRAYS = (MapType.ARRAY, MapType.PERCPU_ARRAY)


def model_key(key: Any) -> Any:
    """A hashable form of a key (ints stay ints; structs and arrays become bytes)."""
    return bytes(key) if isinstance(key, (ctypes.Structure, ctypes.Array)) else key


def _new(t: T.Type, value: Any = 0) -> Any:
    obj = t.ctype()
    if isinstance(value, (ctypes.Structure, ctypes.Array)):
        ctypes.memmove(ctypes.addressof(obj), ctypes.addressof(value), t.size)
    elif isinstance(t, T.IntType):
        obj.value = value
    return obj


def _lookup(m: Any, key: Any) -> Any:
    if m.map_type in _ARRAYS:
        if not 0 <= key < m.max_entries:
            return None
        return m.model.setdefault(key, _new(m.value_type))
    if m.map_type == MapType.LPM_TRIE:
        return _longest_prefix(m, model_key(key))
    return m.model.get(model_key(key))


def _prefix_bits(data: bytes, n: int) -> int:
    return int.from_bytes(data, "big") >> (8 * len(data) - n) if n else 0


def _longest_prefix(m: Any, key: bytes) -> Any:
    """The value of the stored prefix that matches the most leading bits of ``key``."""
    want, data = int.from_bytes(key[:4], "little"), key[4:]
    best, best_len = None, -1
    for k, v in m.model.items():
        n = int.from_bytes(k[:4], "little")
        if best_len < n <= min(want, 8 * len(data)) and _prefix_bits(k[4:], n) == _prefix_bits(data, n):
            best, best_len = v, n
    return best


def _lpm_key(key: bytes) -> bytes | None:
    """An LPM trie key with the bits past its prefix cleared (the kernel ignores them).

    None when the prefix is longer than the data (the kernel's EINVAL).
    """
    n, data = int.from_bytes(key[:4], "little"), key[4:]
    bits = 8 * len(data)
    if n > bits:
        return None
    return key[:4] + (_prefix_bits(data, n) << (bits - n)).to_bytes(len(data), "big")


def _update(m: Any, key: Any, value: Any, flags: int) -> int:
    k = model_key(key)
    if m.map_type == MapType.LPM_TRIE:
        k = _lpm_key(k)
        if k is None:
            return -errno.EINVAL
    if m.map_type in _ARRAYS:
        if not 0 <= key < m.max_entries:
            return -errno.E2BIG
        if flags == BPF_NOEXIST:
            return -errno.EEXIST
    else:
        exists = k in m.model
        if flags == BPF_NOEXIST and exists:
            return -errno.EEXIST
        if flags == BPF_EXIST and not exists:
            return -errno.ENOENT
        if not exists and len(m.model) >= m.max_entries:
            if m.map_type == MapType.LPM_TRIE:
                return -errno.ENOSPC
            if m.map_type not in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH):
                return -errno.E2BIG
            m.model.pop(next(iter(m.model)))
    m.model[k] = _new(m.value_type, value)
    return 0


def _value(v: Any) -> Any:
    return v.value if isinstance(v, ctypes._SimpleCData) else v


def load(m: Any, key: Any) -> Any:
    """``m[key]``: the value, or zero when missing."""
    v = _lookup(m, key)
    if v is None:
        return _new(m.value_type) if not isinstance(m.value_type, T.IntType) else 0
    return _value(v)


def contains(m: Any, key: Any) -> bool:
    """``key in m``: a lookup would find a value."""
    return _lookup(m, key) is not None


def store(m: Any, key: Any, value: Any) -> None:
    """``m[key] = value``."""
    _update(m, key, value, 0)


def add(m: Any, key: Any, delta: int) -> None:
    """``m[key] += delta``: a missing key starts at 0 (if there is room for it)."""
    if _lookup(m, key) is None:
        _update(m, key, 0, BPF_NOEXIST)
    v = _lookup(m, key)
    if v is not None:
        v.value = m.value_type.wrap(v.value + delta)


def delete(m: Any, key: Any) -> int:
    """``del m[key]``: 0, -ENOENT, or -EINVAL on arrays."""
    if m.map_type in _ARRAYS:
        return -errno.EINVAL
    k = model_key(key)
    if m.map_type == MapType.LPM_TRIE:
        k = _lpm_key(k)
        if k is None:
            return -errno.EINVAL
    return 0 if m.model.pop(k, None) is not None else -errno.ENOENT


def _arg(frame: Any, e: ast.Call, name: str, t: T.Type) -> Any:
    node = e.margs[name]
    if isinstance(t, (T.StructType, T.ArrayType)):
        return frame.eval(node)
    return frame.value(node, t)


def call_method(frame: Any, e: ast.Call, m: Any, name: str) -> Any:
    """Run ``m.<name>(...)`` on the model."""
    kt, vt = m.key_type, m.value_type
    if name == "lookup":
        return _lookup(m, _arg(frame, e, "key", kt))
    if name in ("update", "insert"):
        flags = frame.value(e.margs["flags"], T.u64) if name == "update" else BPF_NOEXIST
        return _update(m, _arg(frame, e, "key", kt), _arg(frame, e, "value", vt), flags)
    if name == "delete":
        return delete(m, _arg(frame, e, "key", kt))
    if name == "lookup_or_try_init":
        key = _arg(frame, e, "key", kt)
        if _lookup(m, key) is None:
            _update(m, key, _arg(frame, e, "init", vt), BPF_NOEXIST)
        return _lookup(m, key)
    if name in ("increment", "atomic_increment"):
        add(m, _arg(frame, e, "key", kt), frame.value(e.margs["n"], vt))
        return None
    if name == "record":
        v = frame.value(e.margs["value"], T.u64)
        slot = min(v, m.max_entries - 1) if m.linear else (v.bit_length() or 1)
        add(m, slot, 1)
        return None
    queue = m.model.setdefault("items", [])
    if name == "push":
        if m.map_type == MapType.BLOOM_FILTER:
            m.model.setdefault("set", set()).add(model_key(_arg(frame, e, "value", vt)))
            return 0
        if len(queue) >= m.max_entries:
            if not frame.value(e.margs["flags"], T.u64) & BPF_EXIST:
                return -errno.E2BIG
            queue.pop(0)
        queue.append(_new(vt, _arg(frame, e, "value", vt)))
        return 0
    if name == "contains":
        return int(model_key(_arg(frame, e, "value", vt)) in m.model.get("set", set()))
    if name in ("pop", "peek"):
        if not queue:
            return -errno.ENOENT
        item = queue[0] if m.map_type == MapType.QUEUE else queue[-1]
        if name == "pop":
            queue.remove(item)
        frame.place_set(e.margs["out"], _value(item))
        return 0
    if name == "reserve":
        return _new(vt)
    if name in ("submit", "output"):
        rec = frame.eval(e.margs["record" if name == "submit" else "value"])
        queue.append(rec)
        return None if name == "submit" else 0
    if name == "discard":
        return None
    raise NotImplementedError(f"{type(m).__name__}.{name}() runs only in the kernel")
