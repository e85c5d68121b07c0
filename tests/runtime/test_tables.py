"""bcc's table API over live maps, in the real kernel."""

from __future__ import annotations

import ctypes as ct
import os
import socket

import pytest

from buffer_producers import counter_map, perf_producer, ringbuf_producer, run
from test_maps import CGROUP2, load_prog, tiny_btf, trivial_prog, udp_socket

from pybpf_dsl.errors import MapFullError, SyscallError
from pybpf_dsl.runtime import asm, syscall, tables
from pybpf_dsl.runtime.cpus import num_possible_cpus
from pybpf_dsl.runtime.maps import Map
from pybpf_dsl.runtime.mapspec import MapSpec
from pybpf_dsl.runtime.tables import table_for
from pybpf_dsl.runtime.uapi import BPF_F_NO_PREALLOC, Cmd, MapType, ProgType

GET_STACKID = 27
NCPU = num_possible_cpus()


@pytest.fixture
def make(root):
    """make(type, key_size, value_size, max_entries, **table_kw) -> table; closes the maps."""
    maps = []

    def _make(mtype, ks, vs, n, *, flags=0, key_type=None, leaf_type=None, reducer=None,
              owner=None, **spec_kw):
        m = Map.create(MapSpec("t", mtype, ks, vs, n, flags=flags, **spec_kw))
        maps.append(m)
        return table_for(m, key_type, leaf_type, reducer=reducer, owner=owner)
    yield _make
    for m in maps:
        m.close()


class Owner:
    """What a front end's loaded program object offers the buffer tables."""

    def __init__(self):
        self.perf_buffers = {}
        self.ring_buffer = None


# ---------------------------------------------------------------- class choice

@pytest.mark.parametrize("mtype,ks,vs,n,flags,cls", [
    (MapType.HASH, 4, 8, 4, 0, tables.HashTable),
    (MapType.ARRAY, 4, 8, 4, 0, tables.Array),
    (MapType.PROG_ARRAY, 4, 4, 4, 0, tables.ProgArray),
    (MapType.PERF_EVENT_ARRAY, 4, 4, 2, 0, tables.PerfEventArray),
    (MapType.PERCPU_HASH, 4, 8, 4, 0, tables.PerCpuHash),
    (MapType.PERCPU_ARRAY, 4, 8, 4, 0, tables.PerCpuArray),
    (MapType.LPM_TRIE, 8, 8, 4, BPF_F_NO_PREALLOC, tables.LpmTrie),
    (MapType.STACK_TRACE, 4, 8 * 127, 4, 0, tables.StackTrace),
    (MapType.LRU_HASH, 4, 8, 4, 0, tables.LruHash),
    (MapType.LRU_PERCPU_HASH, 4, 8, 4, 0, tables.LruPerCpuHash),
    (MapType.CGROUP_ARRAY, 4, 4, 1, 0, tables.CgroupArray),
    (MapType.DEVMAP, 4, 4, 4, 0, tables.DevMap),
    (MapType.DEVMAP_HASH, 4, 4, 4, 0, tables.DevMapHash),
    (MapType.CPUMAP, 4, 4, 1, 0, tables.CpuMap),
    (MapType.XSKMAP, 4, 4, 1, 0, tables.XskMap),
    (MapType.QUEUE, 0, 4, 4, 0, tables.QueueStack),
    (MapType.STACK, 0, 4, 4, 0, tables.QueueStack),
    (MapType.RINGBUF, 0, 0, 4096, 0, tables.RingBuf),
    (MapType.SOCKMAP, 4, 8, 4, 0, tables.SockMap),
    (MapType.SOCKHASH, 4, 8, 4, 0, tables.SockHash),
    (MapType.BLOOM_FILTER, 0, 4, 4, 0, tables.BloomFilter),
])
def test_table_class_by_map_type(make, mtype, ks, vs, n, flags, cls):
    t = make(mtype, ks, vs, n, flags=flags)
    assert type(t) is cls
    assert t.get_fd() == t.map_fd and t.max_entries == n and t.ttype == mtype


