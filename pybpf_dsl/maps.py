"""Map declarations for DSL programs (module globals), e.g. ``HashMap[u32, u64](max_entries=10240)``."""

from __future__ import annotations

from typing import Any

from . import types as T

__all__ = ["MapDecl"]


class MapDecl:
    """Base class of map declarations: the map's kind, key/value types and size."""

    map_type: int = 0
    key_type: Any = None
    value_type: Any = None

    def methods(self) -> set[str]:
        """Names callable as ``m.<name>(...)`` in BPF code."""
        return set()
