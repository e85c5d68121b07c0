"""``bcc.Perf``: bcc's perf_event_open helpers, on the runtime's syscall layer.

bcc tools open perf events they never read, only so the kernel keeps them
running (a sampling timer a kprobe watches, a branch-record event for
``bpf_get_branch_snapshot``)::

    from bcc import Perf, PerfType, PerfHWConfig
    attr = Perf.perf_event_attr()          # ctypes struct perf_event_attr, bitfields by name
    attr.type, attr.config = PerfType.SOFTWARE, 0
    attr.freq, attr.sample_freq = 1, 49
    Perf.perf_custom_event_open(attr)      # one event per online CPU, kept open

As in bcc the events stay open (and enabled) for the life of the process;
failures raise ``OSError`` (here the runtime's SyscallError, an OSError with
one actionable line, naming missing hardware counter support on machines
without a PMU).  :meth:`Perf.close_all` (a compat_c addition) closes them.
"""

from __future__ import annotations

import ctypes as ct
import sys
from typing import Any, ClassVar

from pybpf_dsl.runtime import syscall, uapi
from pybpf_dsl.runtime.cpus import online_cpus
from pybpf_dsl.runtime.fd import FD

__all__ = ["Perf"]

# The one-bit flags of struct perf_event_attr, in the kernel's order (precise_ip is two bits).
_FLAG_BITS: tuple[tuple[str, int], ...] = tuple((n, 2 if n == "precise_ip" else 1) for n in (
    "disabled", "inherit", "pinned", "exclusive", "exclude_user", "exclude_kernel", "exclude_hv",
    "exclude_idle", "mmap", "comm", "freq", "inherit_stat", "enable_on_exec", "task", "watermark",
    "precise_ip", "mmap_data", "sample_id_all", "exclude_host", "exclude_guest",
    "exclude_callchain_kernel", "exclude_callchain_user", "mmap2", "comm_exec", "use_clockid",
    "context_switch", "write_backward", "namespaces", "ksymbol", "bpf_event", "aux_output", "cgroup",
    "text_poke", "build_id", "inherit_thread", "remove_on_exec", "sigtrap"))


def _union(name: str, ctype: Any, *members: str) -> type:
    return type(name, (ct.Union,), {"_fields_": [(m, ctype) for m in members]})


_PERIOD = _union("_Period", ct.c_uint64, "sample_period", "sample_freq")
_WAKEUP = _union("_Wakeup", ct.c_uint32, "wakeup_events", "wakeup_watermark")
_CONFIG1 = _union("_Config1", ct.c_uint64, "bp_addr", "kprobe_func", "uprobe_path", "config1")
_CONFIG2 = _union("_Config2", ct.c_uint64, "bp_len", "kprobe_addr", "probe_offset", "config2")


class _PerfEventAttr(ct.Structure):
    """``struct perf_event_attr`` with the kernel's field names (unions flattened, bitfields named).

    ``size`` starts as the full struct size; setting a name the kernel
    struct does not have prints bcc's warning (the value would never reach
    perf_event_open) instead of passing in silence.
    """

    _anonymous_ = ("_period", "_wakeup", "_config1", "_config2")
    _fields_ = [
        ("type", ct.c_uint32), ("size", ct.c_uint32), ("config", ct.c_uint64), ("_period", _PERIOD),
        ("sample_type", ct.c_uint64), ("read_format", ct.c_uint64),
        *((n, ct.c_uint64, bits) for n, bits in _FLAG_BITS),
        ("_reserved_1", ct.c_uint64, 64 - sum(bits for _, bits in _FLAG_BITS)),
        ("_wakeup", _WAKEUP), ("bp_type", ct.c_uint32), ("_config1", _CONFIG1), ("_config2", _CONFIG2),
        ("branch_sample_type", ct.c_uint64), ("sample_regs_user", ct.c_uint64),
        ("sample_stack_user", ct.c_uint32), ("clockid", ct.c_int32), ("sample_regs_intr", ct.c_uint64),
        ("aux_watermark", ct.c_uint32), ("sample_max_stack", ct.c_uint16), ("_reserved_2", ct.c_uint16),
        ("aux_sample_size", ct.c_uint32), ("aux_action", ct.c_uint32), ("sig_data", ct.c_uint64),
    ]
    _names: ClassVar[frozenset[str]]

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        if not self.size:
            self.size = ct.sizeof(self)

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in self._names:
            print(f"Warning: perf_event_attr has no field {key!r}: its value will not reach "
                  "perf_event_open", file=sys.stderr)
        super().__setattr__(key, value)


