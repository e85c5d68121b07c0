"""The ``bpf`` namespace: kernel helpers and readable wrappers callable from DSL code.

Readable names: ``bpf.pid()``/``tid()`` (thread id), ``tgid()`` (process id), ``uid()``,
``gid()``, ``comm()``, ``current_task()``/``current_task_btf()``, ``ktime_ns()``, ``cpu()``,
``cgroup_id()``, ``log2l(v)``, ``usdt_arg(ctx, n)``, ``trace_printk(fmt, ...)``.
Kernel helpers under their own names without the ``bpf_`` prefix: ``probe_read_user(_str)``,
``probe_read_kernel(_str)``, ``probe_read(_str)``, ``copy_from_user(_task)``,
``get_current_pid_tgid``, ``get_current_uid_gid``, ``get_current_comm(buf)``,
``get_current_task``, ``get_ns_current_pid_tgid``, ``get_current_(ancestor_)cgroup_id``,
``ktime_get_(boot_|coarse_|tai_)ns``, ``jiffies64``, ``get_prandom_u32``,
``get_smp_processor_id``, ``get_numa_node_id``, ``get_stack``, ``get_task_stack``,
``get_func_ip``, ``get_attach_cookie``, ``send_signal(_thread)``, ``override_return``,
``probe_write_user``, ``skb_load_bytes``, ``xdp_load_bytes``, ``seq_write``.
Each works in BPF programs and, where a CPython model is possible, in plain Python.
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
