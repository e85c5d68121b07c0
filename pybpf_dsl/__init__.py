"""pybpf_dsl: BPF programs written as typed Python, and bcc's C programs, on one runtime.

::

    from pybpf_dsl import bpf, bpf_function, tracepoint
    from pybpf_dsl.types import u32, u64

Importing is cheap: LLVM is only loaded when something is compiled.
"""

from __future__ import annotations

from .decorators import (bpf_function, cgroup_skb, cgroup_sock, fentry, fexit, iter, kfunc, kprobe,
                         kretfunc, kretprobe, lsm, perf_event, raw_tracepoint, socket_filter, syscall,
                         syscall_prog, tc, tp_btf, tracepoint, uprobe, uretprobe, usdt, xdp)
from .helpers import bpf
from .loaded import LoadedProgram, load

__all__ = [
    "bpf", "bpf_function", "tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "uprobe",
    "uretprobe", "usdt", "syscall", "kfunc", "fentry", "kretfunc", "fexit", "lsm", "iter",
    "perf_event", "xdp", "socket_filter", "tc", "cgroup_skb", "cgroup_sock", "syscall_prog",
    "load", "LoadedProgram",
]
