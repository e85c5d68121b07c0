"""Where tracefs and bpffs live, mounting them when a fresh machine has neither."""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

from ..errors import NotSupported, syscall_error

__all__ = ["tracefs_root", "bpffs_root", "mount"]

_TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_BPFFS = "/sys/fs/bpf"


def mount(source: str, target: str, fstype: str) -> None:
    """mount(2) through libc; raises SyscallError on failure."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        raise syscall_error("mount", ctypes.get_errno(), f"mounting {fstype} at {target}")


@lru_cache(maxsize=None)
def tracefs_root() -> str:
    """The tracefs mount point, mounting it at /sys/kernel/tracing if needed."""
    for path in _TRACEFS_CANDIDATES:
        if os.path.exists(os.path.join(path, "events")):
            return path
    target = _TRACEFS_CANDIDATES[0]
    if not os.path.isdir(target):
        raise NotSupported("tracefs", f"{target} does not exist (CONFIG_TRACING off?)")
    mount("nodev", target, "tracefs")
    return target


def bpffs_root() -> str:
    """The bpffs mount point (/sys/fs/bpf), mounting it if needed."""
    if not os.path.ismount(_BPFFS):
        os.makedirs(_BPFFS, exist_ok=True)
        mount("bpf", _BPFFS, "bpf")
    return _BPFFS
