"""Reader of ``BPF_MAP_TYPE_RINGBUF`` maps: several ring buffers in one epoll set.

Like libbpf's ``ring_buffer`` (which bcc uses for open_ring_buffer,
ring_buffer_poll and ring_buffer_consume)::

    rb = RingBuffer()
    rb.add(events_fd, lambda ctx, data, size: print(size))
    rb.add(other_fd, handle_other, ctx=42)
    while True:
        rb.poll(100)

Each ring is mapped twice over: the consumer page read-write (the reader
publishes ``consumer_pos`` there), and the producer page plus the data area
read-only.  The kernel maps the data pages twice in a row, so a record never
wraps and the callback always gets one contiguous sample.

Each record starts with an 8-byte header whose first word is the length with
two flag bits: BUSY (reserved, not yet submitted: reading stops there until
the next call) and DISCARD (skipped, its space released).  ``callback(ctx,
data_addr, size)`` receives the sample's address, valid during the call, and
its exact size.  Following libbpf and bcc, a callback returning a negative
int stops the current poll/consume, which then returns that value; the
record it was handling is consumed.  An exception raised by a callback
propagates, with the same consumed-record rule.  :meth:`RingBuffer.drain` and
:meth:`RingBuffer.read_into` are the bulk paths (see :mod:`.event_batch`).
Every path is pure Python: runs of equal records are found, and copied by
the bulk paths, a run at a time by :mod:`.record_runs`.

Wakeups: the kernel wakes the reader when a sample is submitted while the
reader has consumed everything (unless the program passes
BPF_RB_NO_WAKEUP), so a reader that keeps up would pay a wakeup per few
samples.  So when samples were read since the previous wait (poll, or
drain/read_into with a timeout) began, a wait first lingers (see
:mod:`.linger`): it sleeps without waiting on epoll for at most
``max_delay_ms`` (2 ms), and at most the time the stream takes to fill a
quarter of the smallest ring.  A sample thus waits at most about
``max_delay_ms`` longer than with a wakeup per sample.  When nothing came
meanwhile, the rest of the timeout is spent on epoll; a zero timeout and
:meth:`~RingBuffer.consume` never sleep.

Memory ordering: ``producer_pos`` is read before the records it covers, each
record header is read (one aligned 4-byte load) before its sample, and
``consumer_pos`` is written (one aligned 8-byte store) after the last read of
the records it releases.  On x86-64 (TSO) those plain loads and stores are
acquire loads and release stores, which is what the protocol requires.
"""

from __future__ import annotations

import os
import select
import sys
from typing import Any, Callable

from ..errors import BPFError
from . import syscall
from .closing import ClosedOnCollect, ReadGuard
from .event_batch import EventBatch, output_buffer, short_event
from .fd import FD
from .linger import Linger, sleep_first
from .mmap_region import MappedRegion
from .record_runs import equal_run, gather
from .uapi import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ, MapType

__all__ = ["RingBuffer", "RingCallback"]

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_FLAGS = BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT
_LEN_MASK = ~_FLAGS & 0xFFFFFFFF
_ROUND = BPF_RINGBUF_HDR_SZ + 7  # header + round-up to 8 bytes

RingCallback = Callable[[Any, int, int], object]


