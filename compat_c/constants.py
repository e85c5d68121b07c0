"""bcc's constant classes (``bcc.PerfType``, ``bcc.BPFProgType``, ...) and debug flags.

bcc exposes kernel enums as plain classes of int attributes; so does this
module, built from the runtime's declarations in
:mod:`pybpf_dsl.runtime.uapi` so no number is written twice::

    PerfType.SOFTWARE, PerfSWConfig.CPU_CLOCK, BPFProgType.XDP, XDPFlags.SKB_MODE
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pybpf_dsl.runtime import uapi

__all__ = ["PerfType", "PerfHWConfig", "PerfSWConfig", "PerfEventSampleFormat", "BPFProgType",
           "BPFAttachType", "XDPAction", "XDPFlags", "DEBUG_LLVM_IR", "DEBUG_BPF",
           "DEBUG_PREPROCESSOR", "DEBUG_SOURCE", "DEBUG_BPF_REGISTER_STATE", "DEBUG_BTF",
           "BPF_CONSTANTS"]

DEBUG_LLVM_IR = 0x1
"""Print the LLVM IR the program compiled to."""
DEBUG_BPF = 0x2
"""Print the BPF instructions of each program as it loads (and the verifier log)."""
DEBUG_PREPROCESSOR = 0x4
"""Print the program text as compiled (USDT readers and the user's text)."""
DEBUG_SOURCE = 0x8
"""Print the source of each loaded program with its instructions."""
DEBUG_BPF_REGISTER_STATE = 0x10
"""Verifier log level 2 (register state at each instruction)."""
DEBUG_BTF = 0x20
"""Report BTF problems instead of silently dropping BTF (accepted; BTF is always kept)."""


def _plain(name: str, members: dict[str, int], doc: str) -> type:
    """A class of int attributes, like bcc's constant holders."""
    return type(name, (), {"__doc__": doc, "__module__": __name__, **members})


def _from_enum(name: str, enum: type[IntEnum], prefix: str = "") -> type:
    return _plain(name, {prefix + m.name: int(m) for m in enum},
                  f"``{enum.__name__}`` values as bcc's ``{name}`` exposes them.")


PerfType = _from_enum("PerfType", uapi.PerfType)
PerfHWConfig = _from_enum("PerfHWConfig", uapi.PerfHwConfig)
PerfSWConfig = _from_enum("PerfSWConfig", uapi.PerfSwConfig)
BPFProgType = _from_enum("BPFProgType", uapi.ProgType)
BPFAttachType = _from_enum("BPFAttachType", uapi.AttachType)
# PERF_SAMPLE_* bits, in the kernel's order (bit i is the i-th name).
PerfEventSampleFormat = _plain("PerfEventSampleFormat", {n: 1 << i for i, n in enumerate((
    "IP", "TID", "TIME", "ADDR", "READ", "CALLCHAIN", "ID", "CPU", "PERIOD", "STREAM_ID", "RAW",
    "BRANCH_STACK", "REGS_USER", "STACK_USER", "WEIGHT", "DATA_SRC", "IDENTIFIER", "TRANSACTION",
    "REGS_INTR", "PHYS_ADDR", "AUX", "CGROUP", "DATA_PAGE_SIZE", "CODE_PAGE_SIZE",
    "WEIGHT_STRUCT"))}, "``PERF_SAMPLE_*`` bits.")
XDPAction = _plain("XDPAction", {n: i for i, n in enumerate(
    ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"))}, "``enum xdp_action``.")
XDPFlags = _plain("XDPFlags", {
    "UPDATE_IF_NOEXIST": uapi.XDP_FLAGS_UPDATE_IF_NOEXIST, "SKB_MODE": uapi.XDP_FLAGS_SKB_MODE,
    "DRV_MODE": uapi.XDP_FLAGS_DRV_MODE, "HW_MODE": uapi.XDP_FLAGS_HW_MODE,
    "REPLACE": uapi.XDP_FLAGS_REPLACE}, "``XDP_FLAGS_*`` for attach_xdp/remove_xdp.")


def _attrs(cls: type, prefix: str = "") -> dict[str, Any]:
    return {prefix + k: v for k, v in vars(cls).items() if k.isupper()}


BPF_CONSTANTS: dict[str, Any] = {
    **_attrs(BPFProgType), **_attrs(XDPAction), **_attrs(XDPFlags, "XDP_FLAGS_"),
}
"""The constants bcc also makes class attributes of ``BPF`` (BPF.KPROBE, BPF.XDP_PASS,
BPF.XDP_FLAGS_SKB_MODE, ...)."""
