"""The ``bpf`` namespace: kernel helpers and readable wrappers callable from DSL code.

``bpf.tgid()``, ``bpf.ktime_ns()``, ``bpf.get_current_comm(ev.comm)``, ...
Each works in BPF programs and, with a CPython model, in plain Python.
Add a helper with :func:`pybpf_dsl.helpers.registry.helper`.
"""

from __future__ import annotations

from typing import Any

from . import core, derived, intrinsics  # noqa: F401 - core and intrinsics register helpers
from .registry import HELPERS, Helper, helper

__all__ = ["bpf", "helper", "Helper", "HELPERS"]


class _Namespace:
    """Attribute access to every helper and DSL-level wrapper."""

    def __getattr__(self, name: str) -> Any:
        from ..decorators import BPFFunction
        obj = derived.__dict__.get(name)
        if isinstance(obj, BPFFunction):
            return obj
        obj = HELPERS.get(name)
        if obj is not None:
            return obj
        raise AttributeError(f"bpf has no helper {name!r}; see dir(bpf)")

    def __dir__(self) -> list[str]:
        from ..decorators import BPFFunction
        names = [n for n, v in derived.__dict__.items() if isinstance(v, BPFFunction)]
        return sorted(set(names) | set(HELPERS))


bpf = _Namespace()
