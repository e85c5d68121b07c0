"""Kernel helpers under readable names, each with the CPython model the interpreter runs."""

from __future__ import annotations

import os
import random
import threading
import time

from ..types import Ptr, s64, u8, u32, u64
from .registry import Buf, MapArg, Mem, helper

KPTR = Ptr[u8]


def _comm() -> bytes:
    with open("/proc/self/comm", "rb") as f:
        return f.read().strip()[:15]


def _fill(buf, data: bytes) -> int:
    import ctypes
    n = min(len(data), ctypes.sizeof(buf))
    ctypes.memmove(ctypes.addressof(buf), data, n)
    return n


@helper(5)
def ktime_get_ns() -> u64:
    """Monotonic time in nanoseconds (CLOCK_MONOTONIC)."""
    return time.monotonic_ns()


@helper(125)
def ktime_get_boot_ns() -> u64:
    """Time since boot in nanoseconds, including suspend (CLOCK_BOOTTIME)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


@helper(7)
def get_prandom_u32() -> u32:
    """A pseudo-random 32-bit number."""
    return random.getrandbits(32)


@helper(8)
def get_smp_processor_id() -> u32:
    """The CPU the program runs on."""
    return os.sched_getaffinity(0).__iter__().__next__()


@helper(14)
def get_current_pid_tgid() -> u64:
    """``tgid << 32 | pid`` of the current task (tgid is the process id, pid the thread id)."""
    return os.getpid() << 32 | threading.get_native_id()


@helper(15)
def get_current_uid_gid() -> u64:
    """``gid << 32 | uid`` of the current task."""
    return os.getgid() << 32 | os.getuid()


@helper(120)
def get_ns_current_pid_tgid(dev: u64, ino: u64, nsdata: Buf) -> s64:
    """Fill ``nsdata`` (a struct of u32 ``pid`` then u32 ``tgid``) with the ids seen from
    the pid namespace ``dev``/``ino`` (``os.stat("/proc/self/ns/pid")``'s st_dev and st_ino).

    Returns 0, or -EINVAL (and zeroes ``nsdata``) when the task is not in that namespace.
    """
    import ctypes
    import struct
    st = os.stat("/proc/self/ns/pid")
    if ctypes.sizeof(nsdata) != 8 or (st.st_dev, st.st_ino) != (dev, ino):
        ctypes.memset(ctypes.addressof(nsdata), 0, ctypes.sizeof(nsdata))
        return -22
    with open("/proc/thread-self/status") as f:
        ids = {k: v.split()[-1] for k, _, v in (line.partition(":") for line in f)
               if k in ("NSpid", "NStgid")}
    _fill(nsdata, struct.pack("<II", int(ids["NSpid"]), int(ids["NStgid"])))
    return 0


@helper(16)
def get_current_comm(buf: Buf) -> s64:
    """Copy the current task's name into a char array (NUL-terminated)."""
    _fill(buf, _comm() + b"\0")
    return 0


@helper(35)
def get_current_task() -> u64:
    """The current task_struct's address (use bpf.current_task() for typed access)."""
    raise NotImplementedError("kernel pointers exist only inside BPF programs")


@helper(113)
def probe_read_kernel(dst: Buf, src: Mem) -> s64:
    """Copy kernel memory into ``dst``."""
    raise NotImplementedError("kernel memory can only be read inside BPF programs")


@helper(112)
def probe_read_user(dst: Buf, src: Mem) -> s64:
    """Copy user memory into ``dst``."""
    raise NotImplementedError("user memory of another task can only be read inside BPF programs")


@helper(114)
def probe_read_user_str(dst: Buf, src: Mem) -> s64:
    """Copy a NUL-terminated user string into ``dst``; returns its length with the NUL."""
    raise NotImplementedError("user memory of another task can only be read inside BPF programs")


@helper(115)
def probe_read_kernel_str(dst: Buf, src: Mem) -> s64:
    """Copy a NUL-terminated kernel string into ``dst``; returns its length with the NUL."""
    raise NotImplementedError("kernel memory can only be read inside BPF programs")


@helper(80)
def get_current_cgroup_id() -> u64:
    """The cgroup v2 id of the current task."""
    return os.stat("/sys/fs/cgroup").st_ino


@helper(118)
def jiffies64() -> u64:
    """The kernel's jiffies counter."""
    return time.monotonic_ns() // 4_000_000



@helper(127)
def seq_write(seq: Mem, data: Buf) -> s64:
    """Write ``data`` to an iterator's seq_file (``ctx.meta.seq`` in @iter programs)."""
    raise NotImplementedError("seq_files exist only inside BPF iterators")


@helper(26)
def skb_load_bytes(skb: Mem, offset: u32, to: Buf) -> s64:
    """Copy packet bytes from ``offset`` into ``to`` (socket filter, tc, cgroup_skb programs)."""
    raise NotImplementedError("packets exist only inside BPF programs")


@helper(189)
def xdp_load_bytes(xdp: Mem, offset: u32, to: Buf) -> s64:
    """Copy packet bytes from ``offset`` into ``to`` (XDP programs)."""
    raise NotImplementedError("packets exist only inside BPF programs")


@helper(174)
def get_attach_cookie(ctx: Mem) -> u64:
    """The cookie given when the probe was attached."""
    raise NotImplementedError("attach cookies exist only inside BPF programs")


@helper(58)
def override_return(regs: Mem, rc: u64) -> s64:
    """Make the probed kernel function return ``rc`` (kprobes on ALLOW_ERROR_INJECTION functions)."""
    raise NotImplementedError("only inside kprobe programs")


@helper(109)
def send_signal(sig: u32) -> s64:
    """Send signal ``sig`` to the current process."""
    raise NotImplementedError("only inside BPF programs")


__all__ = ["KPTR", "MapArg"]
