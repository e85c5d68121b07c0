"""The description of a map, separate from the live kernel object.

Front ends (the DSL compiler, compat_c, the ELF loader) produce
:class:`MapSpec` values; :mod:`pybpf_dsl.runtime.maps` turns a spec into a
live map.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from typing import Any

from .uapi import MapType

__all__ = ["MapSpec", "PinMode", "valid_map_name"]

_NAME_OK = re.compile(r"[A-Za-z0-9_.]*\Z")


class PinMode:
    """How a map is pinned on bpffs."""

    NONE = "none"
    BY_NAME = "by_name"  # libbpf's LIBBPF_PIN_BY_NAME: <pin root>/<map name>
    PATH = "path"        # bcc's BPF_TABLE_PINNED: an explicit path


def valid_map_name(name: str) -> str:
    """The kernel-visible name for ``name``: at most 15 chars of [A-Za-z0-9_.]."""
    cleaned = re.sub(r"[^A-Za-z0-9_.]", "_", name)
    return cleaned[:15]


@dataclass
class MapSpec:
    """Everything needed to create (or reuse) one map.

    ``key_type``/``value_type`` are optional ctypes types that user-space
    tables use to decode entries; when absent, tables fall back to raw
    integers or bytes of ``key_size``/``value_size``.  ``btf_key_type_id`` and
    ``btf_value_type_id`` refer to the program BTF the map is created with.
    ``data`` is the initial content of a global-data map (.rodata, .data,
    .bss); ``freeze`` makes it read-only for user space after loading.
    ``inner`` is the template of a map-in-map's inner maps.
    """

    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    inner: "MapSpec | None" = None
    pinning: str = PinMode.NONE
    pin_path: str | None = None
    numa_node: int = 0
    map_extra: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    key_type: Any = None
    value_type: Any = None
    data: bytes | None = None
    freeze: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.type = MapType(self.type)
        if not _NAME_OK.match(self.kernel_name):
            raise ValueError(f"map name {self.name!r} has characters the kernel refuses")

    @property
    def kernel_name(self) -> str:
        """The name given to the kernel (truncated to 15 chars, invalid chars replaced)."""
        return valid_map_name(self.name)

    @classmethod
    def from_ctypes(cls, name: str, map_type: MapType, key_type: Any, value_type: Any,
                    max_entries: int, **kw: Any) -> "MapSpec":
        """A spec whose sizes come from ctypes key and value types."""
        key_size = ctypes.sizeof(key_type) if key_type is not None else 0
        value_size = ctypes.sizeof(value_type) if value_type is not None else 0
        return cls(name, map_type, key_size, value_size, max_entries,
                   key_type=key_type, value_type=value_type, **kw)
