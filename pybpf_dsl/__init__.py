"""pybpf_dsl: BPF programs written as typed Python, and bcc's C programs, on one runtime.

::

    from pybpf_dsl import bpf, bpf_function, tracepoint
    from pybpf_dsl.types import u32, u64

Importing is cheap: the names below load on first use (so ``import
pybpf_dsl.runtime...`` and compat_c do not pay for the DSL), and LLVM is
only loaded when something is compiled.
"""

from __future__ import annotations

__all__ = [
    "bpf", "bpf_function", "tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "uprobe",
    "uretprobe", "usdt", "syscall", "kfunc", "fentry", "kretfunc", "fexit", "lsm", "iter",
    "perf_event", "xdp", "socket_filter", "tc", "cgroup_skb", "cgroup_sock", "sock_ops",
    "sk_msg", "sk_skb", "syscall_prog",
    "load", "LoadedProgram",
]

_HOMES = {"bpf": "helpers", "load": "loaded", "LoadedProgram": "loaded"}


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'pybpf_dsl' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_HOMES.get(name, 'decorators')}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