def test_key_and_leaf_sizes_are_checked(make):
    with pytest.raises(ValueError, match="key type c_ushort is 2 bytes, the map's key is 4"):
        make(MapType.HASH, 4, 8, 4, key_type=ct.c_ushort)


def test_default_types_follow_sizes(make):
    t = make(MapType.HASH, 2, 16, 4)
    assert t.Key is ct.c_ushort and t.Leaf == ct.c_ubyte * 16


# ---------------------------------------------------------------- hash

def test_hash_mapping_protocol(make):
    t = make(MapType.HASH, 4, 8, 8, key_type=ct.c_uint, leaf_type=ct.c_ulonglong)
    t[1] = ct.c_ulonglong(10)
    t[ct.c_uint(2)] = 20                      # ints where Key/Leaf are expected
    assert t[1].value == 10 and t[2].value == 20
    assert len(t) == 2 and 1 in t and 3 not in t
    with pytest.raises(KeyError):
        t[3]
    with pytest.raises(KeyError):
        del t[3]
    assert sorted(k.value for k in t) == [1, 2]
    assert sorted((k.value, v.value) for k, v in t.items()) == [(1, 10), (2, 20)]
    assert sorted(v.value for v in t.values()) == [10, 20]
    assert isinstance(t.keys(), list) and isinstance(t.items()[0][0], ct.c_uint)
    first = t.next(None)
    assert t.next(first).value in (1, 2)
    t.zero()
    assert [v.value for v in t.values()] == [0, 0]
    del t[1]
    assert [k.value for k in t.keys()] == [2]
    t.clear()
    assert len(t) == 0 and t.items() == []


def test_hash_full_raises_map_full(make):
    t = make(MapType.HASH, 4, 4, 2)
    t[1], t[2] = 1, 2
    with pytest.raises(MapFullError, match="E2BIG"):
        t[3] = 3


def test_struct_keys_and_text_forms(make):
    class Key(ct.Structure):
        _fields_ = [("pid", ct.c_uint), ("comm", ct.c_char * 8), ("cpu", ct.c_ushort * 2)]

    class Leaf(ct.Structure):
        _fields_ = [("count", ct.c_ulonglong), ("neg", ct.c_int)]
    t = make(MapType.HASH, ct.sizeof(Key), ct.sizeof(Leaf), 8, key_type=Key, leaf_type=Leaf)
    k = Key(42, b"bash", (ct.c_ushort * 2)(1, 2))
    t[k] = Leaf(7, -1)
    (got_k, got_v), = t.items()
    assert (got_k.pid, got_k.comm, list(got_k.cpu)) == (42, b"bash", [1, 2])
    assert (got_v.count, got_v.neg) == (7, -1)
    assert t.key_sprintf(k) == b'{ 0x2a "bash" [ 0x1 0x2 ] }'
    assert t.leaf_sprintf(got_v) == b"{ 0x7 0xffffffff }"
    back = t.key_scanf(b'{ 42 "bash" [ 0x1 02 ] }')
    assert bytes(back) == bytes(k)
    assert t.leaf_scanf("{ 0x7 -1 }").neg == -1
    with pytest.raises(ValueError):
        t.key_scanf("{ 1 }")


def test_batch_calls(make):
    t = make(MapType.HASH, 4, 8, 64, key_type=ct.c_uint, leaf_type=ct.c_ulonglong)
    keys = (ct.c_uint * 10)(*range(10))
    vals = (ct.c_ulonglong * 10)(*(i * i for i in range(10)))
    t.items_update_batch(keys, vals)
    assert sorted((k.value, v.value) for k, v in t.items_lookup_batch()) == \
        [(i, i * i) for i in range(10)]
    t.items_delete_batch((ct.c_uint * 3)(0, 1, 2))
    t.items_delete_batch([3, 4])                        # plain sequences too
    assert sorted(k.value for k in t.keys()) == [5, 6, 7, 8, 9]
    got = sorted((k.value, v.value) for k, v in t.items_lookup_and_delete_batch())
    assert got == [(i, i * i) for i in range(5, 10)] and len(t) == 0
    t.items_update_batch([1, 2], [3, 4])
    t.items_delete_batch()
    assert len(t) == 0
    with pytest.raises(ValueError, match="keys array length != values array length"):
        t.items_update_batch([1, 2], [3])
    with pytest.raises(ValueError, match="need 1..64"):
        t.items_update_batch([], [])


