"""perf events: PERF_EVENT programs on sampling events, and BPF on any perf event FD.

:func:`attach_perf_fd` is the one place a program is attached to an opened
perf event (tracepoint, kprobe, uprobe or sampling event): through a BPF link
of type perf_event when the kernel has them (Linux 5.15+, needed for
cookies), else with PERF_EVENT_IOC_SET_BPF; then the event is enabled.

:func:`attach_perf_event` follows bcc: with ``cpu=-1`` one event is opened
on every online CPU, all owned by one :class:`Link`.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from typing import Any

from ...errors import BPFError, NotSupported
from .. import features, syscall, uapi
from ..cpus import online_cpus
from ..fd import FD
from ..uapi import AttachType, PerfAttrFlag, PerfType, ffi
from .link import Link
from .progfd import prog_fd

__all__ = ["perf_attr", "attach_perf_fd", "open_perf_event", "attach_perf_event",
           "attach_perf_event_raw"]

_HW_TYPES = (PerfType.HARDWARE, PerfType.HW_CACHE, PerfType.RAW)
_MAX_RATE = "/proc/sys/kernel/perf_event_max_sample_rate"
_PERF_ATTR_KWARGS = ("sample_period", "sample_freq", "config1", "config2", "wakeup_events",
                     "sample_type", "flags")


def perf_attr(ev_type: int, config: int, *, sample_period: int = 0, sample_freq: int = 0,
              config1: int = 0, config2: int = 0, wakeup_events: int = 0, sample_type: int = 0,
              flags: int = PerfAttrFlag.DISABLED) -> Any:
    """A filled ``struct perf_event_attr *`` (disabled by default: enable after attaching)."""
    if sample_period and sample_freq:
        raise ValueError("give sample_period or sample_freq, not both")
    attr = ffi.new("struct perf_event_attr *")
    attr.type = ev_type
    attr.size = uapi.PERF_ATTR_SIZE
    attr.config = config
    if sample_freq:
        attr.sample_period = sample_freq  # the union member sample_freq
        flags |= PerfAttrFlag.FREQ
    else:
        attr.sample_period = sample_period
    attr.config1 = config1
    attr.config2 = config2
    attr.wakeup_events = wakeup_events
    attr.sample_type = sample_type
    attr.flags = flags
    return attr


def attach_perf_fd(prog: Any, perf: FD | int, cookie: int = 0, what: str | None = None) -> FD | None:
    """Attach a program to an opened perf event and enable it.

    Returns the BPF link FD (close it before the perf FD to detach), or None
    when the kernel has no perf_event links and PERF_EVENT_IOC_SET_BPF was
    used (closing the perf FD detaches).  A non-zero ``cookie`` needs links.
    """
    fd = prog_fd(prog)
    pfd = perf if isinstance(perf, int) else perf.fileno()
    link = None
    if features.has("perf_event_links"):
        link = syscall.link_create(fd, pfd, AttachType.PERF_EVENT, what=what,
                                   perf_event={"bpf_cookie": cookie})
    elif cookie:
        features.require("perf_event_links")
    else:
        syscall.ioctl(pfd, uapi.PERF_EVENT_IOC_SET_BPF, fd, what=what)
    try:
        syscall.ioctl(pfd, uapi.PERF_EVENT_IOC_ENABLE, 0, what=what)
    except BaseException:
        if link is not None:
            link.close()
        raise
    return link


def open_perf_event(attr: Any, pid: int = -1, cpu: int = -1, group_fd: int = -1,
                    what: str | None = None) -> FD:
    """perf_event_open with errors a user can act on (no hardware PMU, rate too high)."""
    try:
        return syscall.perf_event_open(attr, pid, cpu, group_fd, what=what)
    except BPFError as e:
        if attr.type in _HW_TYPES and e.errno in (_errno.ENOENT, _errno.EOPNOTSUPP, _errno.ENODEV):
            features.require("hardware_perf")
            raise NotSupported("hardware perf counters",
                               f"perf_event_open answered {_errno.errorcode[e.errno]} for type {attr.type} "
                               f"config {attr.config}") from e
        if e.errno == _errno.EINVAL and attr.flags & PerfAttrFlag.FREQ:
            limit = _max_sample_rate()
            if limit and attr.sample_period > limit:
                raise ValueError(f"sample_freq {attr.sample_period} exceeds {_MAX_RATE} ({limit})") from e
        raise


def _max_sample_rate() -> int:
    try:
        with open(_MAX_RATE) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def _attach_each(fd: int, attr: Any, pid: int, cpus: list[int], group_fd: int, cookie: int,
                 what: str) -> list[FD]:
    owned: list[FD] = []
    try:
        for cpu in cpus:
            perf = open_perf_event(attr, pid, cpu, group_fd, what=f"{what} on CPU {cpu}")
            owned.append(perf)
            link = attach_perf_fd(fd, perf, cookie, what=f"attaching program to {what} on CPU {cpu}")
            if link is not None:
                owned.insert(len(owned) - 1, link)  # the link closes before its perf event
    except BaseException:
        for f in owned:
            f.close()
        raise
    return owned


def attach_perf_event(prog: Any, ev_type: int, ev_config: int, sample_period: int = 0,
                      sample_freq: int = 0, pid: int = -1, cpu: int = -1, group_fd: int = -1,
                      cookie: int = 0) -> Link:
    """Run a PERF_EVENT program on a sampling event (bcc's attach_perf_event).

    Exactly one of ``sample_period`` / ``sample_freq`` must be set.  With
    ``cpu=-1`` the event is opened on every online CPU (for ``pid`` or, with
    ``pid=-1``, for every process).  Hardware events raise NotSupported on
    machines without a hardware PMU.
    """
    if bool(sample_period) == bool(sample_freq):
        raise ValueError("exactly one of sample_period / sample_freq must be set")
    fd = prog_fd(prog)
    attr = perf_attr(ev_type, ev_config, sample_period=sample_period, sample_freq=sample_freq)
    cpus = online_cpus() if cpu < 0 else [cpu]
    target = f"type={ev_type},config={ev_config}"
    return Link("perf_event", target,
                _attach_each(fd, attr, pid, cpus, group_fd, cookie, f"perf event {target}"))


def _attr_from(attr: Any) -> Any:
    if isinstance(attr, Mapping):
        fields = dict(attr)
        if "type" not in fields:
            raise ValueError("a perf_event_attr mapping needs a 'type'")
        named = {k: fields.pop(k) for k in _PERF_ATTR_KWARGS if k in fields}
        filled = perf_attr(fields.pop("type"), fields.pop("config", 0), **named)
        for name, value in fields.items():
            setattr(filled, name, value)
        return filled
    if isinstance(attr, ffi.CData):
        return attr
    raw = bytes(memoryview(attr))  # e.g. bcc's ctypes Perf.perf_event_attr
    filled = ffi.new("struct perf_event_attr *")
    ffi.memmove(filled, raw, min(len(raw), ffi.sizeof(filled[0])))
    if not filled.size:
        filled.size = uapi.PERF_ATTR_SIZE
    return filled


def attach_perf_event_raw(prog: Any, attr: Any, pid: int = -1, cpu: int = -1,
                          group_fd: int = -1, cookie: int = 0) -> Link:
    """Attach to a perf event described by a full ``attr``, on every online CPU when ``cpu=-1``.

    ``attr`` is a cffi ``struct perf_event_attr *``, a mapping of its field
    names (``{"type": 1, "config": 0, "sample_period": 1000}``; ``flags`` are
    PerfAttrFlag bits), or any buffer holding the C struct (a ctypes struct).
    """
    fd = prog_fd(prog)
    filled = _attr_from(attr)
    cpus = online_cpus() if cpu < 0 else [cpu]
    target = f"type={filled.type},config={filled.config}"
    return Link("perf_event", target,
                _attach_each(fd, filled, pid, cpus, group_fd, cookie, f"perf event {target}"))
