"""Thin, typed wrappers around ``bpf()``, ``perf_event_open()`` and ``ioctl()``.

Nothing else in the project calls these system calls.  Every wrapper takes
plain Python values, fills the command's attribute struct from ``uapi``,
and raises a :class:`~pybpf_dsl.errors.SyscallError` subclass naming the
command, the errno and a hint when the kernel says no.
"""

from __future__ import annotations

import errno as _errno
import struct
from typing import Iterator, Sequence

from ..errors import syscall_error
from . import uapi
from .fd import FD
from .uapi import Cmd, ffi, libc

__all__ = [
    "bpf", "map_create", "map_lookup", "map_update", "map_delete", "map_get_next_key",
    "map_lookup_and_delete", "map_freeze", "map_batch", "prog_load", "obj_pin", "obj_get",
    "prog_attach", "prog_detach", "prog_test_run", "iter_ids", "fd_by_id", "obj_info",
    "raw_tracepoint_open", "btf_load", "link_create", "link_detach", "iter_create",
    "perf_event_open", "ioctl", "enable_stats", "TestRunResult",
]

def _addr(buf) -> int:
    """The address of a cffi buffer (or 0 for None), as bpf_attr wants it."""
    if buf is None:
        return 0
    return int(ffi.cast("uintptr_t", buf))


def bpf(cmd: Cmd, attr, what: str | None = None) -> int:
    """Call ``bpf(cmd, attr, sizeof(attr))``; return the result or raise."""
    ret = libc.syscall(ffi.cast("long", uapi.SYS_bpf), ffi.cast("int", cmd), attr,
                       ffi.cast("unsigned int", ffi.sizeof(attr[0])))
    if ret < 0:
        raise syscall_error(f"BPF_{Cmd(cmd).name}", ffi.errno, what)
    return ret


def _try_bpf(cmd: Cmd, attr) -> tuple[int, int]:
    """Like :func:`bpf` but returns ``(ret, errno)`` instead of raising."""
    ret = libc.syscall(ffi.cast("long", uapi.SYS_bpf), ffi.cast("int", cmd), attr,
                       ffi.cast("unsigned int", ffi.sizeof(attr[0])))
    return ret, (ffi.errno if ret < 0 else 0)


# ---------------------------------------------------------------- maps

def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, *,
               flags: int = 0, name: str = "", inner_map_fd: int = 0, numa_node: int = 0,
               ifindex: int = 0, btf_fd: int = 0, btf_key_type_id: int = 0,
               btf_value_type_id: int = 0, map_extra: int = 0) -> FD:
    """BPF_MAP_CREATE; returns the new map's FD."""
    attr = ffi.new("struct map_create_attr *")
    attr.map_type = map_type
    attr.key_size = key_size
    attr.value_size = value_size
    attr.max_entries = max_entries
    attr.map_flags = flags
    attr.inner_map_fd = inner_map_fd
    attr.numa_node = numa_node
    attr.map_ifindex = ifindex
    attr.btf_fd = btf_fd
    attr.btf_key_type_id = btf_key_type_id
    attr.btf_value_type_id = btf_value_type_id
    attr.map_extra = map_extra
    encoded = name.encode()[: uapi.BPF_OBJ_NAME_LEN - 1]
    ffi.memmove(attr.map_name, encoded, len(encoded))
    return FD(bpf(Cmd.MAP_CREATE, attr, f"creating map {name!r}" if name else "creating map"), "map")


# Element commands call syscall(2) through a fixed prototype (cffi's variadic
# calls rebuild the call interface each time; glibc's syscall() is plain
# register shuffling, so the non-variadic call is exact on x86_64 and
# aarch64), with the attribute packed into a bytes object: these commands
# only read it, and cffi passes bytes to ``char *`` without copying.  The
# per-element hot paths of tables (``t[k]``, ``t[k] = v``) inline this call
# with the public pieces below, saving a Python frame (~0.1 us of ~1 us):
#     if raw_elem_call(SYS_BPF, cmd, pack_elem_attr(fd, 0, key, value, flags),
#                      ELEM_ATTR_SIZE) < 0:
#         err = last_errno()
raw_elem_call = ffi.cast("long (*)(long, long, char *, unsigned long)",
                         ffi.addressof(libc, "syscall"))
