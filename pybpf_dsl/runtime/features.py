"""What the running kernel can do, probed once and cached.

Each feature is probed the cheap, definitive way: a file in sysfs or tracefs,
or a tiny program, map or link the kernel either accepts or refuses.  Probes
never leave anything behind.  ::

    from pybpf_dsl.runtime import features
    features.has("kprobes")          # False on a kernel without CONFIG_KPROBES
    features.require("kprobes")      # NotSupported: this kernel does not support
                                     # kprobes: CONFIG_KPROBES is off (no 'kprobe' PMU ...)

In tests, ``features.skip_unless("fentry")`` skips with that same one-line
reason.  :data:`FEATURES` lists every name.
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from ..errors import BPFError, NotSupported, PermissionDenied
from . import asm, syscall, uapi
from .uapi import AttachType, Cmd, MapType, PerfAttrFlag, PerfHwConfig, PerfType, ProgType, ffi

__all__ = ["Feature", "FEATURES", "has", "reason", "require", "skip_unless", "probe_all",
           "clear_cache"]

_PMU_DIR = "/sys/bus/event_source/devices"
_VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
_RET0 = asm.mov64_imm(asm.R0, 0) + asm.exit_()


@dataclass(frozen=True)
class Feature:
    """A kernel feature: ``title`` names it to users, ``hint`` says what enables it.

    ``since`` is set only for features that depend on the kernel version
    alone; tests use it to fail when a new kernel wrongly reports them missing.
    """

    name: str
    title: str
    hint: str
    probe: Callable[[], str | None]  # None when present, else what was observed
    since: tuple[int, int] | None = None  # every kernel from this version has it, whatever the config


# ---------------------------------------------------------------- probe helpers

_CAP_SYS_ADMIN, _CAP_PERFMON, _CAP_BPF = 21, 38, 39


def effective_capabilities() -> int | None:
    """This process's effective capability mask (``CapEff`` of /proc/self/status), None when unreadable."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapEff:"))
    except (OSError, StopIteration):
        return None


@lru_cache(maxsize=None)
def _capable() -> bool:
    """Whether this process may load tracing programs (CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN)."""
    caps = effective_capabilities()
    if caps is None:
        return os.geteuid() == 0
    bpf_perf = (1 << _CAP_BPF) | (1 << _CAP_PERFMON)
    return bool(caps & (1 << _CAP_SYS_ADMIN)) or caps & bpf_perf == bpf_perf


def _check_privileged(what: str) -> None:
    if not _capable():
        raise PermissionDenied("BPF_PROG_LOAD", _errno.EPERM, f"probing kernel support for {what}")


def _load(what: str, prog_type: int, insns: bytes = _RET0, **kw) -> tuple[int, int]:
    """Load a probe program; returns ``(fd, errno)`` with fd -1 on failure (caller closes)."""
    _check_privileged(what)
    fd, err, _ = syscall.prog_load(prog_type, insns, "GPL", **kw)
    return fd, err


def _refused(prog_type: int, err: int, label: str = "") -> str:
    what = f"BPF_PROG_TYPE_{ProgType(prog_type).name}" + (f", {label}" if label else "")
    return f"BPF_PROG_LOAD({what}) answered {_errno.errorcode.get(err, err)}"


def _loads(what: str, prog_type: int, insns: bytes = _RET0, label: str = "", **kw) -> str | None:
    fd, err = _load(what, prog_type, insns, **kw)
    if fd >= 0:
        os.close(fd)
        return None
    return _refused(prog_type, err, label)


def _link_errno(prog_fd: int, target_fd: int, attach_type: int, **extra) -> int:
    """errno of a BPF_LINK_CREATE that is expected to fail (0 and detached if it succeeded)."""
    try:
        syscall.link_create(prog_fd, target_fd, attach_type, **extra).close()
    except BPFError as e:
        return e.errno
    return 0


def _with_prog(what: str, prog_type: int, attach: Callable[[int], str | None], **kw) -> str | None:
    fd, err = _load(what, prog_type, **kw)
    if fd < 0:
        return _refused(prog_type, err)
    try:
        return attach(fd)
    finally:
        os.close(fd)