def test_large_hash_crosses_batch_chunks(make):
    n = 3 * 8192 + 17
    t = make(MapType.HASH, 4, 8, n, key_type=ct.c_uint, leaf_type=ct.c_ulonglong)
    t.items_update_batch(list(range(n)), [i + 1 for i in range(n)])
    items = t.items()
    assert len(items) == n and all(v.value == k.value + 1 for k, v in items)
    t.clear()
    assert t.keys() == []


def test_fallback_without_batch_commands_gives_the_same_answers(make):
    t = make(MapType.HASH, 4, 8, 64, key_type=ct.c_uint, leaf_type=ct.c_ulonglong)
    for i in range(20):
        t[i] = i * 3
    batched = sorted((k.value, v.value) for k, v in t.items())
    t._no_batch = set(Cmd)
    assert sorted((k.value, v.value) for k, v in t.items()) == batched
    assert sorted(v.value for v in t.values()) == sorted(v for _, v in batched)
    t.items_update_batch([100], [1])
    assert t[100].value == 1
    t.clear()
    assert len(t) == 0


def test_lru_hash_evicts(make):
    t = make(MapType.LRU_HASH, 4, 8, 64)
    for i in range(200):
        t[i] = i
    assert 0 < len(t) <= 64 and 199 in t


# ---------------------------------------------------------------- arrays

def test_array_semantics(make):
    t = make(MapType.ARRAY, 4, 8, 4)
    assert len(t) == 4 and [k.value for k in t.keys()] == [0, 1, 2, 3]
    t[0], t[-1] = 5, 9
    assert t[3].value == 9 and t[-4].value == 5
    with pytest.raises(IndexError, match="out of range"):
        t[4]
    with pytest.raises(IndexError):
        t[-5] = 1
    with pytest.raises(IndexError, match="integer type"):
        t["x"]
    del t[0]                                  # arrays cannot delete: the slot is zeroed
    assert t[0].value == 0
    assert [v.value for v in t.values()] == [0, 0, 0, 9]
    assert [(k.value, v.value) for k, v in t.items()] == [(0, 0), (1, 0), (2, 0), (3, 9)]
    t.clear()
    assert [v.value for v in t.values()] == [0] * 4


def test_percpu_values(make):
    t = make(MapType.PERCPU_ARRAY, 4, 4, 2, leaf_type=ct.c_uint)
    assert t.Leaf == ct.c_uint64 * NCPU and t.sLeaf is ct.c_uint   # 4-byte values widened
    t[0] = t.Leaf(*range(1, NCPU + 1))
    vals = t[0]
    assert isinstance(vals, ct.c_uint * NCPU) and list(vals) == list(range(1, NCPU + 1))
    assert t.sum(0).value == NCPU * (NCPU + 1) // 2
    assert t.max(0).value == NCPU
    assert t.average(0) == (NCPU + 1) / 2
    assert [list(v) for v in t.values()] == [list(range(1, NCPU + 1)), [0] * NCPU]
    del t[0]
    assert list(t[0]) == [0] * NCPU


def test_percpu_hash_reducer_and_signed_widening(make):
    t = make(MapType.PERCPU_HASH, 4, 4, 4, leaf_type=ct.c_int, reducer=lambda a, b: a + b)
    t[1] = (ct.c_int * NCPU)(*([-2] * NCPU))         # declared-type arrays are widened
    assert t[1] == -2 * NCPU
    assert list(t.getvalue(1)) == [-2] * NCPU
    assert [(k.value, v) for k, v in t.items()] == [(1, -2 * NCPU)]