pack_elem_attr = struct.Struct("<IIQQQ").pack
ELEM_ATTR_SIZE = ffi.sizeof("struct map_elem_attr")
SYS_BPF = uapi.SYS_bpf


def last_errno() -> int:
    """The errno of this thread's last failed call through ``raw_elem_call``."""
    return ffi.errno


def elem_call(cmd: int, map_fd: int, key: int, value: int, flags: int = 0) -> int:
    """One BPF_MAP_{LOOKUP,UPDATE,DELETE,LOOKUP_AND_DELETE}_ELEM, GET_NEXT_KEY or FREEZE.

    ``key`` and ``value`` are addresses (0 for NULL), ``cmd`` a plain int
    (enum members convert slowly).  Returns 0 on success or the errno,
    without raising, so callers decide what ENOENT means and build the
    message themselves (:func:`~pybpf_dsl.errors.syscall_error`).
    """
    if raw_elem_call(SYS_BPF, cmd, pack_elem_attr(map_fd, 0, key, value, flags), ELEM_ATTR_SIZE) < 0:
        return ffi.errno
    return 0


def _elem(cmd: Cmd, map_fd: int, key, value, flags: int = 0) -> bool:
    """An element command on cffi buffers or addresses: False on ENOENT, raises otherwise."""
    err = elem_call(cmd, map_fd, _addr(key), _addr(value), flags)
    if err == _errno.ENOENT:
        return False
    if err:
        raise syscall_error(f"BPF_{cmd.name}", err)
    return True


def map_lookup(map_fd: int, key, value, flags: int = 0) -> bool:
    """BPF_MAP_LOOKUP_ELEM into ``value``; False when the key is absent."""
    return _elem(Cmd.MAP_LOOKUP_ELEM, map_fd, key, value, flags)


def map_update(map_fd: int, key, value, flags: int = 0) -> None:
    """BPF_MAP_UPDATE_ELEM; ``flags`` is BPF_ANY, BPF_NOEXIST or BPF_EXIST."""
    err = elem_call(Cmd.MAP_UPDATE_ELEM, map_fd, _addr(key), _addr(value), flags)
    if err:
        raise syscall_error("BPF_MAP_UPDATE_ELEM", err)


def map_delete(map_fd: int, key) -> bool:
    """BPF_MAP_DELETE_ELEM; False when the key is absent."""
    return _elem(Cmd.MAP_DELETE_ELEM, map_fd, key, None)


def map_get_next_key(map_fd: int, key, next_key) -> bool:
    """BPF_MAP_GET_NEXT_KEY (``key`` None for the first); False at the end."""
    return _elem(Cmd.MAP_GET_NEXT_KEY, map_fd, key, next_key)