class _Ring:
    """One ring buffer map: its two mappings, callback and read position."""

    __slots__ = ("index", "fd", "callback", "ctx", "cons_region", "prod_region", "consumer",
                 "producer", "data", "words", "base", "size", "mask", "pos", "chunk", "closed")

    def __init__(self, index: int, map_fd: int, callback: RingCallback, ctx: Any) -> None:
        info = syscall.obj_info(map_fd, "map")
        if info.type != MapType.RINGBUF:
            name = MapType(info.type).name if info.type in MapType._value2member_map_ else info.type
            raise ValueError(f"map fd {map_fd} is a {name} map, not a RINGBUF map")
        self.index = index
        self.callback = callback
        self.ctx = ctx
        self.size = info.max_entries
        self.mask = self.size - 1
        self.fd = FD(os.dup(map_fd), "map")
        try:
            self.cons_region = MappedRegion(self.fd.fileno(), PAGE_SIZE, 0, writable=True,
                                            what="mapping the ring buffer consumer page")
            try:
                self.prod_region = MappedRegion(self.fd.fileno(), PAGE_SIZE + 2 * self.size,
                                                PAGE_SIZE,
                                                what="mapping the ring buffer data pages")
            except BaseException:
                self.cons_region.close()
                raise
        except BaseException:
            self.fd.close()
            raise
        self.consumer = self.cons_region.view[:8].cast("Q")
        self.producer = self.prod_region.view[:8].cast("Q")
        self.data = self.prod_region.view[PAGE_SIZE:]
        self.words = self.data.cast("I")
        self.base = self.prod_region.addr + PAGE_SIZE
        self.pos = self.consumer[0]
        # consumer_pos is published at least every quarter ring, so producers
        # get space back while a long backlog is being delivered
        self.chunk = max(self.size // 4, PAGE_SIZE)
        self.closed = False            # set by the manager's close(): stop reading, unmapping may wait

    def close(self) -> None:
        self.consumer = self.producer = self.data = self.words = memoryview(b"")
        self.prod_region.close()
        self.cons_region.close()
        self.fd.close()


class RingBuffer(ClosedOnCollect):
    """A set of BPF ring buffers polled together (libbpf's ``ring_buffer``).

    ``max_delay_ms`` bounds how long a wait lingers, while samples stream
    in, before reading (see the module documentation; 0: never linger).
    """

    def __init__(self, *, max_delay_ms: float = 2) -> None:
        if max_delay_ms < 0:
            raise ValueError(f"ring buffer max_delay_ms must not be negative, got {max_delay_ms}")
        self.max_delay_ms = max_delay_ms
        self._linger = Linger(max_delay_ms)
        self._rings: list[_Ring] = []
        self._by_fd: dict[int, _Ring] = {}
        self._epoll: select.epoll | None = select.epoll()
        self._guard = ReadGuard(self._epoll)

    def add(self, map_fd: int, callback: RingCallback, ctx: Any = None) -> int:
        """Start reading the RINGBUF map ``map_fd``; returns the ring's index.

        ``callback(ctx, data_addr, size)`` runs for every submitted sample.
        The map's descriptor is duplicated, so the map lives as long as the
        reader.
        """
        if self._epoll is None:
            raise BPFError("ring buffer manager is closed")
        ring = _Ring(len(self._rings), map_fd, callback, ctx)
        try:
            self._epoll.register(ring.fd.fileno(), select.EPOLLIN)
        except BaseException:
            ring.close()
            raise
        self._rings.append(ring)
        self._by_fd[ring.fd.fileno()] = ring
        return ring.index

    def __len__(self) -> int:
        return len(self._rings)

    def fileno(self) -> int:
        """The epoll descriptor: readable when some ring has data."""
        if self._epoll is None:
            raise ValueError("ring buffer manager is closed")
        return self._epoll.fileno()

    # ------------------------------------------------------------ reading

    def _ready(self, timeout_ms: float) -> list[_Ring]:
        """Wait up to ``timeout_ms`` (-1: forever) for data: the rings to read."""
        epoll, by_fd = self._epoll, self._by_fd        # close() from another thread replaces them
        if epoll is None:
            raise BPFError("ring buffer manager is closed")
        rest = sleep_first(self._next_linger(), timeout_ms, self._pending)
        if rest is None:
            return self._rings
        ready = epoll.poll(rest / 1000 if rest >= 0 else -1)
        return [by_fd[fd] for fd, _ in ready if fd in by_fd]      # not the guard's close signal

    def _next_linger(self) -> float:
        """Seconds the wait beginning now sleeps before waiting on epoll (see :mod:`.linger`)."""
        rings = self._rings
        quarter = min(ring.size for ring in rings) // 4 if rings else 0
        return self._linger.next(sum(ring.pos for ring in rings), quarter)

    def _pending(self) -> bool:
        return any(ring.producer[0] != ring.pos for ring in self._rings)

    def poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) for data; handle it.

        Returns the number of samples handled, or the negative value a
        callback returned to stop.
        """
        with self._guard:
            return self._process_all(self._ready(timeout_ms))

    def consume(self) -> int:
        """Handle every available sample of every ring without waiting (see :meth:`poll`)."""
        if self._epoll is None:
            raise BPFError("ring buffer manager is closed")
        with self._guard:
            return self._process_all(self._rings)

    def _process_all(self, rings: list[_Ring]) -> int:
        total = 0
        for ring in rings:
            if ring.closed:
                break
            handled = _process(ring)
            if handled < 0:
                return handled
            total += handled
        return total

    def drain(self, timeout_ms: int = 0) -> EventBatch:
        """The bulk path: every committed sample of every ring, copied into one :class:`EventBatch`.

        Waits up to ``timeout_ms`` first when it is non-zero.  No callback
        runs; ``batch.source(i)`` is the index :meth:`add` returned for the
        sample's ring, and ``batch.sizes()`` the exact sample sizes.
        """
        if self._epoll is None:
            raise BPFError("ring buffer manager is closed")
        with self._guard:
            return self._drain(self._ready(timeout_ms) if timeout_ms else self._rings)

    def _drain(self, rings: list[_Ring]) -> EventBatch:
        data = bytearray()
        runs: list[tuple[int, int, int, int, int]] = []
        for ring in rings:
            if ring.closed:
                break
            start = ring.pos
            local, end = _index_ring(ring, start, ring.producer[0])
            if end == start:
                continue
            seg = len(data) - start + BPF_RINGBUF_HDR_SZ
            off = start & (ring.size - 1)
            data += ring.data[off:off + end - start]
            runs.extend((seg + pos, stride, count, size, ring.index)
                        for pos, stride, count, size in local)
            ring.pos = end
            ring.consumer[0] = end
        return EventBatch(data, runs)

    def read_into(self, out: object, timeout_ms: int = 0) -> int:
        """The fastest bulk path: copy committed samples straight into the array ``out``; return how many.

        ``out`` is allocated once and reused, e.g. ``(Event * 65536)()`` (see
        :func:`~pybpf_dsl.runtime.event_batch.output_buffer`): each sample's
        first ``sizeof(Event)`` bytes fill one item, ring after ring (in
        :meth:`add` order), until ``out`` is full; samples that do not fit
        stay for the next call.  Waits up to ``timeout_ms`` for data first
        when it is non-zero.  No callback runs.  A sample smaller than an
        item stops the copy there: the samples before it are returned, and
        the next call raises ValueError without consuming it.
        """
        if self._epoll is None:
            raise BPFError("ring buffer manager is closed")
        dst, item, cap = output_buffer(out)
        with self._guard:
            if not cap or (timeout_ms and not self._ready(timeout_ms)):
                return 0
            return self._copy_all(dst, item, cap)

    def _copy_all(self, dst: memoryview, item: int, cap: int) -> int:
        n = 0
        for ring in self._rings:
            n, short = _copy_ring(ring, dst, item, n, cap)
            if short is not None:
                if n:
                    break
                raise short_event(short, item)
            if n == cap:
                break
        return n

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Unmap every ring and close every descriptor (idempotent).

        Safe during a read (from a callback, or another thread): no callback
        runs for a ring after the run of samples being delivered, and the
        unmapping waits until the read returns.
        """
        rings, self._rings, self._by_fd = self._rings, [], {}
        epoll, self._epoll = self._epoll, None
        for ring in rings:
            ring.closed = True
        self._guard.release(lambda: _release(rings, epoll))

    @property
    def closed(self) -> bool:
        return self._epoll is None

    def __repr__(self) -> str:
        return f"<RingBuffer {'closed' if self.closed else f'{len(self._rings)} rings'}>"


