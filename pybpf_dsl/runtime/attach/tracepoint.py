"""Tracepoints: a TRACEPOINT program on ``category:event``.

One perf event of type PERF_TYPE_TRACEPOINT (pid -1, CPU 0) carries the
program for every CPU: the kernel runs BPF programs attached to a trace
event wherever the event fires.  Nothing is created in tracefs, and the
attachment disappears with its FDs.
"""

from __future__ import annotations

from typing import Any

from .. import syscall
from ..tracepoints import event_id, split_tracepoint
from ..uapi import PerfType
from .link import Link
from .perf_event import attach_perf_fd, perf_attr
from .progfd import prog_fd

__all__ = ["attach_tracepoint"]


def attach_tracepoint(prog: Any, category: str, name: str | None = None, cookie: int = 0) -> Link:
    """Run a TRACEPOINT program each time ``category:name`` fires.

    ``attach_tracepoint(prog, "sched", "sched_switch")`` or
    ``attach_tracepoint(prog, "sched:sched_switch")``.  A misspelt name
    raises AttachTargetNotFound suggesting the closest tracepoints.
    """
    if name is None:
        category, name = split_tracepoint(category)
    fd = prog_fd(prog)
    target = f"{category}:{name}"
    attr = perf_attr(PerfType.TRACEPOINT, event_id(category, name), sample_period=1, wakeup_events=1)
    perf = syscall.perf_event_open(attr, -1, 0, -1, what=f"opening tracepoint {target}")
    try:
        link = attach_perf_fd(fd, perf, cookie, what=f"attaching program to tracepoint {target}")
    except BaseException:
        perf.close()
        raise
    return Link("tracepoint", target, [link, perf] if link is not None else [perf])