def map_lookup_and_delete(map_fd: int, key, value, flags: int = 0) -> bool:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM (pop for queues and stacks: ``key`` None)."""
    return _elem(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, map_fd, key, value, flags)


def map_freeze(map_fd: int) -> None:
    """BPF_MAP_FREEZE: no more writes from user space."""
    err = elem_call(Cmd.MAP_FREEZE, map_fd, 0, 0)
    if err:
        raise syscall_error("BPF_MAP_FREEZE", err)


__all__ += ["elem_call", "raw_elem_call", "pack_elem_attr", "last_errno", "SYS_BPF",
            "ELEM_ATTR_SIZE"]


def map_batch(cmd: Cmd, map_fd: int, keys, values, count: int, *, in_batch=None,
              out_batch=None, elem_flags: int = 0) -> tuple[int, bool]:
    """One BPF_MAP_*_BATCH call.

    Returns ``(count_done, finished)``: ``finished`` is True when the kernel
    answered ENOENT (no more entries after this chunk).
    """
    attr = ffi.new("struct map_batch_attr *")
    attr.in_batch = _addr(in_batch)
    attr.out_batch = _addr(out_batch)
    attr.keys = _addr(keys)
    attr.values = _addr(values)
    attr.count = count
    attr.map_fd = map_fd
    attr.elem_flags = elem_flags
    ret, err = _try_bpf(cmd, attr)
    if ret < 0:
        if err == _errno.ENOENT:
            return attr.count, True
        raise syscall_error(f"BPF_{Cmd(cmd).name}", err)
    return attr.count, False


# ---------------------------------------------------------------- programs

def prog_load(prog_type: int, insns: bytes, license: str, *, name: str = "",
              expected_attach_type: int = 0, prog_flags: int = 0, kern_version: int = 0,
              btf_fd: int = 0, func_info: bytes = b"", func_info_rec_size: int = 8,
              line_info: bytes = b"", line_info_rec_size: int = 16, attach_btf_id: int = 0,
              attach_btf_obj_fd: int = 0, attach_prog_fd: int = 0, ifindex: int = 0,
              fd_array: Sequence[int] = (), log_level: int = 0, log_size: int = 0) -> tuple[int, int, str]:
    """BPF_PROG_LOAD.

    Returns ``(fd, errno, log)``: ``fd`` is -1 on failure, and ``log`` holds
    the verifier's output (empty unless ``log_level`` was set or loading
    failed).  The caller turns failures into a VerifierError, because only it
    knows how to map instructions back to the user's source.
    """
    attr = ffi.new("struct prog_load_attr *")
    insn_buf = ffi.from_buffer(insns)
    lic = ffi.new("char[]", license.encode())
    attr.prog_type = prog_type
    attr.insn_cnt = len(insns) // 8
    attr.insns = _addr(insn_buf)
    attr.license = _addr(lic)
    attr.kern_version = kern_version
    attr.prog_flags = prog_flags
    encoded = name.encode()[: uapi.BPF_OBJ_NAME_LEN - 1]
    ffi.memmove(attr.prog_name, encoded, len(encoded))
    attr.prog_ifindex = ifindex
    attr.expected_attach_type = expected_attach_type
    attr.prog_btf_fd = btf_fd
    keep = [insn_buf, lic]
    if btf_fd and func_info:
        fi = ffi.from_buffer(func_info)
        keep.append(fi)
        attr.func_info_rec_size = func_info_rec_size
        attr.func_info = _addr(fi)
        attr.func_info_cnt = len(func_info) // func_info_rec_size
    if btf_fd and line_info:
        li = ffi.from_buffer(line_info)
        keep.append(li)
        attr.line_info_rec_size = line_info_rec_size
        attr.line_info = _addr(li)
        attr.line_info_cnt = len(line_info) // line_info_rec_size
    attr.attach_btf_id = attach_btf_id
    attr.attach_prog_fd = attach_btf_obj_fd or attach_prog_fd
    if fd_array:  # fds (module BTF, maps) that instructions name by index, as kfunc calls' off
        fds = ffi.new("int[]", list(fd_array))
        keep.append(fds)
        attr.fd_array = _addr(fds)
    log = None
    if log_level:
        log = ffi.new("char[]", log_size or (1 << 20))
        attr.log_level = log_level
        attr.log_size = len(log)
        attr.log_buf = _addr(log)
    ret, err = _try_bpf(Cmd.PROG_LOAD, attr)
    text = ffi.string(log).decode(errors="replace") if log is not None else ""
    return ret, err, text


def prog_test_run(prog_fd: int, data_in: bytes = b"", *, ctx_in: bytes = b"",
                  data_out_size: int = 0, ctx_out_size: int = 0, repeat: int = 1,
                  flags: int = 0, cpu: int = 0) -> "TestRunResult":
    """BPF_PROG_TEST_RUN: run the program in the kernel on chosen input."""
    attr = ffi.new("struct test_run_attr *")
    keep = []
    attr.prog_fd = prog_fd
    if data_in:
        din = ffi.from_buffer(data_in)
        keep.append(din)
        attr.data_in = _addr(din)
        attr.data_size_in = len(data_in)
    dout = None
    if data_out_size:
        dout = ffi.new("char[]", data_out_size)
        attr.data_out = _addr(dout)
        attr.data_size_out = data_out_size
    if ctx_in:
        cin = ffi.from_buffer(ctx_in)
        keep.append(cin)
        attr.ctx_in = _addr(cin)
        attr.ctx_size_in = len(ctx_in)
    cout = None
    if ctx_out_size:
        cout = ffi.new("char[]", ctx_out_size)
        attr.ctx_out = _addr(cout)
        attr.ctx_size_out = ctx_out_size
    attr.repeat = repeat
    attr.flags = flags
    attr.cpu = cpu
    bpf(Cmd.PROG_TEST_RUN, attr, "running program on test input")
    return TestRunResult(
        retval=attr.retval,
        duration_ns=attr.duration,
        data_out=bytes(ffi.buffer(dout, attr.data_size_out)) if dout is not None else b"",
        ctx_out=bytes(ffi.buffer(cout, attr.ctx_size_out)) if cout is not None else b"",
    )


class TestRunResult:
    """What BPF_PROG_TEST_RUN returned: retval, mean duration, output data and context."""

    __test__ = False  # not a pytest class
    __slots__ = ("retval", "duration_ns", "data_out", "ctx_out")

    def __init__(self, retval: int, duration_ns: int, data_out: bytes, ctx_out: bytes) -> None:
        self.retval = retval
        self.duration_ns = duration_ns
        self.data_out = data_out
        self.ctx_out = ctx_out

    def __repr__(self) -> str:
        return f"TestRunResult(retval={self.retval}, duration_ns={self.duration_ns})"


# ---------------------------------------------------------------- objects, pins, ids

def obj_pin(fd: int, path: str) -> None:
    """BPF_OBJ_PIN ``fd`` at ``path`` on a bpffs."""
    p = ffi.new("char[]", path.encode())
    attr = ffi.new("struct obj_pin_attr *")
    attr.pathname = _addr(p)
    attr.bpf_fd = fd
    bpf(Cmd.OBJ_PIN, attr, f"pinning at {path}")


def obj_get(path: str, kind: str = "map", flags: int = 0) -> FD:
    """BPF_OBJ_GET: open the object pinned at ``path``."""
    p = ffi.new("char[]", path.encode())
    attr = ffi.new("struct obj_pin_attr *")
    attr.pathname = _addr(p)
    attr.file_flags = flags
    return FD(bpf(Cmd.OBJ_GET, attr, f"opening pinned object {path}"), kind)


_NEXT_ID_CMDS = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID,
                 "btf": Cmd.BTF_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID}
_FD_BY_ID_CMDS = {"prog": Cmd.PROG_GET_FD_BY_ID, "map": Cmd.MAP_GET_FD_BY_ID,
                  "btf": Cmd.BTF_GET_FD_BY_ID, "link": Cmd.LINK_GET_FD_BY_ID}


def iter_ids(kind: str) -> Iterator[int]:
    """Every id of a kernel object kind ("prog", "map", "btf", "link"), ascending."""
    cmd = _NEXT_ID_CMDS[kind]
    attr = ffi.new("struct get_id_attr *")
    while True:
        ret, err = _try_bpf(cmd, attr)
        if ret < 0:
            if err == _errno.ENOENT:
                return
            raise syscall_error(f"BPF_{cmd.name}", err)
        yield attr.next_id
        attr.start_id = attr.next_id


def fd_by_id(kind: str, obj_id: int) -> FD:
    """Open a kernel object by id."""
    cmd = _FD_BY_ID_CMDS[kind]
    attr = ffi.new("struct get_id_attr *")
    attr.start_id = obj_id
    return FD(bpf(cmd, attr, f"opening {kind} id {obj_id}"), kind)


_INFO_TYPES = {"prog": "struct bpf_prog_info *", "map": "struct bpf_map_info *",
               "btf": "struct bpf_btf_info *", "link": "struct bpf_link_info *"}


def obj_info(fd: int, kind: str, info=None):
    """BPF_OBJ_GET_INFO_BY_FD; returns the filled cffi info struct.

    Pass a prepared ``info`` to have the kernel fill arrays it points to
    (e.g. xlated instructions of a program).
    """
    if info is None:
        info = ffi.new(_INFO_TYPES[kind])
    attr = ffi.new("struct info_attr *")
    attr.bpf_fd = fd
    attr.info_len = ffi.sizeof(info[0])
    attr.info = _addr(info)
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


def prog_xlated(fd: int) -> bytes:
    """Program ``fd``'s instructions as the verifier left them (b"" when the kernel withholds them)."""
    size = obj_info(fd, "prog").xlated_prog_len
    if not size:
        return b""
    buf = ffi.new("char[]", size)
    info = ffi.new("struct bpf_prog_info *")
    info.xlated_prog_len = size
    info.xlated_prog_insns = _addr(buf)
    obj_info(fd, "prog", info)
    return ffi.buffer(buf, min(size, info.xlated_prog_len))[:]


