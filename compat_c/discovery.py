"""bcc's static discovery calls (``BPF.get_tracepoints``, ``BPF.find_library``, ...).

Each is a thin adapter over the runtime that returns what bcc returns:
names as bytes (``get_kprobe_functions`` gives a set of bytes, never an
error on a kernel without kprobes), ``kernel_struct_has_field`` as 1/0 (tools
compare it with ``== 1``), ``monotonic_time`` as a float of nanoseconds.
Arguments may be str or bytes.
"""

from __future__ import annotations

import os
import time
from typing import Iterable

__all__ = ["get_kprobe_functions", "get_tracepoints", "tracepoint_exists", "get_user_functions_and_addresses",
           "get_user_functions", "get_user_addresses", "find_library", "find_exe", "get_syscall_prefix",
           "get_syscall_fnname", "fix_syscall_fnname", "support_kfunc", "support_fmod_ret", "support_lsm",
           "support_raw_tracepoint", "support_raw_tracepoint_in_module", "kernel_struct_has_field",
           "kernel_enum_has_val", "monotonic_time", "get_probe_limit", "generate_auto_includes",
           "to_str", "to_bytes"]

_AUTO_INCLUDES = {"linux/time.h": ("time",), "linux/fs.h": ("fs", "file"),
                  "linux/blkdev.h": ("bio", "request"), "linux/slab.h": ("alloc",),
                  "linux/netdevice.h": ("sk_buff", "net_device")}


def to_str(value: str | bytes) -> str:
    """bcc takes bytes; accept both."""
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def to_bytes(value: str | bytes) -> bytes:
    """The bytes form bcc returns."""
    return value.encode() if isinstance(value, str) else bytes(value)


def get_kprobe_functions(event_re: str | bytes) -> set[bytes]:
    """Kernel functions matching ``event_re`` a kprobe can attach to (empty without kprobes)."""
    from pybpf_dsl.runtime.attach import kprobe as _kprobe

    return {to_bytes(n) for n in _kprobe.get_kprobe_functions(to_str(event_re))}


def get_tracepoints(tp_re: str | bytes) -> list[bytes]:
    """``b"category:event"`` of every tracepoint matching ``tp_re``."""
    from pybpf_dsl.runtime import tracepoints

    return [to_bytes(t) for t in tracepoints.get_tracepoints(to_str(tp_re))]


def tracepoint_exists(category: str | bytes, event: str | bytes) -> bool:
    """Whether tracefs has ``category:event``."""
    from pybpf_dsl.runtime import tracepoints

    return tracepoints.tracepoint_exists(to_str(category), to_str(event))


def get_user_functions_and_addresses(name: str | bytes, sym_re: str | bytes) -> list[tuple[bytes, int]]:
    """``(function, address)`` of every function in binary/library ``name`` matching ``sym_re``."""
    from pybpf_dsl.runtime import elfsyms

    return elfsyms.get_user_functions_and_addresses(to_str(name), sym_re)


def get_user_functions(name: str | bytes, sym_re: str | bytes) -> list[bytes]:
    """The names of :func:`get_user_functions_and_addresses`."""
    return [f for f, _a in get_user_functions_and_addresses(name, sym_re)]


def get_user_addresses(name: str | bytes, sym_re: str | bytes) -> list[int]:
    """The addresses of :func:`get_user_functions_and_addresses`."""
    return [a for _f, a in get_user_functions_and_addresses(name, sym_re)]


def find_library(libname: str | bytes, pid: int = 0) -> bytes | None:
    """The path (bytes, as bcc) of library ``libname`` ("c", "ssl", or a path), or None."""
    from pybpf_dsl.runtime import elfsyms

    found = elfsyms.find_library(to_str(libname), pid)
    return to_bytes(found) if found else None


def find_exe(bin_path: str | bytes) -> str | bytes | None:
    """The executable ``bin_path`` names (a path, else the first on PATH), in the caller's type."""
    from pybpf_dsl.runtime import elfsyms

    found = elfsyms.find_exe(to_str(bin_path))
    if found is None:
        return None
    return to_bytes(found) if isinstance(bin_path, bytes) else found