def _btf_missing() -> str | None:
    return None if os.path.exists(_VMLINUX_BTF) else f"{_VMLINUX_BTF} is missing"


def _btf_id(lookup: Callable[[], int]) -> tuple[int, str | None]:
    missing = _btf_missing()
    if missing:
        return 0, missing
    try:
        return lookup(), None
    except LookupError as e:
        return 0, str(e)


# ---------------------------------------------------------------- probes

def _probe_tracepoints() -> str | None:
    from .tracefs import tracefs_root
    if not os.path.isdir(os.path.join(_PMU_DIR, "tracepoint")):
        return f"no 'tracepoint' PMU in {_PMU_DIR}"
    try:
        tracefs_root()
    except NotSupported as e:
        return str(e)
    return _loads("tracepoints", ProgType.TRACEPOINT)


def _probe_kprobes() -> str | None:
    from .attach.kprobe import kprobe_pmu, kprobe_events_path
    if kprobe_pmu() is not None or kprobe_events_path() is not None:
        return None
    return f"no 'kprobe' PMU in {_PMU_DIR} and no kprobe_events in tracefs"


def _probe_uprobes() -> str | None:
    from .tracefs import tracefs_root
    if os.path.isdir(os.path.join(_PMU_DIR, "uprobe")):
        return None
    try:
        if os.path.exists(os.path.join(tracefs_root(), "uprobe_events")):
            return None
    except NotSupported:
        pass
    return f"no 'uprobe' PMU in {_PMU_DIR} and no uprobe_events in tracefs"


def _probe_raw_tracepoints() -> str | None:
    return _loads("raw tracepoints", ProgType.RAW_TRACEPOINT)


def _probe_tp_btf() -> str | None:
    from .attach.raw_tracepoint import tp_btf_id
    btf_id, why = _btf_id(lambda: tp_btf_id("sched_switch"))
    if why:
        return why
    return _loads("tp_btf", ProgType.TRACING, label="tp_btf", expected_attach_type=AttachType.TRACE_RAW_TP,
                  attach_btf_id=btf_id)


def _probe_fentry() -> str | None:
    from .attach.fentry import kernel_func_btf_id
    btf_id, why = _btf_id(lambda: kernel_func_btf_id("do_nanosleep"))
    if why:
        return why
    return _loads("fentry", ProgType.TRACING, label="fentry", expected_attach_type=AttachType.TRACE_FENTRY,
                  attach_btf_id=btf_id)


def _probe_lsm() -> str | None:
    from .attach.fentry import lsm_hook_btf_id
    btf_id, why = _btf_id(lambda: lsm_hook_btf_id("file_open"))
    if why:
        return why
    return _loads("BPF LSM", ProgType.LSM, expected_attach_type=AttachType.LSM_MAC,
                  attach_btf_id=btf_id)


def _probe_iterators() -> str | None:
    from .attach.iterator import iter_target_btf_id
    btf_id, why = _btf_id(lambda: iter_target_btf_id("task"))
    if why:
        return why
    return _loads("BPF iterators", ProgType.TRACING, label="iter", expected_attach_type=AttachType.TRACE_ITER,
                  attach_btf_id=btf_id)


def _probe_bpf_links() -> str | None:
    err = _link_errno(0xFFFFFFFF, 0, 0)
    return None if err == _errno.EBADF else f"BPF_LINK_CREATE answered {_errno.errorcode.get(err, err)}"


def _probe_perf_event_links() -> str | None:
    def attach(fd: int) -> str | None:
        err = _link_errno(fd, 0xFFFFFFFF, AttachType.PERF_EVENT)
        return None if err == _errno.EBADF else f"BPF_LINK_CREATE(BPF_PERF_EVENT) answered {_errno.errorcode.get(err, err)}"
    return _with_prog("perf_event links", ProgType.TRACEPOINT, attach)


def _probe_ringbuf() -> str | None:
    try:
        syscall.map_create(MapType.RINGBUF, 0, 0, os.sysconf("SC_PAGE_SIZE")).close()
    except BPFError as e:
        return f"BPF_MAP_CREATE(BPF_MAP_TYPE_RINGBUF) answered {_errno.errorcode.get(e.errno, e.errno)}"
    return None