def btf_object_name(fd: int) -> tuple[str, bool]:
    """The name of BTF object ``fd`` ("vmlinux", a module's name, "" for program BTF)
    and whether it is the kernel's own (vmlinux or module) BTF."""
    name = ffi.new("char[]", uapi.BPF_OBJ_NAME_LEN * 4)
    info = ffi.new("struct bpf_btf_info *")
    info.name = _addr(name)
    info.name_len = len(name)
    obj_info(fd, "btf", info)
    return ffi.string(name).decode(errors="replace"), bool(info.kernel_btf)


def enable_stats(stats_type: int = 0) -> FD:
    """BPF_ENABLE_STATS (0: BPF_STATS_RUN_TIME): programs' run_time_ns/run_cnt count while the FD is open."""
    attr = ffi.new("struct enable_stats_attr *")
    attr.type = stats_type
    return FD(bpf(Cmd.ENABLE_STATS, attr, "enabling BPF run-time statistics"), "stats")


# ---------------------------------------------------------------- attach

def raw_tracepoint_open(name: str | None, prog_fd: int, cookie: int = 0) -> FD:
    """BPF_RAW_TRACEPOINT_OPEN (``name`` None for tp_btf/fentry style programs)."""
    attr = ffi.new("struct raw_tp_attr *")
    n = ffi.new("char[]", name.encode()) if name else None
    attr.name = _addr(n)
    attr.prog_fd = prog_fd
    attr.cookie = cookie
    what = f"attaching to raw tracepoint {name}" if name else "attaching program to its load-time BTF target"
    return FD(bpf(Cmd.RAW_TRACEPOINT_OPEN, attr, what), "link")


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0,
                what: str | None = None, **extra) -> FD:
    """BPF_LINK_CREATE.

    ``extra`` fills the attach-type specific union, e.g.
    ``target_btf_id=...``, ``iter={"iter_info": addr, "iter_info_len": n}``,
    ``perf_event={"bpf_cookie": c}``, ``tcx={"relative_fd": fd}``,
    ``uprobe_multi={...}``.
    """
    attr = ffi.new("struct link_create_attr *")
    attr.prog_fd = prog_fd
    attr.target_fd = target_fd
    attr.attach_type = attach_type
    attr.flags = flags
    for field, value in extra.items():
        if isinstance(value, dict):
            sub = getattr(attr, field)
            for k, v in value.items():
                setattr(sub, k, v)
        else:
            setattr(attr, field, value)
    return FD(bpf(Cmd.LINK_CREATE, attr, what), "link")


