"""Readable helpers written in the DSL itself (compiled and inlined like user functions)."""

from __future__ import annotations

from ..decorators import bpf_function
from ..types import u32, u64
from . import core


@bpf_function
def tgid() -> u32:
    """The process id (what ``os.getpid()`` returns in the traced process)."""
    return u32(core.get_current_pid_tgid() >> 32)


@bpf_function
def pid() -> u32:
    """The kernel's pid of the current task: the thread id (``os.gettid()``)."""
    return u32(core.get_current_pid_tgid())


tid = pid


@bpf_function
def uid() -> u32:
    """The real user id of the current task."""
    return u32(core.get_current_uid_gid())


@bpf_function
def gid() -> u32:
    """The real group id of the current task."""
    return u32(core.get_current_uid_gid() >> 32)


@bpf_function
def ktime_ns() -> u64:
    """Monotonic time in nanoseconds."""
    return core.ktime_get_ns()


@bpf_function
def log2l(v: u64) -> u32:
    """bcc's log2 histogram slot: floor(log2(v)) + 1 for v > 0, and 1 for v == 0."""
    r: u32 = 1
    if v >> 32:
        v >>= 32
        r += 32
    if v >> 16:
        v >>= 16
        r += 16
    if v >> 8:
        v >>= 8
        r += 8
    if v >> 4:
        v >>= 4
        r += 4
    if v >> 2:
        v >>= 2
        r += 2
    if v >> 1:
        r += 1
    return r
