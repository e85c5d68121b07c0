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
    """bcc's log2 histogram slot: floor(log2(v)) + 1 for v > 0, and 1 for v == 0.

    A binary search over the bits whose steps are shifts by 0 or 2**k, so
    the compiled code has almost no branches.
    """
    hi = u32(v >> 32)
    x = hi if hi else u32(v)
    r = u32(x > 0xFFFF) << 4
    x >>= r
    s = u32(x > 0xFF) << 3
    x >>= s
    r |= s
    s = u32(x > 0xF) << 2
    x >>= s
    r |= s
    s = u32(x > 3) << 1
    x >>= s
    r |= s
    r |= x >> 1
    return r + (33 if hi else 1)


@bpf_function
def cpu() -> u32:
    """The CPU the program runs on."""
    return core.get_smp_processor_id()


@bpf_function
def cgroup_id() -> u64:
    """The id of the current task's cgroup v2 (the inode number of its directory)."""
    return core.get_current_cgroup_id()