def link_detach(link_fd: int) -> None:
    """BPF_LINK_DETACH: detach while keeping the link FD open."""
    attr = ffi.new("struct link_detach_attr *")
    attr.link_fd = link_fd
    bpf(Cmd.LINK_DETACH, attr)


def iter_create(link_fd: int) -> FD:
    """BPF_ITER_CREATE: a readable FD that runs the iterator program."""
    attr = ffi.new("struct iter_create_attr *")
    attr.link_fd = link_fd
    return FD(bpf(Cmd.ITER_CREATE, attr, "creating iterator"), "iter")


def prog_attach(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0) -> None:
    """BPF_PROG_ATTACH (cgroups, sockmaps, flow dissector)."""
    attr = ffi.new("struct prog_attach_attr *")
    attr.target_fd = target_fd
    attr.attach_bpf_fd = prog_fd
    attr.attach_type = attach_type
    attr.attach_flags = flags
    bpf(Cmd.PROG_ATTACH, attr)


def prog_detach(prog_fd: int, target_fd: int, attach_type: int) -> None:
    """BPF_PROG_DETACH."""
    attr = ffi.new("struct prog_attach_attr *")
    attr.target_fd = target_fd
    attr.attach_bpf_fd = prog_fd
    attr.attach_type = attach_type
    bpf(Cmd.PROG_DETACH, attr)