_PerfEventAttr._names = frozenset(
    [f[0] for f in _PerfEventAttr._fields_] + [f[0] for u in (_PERIOD, _WAKEUP, _CONFIG1, _CONFIG2)
                                               for f in u._fields_])


class Perf:
    """bcc's ``Perf``: ``perf_event_attr``, constants, and per-CPU event openers."""

    perf_event_attr = _PerfEventAttr

    NR_PERF_EVENT_OPEN = uapi.SYS_perf_event_open
    PERF_TYPE_HARDWARE = int(uapi.PerfType.HARDWARE)
    PERF_TYPE_SOFTWARE = int(uapi.PerfType.SOFTWARE)
    PERF_TYPE_TRACEPOINT = int(uapi.PerfType.TRACEPOINT)
    PERF_TYPE_HW_CACHE = int(uapi.PerfType.HW_CACHE)
    PERF_SAMPLE_RAW = uapi.PERF_SAMPLE_RAW
    PERF_FLAG_FD_CLOEXEC = uapi.PERF_FLAG_FD_CLOEXEC
    PERF_EVENT_IOC_SET_FILTER = uapi.PERF_EVENT_IOC_SET_FILTER
    PERF_EVENT_IOC_ENABLE = uapi.PERF_EVENT_IOC_ENABLE

    # A tracepoint event opened only to run (never read) gets a filter matching no task.
    _NO_TASK_FILTER = b"common_pid == -17"
    _events: ClassVar[list[FD]] = []

    @staticmethod
    def _open_for_cpu(cpu: int, attr: Any, pid: int = -1) -> None:
        """Open ``attr`` on ``cpu`` (for ``pid``), enable it and keep it open."""
        raw = uapi.ffi.new("struct perf_event_attr *")
        data = bytes(memoryview(attr).cast("B"))
        uapi.ffi.memmove(raw, data, min(len(data), uapi.PERF_ATTR_SIZE))
        raw.size = min(raw.size or uapi.PERF_ATTR_SIZE, uapi.PERF_ATTR_SIZE)
        what = f"perf event type {raw.type} config {raw.config} on CPU {cpu}"
        fd = syscall.perf_event_open(raw, pid, cpu, what=f"opening {what}")
        try:
            if raw.type == uapi.PerfType.TRACEPOINT:
                text = uapi.ffi.new("char[]", Perf._NO_TASK_FILTER)
                syscall.ioctl(fd.fileno(), uapi.PERF_EVENT_IOC_SET_FILTER,
                              int(uapi.ffi.cast("uintptr_t", text)), what=f"filtering {what}")
            syscall.ioctl(fd.fileno(), uapi.PERF_EVENT_IOC_ENABLE, 0, what=f"enabling {what}")
        except BaseException:
            fd.close()
            raise
        Perf._events.append(fd)

    @staticmethod
    def perf_event_open(tpoint_id: int, pid: int = -1, ptype: int = PERF_TYPE_TRACEPOINT,
                        freq: int = 0) -> None:
        """Open event ``(ptype, tpoint_id)`` on every online CPU: sampling at ``freq`` Hz when
        given, else every occurrence; raw samples, wake-ups effectively never."""
        attr = _PerfEventAttr(type=ptype, config=tpoint_id, sample_type=Perf.PERF_SAMPLE_RAW,
                              wakeup_events=9999999)
        if freq > 0:
            attr.freq = 1
            attr.sample_freq = freq
        else:
            attr.sample_period = 1
        Perf.perf_custom_event_open(attr, pid)

    @staticmethod
    def perf_custom_event_open(attr: Any, pid: int = -1) -> None:
        """Open the event ``attr`` describes (any buffer holding a struct perf_event_attr)
        on every online CPU and keep it running."""
        for cpu in online_cpus():
            Perf._open_for_cpu(cpu, attr, pid)

    @staticmethod
    def close_all() -> None:
        """Close every event opened through Perf (compat_c addition; bcc keeps them until exit)."""
        events, Perf._events[:] = list(Perf._events), []
        for fd in events:
            fd.close()
