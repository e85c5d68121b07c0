"""``bcc.table``: the table classes (the runtime's) and bcc's ``Table`` factory."""

from __future__ import annotations

import os
from typing import Any, Callable

from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.maps import Map
from pybpf_dsl.runtime.tables import *  # noqa: F401,F403  (bcc.table's class names)
from pybpf_dsl.runtime.tables import __all__ as _TABLES
from pybpf_dsl.runtime.tables import table_for
from pybpf_dsl.runtime.uapi import MapType

__all__ = [*_TABLES, "Table", *(f"BPF_MAP_TYPE_{t.name}" for t in MapType)]

globals().update({f"BPF_MAP_TYPE_{t.name}": int(t) for t in MapType})


def Table(bpf: Any, map_id: int, map_fd: int, keytype: Any, leaftype: Any, name: str | bytes = "",
          reducer: Callable | None = None) -> Any:
    """bcc's table factory: the table object for open map ``map_fd`` (duplicated, so the
    caller keeps its own fd), chosen by the map's type."""
    m = Map.from_fd(FD(os.dup(map_fd), "map"))
    label = name.decode() if isinstance(name, bytes) else name
    return table_for(m, keytype, leaftype, reducer, name=label, owner=bpf)
