"""Accept a program as an int FD or as anything with ``fileno()``."""

from __future__ import annotations

from typing import Any

__all__ = ["prog_fd"]


def prog_fd(prog: Any) -> int:
    """The program's FD: ``prog`` is an int or an object with ``fileno()`` (a loaded program, an FD)."""
    if isinstance(prog, int) and not isinstance(prog, bool):
        if prog < 0:
            raise ValueError(f"invalid program file descriptor {prog}")
        return prog
    fileno = getattr(prog, "fileno", None)
    if fileno is None:
        raise TypeError(f"expected a loaded program or its file descriptor, got {type(prog).__name__}")
    return fileno()
