"""All event buffers of one owner, polled together (bcc's BPF-level buffer calls).

bcc's ``BPF.perf_buffer_poll()`` waits on every perf buffer the object has
opened, and ``ring_buffer_poll()`` / ``ring_buffer_consume()`` on its single
ring buffer manager, raising "No ring buffers to poll" when no ring buffer
was opened.  :class:`EventPoller` is that bookkeeping, shared by the DSL and
compat_c front ends::

    poller = EventPoller()
    poller.add_perf_buffer(("events", 0), PerfBuffer(fd, handle))
    poller.ring_buffer().add(rb_fd, handle_ring)
    while True:
        poller.perf_buffer_poll(100)
        poller.ring_buffer_poll(0)

One epoll set holds the epoll descriptor of every perf buffer, so a poll
over many buffers is a single wait.  A perf buffer with per-N-samples
wakeups that sees a fast stream makes that wait linger first, as its own
poll would (see :mod:`.linger`).
"""

from __future__ import annotations

import select
import time
from typing import Hashable

from ..errors import BPFError
from .closing import Closing
from .linger import sleep_first
from .perf_buffer import PerfBuffer
from .ring_buffer import RingBuffer

__all__ = ["EventPoller"]


class EventPoller(Closing):
    """The perf buffers (by key) and the ring buffer manager of one owner."""

    def __init__(self) -> None:
        self._perf: dict[Hashable, PerfBuffer] = {}
        self._by_fd: dict[int, PerfBuffer] = {}
        self._epoll: select.epoll | None = None
        self._ring: RingBuffer | None = None

    # ------------------------------------------------------------ perf buffers

    @property
    def perf_buffers(self) -> dict[Hashable, PerfBuffer]:
        """The open perf buffers by key (read-only use: add and remove through the methods)."""
        return self._perf

    def add_perf_buffer(self, key: Hashable, buffer: PerfBuffer) -> None:
        """Poll ``buffer`` from now on; a buffer already under ``key`` is closed first."""
        self.close_perf_buffer(key)
        if self._epoll is None:
            self._epoll = select.epoll()
        fd = buffer.fileno()
        self._epoll.register(fd, select.EPOLLIN)
        self._perf[key] = buffer
        self._by_fd[fd] = buffer

    def close_perf_buffer(self, key: Hashable) -> None:
        """Stop polling and close the buffer under ``key`` (no error when absent)."""
        buffer = self._perf.pop(key, None)
        if buffer is None:
            return
        for fd in [fd for fd, b in self._by_fd.items() if b is buffer]:
            del self._by_fd[fd]
            if self._epoll is not None and not buffer.closed:
                self._epoll.unregister(fd)
        buffer.close()

    def perf_buffer_poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) on every perf buffer; return samples handled.

        Returns once samples were handled or the timeout passed: a buffer
        woken only by its delivery timer with nothing new does not end the
        wait.  With no perf buffer open this just sleeps for the timeout, like bcc.
        """
        if self._epoll is None:
            self._epoll = select.epoll()
        buffers = list(self._perf.values())
        nap = max((buffer.next_linger() for buffer in buffers), default=0.0)
        rest = sleep_first(nap, timeout_ms, lambda: any(buffer.pending() for buffer in buffers))
        if rest is None:
            return self.perf_buffer_consume()
        timeout_ms = rest
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms >= 0 else None
        while True:
            remaining = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready = self._epoll.poll(remaining)
            # the outer wait already took each perf event's one-shot readiness: read, do not re-poll
            handled = sum(self._by_fd[fd].consume() for fd, _ in ready)
            if handled or not ready or (deadline is not None and time.monotonic() >= deadline):
                return handled

    def perf_buffer_consume(self) -> int:
        """Read every perf buffer without waiting; return samples handled."""
        return sum(buffer.consume() for buffer in list(self._perf.values()))

    # ------------------------------------------------------------ ring buffers

    def ring_buffer(self) -> RingBuffer:
        """The owner's ring buffer manager, created on first use (``.add()`` rings to it)."""
        if self._ring is None:
            self._ring = RingBuffer()
        return self._ring

    def _rings(self) -> RingBuffer:
        if self._ring is None or not len(self._ring):
            raise BPFError("No ring buffers to poll")
        return self._ring

    def ring_buffer_poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` for ring buffer data and handle it (see RingBuffer.poll)."""
        return self._rings().poll(timeout_ms)

    def ring_buffer_consume(self) -> int:
        """Handle every available ring buffer sample without waiting."""
        return self._rings().consume()

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close every buffer and the epoll set (idempotent)."""
        for key in list(self._perf):
            self.close_perf_buffer(key)
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None

    def __repr__(self) -> str:
        rings = len(self._ring) if self._ring is not None else 0
        return f"<EventPoller perf_buffers={len(self._perf)} ring_buffers={rings}>"