def _release(rings: list[_Ring], epoll: select.epoll | None) -> None:
    for ring in rings:
        ring.close()
    if epoll is not None:
        epoll.close()


def _process(ring: _Ring) -> int:
    """Deliver one ring's committed samples to its callback; the reader's hot path."""
    consumer, producer, words = ring.consumer, ring.producer, ring.words
    callback, ctx, base = ring.callback, ring.ctx, ring.base
    mask = ring.size - 1
    pos = ring.pos
    handled = 0
    try:
        while not ring.closed:
            prod = producer[0]
            if pos >= prod:
                return handled
            stop = min(prod, pos + ring.chunk)
            while pos < stop and not ring.closed:
                off = pos & mask
                hdr = words[off >> 2]
                if hdr & _FLAGS:
                    if hdr & BPF_RINGBUF_BUSY_BIT:
                        return handled
                    pos += ((hdr & _LEN_MASK) + _ROUND) & ~7
                    continue
                # a run of equal-sized committed samples goes through one tight loop
                stride = (hdr + _ROUND) & ~7
                count = equal_run(words, off >> 2, stride >> 2, (stop - pos) // stride)
                first = addr = base + off + BPF_RINGBUF_HDR_SZ
                stop_value = 0
                try:
                    for addr in range(first, first + count * stride, stride):
                        ret = callback(ctx, addr, hdr)
                        if ret and _as_int(ret) < 0:
                            stop_value = _as_int(ret)
                            break
                finally:  # the sample whose callback raised or stopped counts as consumed
                    done = (addr - first) // stride + 1
                    pos += done * stride
                if stop_value:
                    return stop_value
                handled += done
            ring.pos = pos
            consumer[0] = pos
        return handled
    finally:
        ring.pos = pos
        consumer[0] = pos


def _copy_ring(ring: _Ring, dst: memoryview, item: int, n: int,
               cap: int) -> tuple[int, int | None]:
    """Copy one ring's committed samples into items ``n``.. of ``dst``: the new ``n``, and the
    size of a committed sample smaller than an item where the copy stopped (else None)."""
    runs, end = _index_ring(ring, ring.pos, ring.producer[0], cap - n)
    pos, short = ring.pos, None
    try:
        for run_pos, stride, count, length in runs:
            if length < item:
                pos, short = run_pos, length
                break
            # the data pages are mapped twice: a run never wraps
            gather(dst, n * item, ring.data, (run_pos & ring.mask) + BPF_RINGBUF_HDR_SZ, stride, count, item)
            n += count
            pos = run_pos + count * stride
        else:
            pos = end
    finally:
        ring.pos = pos
        ring.consumer[0] = pos
    return n, short


def _as_int(value: object) -> int:
    """bcc's rule for a callback's return value: an int, anything else counts as 0."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _index_ring(ring: _Ring, pos: int, prod: int,
                limit: int = sys.maxsize) -> tuple[list[tuple[int, int, int, int]], int]:
    """Runs ``(pos, stride, count, size)`` of at most ``limit`` committed samples from
    ``pos`` (discarded ones skipped), and where they end."""
    words, mask = ring.words, ring.mask
    runs: list[tuple[int, int, int, int]] = []
    while pos < prod and limit > 0:
        off = pos & mask
        hdr = words[off >> 2]
        if hdr & BPF_RINGBUF_BUSY_BIT:
            break
        length = hdr & _LEN_MASK
        stride = (length + _ROUND) & ~7
        if hdr & BPF_RINGBUF_DISCARD_BIT:
            pos += stride
            continue
        count = equal_run(words, off >> 2, stride >> 2, min((prod - pos) // stride, limit))
        runs.append((pos, stride, count, length))
        pos += count * stride
        limit -= count
    return runs, pos
