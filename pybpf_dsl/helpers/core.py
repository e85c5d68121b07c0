"""Kernel helpers under readable names, each with the CPython model the interpreter runs."""

from __future__ import annotations

import ctypes
import functools
import os
import random
import signal
import threading
import time

from ..types import Ptr, s64, u8, u32, u64
from .registry import Buf, MapArg, Mem, helper

KPTR = Ptr[u8]


def _comm() -> bytes:
    with open("/proc/thread-self/comm", "rb") as f:
        return f.read().strip()[:15]


def _fill(buf, data: bytes) -> int:
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
    return _libc().sched_getcpu()


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


_CLOCK_MONOTONIC_COARSE = 6   # not exported by the time module
_TASK_SIZE = (1 << 47) - 4096   # x86-64's user address space limit


def _no_kernel_memory() -> int:
    raise NotImplementedError("kernel memory can only be read inside BPF programs")


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _read_mem(addr: int, n: int) -> bytes | None:
    """Up to ``n`` bytes of this process's memory at ``addr`` (fewer at an unreadable
    page, None at once), read as the kernel's user copies do: protections apply."""
    if not 0 < addr < _TASK_SIZE:
        return None
    buf = ctypes.create_string_buffer(n)
    local, remote = _IOVec(ctypes.addressof(buf), n), _IOVec(addr, n)
    got = _libc().process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return buf.raw[:got] if got > 0 else None


@functools.cache
def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.process_vm_readv.restype = ctypes.c_ssize_t
    lib.process_vm_readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                                     ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    return lib


def _read_user(dst, src: int) -> int:
    n = ctypes.sizeof(dst)
    data = _read_mem(src, n)
    if data is None or len(data) < n:
        ctypes.memset(ctypes.addressof(dst), 0, n)
        return -14
    _fill(dst, data)
    return 0


def _read_user_str(dst, src: int) -> int:
    n = ctypes.sizeof(dst)
    data = b""
    while len(data) < n and b"\0" not in data:     # page by page, like the kernel's strncpy
        chunk = _read_mem(src + len(data), min(n - len(data), 4096 - (src + len(data)) % 4096))
        if not chunk:
            break
        data += chunk
    if b"\0" in data:
        data = data[:data.index(b"\0")]
    elif len(data) < n:                            # no NUL before an unmapped page
        ctypes.memset(ctypes.addressof(dst), 0, n)
        return -14
    data = data[:n - 1] + b"\0"
    _fill(dst, data)
    return len(data)


@helper(113)
def probe_read_kernel(dst: Buf, src: Mem) -> s64:
    """Copy kernel memory into ``dst``."""
    raise NotImplementedError("kernel memory can only be read inside BPF programs")


@helper(112)
def probe_read_user(dst: Buf, src: Mem) -> s64:
    """Copy user memory into ``dst``; on a fault returns -EFAULT and zeroes ``dst``."""
    return _read_user(dst, src)


@helper(114)
def probe_read_user_str(dst: Buf, src: Mem) -> s64:
    """Copy a NUL-terminated user string into ``dst``; returns its length with the NUL.

    A longer string is cut to ``len(dst) - 1`` bytes and a NUL; ``dst`` is not padded.
    """
    return _read_user_str(dst, src)


@helper(115)
def probe_read_kernel_str(dst: Buf, src: Mem) -> s64:
    """Copy a NUL-terminated kernel string into ``dst``; returns its length with the NUL."""
    raise NotImplementedError("kernel memory can only be read inside BPF programs")


def _cgroup_ids() -> list[int]:
    """Ids (kernfs inode numbers) of the current task's cgroup v2 and its ancestors, root first."""
    with open("/proc/self/mountinfo") as f:
        root = next(line.split()[4] for line in f if " - cgroup2 " in line)
    with open("/proc/self/cgroup") as f:
        rel = next(line[3:].strip() for line in f if line.startswith("0::"))
    parts = [p for p in rel.split("/") if p]
    return [os.stat(os.path.join(root, *parts[:n])).st_ino for n in range(len(parts) + 1)]


