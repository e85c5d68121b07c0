"""Lingering: how long a buffer reader's wait sleeps before waiting on epoll, while samples stream.

A reader that keeps up with a producer goes back to epoll after every few
samples, and the kernel then pays a wakeup (microseconds on the producing
CPU, plus a context switch on the reader's) for nearly every sample: past a
few hundred thousand samples a second those wakeups, not the reader, cap the
rate.  So when a fast stream is seen, a wait first sleeps briefly without
waiting on epoll (the kernel's wakeups then find nobody to wake) and reads
what came meanwhile.  The sleep is at most ``max_delay_ms``, and at most the
time the stream, at the rate seen since the previous wait, takes to fill a
quarter of the smallest ring, so the linger never fills a ring.

"A fast stream": more than ``threshold`` samples read since the previous
wait began.  With a positive threshold the count carries over several waits
as long as they all began within ``max_delay_ms`` (a reader woken per sample
reads only a few samples a wait), so lingering starts once more than
``threshold`` samples come within ``max_delay_ms``; a slower stream, or a
lone sample, is waited for on epoll at once and delivered as promptly as
without lingering.
"""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["Linger", "sleep_first"]


class Linger:
    """The linger decision of one reader: call :meth:`next` as each wait begins.

    ``max_delay_ms`` bounds a linger (0: never linger); ``threshold`` is the
    number of samples, read since the previous wait began, above which the
    stream counts as fast (0: any).
    """

    __slots__ = ("max_delay", "threshold", "_at", "_pos", "_count")

    def __init__(self, max_delay_ms: float, threshold: int = 0) -> None:
        if max_delay_ms < 0:
            raise ValueError(f"max_delay_ms must not be negative, got {max_delay_ms}")
        self.max_delay = max_delay_ms / 1000
        self.threshold = threshold
        self._at, self._pos, self._count = time.monotonic(), 0, 0

    def next(self, pos: int, quarter: int, count: int | None = None) -> float:
        """Seconds the wait beginning now sleeps before waiting on epoll (0: none).

        ``pos``: the bytes read so far (any running total); ``quarter``: a
        quarter of the smallest ring, in bytes; ``count``: the samples read
        so far (a running total; default ``pos``, for a zero threshold).
        """
        now = time.monotonic()
        count = pos if count is None else count
        elapsed = now - self._at
        if count - self._count <= self.threshold and self.threshold and elapsed < self.max_delay:
            return 0.0  # not (yet) a fast stream: keep counting from the same wait
        consumed = pos - self._pos
        fast = count - self._count > self.threshold
        self._at, self._pos, self._count = now, pos, count
        if not fast or consumed <= 0 or not self.max_delay or quarter <= 0:
            return 0.0
        return min(self.max_delay, quarter * elapsed / consumed)


def sleep_first(nap: float, timeout_ms: float, ready: Callable[[], object]) -> float | None:
    """Before a wait of ``timeout_ms`` (-1: forever) on epoll, sleep ``nap`` seconds (at most
    the timeout; not at all for a zero timeout).  None when ``ready()`` is then true (read
    now), else the timeout left for epoll."""
    if not nap or not timeout_ms:
        return timeout_ms
    if timeout_ms > 0:
        nap = min(nap, timeout_ms / 1000)
    time.sleep(nap)
    if ready():
        return None
    return timeout_ms if timeout_ms < 0 else max(timeout_ms - nap * 1000, 0.0)