def _probe_batch_ops() -> str | None:
    try:
        with syscall.map_create(MapType.HASH, 4, 4, 1) as m:
            keys, values, out = ffi.new("char[4]"), ffi.new("char[4]"), ffi.new("char[4]")
            syscall.map_batch(Cmd.MAP_LOOKUP_BATCH, m.fileno(), keys, values, 1, out_batch=out)
    except BPFError as e:
        return f"BPF_MAP_LOOKUP_BATCH answered {_errno.errorcode.get(e.errno, e.errno)}"
    return None


def _probe_tcx() -> str | None:
    def attach(fd: int) -> str | None:
        err = _link_errno(fd, 0, AttachType.TCX_INGRESS)  # ifindex 0 does not exist
        return None if err == _errno.ENODEV else f"BPF_LINK_CREATE(BPF_TCX_INGRESS) answered {_errno.errorcode.get(err, err)}"
    return _with_prog("tcx", ProgType.SCHED_CLS, attach, expected_attach_type=AttachType.TCX_INGRESS)


def _probe_uprobe_multi() -> str | None:
    path, offsets = ffi.new("char[]", b"/"), ffi.new("uint64_t[1]")

    def attach(fd: int) -> str | None:
        err = _link_errno(fd, 0, AttachType.TRACE_UPROBE_MULTI, uprobe_multi={
            "path": int(ffi.cast("uintptr_t", path)), "offsets": int(ffi.cast("uintptr_t", offsets)),
            "cnt": 1})
        return None if err == _errno.EBADF else f"BPF_LINK_CREATE(BPF_TRACE_UPROBE_MULTI) answered {_errno.errorcode.get(err, err)}"
    return _with_prog("uprobe_multi", ProgType.KPROBE, attach,
                      expected_attach_type=AttachType.TRACE_UPROBE_MULTI)


def _probe_kprobe_multi() -> str | None:
    name = ffi.new("char[]", b"pybpf_dsl_no_such_function")
    syms = ffi.new("uint64_t[1]", [int(ffi.cast("uintptr_t", name))])

    def attach(fd: int) -> str | None:
        err = _link_errno(fd, 0, AttachType.TRACE_KPROBE_MULTI, kprobe_multi={
            "syms": int(ffi.cast("uintptr_t", syms)), "cnt": 1})
        if err in (_errno.EOPNOTSUPP, _errno.EINVAL):
            return f"BPF_LINK_CREATE(BPF_TRACE_KPROBE_MULTI) answered {_errno.errorcode.get(err, err)}"
        return None
    return _with_prog("kprobe_multi", ProgType.KPROBE, attach,
                      expected_attach_type=AttachType.TRACE_KPROBE_MULTI)


def _probe_bpf_cookie() -> str | None:
    get_attach_cookie = 174
    return _loads("bpf_cookie", ProgType.KPROBE, asm.call(get_attach_cookie) + _RET0,
                  label="calling bpf_get_attach_cookie")


def _probe_sleepable() -> str | None:
    return _loads("sleepable programs", ProgType.KPROBE, label="BPF_F_SLEEPABLE", prog_flags=uapi.BPF_F_SLEEPABLE)


def _probe_perf_event_programs() -> str | None:
    return _loads("perf_event programs", ProgType.PERF_EVENT)


