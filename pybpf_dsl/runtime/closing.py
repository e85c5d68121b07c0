"""The lifetime protocol of the runtime's live objects: ``close()``, ``with``, and garbage collection."""

from __future__ import annotations

from typing import Self

__all__ = ["Closing", "ClosedOnCollect"]


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