def test_percpu_unaligned_struct_leaf(make):
    class Leaf(ct.Structure):
        _fields_ = [("a", ct.c_ushort), ("b", ct.c_ubyte)]
    t = make(MapType.LRU_PERCPU_HASH, 4, ct.sizeof(Leaf), 4, leaf_type=Leaf)
    t[1] = (Leaf * NCPU)(*[Leaf(i, 1) for i in range(NCPU)])
    assert [(v.a, v.b) for v in t[1]] == [(i, 1) for i in range(NCPU)]
    with pytest.raises(IndexError, match="integer type"):
        t.sum(1)


def test_prog_array_and_map_in_map(make):
    pa = make(MapType.PROG_ARRAY, 4, 4, 4)
    with trivial_prog() as prog:
        pa[2] = prog
        assert pa[2].value == syscall.obj_info(prog.fileno(), "prog").id
        assert [k.value for k, _ in pa.items()] == [2]
    pa.clear()
    assert pa.items() == []
    outer = make(MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=MapSpec("in", MapType.HASH, 4, 4, 2))
    inner = make(MapType.HASH, 4, 4, 2)
    outer[1] = inner                                  # a table, a Map or an fd
    assert outer[1].value == inner.map_id
    hom = make(MapType.HASH_OF_MAPS, 4, 4, 2, inner=MapSpec("in", MapType.HASH, 4, 4, 2))
    hom[7] = inner.map
    assert [(k.value, v.value) for k, v in hom.items()] == [(7, inner.map_id)]


def test_cgroup_array_sock_map_devmap(make):
    cg = make(MapType.CGROUP_ARRAY, 4, 4, 1)
    cg[0] = CGROUP2
    with pytest.raises(TypeError):
        cg[0] = 1.5
    sm = make(MapType.SOCKMAP, 4, 8, 2)
    sh = make(MapType.SOCKHASH, 4, 8, 2)
    with udp_socket() as s:
        sm[0] = s
        sh[99] = s.fileno()
        cookie = int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 57, 8), "little")
        assert sm[0].value == cookie and sh[99].value == cookie
    dm = make(MapType.DEVMAP_HASH, 4, 4, 2)
    dm[5] = socket.if_nametoindex("lo")
    assert dm[5].value == socket.if_nametoindex("lo")


def test_lpm_trie(make):
    t = make(MapType.LPM_TRIE, 8, 8, 16, flags=BPF_F_NO_PREALLOC)
    k = t.Key(24, (ct.c_ubyte * 4)(192, 168, 1, 0))
    t[k] = 1
    assert t[t.Key(32, (ct.c_ubyte * 4)(192, 168, 1, 77))].value == 1
    with pytest.raises(NotImplementedError):
        len(t)
    assert [(key.prefixlen, bytes(key.data)) for key in t.keys()] == [(24, bytes([192, 168, 1, 0]))]
    t.clear()
    assert t.items() == []


def test_stack_trace_walk(make):
    t = make(MapType.STACK_TRACE, 4, 8 * 127, 16)
    prog = load_prog(ProgType.RAW_TRACEPOINT, [
        asm.ld_map_fd(asm.R2, t.map_fd), asm.mov64_imm(asm.R3, 0), asm.call(GET_STACKID),
        asm.exit_()])
    with prog:
        stack_id = syscall.prog_test_run(prog.fileno(), repeat=0).retval
    assert 0 <= stack_id < 16
    frames = list(t.walk(stack_id))
    assert frames and all(f > 0xffff000000000000 for f in frames)   # kernel addresses
    assert list(t.walk(stack_id, resolve=hex)) == [hex(f) for f in frames]
    assert len(t) == 1
    with pytest.raises(KeyError):
        t.walk((stack_id + 1) % 16)
    t.clear()                                   # bcc: a no-op, stack ids stay valid
    assert len(t) == 1