@helper(80)
def get_current_cgroup_id() -> u64:
    """The cgroup v2 id of the current task (the inode number of its cgroupfs directory)."""
    return _cgroup_ids()[-1]


@helper(123)
def get_current_ancestor_cgroup_id(level: u32) -> u64:
    """The id of the current task's cgroup v2 ancestor at ``level`` (0: the root; 0 when too deep)."""
    ids = _cgroup_ids()
    return ids[level] if level < len(ids) else 0


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


@helper(4)
def probe_read(dst: Buf, src: Mem) -> s64:
    """bcc's legacy read: user memory below TASK_SIZE, kernel memory above (prefer the explicit ones)."""
    return _read_user(dst, src) if src < _TASK_SIZE else _no_kernel_memory()


@helper(45)
def probe_read_str(dst: Buf, src: Mem) -> s64:
    """bcc's legacy string read (see probe_read); returns the length with the NUL."""
    return _read_user_str(dst, src) if src < _TASK_SIZE else _no_kernel_memory()


@helper(148)
def copy_from_user(dst: Buf, src: Mem) -> s64:
    """Copy user memory into ``dst``, faulting pages in (sleepable programs only)."""
    return _read_user(dst, src)


@helper(191)
def copy_from_user_task(dst: Buf, src: Mem, task: Mem, flags: u64) -> s64:
    """Copy memory of task ``task`` (a BTF task pointer) into ``dst`` (sleepable programs only)."""
    raise NotImplementedError("task pointers exist only inside BPF programs")


@helper(36)
def probe_write_user(dst: Mem, src: Buf) -> s64:
    """Write ``src`` to the current task's memory at ``dst`` (refused under kernel lockdown)."""
    raise NotImplementedError("only inside BPF programs")


@helper(67)
def get_stack(ctx: Mem, buf: Buf, flags: u64) -> s64:
    """Fill a u64 array with return addresses (kernel; BPF_F_USER_STACK: user); returns bytes."""
    raise NotImplementedError("stacks are walked only inside BPF programs")


@helper(141)
def get_task_stack(task: Mem, buf: Buf, flags: u64) -> s64:
    """Like get_stack, for the kernel stack of ``task`` (a BTF task pointer)."""
    raise NotImplementedError("stacks are walked only inside BPF programs")


@helper(173)
def get_func_ip(ctx: Mem) -> u64:
    """The address of the probed function (kprobe, uprobe, fentry/fexit programs)."""
    raise NotImplementedError("only inside BPF programs")


@helper(160)
def ktime_get_coarse_ns() -> u64:
    """CLOCK_MONOTONIC_COARSE in nanoseconds: cheaper, one tick of resolution."""
    return time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE)


@helper(208)
def ktime_get_tai_ns() -> u64:
    """CLOCK_TAI in nanoseconds (wall-clock time without leap seconds)."""
    return time.clock_gettime_ns(time.CLOCK_TAI)


@helper(42)
def get_numa_node_id() -> u32:
    """The NUMA node of the CPU the program runs on."""
    cpu = get_smp_processor_id.model()
    nodes = [n for n in os.listdir(f"/sys/devices/system/cpu/cpu{cpu}") if n.startswith("node")]
    return int(nodes[0][4:]) if nodes else 0


@helper(117)
def send_signal_thread(sig: u32) -> s64:
    """Send signal ``sig`` to the current thread."""
    signal.pthread_kill(threading.get_ident(), sig)
    return 0


@helper(58)
def override_return(regs: Mem, rc: u64) -> s64:
    """Make the probed kernel function return ``rc`` (kprobes on ALLOW_ERROR_INJECTION functions)."""
    raise NotImplementedError("only inside kprobe programs")


@helper(109)
def send_signal(sig: u32) -> s64:
    """Send signal ``sig`` to the current process."""
    os.kill(os.getpid(), sig)
    return 0


__all__ = ["KPTR", "MapArg"]
