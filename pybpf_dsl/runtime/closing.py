"""The lifetime protocol of the runtime's live objects: ``close()``, ``with``, garbage collection,
and closing a buffer reader while it reads."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from typing import Self

__all__ = ["Closing", "ClosedOnCollect", "ReadGuard"]


class Closing:
    """Base of objects that own kernel resources: ``with obj:`` calls :meth:`close` on exit.

    Subclasses implement an idempotent :meth:`close`.
    """

    __slots__ = ()

    def close(self) -> None:
        """Release what the object owns (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClosedOnCollect(Closing):
    """A :class:`Closing` object that also closes when garbage collected (errors are ignored there)."""

    __slots__ = ()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class ReadGuard:
    """Keeps what a read uses mapped until the read ends, and wakes a read that waits.

    ``close()`` of a buffer reader may come while a read runs: from a
    callback of that very read, or from another thread.  The reader then
    stops taking new work at once and hands its unmapping to
    :meth:`release`, which runs it now when no read is in progress, else
    when the last one ends: no read ever touches unmapped memory.  Given the
    reader's epoll set, the guard also puts an eventfd in it that
    :meth:`release` signals, so a read blocked in ``epoll.poll()`` returns.
    Reads are ``with guard:`` blocks (nesting is fine).
    """

    __slots__ = ("_lock", "_readers", "_pending", "wake_fd")

    def __init__(self, epoll: select.epoll | None = None) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._pending: list[Callable[[], None]] = []
        self.wake_fd = -1
        """The eventfd in the epoll set (-1 without one): readable once the reader closes."""
        if epoll is not None:
            self.wake_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            epoll.register(self.wake_fd, select.EPOLLIN)

    def __enter__(self) -> None:
        with self._lock:
            self._readers += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._readers -= 1
            pending, self._pending = (self._pending, []) if not self._readers else ([], self._pending)
        for release in pending:
            release()

    def release(self, release: Callable[[], None]) -> None:
        """Wake a waiting read, then run ``release`` now if no read is in progress, else
        when the last one ends (the eventfd is closed after it)."""
        wake_fd, self.wake_fd = self.wake_fd, -1
        if wake_fd >= 0:
            os.eventfd_write(wake_fd, 1)

        def release_all() -> None:
            try:
                release()
            finally:
                if wake_fd >= 0:
                    os.close(wake_fd)
        with self._lock:
            if self._readers:
                self._pending.append(release_all)
                return
        release_all()
