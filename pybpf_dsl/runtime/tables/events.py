"""Event tables: PERF_EVENT_ARRAY (perf buffers and counters) and RINGBUF.

The readers live in :mod:`pybpf_dsl.runtime.perf_buffer` and
:mod:`pybpf_dsl.runtime.ring_buffer`; these tables open them the way bcc
does and register them with the owning program object (``perf_buffers``,
``ring_buffer``) so its poll calls find them.
"""

from __future__ import annotations

import ctypes as ct
from typing import Any, Callable, Iterator

from ..maps import Map
from .arrays import ArrayBase
from .base import TableBase

__all__ = ["PerfEventArray", "RingBuf"]


class _EventTable:
    """``event(data)``: decode an event address with the front end's ``event_type``."""

    event_type: Any = None
    name: str

    def event(self, data: int) -> Any:
        """The event at address ``data`` as an ``event_type`` ctypes struct."""
        if self.event_type is None:
            raise TypeError(f"table {self.name!r} has no event type (the program did not record "
                            "what it submits): use ctypes.cast(data, ctypes.POINTER(T)).contents")
        if isinstance(data, int):  # what our readers pass: a view in place, 10x cheaper than cast
            return self.event_type.from_address(data)
        return ct.cast(data, ct.POINTER(self.event_type)).contents


class PerfEventArray(_EventTable, ArrayBase):
    """BPF_MAP_TYPE_PERF_EVENT_ARRAY: per-CPU perf buffers or counters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.perf_buffer = None
        self._events: dict[int, Any] = {}

    def open_perf_buffer(self, callback: Callable, page_cnt: int = 8, lost_cb: Callable | None = None,
                         wakeup_events: int | None = 1) -> Any:
        """Open a perf ring per CPU; ``callback(cpu, data, size)`` runs for each event on poll.

        ``page_cnt`` (a power of two) sizes each ring; ``lost_cb(count)`` gets
        lost-sample counts.  As in bcc the reader wakes for every sample
        (``wakeup_events=1``), so a callback that looks the sender up in
        /proc runs before a short-lived sender exits (under a fast stream the
        reader lingers up to 10 ms between reads instead of switching per
        sample, see :mod:`..perf_buffer`); ``wakeup_events=None``
        batches wakeups (a quarter-full ring, or 10 ms at the latest: see
        :mod:`..perf_buffer`), which sustains several times the event rate.  The reader is stored in the owner's
        ``perf_buffers[name]`` so ``perf_buffer_poll()`` finds it.
        """
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise ValueError("Perf buffer page_cnt must be a power of two")
        from ..perf_buffer import PerfBuffer
        buf = PerfBuffer(self.map_fd, callback, lost_cb, page_cnt=page_cnt,
                         wakeup_events=wakeup_events)
        self.perf_buffer = buf
        if self.bpf is not None:
            self.bpf.perf_buffers[self.name] = buf
        return buf

    def open_perf_event(self, typ: int, config: int, pid: int = -1) -> None:
        """Open counter ``(typ, config)`` on every online CPU for the program's perf_read()."""
        from .. import syscall, uapi
        from ..cpus import online_cpus
        for cpu in online_cpus():
            attr = uapi.ffi.new("struct perf_event_attr *")
            attr.type, attr.size, attr.config = typ, uapi.PERF_ATTR_SIZE, config
            fd = syscall.perf_event_open(attr, pid, cpu, what=f"opening counter on CPU {cpu}")
            self.map.update(self.Key(cpu), self.Leaf(fd.fileno()))
            old = self._events.pop(cpu, None)
            if old is not None:
                old.close()
            self._events[cpu] = fd

    def __delitem__(self, key: Any) -> None:
        k = self._key(key)
        self.map.delete(k)
        ev = self._events.pop(k.value, None)
        if ev is not None:
            ev.close()

    def close(self) -> None:
        """Close the perf buffer and counters this table opened."""
        if self.perf_buffer is not None:
            if self.bpf is not None and self.bpf.perf_buffers.get(self.name) is self.perf_buffer:
                del self.bpf.perf_buffers[self.name]
            self.perf_buffer.close()
            self.perf_buffer = None
        for cpu in list(self._events):
            del self[cpu]


class RingBuf(_EventTable, TableBase):
    """BPF_MAP_TYPE_RINGBUF: ``open_ring_buffer(callback)``; no elements from user space."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ring_buffer = None

    @staticmethod
    def _default_key(map: Map) -> Any:
        return ct.c_ubyte * 0

    _default_leaf = _default_key

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def open_ring_buffer(self, callback: Callable, ctx: Any = None) -> Any:
        """Register ``callback(ctx, data, size)`` with the owner's ring buffer reader."""
        from ..ring_buffer import RingBuffer
        owner = self.bpf
        if owner is not None:
            if owner.ring_buffer is None:
                owner.ring_buffer = RingBuffer()
            reader = owner.ring_buffer
        else:
            reader = self.ring_buffer or RingBuffer()
        self.ring_buffer = reader
        reader.add(self.map_fd, callback, ctx)
        return reader