def _probe_hardware_perf() -> str | None:
    attr = ffi.new("struct perf_event_attr *")
    attr.type = PerfType.HARDWARE
    attr.size = uapi.PERF_ATTR_SIZE
    attr.config = PerfHwConfig.CPU_CYCLES
    attr.flags = PerfAttrFlag.DISABLED
    try:
        syscall.perf_event_open(attr, 0, -1).close()
    except BPFError as e:
        pmu = "no 'cpu' PMU in " + _PMU_DIR + ", " if not os.path.isdir(os.path.join(_PMU_DIR, "cpu")) else ""
        return f"{pmu}perf_event_open(PERF_COUNT_HW_CPU_CYCLES) answered {_errno.errorcode.get(e.errno, e.errno)}"
    return None


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("tracepoints", "tracepoints", "CONFIG_TRACEPOINTS or CONFIG_BPF_EVENTS is off",
            _probe_tracepoints),
    Feature("kprobes", "kprobes", "CONFIG_KPROBES is off", _probe_kprobes),
    Feature("uprobes", "uprobes", "CONFIG_UPROBES or CONFIG_UPROBE_EVENTS is off", _probe_uprobes),
    Feature("raw_tracepoints", "raw tracepoints", "needs Linux 4.17+ with CONFIG_BPF_EVENTS",
            _probe_raw_tracepoints, (4, 17)),
    Feature("btf", "kernel BTF", "CONFIG_DEBUG_INFO_BTF is off", _btf_missing),
    Feature("tp_btf", "BTF-typed tracepoints (tp_btf)", "needs Linux 5.5+ with kernel BTF",
            _probe_tp_btf),
    Feature("fentry", "fentry/fexit programs (BPF trampolines)",
            "needs Linux 5.5+ with CONFIG_BPF_JIT and CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, "
            "and no security policy refusing TRACING programs", _probe_fentry),
    Feature("lsm", "BPF LSM programs",
            "CONFIG_BPF_LSM is off or 'bpf' is missing from the lsm= boot parameter", _probe_lsm),
    Feature("iterators", "BPF iterators", "needs Linux 5.8+ with kernel BTF", _probe_iterators),
    Feature("bpf_links", "BPF links", "needs Linux 5.7+", _probe_bpf_links, (5, 7)),
    Feature("perf_event_links", "BPF links for perf events", "needs Linux 5.15+",
            _probe_perf_event_links, (5, 15)),
    Feature("ringbuf", "BPF ring buffers", "needs Linux 5.8+", _probe_ringbuf, (5, 8)),
    Feature("batch_ops", "batched map operations", "needs Linux 5.6+", _probe_batch_ops, (5, 6)),
    Feature("tcx", "tcx links", "needs Linux 6.6+", _probe_tcx, (6, 6)),
    Feature("uprobe_multi", "uprobe_multi links", "needs Linux 6.6+ with CONFIG_UPROBES",
            _probe_uprobe_multi),
    Feature("kprobe_multi", "kprobe_multi links", "CONFIG_FPROBE is off (or Linux is older than 5.18)",
            _probe_kprobe_multi),
    Feature("bpf_cookie", "BPF cookies", "needs Linux 5.15+", _probe_bpf_cookie, (5, 15)),
    Feature("sleepable", "sleepable uprobe programs", "needs Linux 6.1+", _probe_sleepable),
    Feature("perf_event_programs", "perf_event programs", "CONFIG_PERF_EVENTS or CONFIG_BPF_EVENTS is off",
            _probe_perf_event_programs),
    Feature("hardware_perf", "hardware perf counters",
            "no hardware PMU is exposed (usual in virtual machines)", _probe_hardware_perf),
)}
"""Every probed feature by name."""


def _feature(name: str) -> Feature:
    try:
        return FEATURES[name]
    except KeyError:
        raise KeyError(f"unknown kernel feature {name!r} (known: {', '.join(FEATURES)})") from None


@lru_cache(maxsize=None)
def reason(name: str) -> str | None:
    """None when the kernel has feature ``name``; else one line saying why not."""
    feat = _feature(name)
    observed = feat.probe()
    return None if observed is None else f"{feat.hint} ({observed})"


def has(name: str) -> bool:
    """Whether the running kernel has feature ``name`` (probed once, then cached)."""
    return reason(name) is None


def require(name: str) -> None:
    """Raise NotSupported naming the missing feature and what enables it, unless present."""
    why = reason(name)
    if why is not None:
        raise NotSupported(FEATURES[name].title, why)


def skip_unless(name: str) -> None:
    """In a test: skip with the one-line reason when the kernel lacks feature ``name``."""
    why = reason(name)
    if why is not None:
        import pytest
        pytest.skip(f"kernel lacks {FEATURES[name].title}: {why}")


def probe_all() -> dict[str, bool]:
    """Every feature and whether this kernel has it (for diagnostics)."""
    return {name: has(name) for name in FEATURES}


def clear_cache() -> None:
    """Forget every probe result (after loading a module or remounting tracefs)."""
    reason.cache_clear()