# ---------------------------------------------------------------- BTF

def btf_load(data: bytes, log_level: int = 0) -> tuple[int, int, str]:
    """BPF_BTF_LOAD; returns ``(fd, errno, log)`` like :func:`prog_load`."""
    attr = ffi.new("struct btf_load_attr *")
    buf = ffi.from_buffer(data)
    attr.btf = _addr(buf)
    attr.btf_size = len(data)
    log = None
    if log_level:
        log = ffi.new("char[]", 1 << 16)
        attr.btf_log_buf = _addr(log)
        attr.btf_log_size = len(log)
        attr.btf_log_level = log_level
    ret, err = _try_bpf(Cmd.BTF_LOAD, attr)
    return ret, err, (ffi.string(log).decode(errors="replace") if log is not None else "")


# ---------------------------------------------------------------- perf and ioctl

def perf_event_open(attr, pid: int, cpu: int, group_fd: int = -1,
                    flags: int = uapi.PERF_FLAG_FD_CLOEXEC, what: str | None = None) -> FD:
    """perf_event_open(2) with a filled ``struct perf_event_attr *``."""
    ret = libc.syscall(ffi.cast("long", uapi.SYS_perf_event_open), attr, ffi.cast("int", pid),
                       ffi.cast("int", cpu), ffi.cast("int", group_fd),
                       ffi.cast("unsigned long", flags))
    if ret < 0:
        err = ffi.errno
        hint = None
        if attr.type in _HW_PERF_TYPES and err in (_errno.ENOENT, _errno.EOPNOTSUPP, _errno.ENODEV):
            hint = (f"no hardware perf counter support for event type {attr.type} "
                    "(this machine exposes no hardware PMU, usual in virtual machines)")
        raise syscall_error("perf_event_open", err, what, hint)
    return FD(ret, "perf_event")


_HW_PERF_TYPES = (uapi.PerfType.HARDWARE, uapi.PerfType.HW_CACHE, uapi.PerfType.RAW)


def periodic_timer(interval_ms: float, what: str | None = None) -> FD:
    """A non-blocking CLOCK_MONOTONIC timerfd expiring every ``interval_ms`` (first after one interval)."""
    ret = libc.timerfd_create(uapi.CLOCK_MONOTONIC, uapi.TFD_NONBLOCK | uapi.TFD_CLOEXEC)
    if ret < 0:
        raise syscall_error("timerfd_create", ffi.errno, what)
    fd = FD(ret, "timerfd")
    nsec = max(int(interval_ms * 1_000_000), 1)
    spec = ffi.new("struct itimerspec *")
    spec.it_interval.tv_sec = spec.it_value.tv_sec = nsec // 1_000_000_000
    spec.it_interval.tv_nsec = spec.it_value.tv_nsec = nsec % 1_000_000_000
    if libc.timerfd_settime(ret, 0, spec, ffi.NULL) < 0:
        err = ffi.errno
        fd.close()
        raise syscall_error("timerfd_settime", err, what)
    return fd


def ioctl(fd: int, request: int, arg: int = 0, what: str | None = None) -> int:
    """ioctl(2) with an integer argument."""
    ret = libc.ioctl(ffi.cast("int", fd), ffi.cast("unsigned long", request),
                     ffi.cast("unsigned long", arg))
    if ret < 0:
        raise syscall_error(f"ioctl(0x{request:x})", ffi.errno, what)
    return ret
