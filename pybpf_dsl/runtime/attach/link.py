"""The one object every attachment returns."""

from __future__ import annotations

from typing import Callable, Sequence

from ..closing import ClosedOnCollect
from ..fd import FD

__all__ = ["Link"]


class Link(ClosedOnCollect):
    """A live attachment of a program to a kernel hook.

    It owns the kernel objects that keep the attachment alive (a BPF link,
    perf event FDs, a socket option...), and detaches on :meth:`close`, on
    context-manager exit, on garbage collection, and when the process dies
    (the kernel drops the FDs).  ``kind`` names the hook type ("tracepoint",
    "uprobe", "xdp"...), ``target`` what it is attached to.
    """

    def __init__(self, kind: str, target: str, fds: Sequence[FD] = (),
                 on_close: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.target = target
        self._fds = list(fds)
        self._on_close = on_close

    @property
    def fds(self) -> list[FD]:
        """The FDs this link owns (a BPF link FD or one perf event FD per CPU)."""
        return self._fds

    @property
    def closed(self) -> bool:
        return not self._fds and self._on_close is None

    def close(self) -> None:
        """Detach (idempotent)."""
        on_close, self._on_close = self._on_close, None
        try:
            if on_close is not None:
                on_close()
        finally:
            fds, self._fds = self._fds, []
            for fd in fds:
                fd.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "attached"
        return f"<Link {self.kind} {self.target!r} {state}>"
