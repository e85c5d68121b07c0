"""Live maps in the real kernel: every map type created, used, pinned and reused.

Pins live in a directory on bpffs unique to the test (pid + random suffix)
and are removed afterwards; every FD is closed by the end of each test.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import shutil
import socket
import struct
import uuid

import pytest

from pybpf_dsl.errors import BPFError, PermissionDenied, SyscallError
from pybpf_dsl.runtime import asm, syscall
from pybpf_dsl.runtime.cpus import num_possible_cpus
from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.maps import Map
from pybpf_dsl.runtime.mapspec import MapSpec, PinMode
from pybpf_dsl.runtime.tracefs import bpffs_root
from pybpf_dsl.runtime.uapi import (BPF_F_NO_PREALLOC, AttachType, MapType, PerfSwConfig,
                                    PerfType, ProgType, ffi)
import pybpf_dsl.runtime.uapi as uapi

CGROUP2 = "/sys/fs/cgroup/unified"
SO_COOKIE = 57
GET_LOCAL_STORAGE = 81


# ---------------------------------------------------------------- helpers shared with test_tables

def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def load_prog(prog_type: int, insns: list[bytes], **kw) -> FD:
    """Load hand-written instructions; fail the test with the verifier log if refused."""
    fd, err, log = syscall.prog_load(prog_type, b"".join(insns), "GPL", log_level=1, **kw)
    assert fd >= 0, f"program load failed ({os.strerror(err)}):\n{log}"
    return FD(fd, "prog")


def trivial_prog(prog_type: int = ProgType.SOCKET_FILTER) -> FD:
    return load_prog(prog_type, [asm.mov64_imm(asm.R0, 0), asm.exit_()])


def tiny_btf() -> FD:
    """A hand-built BTF blob: [1] int (4 bytes, signed), [2] long (8 bytes, signed)."""
    strings = b"\0int\0long\0"
    kind_int = 1 << 24
    types = struct.pack("<IIII", 1, kind_int, 4, (1 << 24) | 32)
    types += struct.pack("<IIII", 5, kind_int, 8, (1 << 24) | 64)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    fd, err, log = syscall.btf_load(header + types + strings, log_level=1)
    assert fd >= 0, f"BTF load failed ({os.strerror(err)}): {log}"
    return FD(fd, "btf")


def perf_output_event(cpu: int = 0) -> FD:
    attr = ffi.new("struct perf_event_attr *")
    attr.type, attr.size = PerfType.SOFTWARE, uapi.PERF_ATTR_SIZE
    attr.config, attr.sample_period = PerfSwConfig.BPF_OUTPUT, 1
    return syscall.perf_event_open(attr, -1, cpu)


@contextlib.contextmanager
def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        yield s
    finally:
        s.close()


@contextlib.contextmanager
def cgroup_with_storage(storage: Map):
    """A fresh cgroup with a CGROUP_SKB program using ``storage`` attached (ingress)."""
    path = os.path.join(CGROUP2, f"pybpf_maps_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    os.mkdir(path)
    prog = None
    cg = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        prog = load_prog(ProgType.CGROUP_SKB, [
            asm.ld_map_fd(asm.R1, storage.fileno()), asm.mov64_imm(asm.R2, 0),
            asm.call(GET_LOCAL_STORAGE), asm.mov64_imm(asm.R0, 1), asm.exit_()],
            expected_attach_type=AttachType.CGROUP_INET_INGRESS)
        syscall.prog_attach(prog.fileno(), cg, AttachType.CGROUP_INET_INGRESS)
        try:
            yield os.stat(path).st_ino
        finally:
            syscall.prog_detach(prog.fileno(), cg, AttachType.CGROUP_INET_INGRESS)
    finally:
        os.close(cg)
        if prog is not None:
            prog.close()
        os.rmdir(path)


@pytest.fixture
def pin_dir(root):
    """A unique directory on bpffs, removed with everything pinned in it."""
    path = os.path.join(bpffs_root(), f"pybpf_maps_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- one spec and one use per type

def _spec(kind: str, **kw) -> MapSpec:
    ncpu = num_possible_cpus()
    table = {
        "hash": (MapType.HASH, 4, 8, 16, 0),
        "array": (MapType.ARRAY, 4, 8, 4, 0),
        "percpu_hash": (MapType.PERCPU_HASH, 4, 8, 16, 0),
        "percpu_array": (MapType.PERCPU_ARRAY, 4, 4, 4, 0),
        "lru_hash": (MapType.LRU_HASH, 4, 8, 16, 0),
        "lru_percpu_hash": (MapType.LRU_PERCPU_HASH, 4, 8, 16, 0),
        "lpm_trie": (MapType.LPM_TRIE, 8, 8, 16, BPF_F_NO_PREALLOC),
        "stack_trace": (MapType.STACK_TRACE, 4, 8 * 127, 16, 0),
        "perf_event_array": (MapType.PERF_EVENT_ARRAY, 4, 4, ncpu, 0),
        "ringbuf": (MapType.RINGBUF, 0, 0, 4 * mmap.PAGESIZE, 0),
        "queue": (MapType.QUEUE, 0, 4, 4, 0),
        "stack": (MapType.STACK, 0, 4, 4, 0),
        "prog_array": (MapType.PROG_ARRAY, 4, 4, 4, 0),
        "array_of_maps": (MapType.ARRAY_OF_MAPS, 4, 4, 4, 0),
        "hash_of_maps": (MapType.HASH_OF_MAPS, 4, 4, 4, 0),
        "devmap": (MapType.DEVMAP, 4, 4, 4, 0),
        "devmap_hash": (MapType.DEVMAP_HASH, 4, 4, 4, 0),
        "cpumap": (MapType.CPUMAP, 4, 4, ncpu, 0),
        "xskmap": (MapType.XSKMAP, 4, 4, 4, 0),
        "sockmap": (MapType.SOCKMAP, 4, 8, 4, 0),
        "sockhash": (MapType.SOCKHASH, 4, 8, 4, 0),
        "cgroup_array": (MapType.CGROUP_ARRAY, 4, 4, 1, 0),
        "cgroup_storage": (MapType.CGROUP_STORAGE, 16, 8, 0, 0),
        "task_storage": (MapType.TASK_STORAGE, 4, 8, 0, BPF_F_NO_PREALLOC),
        "bloom_filter": (MapType.BLOOM_FILTER, 0, 4, 64, 0),
    }
    mtype, ks, vs, n, flags = table[kind]
    extra = {}
    if kind in ("array_of_maps", "hash_of_maps"):
        extra["inner"] = MapSpec("inner", MapType.ARRAY, 4, 8, 2)
    if kind == "task_storage":
        extra.update(btf_key_type_id=1, btf_value_type_id=2)
    args = dict(name=kind[:15], type=mtype, key_size=ks, value_size=vs, max_entries=n, flags=flags)
    args.update(extra)
    args.update(kw)
    return MapSpec(**args)


def _use_hash(m: Map) -> None:
    m.update(u32(1), u64(10))
    assert m.get(u32(1)) == u64(10)
    assert m.get(u32(2)) is None
    assert m.delete(u32(1)) and not m.delete(u32(1))


def _use_array(m: Map) -> None:
    m.update(u32(3), u64(7))
    assert m.get(u32(3)) == u64(7)
    with pytest.raises(SyscallError) as e:
        m.delete(u32(3))
    assert e.value.errno == errno.EINVAL


def _use_percpu(m: Map) -> None:
    ncpu, slot = num_possible_cpus(), 8
    value = b"".join(u64(c + 1)[:slot] for c in range(ncpu))
    m.update(u32(0), value)
    got = m.get(u32(0))
    assert len(got) == slot * ncpu
    assert [struct.unpack_from("<Q", got, c * slot)[0] & (2 ** (8 * m.value_size) - 1)
            for c in range(ncpu)] == list(range(1, ncpu + 1))


def _use_lpm(m: Map) -> None:
    m.update(u32(16) + bytes([10, 1, 0, 0]), u64(16))
    m.update(u32(24) + bytes([10, 1, 2, 0]), u64(24))
    assert m.get(u32(32) + bytes([10, 1, 2, 3])) == u64(24)
    assert m.get(u32(32) + bytes([10, 1, 9, 3])) == u64(16)
    assert m.get(u32(32) + bytes([11, 1, 2, 3])) is None


def _use_stack_trace(m: Map) -> None:
    assert list(m.keys()) == []
    assert m.get(u32(0)) is None


def _use_perf_event_array(m: Map) -> None:
    with perf_output_event(0) as ev:
        m.update(u32(0), u32(ev.fileno()))
        assert m.delete(u32(0))


def _use_ringbuf(m: Map) -> None:
    page = mmap.PAGESIZE
    with mmap.mmap(m.fileno(), page, mmap.MAP_SHARED, mmap.PROT_READ) as cons, \
            mmap.mmap(m.fileno(), page, mmap.MAP_SHARED, mmap.PROT_READ, offset=page) as prod:
        assert struct.unpack_from("<Q", cons)[0] == 0
        assert struct.unpack_from("<Q", prod)[0] == 0


def _use_queue(m: Map) -> None:
    for v in (1, 2, 3):
        m.update(None, u32(v))
    out = ctypes.c_uint()
    assert m.lookup_and_delete(None, out)
    assert out.value == (1 if m.type == MapType.QUEUE else 3)


def _use_prog_array(m: Map) -> None:
    with trivial_prog() as prog:
        m.update(u32(1), u32(prog.fileno()))
        prog_id = syscall.obj_info(prog.fileno(), "prog").id
        assert m.get(u32(1)) == u32(prog_id)
        assert m.delete(u32(1))


def _use_map_in_map(m: Map) -> None:
    with Map.create(MapSpec("inner", MapType.ARRAY, 4, 8, 2)) as inner:
        m.update(u32(1), u32(inner.fileno()))
        assert m.get(u32(1)) == u32(inner.id)
        assert m.delete(u32(1))


def _use_devmap(m: Map) -> None:
    lo = socket.if_nametoindex("lo")
    m.update(u32(1), u32(lo))
    assert m.get(u32(1)) == u32(lo)
    assert m.delete(u32(1))


def _use_cpumap(m: Map) -> None:
    m.update(u32(0), u32(192))
    assert m.get(u32(0)) == u32(192)
    assert m.delete(u32(0))


def _use_xskmap(m: Map) -> None:
    # Only AF_XDP sockets bound to a device queue go in; anything else is refused.
    with udp_socket() as s, pytest.raises(SyscallError) as e:
        m.update(u32(0), u32(s.fileno()))
    assert e.value.errno == errno.EOPNOTSUPP
    m.delete(u32(0))   # xskmap deletes of empty slots succeed


def _use_sockmap(m: Map) -> None:
    with udp_socket() as s:
        m.update(u32(2), u64(s.fileno()))
        cookie = s.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8)
        assert m.get(u32(2)) == cookie
        assert m.delete(u32(2))


def _use_cgroup_array(m: Map) -> None:
    fd = os.open(CGROUP2, os.O_RDONLY | os.O_DIRECTORY)
    try:
        m.update(u32(0), u32(fd))
    finally:
        os.close(fd)
    assert m.delete(u32(0))


def _use_cgroup_storage(m: Map) -> None:
    with cgroup_with_storage(m) as inode:
        key = struct.pack("<QI4x", inode, AttachType.CGROUP_INET_INGRESS)
        assert m.get(key) == u64(0)
        m.update(key, u64(42))
        assert m.get(key) == u64(42)
        assert list(m.keys()) == [key[:12] + bytes(4)]


def _use_task_storage(m: Map) -> None:
    pidfd = os.pidfd_open(os.getpid())
    try:
        m.update(u32(pidfd), u64(99))
        assert m.get(u32(pidfd)) == u64(99)
        assert m.delete(u32(pidfd))
        assert m.get(u32(pidfd)) is None
    finally:
        os.close(pidfd)


def _use_bloom(m: Map) -> None:
    for v in (5, 6):
        m.update(None, u32(v))
    assert m.lookup(None, ctypes.c_uint(5)) and m.lookup(None, ctypes.c_uint(6))


USES = {
    "hash": _use_hash, "lru_hash": _use_hash, "array": _use_array,
    "percpu_hash": _use_percpu, "percpu_array": _use_percpu, "lru_percpu_hash": _use_percpu,
    "lpm_trie": _use_lpm, "stack_trace": _use_stack_trace,
    "perf_event_array": _use_perf_event_array, "ringbuf": _use_ringbuf,
    "queue": _use_queue, "stack": _use_queue, "prog_array": _use_prog_array,
    "array_of_maps": _use_map_in_map, "hash_of_maps": _use_map_in_map,
    "devmap": _use_devmap, "devmap_hash": _use_devmap, "cpumap": _use_cpumap,
    "xskmap": _use_xskmap, "sockmap": _use_sockmap, "sockhash": _use_sockmap,
    "cgroup_array": _use_cgroup_array, "cgroup_storage": _use_cgroup_storage,
    "task_storage": _use_task_storage, "bloom_filter": _use_bloom,
}


@contextlib.contextmanager
def _btf_for(kind: str):
    if kind != "task_storage":
        yield 0
        return
    with tiny_btf() as btf:
        yield btf.fileno()


@pytest.mark.parametrize("kind", sorted(USES))
def test_every_map_type_create_use_pin_reuse(kind, pin_dir):
    path = os.path.join(pin_dir, "sub", kind)
    spec = _spec(kind, pinning=PinMode.PATH, pin_path=path)
    with _btf_for(kind) as btf_fd:
        with Map.create(spec, btf_fd=btf_fd) as m:
            assert (m.type, m.key_size, m.value_size) == (spec.type, spec.key_size, spec.value_size)
            assert m.pinned == path and os.path.exists(path)
            USES[kind](m)
            with Map.create(spec, btf_fd=btf_fd) as again, Map.from_pin(path) as opened, \
                    Map.from_id(m.id) as by_id:
                assert again.id == opened.id == by_id.id == m.id
                assert again.pinned == path
                assert by_id.name == spec.kernel_name
            m.unpin()
        assert not os.path.exists(path)


def test_pin_by_name_under_pin_root(pin_dir):
    spec = _spec("hash", pinning=PinMode.BY_NAME, pin_path=pin_dir)
    with Map.create(spec) as m:
        assert m.pinned == os.path.join(pin_dir, "hash")
        m.update(u32(1), u64(2))
        with Map.create(spec) as again:
            assert again.id == m.id and again.get(u32(1)) == u64(2)   # reused, content kept


def test_pinned_map_that_does_not_match_is_refused(pin_dir):
    path = os.path.join(pin_dir, "h")
    with Map.create(_spec("hash", pinning=PinMode.PATH, pin_path=path)):
        other = _spec("hash", pinning=PinMode.PATH, pin_path=path, max_entries=32)
        with pytest.raises(BPFError, match=r"does not match .*max_entries 16 != 32"):
            Map.create(other)


def test_pin_outside_bpffs_is_refused(root, tmp_path):
    spec = _spec("hash", pinning=PinMode.PATH, pin_path=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="not on a bpf filesystem"):
        Map.create(spec)


def test_pin_path_required(root):
    with pytest.raises(ValueError, match="no pin_path"):
        Map.create(_spec("hash", pinning=PinMode.PATH))


def test_global_data_written_and_frozen(root):
    spec = MapSpec(".rodata", MapType.ARRAY, 4, 12, 1, data=b"hello", freeze=True)
    with Map.create(spec) as m:
        assert m.get(u32(0)) == b"hello" + bytes(7)
        with pytest.raises(PermissionDenied):
            m.update(u32(0), bytes(12))


def test_global_data_larger_than_value_refused(root):
    with pytest.raises(ValueError, match="initial data"):
        Map.create(MapSpec(".data", MapType.ARRAY, 4, 4, 1, data=b"toolong"))


def test_map_in_map_needs_inner_template(root):
    with pytest.raises(ValueError, match="inner map template"):
        Map.create(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2))
    with Map.create(MapSpec("inner", MapType.HASH, 4, 4, 8)) as inner, \
            Map.create(MapSpec("outer", MapType.HASH_OF_MAPS, 4, 4, 2),
                       inner_map_fd=inner.fileno()) as outer:
        outer.update(u32(7), u32(inner.fileno()))
        assert outer.get(u32(7)) == u32(inner.id)


def test_byte_buffers_are_size_checked(root):
    with Map.create(_spec("hash")) as m:
        with pytest.raises(ValueError, match="key is 2 bytes, the map needs 4"):
            m.update(b"ab", u64(1))
        with pytest.raises(ValueError, match="value is 4 bytes"):
            m.update(u32(1), bytearray(4))
        with pytest.raises(TypeError):
            m.update(u32(1), memoryview(u64(1)))


def test_ctypes_and_raw_addresses(root):
    with Map.create(_spec("hash")) as m:
        k, v = ctypes.c_uint(9), ctypes.c_ulonglong(81)
        m.update(k, v)
        out = ctypes.c_ulonglong()
        assert m.lookup(ctypes.addressof(k), ctypes.addressof(out)) and out.value == 81
        buf = bytearray(8)
        assert m.lookup(k, buf) and buf == u64(81)
        nxt = ctypes.c_uint()
        assert m.get_next_key(None, nxt) and nxt.value == 9
        assert not m.get_next_key(nxt, ctypes.c_uint())
        assert list(m.keys()) == [u32(9)]


def test_update_errors_name_the_map_and_flag(root):
    with Map.create(MapSpec("tiny", MapType.HASH, 4, 4, 1)) as m:
        m.update(u32(1), u32(1))
        with pytest.raises(SyscallError, match="'tiny'.*EEXIST"):
            m.update(u32(1), u32(2), uapi.BPF_NOEXIST)
        with pytest.raises(SyscallError, match="E2BIG"):
            m.update(u32(2), u32(2))


def test_close_is_idempotent_and_repr(root):
    m = Map.create(_spec("array"))
    assert "ARRAY" in repr(m) and f"id={m.id}" in repr(m)
    m.close()
    m.close()
    assert m.closed and "closed" in repr(m)
    with pytest.raises(ValueError):
        m.fileno()