def get_syscall_prefix() -> bytes:
    """This kernel's syscall entry prefix (``b"__x64_sys_"`` on x86_64)."""
    from pybpf_dsl.runtime.attach import kprobe as _kprobe

    return to_bytes(_kprobe.get_syscall_prefix())


def get_syscall_fnname(name: str | bytes) -> bytes:
    """``b"openat"`` -> ``b"__x64_sys_openat"``."""
    from pybpf_dsl.runtime.attach import kprobe as _kprobe

    return to_bytes(_kprobe.get_syscall_fnname(to_str(name)))


def fix_syscall_fnname(name: str | bytes) -> bytes:
    """A syscall function name with any known prefix, rewritten to this kernel's prefix."""
    from pybpf_dsl.runtime.attach import kprobe as _kprobe

    return to_bytes(_kprobe.fix_syscall_fnname(to_str(name)))


def support_kfunc() -> bool:
    """Whether kfunc/kretfunc (fentry/fexit) programs work here."""
    from pybpf_dsl.runtime import features

    return features.has("fentry")


def support_fmod_ret() -> bool:
    """Whether fmod_ret (KMOD_RET) programs work here: BPF trampolines and BPF_MODIFY_RETURN."""
    return support_kfunc() and bool(kernel_enum_has_val("bpf_attach_type", "BPF_MODIFY_RETURN"))


def support_lsm() -> bool:
    """Whether LSM programs work here."""
    from pybpf_dsl.runtime import features

    return features.has("lsm")


def support_raw_tracepoint() -> bool:
    """Whether raw tracepoints work here."""
    from pybpf_dsl.runtime import features

    return features.has("raw_tracepoints")


def support_raw_tracepoint_in_module() -> bool:
    """Whether raw tracepoints defined by kernel modules can be attached (bcc's kallsyms test)."""
    from pybpf_dsl.runtime.symbols import ksymname
    return support_raw_tracepoint() and ksymname("bpf_trace_modules") != -1


def _kernel_type(name: str, kinds: Iterable) -> object | None:
    from pybpf_dsl.runtime.btf import kernel_btf
    try:
        btf = kernel_btf()
    except OSError:
        return None
    for t in btf.find_all(name):
        if t.kind in kinds:
            return t
    return None


def kernel_struct_has_field(struct_name: str | bytes, field_name: str | bytes) -> int:
    """1 when kernel ``struct struct_name`` has member ``field_name`` (BTF), else 0."""
    from pybpf_dsl.runtime.btf import Kind
    t = _kernel_type(to_str(struct_name), (Kind.STRUCT, Kind.UNION))
    want = to_str(field_name)
    return int(t is not None and any(m.name == want for m in t.members))  # type: ignore[attr-defined]


def kernel_enum_has_val(enum_name: str | bytes, enum_val: str | bytes) -> int:
    """1 when kernel ``enum enum_name`` has enumerator ``enum_val`` (BTF), else 0."""
    from pybpf_dsl.runtime.btf import Kind
    t = _kernel_type(to_str(enum_name), (Kind.ENUM, Kind.ENUM64))
    want = to_str(enum_val)
    return int(t is not None and any(n == want for n, _v in t.values))  # type: ignore[attr-defined]


def monotonic_time() -> float:
    """CLOCK_MONOTONIC in nanoseconds (bcc returns a float), the clock of bpf_ktime_get_ns."""
    return float(time.clock_gettime_ns(time.CLOCK_MONOTONIC))


def get_probe_limit() -> int:
    """How many probes one object may attach ($BCC_PROBE_LIMIT, default 1000)."""
    return int(os.environ.get("BCC_PROBE_LIMIT", "1000"))


def generate_auto_includes(program_words: Iterable[str]) -> str:
    """``#include`` lines for the kernel types some words suggest (bcc's helper for tools)."""
    words = list(program_words)
    headers = [h for h, keys in _AUTO_INCLUDES.items() if any(k in w for k in keys for w in words)]
    return "".join(f"#include <{h}>\n" for h in headers)
