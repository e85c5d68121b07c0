"""Perf buffer reader for ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` maps (bcc's open_perf_buffer).

One ``PERF_COUNT_SW_BPF_OUTPUT`` perf event per CPU, each with its own
mmapped ring (one metadata page + ``page_cnt`` data pages), stored in the map
at the CPU's index so ``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU,
...)`` lands in it, and all of them in one epoll set::

    def handle(cpu, data, size):
        event = ctypes.cast(data, ctypes.POINTER(Event)).contents
        ...
    with PerfBuffer(events_map_fd, handle) as pb:
        while True:
            pb.poll(100)

The callback gets bcc's arguments: the CPU, the address of the sample (valid
only during the call) and its size as the kernel recorded it (the raw size,
which includes padding to 8 bytes).  Samples that wrap around the end of the
ring are copied to a contiguous buffer first.  ``PERF_RECORD_LOST`` records
add to :attr:`PerfBuffer.lost` and go to ``lost_callback(count)``; without
one, bcc's ``Possibly lost N samples`` line is printed on stderr.

Wakeups: by default (``wakeup_events=None``) the kernel wakes the reader
only when a CPU's ring is a quarter full (at most 64 KiB: the perf
*watermark*), and a periodic timer, part of the same epoll set, wakes it
every ``max_delay_ms`` (10 ms) otherwise.  So a sample waits at most about
``max_delay_ms`` before :meth:`~PerfBuffer.poll` delivers it, while a busy
producer pays one wakeup per thousands of samples instead of one per sample
(a wakeup costs the producing CPU microseconds: with ``wakeup_events=1``
it, not the reader, caps the lossless rate).  An idle reader wakes every
``max_delay_ms`` to look at the rings.  Anyone waiting on :meth:`fileno`
(select, an outer epoll) is woken by the same timer, then calls
:meth:`consume`.  ``wakeup_events=N`` keeps bcc's behaviour: a wakeup
every N samples on a CPU, no timer (samples short of N wait for more).  A
lone sample or a slow stream is then read as soon as its wakeup comes, but
a fast one (more than :data:`LINGER_THRESHOLD` samples within
``max_delay_ms``) makes each wait linger first (see :mod:`.linger`): sleep
without waiting on epoll, so the per-sample wakeups find no waiter, for at
most ``max_delay_ms`` and at most the time the stream takes to fill a
quarter of a ring.  :meth:`~PerfBuffer.next_linger` gives that sleep to
whoever waits on :meth:`~PerfBuffer.fileno` itself.

An exception raised by a callback propagates out of :meth:`~PerfBuffer.poll`;
the sample it was handling counts as consumed, the rest stay in the ring for
the next call.  :meth:`PerfBuffer.drain` and :meth:`PerfBuffer.read_into`
are the bulk paths (see :mod:`.event_batch`).  Every path is pure Python:
runs of equal records are found, and copied by the bulk paths, a run at a
time by :mod:`.record_runs`.

Memory ordering: the kernel publishes ``data_head`` after writing a record and
reuses space once ``data_tail`` moves past it.  ``data_head`` is read before
any record and ``data_tail`` written after the last read of a record, each as
one aligned 8-byte access; on x86-64 (TSO) plain loads are acquire loads and
plain stores release stores, which is the ordering the protocol needs.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import sys
import time
from typing import Callable, Iterable

from ..errors import BPFError
from . import syscall
from .closing import ClosedOnCollect, ReadGuard
from .cpus import online_cpus
from .event_batch import EventBatch, output_buffer, short_event
from .fd import FD
from .linger import Linger, sleep_first
from .mmap_region import MappedRegion
from .record_runs import equal_run, gather
from .uapi import (PERF_ATTR_SIZE, PERF_EVENT_IOC_ENABLE, PERF_SAMPLE_RAW, PerfAttrFlag, PerfRecord,
                   PerfSwConfig, PerfType, ffi)

__all__ = ["PerfBuffer"]

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_HEAD_INDEX = ffi.offsetof("struct perf_event_mmap_page", "data_head") // 8
_TAIL_INDEX = ffi.offsetof("struct perf_event_mmap_page", "data_tail") // 8
_SAMPLE = int(PerfRecord.SAMPLE)
_LOST = int(PerfRecord.LOST)
_RAW_OFFSET = 12  # perf_event_header (8) + u32 raw size
_U32 = struct.Struct("I")
_U64 = struct.Struct("Q")
MAX_WATERMARK = 64 << 10  # bytes pending in one CPU's ring before a batched wakeup
LINGER_THRESHOLD = 64  # samples within max_delay_ms making a per-N-samples reader linger

SampleCallback = Callable[[int, int, int], object]
LostCallback = Callable[[int], object]


def _print_lost(count: int) -> None:
    sys.stderr.write(f"Possibly lost {count} samples\n")


class _CpuRing:
    """One CPU's perf event, its mapping and the reader's position in it."""

    __slots__ = ("cpu", "fd", "region", "meta", "data", "words", "halves", "headers", "base",
                 "size", "mask", "tail", "scratch", "closed")

    def __init__(self, cpu: int, fd: FD, page_cnt: int) -> None:
        self.cpu = cpu
        self.fd = fd
        self.region = MappedRegion(fd.fileno(), (1 + page_cnt) * PAGE_SIZE, writable=True,
                                   what=f"mapping the perf buffer of CPU {cpu}")
        self.meta = self.region.view[:PAGE_SIZE].cast("Q")
        self.data = self.region.view[PAGE_SIZE:]
        self.words = self.data.cast("I")
        self.halves = self.data.cast("H")
        self.headers = self.data.cast("Q")  # the 8-byte record headers (records are 8-aligned)
        self.base = self.region.addr + PAGE_SIZE
        self.size = page_cnt * PAGE_SIZE
        self.mask = self.size - 1
        self.tail = self.meta[_TAIL_INDEX]
        self.scratch: ctypes.Array | None = None
        self.closed = False            # set by the reader's close(): stop reading, unmapping may wait

    def contiguous(self, off: int, length: int) -> tuple[memoryview, int]:
        """A record that wraps the ring end, copied out: (view, address)."""
        first = self.size - off
        if self.scratch is None or len(self.scratch) < length:
            self.scratch = ctypes.create_string_buffer(max(length, 256))
        view = memoryview(self.scratch).cast("B")
        view[:first] = self.data[off:]
        view[first:length] = self.data[:length - first]
        return view, ctypes.addressof(self.scratch)

    def close(self) -> None:
        self.meta = self.data = self.words = self.halves = self.headers = memoryview(b"")
        self.region.close()
        self.fd.close()


class PerfBuffer(ClosedOnCollect):
    """Reader of a PERF_EVENT_ARRAY map: per-CPU rings, epoll, lost-sample accounting.

    ``page_cnt`` data pages per CPU (a power of two); ``cpus`` defaults to
    every online CPU.  ``wakeup_events=None`` (the default) batches wakeups
    and delivers every sample within about ``max_delay_ms`` (see the module
    documentation); ``wakeup_events=N`` wakes the reader every N samples on
    a CPU, as bcc does, and lingers up to ``max_delay_ms`` before a wait
    while a fast stream lasts.  The map's file descriptor is duplicated, so
    the map lives at least as long as the reader.
    """

    def __init__(self, map_fd: int, callback: SampleCallback,
                 lost_callback: LostCallback | None = None, page_cnt: int = 8,
                 wakeup_events: int | None = None, cpus: Iterable[int] | None = None, *,
                 max_delay_ms: float = 10) -> None:
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise ValueError(f"perf buffer page_cnt must be a power of two, got {page_cnt}")
        if wakeup_events is not None and wakeup_events < 1:
            raise ValueError(f"perf buffer wakeup_events must be at least 1, got {wakeup_events}")
        if not max_delay_ms > 0:
            raise ValueError(f"perf buffer max_delay_ms must be positive, got {max_delay_ms}")
        self._callback = callback
        self._lost_callback = lost_callback or _print_lost
        self.lost = 0
        self._rings: list[_CpuRing] = []
        self._timer: FD | None = None
        #: how long a sample may wait for a batched wakeup, or a linger (per-N-samples wakeups)
        self.max_delay_ms = max_delay_ms
        self._linger = None if wakeup_events is None else Linger(max_delay_ms, LINGER_THRESHOLD)
        self._quarter = page_cnt * PAGE_SIZE // 4
        self._count = 0  # samples read so far
        self._map: FD | None = FD(os.dup(map_fd), "map")
        self._epoll: select.epoll | None = select.epoll()
        self._guard = ReadGuard(self._epoll)
        try:
            if wakeup_events is None:
                self._timer = syscall.periodic_timer(max_delay_ms, "creating the perf buffer timer")
                self._epoll.register(self._timer.fileno(), select.EPOLLIN)
            for cpu in (online_cpus() if cpus is None else cpus):
                self._open_cpu(cpu, page_cnt, wakeup_events)
        except BaseException:
            self.close()
            raise

    def _open_cpu(self, cpu: int, page_cnt: int, wakeup_events: int | None) -> None:
        attr = ffi.new("struct perf_event_attr *")
        attr.type = PerfType.SOFTWARE
        attr.size = PERF_ATTR_SIZE
        attr.config = PerfSwConfig.BPF_OUTPUT
        attr.sample_period = 1
        attr.sample_type = PERF_SAMPLE_RAW
        if wakeup_events is None:  # wake up on bytes pending (wakeup_watermark), not per sample
            attr.flags = PerfAttrFlag.WATERMARK
            attr.wakeup_events = min(page_cnt * PAGE_SIZE // 4, MAX_WATERMARK)
        else:
            attr.wakeup_events = wakeup_events
        fd = syscall.perf_event_open(attr, -1, cpu, what=f"opening the perf buffer of CPU {cpu}")
        try:
            ring = _CpuRing(cpu, fd, page_cnt)
        except BaseException:
            fd.close()
            raise
        self._rings.append(ring)
        assert self._map is not None and self._epoll is not None
        raw_fd = fd.fileno()
        syscall.map_update(self._map.fileno(), ffi.new("uint32_t *", cpu),
                           ffi.new("uint32_t *", raw_fd))
        syscall.ioctl(raw_fd, PERF_EVENT_IOC_ENABLE, what=f"enabling the perf buffer of CPU {cpu}")
        self._epoll.register(raw_fd, select.EPOLLIN)

    # ------------------------------------------------------------ reading

    @property
    def cpus(self) -> list[int]:
        """The CPUs this buffer reads."""
        return [ring.cpu for ring in self._rings]

    def fileno(self) -> int:
        """The epoll descriptor: readable after a wakeup (a quarter-full ring, ``wakeup_events``
        samples on a CPU, or a tick of the delivery timer); then call :meth:`consume`."""
        if self._epoll is None:
            raise ValueError("perf buffer is closed")
        return self._epoll.fileno()

    def pending(self) -> bool:
        """Whether some ring holds records not read yet (no wait, no system call)."""
        return any(ring.meta[_HEAD_INDEX] != ring.tail for ring in self._rings)

    def next_linger(self) -> float:
        """Seconds a wait beginning now should sleep before waiting on epoll: 0 except while a
        fast stream comes with per-N-samples wakeups (see the module documentation).  For a
        caller waiting on :meth:`fileno` itself; call it as each wait begins."""
        if self._linger is None:
            return 0.0
        return self._linger.next(sum(ring.tail for ring in self._rings), self._quarter, self._count)

    def _wait(self, timeout_ms: float) -> bool:
        """Wait up to ``timeout_ms`` (-1: forever) for a wakeup or a timer tick finding samples
        waiting; whether one came."""
        epoll = self._epoll
        if epoll is None:
            raise BPFError("perf buffer is closed")
        rest = sleep_first(self.next_linger(), timeout_ms, self.pending)
        if rest is None:
            return True
        timeout_ms = rest
        timer = -1 if self._timer is None else self._timer.fileno()
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms >= 0 else None
        while True:
            remaining = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready = epoll.poll(remaining)
            if self._epoll is None:                     # closed by another thread meanwhile
                return False
            if ready:
                if timer >= 0 and any(fd == timer for fd, _ in ready):
                    _clear_timer(timer)
                if self.pending():  # not a wakeup for samples already read (after a linger)
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _take_tick(self) -> None:
        """Clear the timer's readiness: whoever waited on :meth:`fileno` is reading now."""
        if self._timer is not None:
            _clear_timer(self._timer.fileno())

    def poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) until samples are ready, then read every ring.

        Returns the number of samples handled.  With batched wakeups (the
        default) samples are ready at the latest ``max_delay_ms`` after they
        were written.  A perf event reports "ready" once per wakeup (the
        kernel clears the flag when it is polled), so after waiting on
        :meth:`fileno` yourself, call :meth:`consume`.
        """
        with self._guard:
            return self.consume() if self._wait(timeout_ms) else 0

    def consume(self) -> int:
        """Handle every pending sample on every CPU without waiting; return how many."""
        if self._epoll is None:
            raise BPFError("perf buffer is closed")
        with self._guard:
            self._take_tick()
            handled = 0
            for ring in self._rings:
                if ring.closed:
                    break
                handled += self._read(ring)
            self._count += handled
            return handled

    def _lost(self, count: int) -> None:
        self.lost += count
        self._lost_callback(count)

    def _read(self, ring: _CpuRing) -> int:
        """Deliver one ring's records to the callbacks; the hot path of the reader."""
        meta = ring.meta
        head = meta[_HEAD_INDEX]
        tail = ring.tail
        if tail == head:
            return 0
        words, halves, headers = ring.words, ring.halves, ring.headers
        callback, cpu, base, size = self._callback, ring.cpu, ring.base, ring.size
        mask = size - 1
        handled = 0
        try:
            while tail < head and not ring.closed:
                off = tail & mask
                rsize = halves[(off >> 1) + 3]
                if off < off + rsize <= size:
                    kind = words[off >> 2]
                    if kind == _SAMPLE:
                        # a run of equal samples goes through one tight loop
                        count = _sample_run(headers, off, rsize,
                                            min(head - tail, size - off) // rsize)
                        raw = words[(off >> 2) + 2]
                        first = addr = base + off + _RAW_OFFSET
                        try:
                            for addr in range(first, first + count * rsize, rsize):
                                callback(cpu, addr, raw)
                        finally:  # the sample whose callback raised counts as consumed
                            done = (addr - first) // rsize + 1
                            handled += done
                            tail += done * rsize
                        continue
                    tail += rsize
                    if kind == _LOST:
                        self._lost(headers[(off >> 3) + 2])
                    continue
                if not rsize:
                    raise BPFError(f"corrupt perf ring on CPU {cpu}: zero-sized record")
                tail += rsize
                view, addr = ring.contiguous(off, rsize)
                kind = _U32.unpack_from(view, 0)[0]
                if kind == _SAMPLE:
                    handled += 1
                    callback(cpu, addr + _RAW_OFFSET, _U32.unpack_from(view, 8)[0])
                elif kind == _LOST:
                    self._lost(view[16:24].cast("Q")[0])
        finally:
            ring.tail = tail
            meta[_TAIL_INDEX] = tail
        return handled

    def drain(self, timeout_ms: int = 0) -> EventBatch:
        """The bulk path: every pending sample of every CPU, copied into one :class:`EventBatch`.

        Waits up to ``timeout_ms`` for samples first when it is non-zero (as :meth:`poll`).  No Python
        callback runs per sample; lost-sample records still reach the lost
        callback (once per record) and ``batch.lost``.  ``batch.source(i)`` is
        the sample's CPU and ``batch.sizes()`` the raw sizes, as in
        :meth:`poll`.
        """
        if self._epoll is None:
            raise BPFError("perf buffer is closed")
        with self._guard:
            if timeout_ms and not self._wait(timeout_ms):
                return EventBatch(bytearray(), [])
            return self._drain()

    def _drain(self) -> EventBatch:
        self._take_tick()
        data = bytearray()
        segments = []
        for ring in self._rings:
            if ring.closed:
                break
            head = ring.meta[_HEAD_INDEX]
            if head == ring.tail:
                continue
            start, length = ring.tail & (ring.size - 1), head - ring.tail
            segments.append((len(data), len(data) + length, ring.cpu))
            first = min(length, ring.size - start)
            data += ring.data[start:start + first]
            data += ring.data[:length - first]
            ring.tail = head
            ring.meta[_TAIL_INDEX] = head
        runs: list[tuple[int, int, int, int, int]] = []
        lost_counts: list[int] = []
        if segments:
            view = memoryview(data)
            for begin, end, cpu in segments:
                _index_records(view, begin, end, cpu, runs, lost_counts)
            del view
        for count in lost_counts:
            self._lost(count)
        self._count += sum(run[2] for run in runs)
        return EventBatch(data, runs, sum(lost_counts))

    def read_into(self, out: object, timeout_ms: int = 0) -> int:
        """The fastest bulk path: copy pending samples straight into the array ``out``; return how many.

        ``out`` is allocated once and reused, e.g. ``(Event * 65536)()`` (see
        :func:`~pybpf_dsl.runtime.event_batch.output_buffer`): each sample's
        first ``sizeof(Event)`` bytes fill one item, CPU after CPU, until
        ``out`` is full; samples that do not fit stay for the next call.
        Waits up to ``timeout_ms`` for samples first when it is non-zero (as
        :meth:`poll`).  Lost-sample records reach the lost callback and :attr:`lost`.  A
        sample whose raw size is smaller than an item stops the copy there:
        the samples before it are returned, and the next call raises
        ValueError without consuming it (read it with :meth:`poll`).
        """
        if self._epoll is None:
            raise BPFError("perf buffer is closed")
        dst, item, cap = output_buffer(out)
        with self._guard:
            if not cap or (timeout_ms and not self._wait(timeout_ms)):
                return 0
            return self._copy_all(dst, item, cap)

    def _copy_all(self, dst: memoryview, item: int, cap: int) -> int:
        self._take_tick()
        n = 0
        for ring in self._rings:
            if ring.closed:
                break
            n = self._copy_ring(ring, dst, item, n, cap)
            if n < 0:
                n = -n - 1
                break
            if n == cap:
                break
        self._count += n
        return n

    def _copy_ring(self, ring: _CpuRing, dst: memoryview, item: int, n: int, cap: int) -> int:
        """Copy one ring's samples into item ``n``.. of ``dst``; the new ``n``, or ``-n - 1``
        after stopping at a short sample."""
        head = ring.meta[_HEAD_INDEX]
        tail = ring.tail
        data, halves, size, mask = ring.data, ring.halves, ring.size, ring.mask
        try:
            while tail < head and n < cap and not ring.closed:
                off = tail & mask
                rsize = halves[(off >> 1) + 3]
                if not rsize:
                    raise BPFError(f"corrupt perf ring on CPU {ring.cpu}: zero-sized record")
                whole = off + rsize <= size
                view, start = (data, off) if whole else (ring.contiguous(off, rsize)[0], 0)
                kind = _U32.unpack_from(view, start)[0]
                if kind == _SAMPLE:
                    raw = min(_U32.unpack_from(view, start + 8)[0], rsize - _RAW_OFFSET)
                    if raw < item:
                        if n:
                            return -n - 1
                        raise short_event(raw, item)
                    # a run of equal samples (a run never wraps) is copied in one step
                    count = _sample_run(ring.headers, off, rsize,
                                        min(head - tail, size - off, (cap - n) * rsize) // rsize
                                        ) if whole else 1
                    gather(dst, n * item, view, start + _RAW_OFFSET, rsize, count, item)
                    n += count
                    tail += count * rsize
                    continue
                if kind == _LOST:
                    self._lost(_U64.unpack_from(view, start + 16)[0])
                tail += rsize
        finally:
            ring.tail = tail
            ring.meta[_TAIL_INDEX] = tail
        return n

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Remove the rings from the map, unmap them and close every descriptor (idempotent).

        Safe during a read (from a callback, or another thread): no callback
        runs for a CPU after the run of samples being delivered, and the
        unmapping waits until the read returns.
        """
        rings, self._rings = self._rings, []
        map_fd, self._map = self._map, None
        epoll, self._epoll = self._epoll, None
        timer, self._timer = self._timer, None
        for ring in rings:
            ring.closed = True
            if map_fd is not None:
                try:
                    syscall.map_delete(map_fd.fileno(), ffi.new("uint32_t *", ring.cpu))
                except OSError:
                    pass
        self._guard.release(lambda: _release(rings, epoll, timer, map_fd))

    @property
    def closed(self) -> bool:
        return self._epoll is None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"cpus={self.cpus}"
        return f"<PerfBuffer {state} lost={self.lost}>"


def _release(rings: list[_CpuRing], epoll: select.epoll | None, timer: FD | None, map_fd: FD | None) -> None:
    for ring in rings:
        ring.close()
    for owned in (epoll, timer, map_fd):
        if owned is not None:
            owned.close()


def _clear_timer(fd: int) -> None:
    """Read a non-blocking timerfd's expiration count, so it stops being readable."""
    try:
        os.read(fd, 8)
    except BlockingIOError:
        pass


def _sample_run(headers: memoryview, pos: int, rsize: int, limit: int) -> int:
    """How many samples equal to the one at byte ``pos`` (same 8-byte header: type, misc and
    size ``rsize``) follow each other from there, at most ``limit``; ``headers`` views the
    records as 8-byte items."""
    return 1 if rsize & 7 else equal_run(headers, pos >> 3, rsize >> 3, limit)


def _index_records(view: memoryview, pos: int, end: int, cpu: int, runs: list,
                   lost_counts: list) -> None:
    """Split one CPU's copied records (bytes ``pos``..``end`` of ``view``) into runs of equal
    samples."""
    words, halves, headers = view.cast("I"), view.cast("H"), view.cast("Q")
    while pos < end:
        kind, rsize = words[pos >> 2], halves[(pos >> 1) + 3]
        if not rsize:
            raise BPFError(f"corrupt perf ring on CPU {cpu}: zero-sized record")
        if kind == _SAMPLE:
            count = _sample_run(headers, pos, rsize, (end - pos) // rsize)
            runs.append((pos + _RAW_OFFSET, rsize, count, words[(pos >> 2) + 2], cpu))
            pos += count * rsize
            continue
        if kind == _LOST:
            lost_counts.append(view[pos + 16:pos + 24].cast("Q")[0])
        pos += rsize
