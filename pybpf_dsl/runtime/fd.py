"""One owner for every kernel file descriptor the runtime opens."""

from __future__ import annotations

import os
import weakref
from typing import Any

__all__ = ["FD"]


class FD:
    """A kernel file descriptor with exactly one owner.

    Closing is idempotent and also happens when the object is garbage
    collected, so a dropped program, map, link or perf event never outlives
    its Python owner.  ``fd 0`` is refused: a BPF object on fd 0 almost always
    means stdin was closed and something will later confuse the two.
    ``kind`` is a short label used in messages and leak reports.
    """

    __slots__ = ("_fd", "kind", "_finalizer", "__weakref__")

    def __init__(self, fd: int, kind: str = "fd") -> None:
        if fd < 0:
            raise ValueError(f"invalid {kind} file descriptor {fd}")
        if fd == 0:
            # Move it off 0 so stdin confusion cannot happen; close the original.
            new = os.dup(fd)
            os.close(fd)
            fd = new
        self._fd = fd
        self.kind = kind
        self._finalizer = weakref.finalize(self, os.close, fd)

    def fileno(self) -> int:
        """The raw descriptor; raises ValueError once closed."""
        if self._fd < 0:
            raise ValueError(f"{self.kind} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Close the descriptor (safe to call more than once)."""
        if self._fd >= 0:
            self._fd = -1
            try:
                self._finalizer()
            except OSError:
                pass

    def dup(self) -> "FD":
        """A second, independently owned descriptor for the same kernel object."""
        return FD(os.dup(self.fileno()), self.kind)

    def __int__(self) -> int:
        return self.fileno()

    def __enter__(self) -> "FD":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<FD {self.kind} {state}>"
