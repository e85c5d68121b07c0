"""The ``bcc`` module, as compat_c provides it to unmodified bcc tools.

``python3 -m compat_c TOOL`` makes ``import bcc`` (and ``bcc.utils``,
``bcc.table``, ``bcc.syscall``, ...) resolve here (:mod:`compat_c.alias`);
programs may also import ``compat_c.bcc`` directly.  Every name is
compat_c's or the runtime's: nothing of libbcc is needed.
"""

from __future__ import annotations

from typing import Any

from ..bpf import BPF
from ..constants import (DEBUG_BPF, DEBUG_BPF_REGISTER_STATE, DEBUG_BTF, DEBUG_LLVM_IR, DEBUG_PREPROCESSOR,
                         DEBUG_SOURCE, BPFAttachType, BPFProgType, PerfEventSampleFormat, PerfHWConfig,
                         PerfSWConfig, PerfType, XDPAction, XDPFlags)
from . import tcp, utils
from .table import Table
from .utils import ArgString, StrcmpRewrite, get_online_cpus, printb
from .version import __version__

__all__ = ["BPF", "USDT", "USDTException", "SymbolCache", "Perf", "PerfType", "PerfHWConfig",
           "PerfSWConfig", "PerfEventSampleFormat", "BPFProgType", "BPFAttachType", "XDPAction",
           "XDPFlags", "Table", "ArgString", "StrcmpRewrite", "get_online_cpus", "printb", "utils", "tcp",
           "DEBUG_LLVM_IR", "DEBUG_BPF", "DEBUG_PREPROCESSOR", "DEBUG_SOURCE", "DEBUG_BPF_REGISTER_STATE",
           "DEBUG_BTF", "DEBUGFS", "TRACEFS", "__version__"]

DEBUGFS = "/sys/kernel/debug"
_SUBMODULES = frozenset({"containers", "perf", "syscall", "table", "usdt", "version"})


def __getattr__(name: str) -> Any:
    # TRACEFS mounts tracefs when absent: only pay for it when a tool reads it;
    # SymbolCache and USDT pull in the ELF reader, Perf a ctypes struct, which most tools never need.
    if name == "TRACEFS":
        from pybpf_dsl.runtime.tracefs import tracefs_root

        return tracefs_root()
    if name == "SymbolCache":
        from pybpf_dsl.runtime.symbols import SymbolCache

        return SymbolCache
    if name == "Perf":
        from .perf import Perf

        return Perf
    if name in ("USDT", "USDTException"):
        from .. import usdt

        return getattr(usdt, name)
    if name in _SUBMODULES:  # ``import bcc; bcc.table.HashTable`` works as with bcc's eager imports
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'bcc' has no attribute {name!r}")
