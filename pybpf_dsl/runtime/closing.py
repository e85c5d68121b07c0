"""The lifetime protocol of the runtime's live objects: ``close()``, ``with``, garbage collection,
and closing a buffer reader while it reads."""

from __future__ import annotations

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
    """Keeps what a read uses mapped until the read ends.

    ``close()`` of a buffer reader may come while a read runs: from a
    callback of that very read, or from another thread.  The reader then
    stops taking new work at once and hands its unmapping to
    :meth:`release`, which runs it now when no read is in progress, else
    when the last one ends: no read ever touches unmapped memory.  Reads
    are ``with guard:`` blocks (nesting is fine).
    """

    __slots__ = ("_lock", "_readers", "_pending")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._pending: list[Callable[[], None]] = []

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
        """Run ``release`` now if no read is in progress, else when the last one ends."""
        with self._lock:
            if self._readers:
                self._pending.append(release)
                return
        release()