def test_queue_and_stack(make):
    q = make(MapType.QUEUE, 0, 4, 3)
    for v in (1, 2, 3):
        q.push(v)
    with pytest.raises(MapFullError):
        q.push(4)
    q.push(ct.c_uint(4), flags=q.BPF_EXIST)     # full: drops the oldest
    assert q.peek().value == 2
    assert [v.value for v in q.values()] == [2, 3, 4]
    with pytest.raises(KeyError):
        q.pop()
    with pytest.raises(KeyError):
        q.peek()
    s = make(MapType.STACK, 0, 4, 3)
    for v in (1, 2):
        s.push(v)
    assert s.pop().value == 2 and s.leaf_sprintf(s.peek()) == b"0x1"


def test_bloom_filter(make):
    b = make(MapType.BLOOM_FILTER, 0, 4, 32)
    b.push(10)
    assert b.peek(10) and 10 in b


def test_task_storage_by_pidfd(make):
    with tiny_btf() as btf:
        m = Map.create(MapSpec("ts", MapType.TASK_STORAGE, 4, 8, 0, flags=BPF_F_NO_PREALLOC,
                               btf_key_type_id=1, btf_value_type_id=2), btf_fd=btf.fileno())
    with m:
        t = table_for(m)
        assert type(t) is tables.LocalStorage
        pidfd = os.pidfd_open(os.getpid())
        try:
            t[pidfd] = 5
            assert t[pidfd].value == 5
            del t[pidfd]
            assert pidfd not in t
        finally:
            os.close(pidfd)
        with pytest.raises(TypeError, match="cannot be walked"):
            t.items()


# ---------------------------------------------------------------- buffers

class Event(ct.Structure):
    _fields_ = [("seq", ct.c_ulonglong), ("next", ct.c_ulonglong)]


def test_perf_event_array_open_perf_buffer(make):
    owner = Owner()
    t = make(MapType.PERF_EVENT_ARRAY, 4, 4, NCPU, owner=owner)
    t.event_type = Event
    got = []
    with pytest.raises(ValueError, match="power of two"):
        t.open_perf_buffer(lambda *a: None, page_cnt=3)
    buf = t.open_perf_buffer(lambda cpu, data, size: got.append((size, t.event(data).seq)))
    assert owner.perf_buffers[t.name] is buf
    with counter_map() as counter, perf_producer(t.map_fd, counter.fileno(), 16) as prog:
        run(prog, 3)
    deadline = 50
    while len(got) < 3 and deadline:
        buf.poll(100)
        deadline -= 1
    assert [seq for _, seq in got] == [1, 2, 3]     # perf pads raw samples: size >= 16
    assert all(size >= 16 for size, _ in got)
    t.close()
    assert owner.perf_buffers == {} and buf.closed


def test_ring_buffer_open_ring_buffer(make):
    owner = Owner()
    t = make(MapType.RINGBUF, 0, 0, 4096, owner=owner)
    t.event_type = Event
    got = []
    t.open_ring_buffer(lambda ctx, data, size: got.append((ctx, t.event(data).seq)), ctx="c")
    assert owner.ring_buffer is t.ring_buffer and len(t) == 0
    with counter_map() as counter, ringbuf_producer(t.map_fd, counter.fileno(), 16) as prog:
        run(prog, 2)
    owner.ring_buffer.poll(1000)
    assert got == [("c", 1), ("c", 2)]
    owner.ring_buffer.close()


def test_event_without_type_says_what_to_do(make):
    t = make(MapType.RINGBUF, 0, 0, 4096)
    with pytest.raises(TypeError, match="ctypes.cast"):
        t.event(0)


def test_open_perf_event_counters(make):
    from pybpf_dsl.runtime.uapi import PerfSwConfig, PerfType
    t = make(MapType.PERF_EVENT_ARRAY, 4, 4, NCPU)
    t.open_perf_event(PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK)
    assert len(t._events) >= 1
    t.close()
    assert t._events == {}


def test_update_failure_is_a_syscall_error(make):
    t = make(MapType.ARRAY, 4, 4, 2)
    with pytest.raises(SyscallError):
        t.map.update(ct.c_uint(0), ct.c_uint(1), 99)
