"""Batch reads of whole tables: chunking, the prefetch thread, decoding into ctypes objects."""

from __future__ import annotations

import copy
import ctypes as ct
import errno
import pickle
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import SyscallError
from pybpf_dsl.runtime.maps import Map
from pybpf_dsl.runtime.mapspec import MapSpec
from pybpf_dsl.runtime.tables import batch, table_for
from pybpf_dsl.runtime.tables.batch import BatchReader
from pybpf_dsl.runtime.tables.elements import batch_decoder
from pybpf_dsl.runtime.uapi import Cmd, MapType


@pytest.fixture
def hash_table(root):
    """hash_table(n_entries, max_entries=None) -> a u32 -> u64 table holding i -> i + 1."""
    maps = []

    def _make(n, max_entries=None):
        m = Map.create(MapSpec("tb", MapType.HASH, 4, 8, max_entries or n))
        maps.append(m)
        t = table_for(m, ct.c_uint, ct.c_ulonglong)
        if n:
            t.items_update_batch(list(range(n)), [i + 1 for i in range(n)])
        return t
    yield _make
    for m in maps:
        m.close()


def _prefetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bpf-batch-prefetch"]


# ---------------------------------------------------------------- element types

def test_plain_simple_types_read_through_a_stand_in():
    stand_in, decode = batch_decoder(ct.c_uint)
    assert stand_in is batch_decoder(ct.c_uint)[0] and issubclass(stand_in, ct.c_uint)
    got = decode((stand_in * 3)(7, 8, 9), 0, 2)    # slicing gives objects, not ints
    assert [type(x) for x in got] == [stand_in, stand_in]
    k = got[0]
    assert isinstance(k, ct.c_uint) and k.value == 7 and repr(k) == "c_uint(7)"
    for clone in (pickle.loads(pickle.dumps(k)), copy.copy(k), copy.deepcopy(k)):
        assert type(clone) is ct.c_uint and clone.value == 7


def test_other_types_are_their_own_batch_elements():
    class S(ct.Structure):
        _fields_ = [("a", ct.c_uint)]

    class Pid(ct.c_uint):
        pass
    for t in (S, Pid, ct.c_ubyte * 4, ct.c_uint.__ctype_be__):
        assert batch_decoder(t)[0] is t


# ---------------------------------------------------------------- tables

def test_items_keep_their_values_after_later_reads(hash_table):
    t = hash_table(300)
    t.batch_chunk = 16
    first = t.items()
    t.clear()
    t.items_update_batch([1], [99])
    assert t.items()[0][1].value == 99
    assert sorted((k.value, v.value) for k, v in first) == [(i, i + 1) for i in range(300)]


def test_big_endian_keys_decode_by_value(root):
    be32 = ct.c_uint32.__ctype_be__
    with Map.create(MapSpec("tb", MapType.HASH, 4, 2, 4)) as m:
        t = table_for(m, be32, ct.c_uint16)
        t[be32(0x01020304)] = 5
        (k, v), = t.items()
        assert k.value == 0x01020304 and bytes(k) == b"\x01\x02\x03\x04" and v.value == 5
        assert [x.value for x in t.keys()] == [0x01020304]


def test_len_keys_values_and_zero_across_chunks(hash_table):
    t = hash_table(1000)
    t.batch_chunk = 64
    assert len(t) == 1000
    assert sorted(k.value for k in t.keys()) == list(range(1000))
    assert sorted(v.value for v in t.values()) == list(range(1, 1001))
    t.zero()
    assert {v.value for v in t.values()} == {0} and len(t) == 1000


def test_small_maps_are_read_without_a_thread(hash_table, monkeypatch):
    t = hash_table(100)

    def no_threads(*a, **kw):
        raise AssertionError("a one-chunk read started a thread")
    monkeypatch.setattr(threading, "Thread", no_threads)
    assert len(t.items()) == 100


# ---------------------------------------------------------------- the reader

def test_reader_grows_the_chunk_when_a_bucket_does_not_fit(hash_table):
    t = hash_table(64)
    reader = BatchReader(t.map, Cmd.MAP_LOOKUP_BATCH, ct.c_uint, ct.c_ulonglong, chunk=1)
    got = sorted(k for c in reader for k in c.keys[:c.count])
    assert got == list(range(64)) and reader.size > 1      # 64 keys in 64 buckets collide


def test_reader_that_stops_early_stops_its_prefetch_thread(hash_table):
    t = hash_table(512)
    it = iter(BatchReader(t.map, Cmd.MAP_LOOKUP_AND_DELETE_BATCH, ct.c_uint, ct.c_ulonglong,
                          chunk=8))
    first = next(it)
    assert first.count and not first.finished
    next(it)                                   # the prefetched chunk
    it.close()
    for thread in _prefetchers():
        thread.join(5)
    assert not _prefetchers()
    assert len(t) < 512                        # what was read is gone, the rest may remain


class _FailingMap:
    """Answers the first batch call, then fails like a map closed under the reader."""

    max_entries, key_size = 100, 4

    def __init__(self):
        self.calls = 0

    def batch(self, cmd, keys, values, count, *, in_batch=None, out_batch=None):
        self.calls += 1
        if self.calls > 1:
            raise SyscallError("BPF_MAP_LOOKUP_BATCH", errno.EBADF)
        return count, False


def test_prefetch_errors_reach_the_reader():
    it = iter(BatchReader(_FailingMap(), Cmd.MAP_LOOKUP_BATCH, ct.c_uint, ct.c_uint, chunk=10))
    assert next(it).count == 10
    with pytest.raises(SyscallError, match="EBADF"):
        next(it)


def test_first_refusal_means_unsupported():
    class Refusing(_FailingMap):
        def batch(self, *a, **kw):
            raise SyscallError("BPF_MAP_LOOKUP_BATCH", errno.EINVAL)
    with pytest.raises(batch.BatchUnsupported):
        next(iter(BatchReader(Refusing(), Cmd.MAP_LOOKUP_BATCH, ct.c_uint, ct.c_uint)))


def test_read_entries_work_as_keys_again(hash_table, root):
    t = hash_table(50)
    for k, v in t.items():
        assert t[k].value == v.value == k.value + 1
        if k.value % 2:
            del t[k]
    assert len(t) == 25
    with Map.create(MapSpec("tb", MapType.ARRAY, 4, 8, 4)) as m:
        arr = table_for(m)
        arr[3] = 7
        k, v = arr.items()[3]
        assert arr[k].value == 7 and arr.fileno() == m.fileno()


# ---------------------------------------------------------------- one-pass reads (bpf_for_each_map_elem)

SLOTS = 32768


class _Key6(ct.Structure):
    _fields_ = [("a", ct.c_uint), ("b", ct.c_ushort)]


class _Val13(ct.Structure):
    _pack_ = 1
    _fields_ = [("x", ct.c_ulonglong), ("y", ct.c_uint), ("z", ct.c_ubyte)]


def _expect_full(t):
    """Make the table expect a full map, so whole-map reads take the one-pass path."""
    t._seen = t.max_entries


@pytest.mark.parametrize("mtype", [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY])
def test_one_pass_read_matches_batch_read(root, mtype):
    from pybpf_dsl.runtime.tables.dump import pays_off
    with Map.create(MapSpec("tdump", mtype, 4, 8, SLOTS)) as m:
        t = table_for(m, ct.c_uint, ct.c_ulonglong)
        n = SLOTS * 3 // 4
        t.items_update_batch([i * 5 // 4 for i in range(n)], [i * 7 + 1 for i in range(n)])
        assert pays_off(m, n) and pays_off(m, n, copy=False)
        got = (t.items(), t.keys(), t.values(), len(t))
        assert t._dump_ok  # the walker loaded: the one-pass path served these reads
        t._dump_ok = False
        want = (t.items(), t.keys(), t.values(), len(t))
    assert [(k.value, v.value) for k, v in got[0]] == [(k.value, v.value) for k, v in want[0]]
    assert [k.value for k in got[1]] == [k.value for k in want[1]]
    assert [v.value for v in got[2]] == [v.value for v in want[2]]
    assert got[3] == want[3]
    assert type(got[0][0][0]).__mro__[1] is ct.c_uint and isinstance(got[0][0][1], ct.c_ulonglong)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1)),
                               st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255)),
                               max_size=200))
def test_one_pass_read_of_odd_sized_records_is_a_model_dict(root, entries):
    with Map.create(MapSpec("tdump", MapType.HASH, ct.sizeof(_Key6), ct.sizeof(_Val13), SLOTS)) as m:
        t = table_for(m, _Key6, _Val13)
        for (a, b), (x, y, z) in entries.items():
            t[_Key6(a, b)] = _Val13(x, y, z)
        _expect_full(t)
        items = t.items()
        _expect_full(t)
        assert len(t) == len(entries)
        assert t._dump_ok
        t.clear()  # the entries read stay valid without the map
    assert {(k.a, k.b): (v.x, v.y, v.z) for k, v in items} == entries
    assert all(type(k) is _Key6 and type(v) is _Val13 for k, v in items)
    if items:
        items[0][1].x ^= 1  # each entry is its own object
        assert all(v.x == entries[(k.a, k.b)][0] for k, v in items[1:])


def test_dump_layout_and_count(root):
    """dump(): n keys, then n values.  (The per-test fd check of conftest proves the
    walker's program, BTF and map are closed again.)"""
    from pybpf_dsl.runtime.tables.dump import count, dump
    with Map.create(MapSpec("tdump", MapType.HASH, 4, 2, SLOTS)) as m:
        assert count(m) == 0 and dump(m)[1] == 0
        for k in (5, 7):
            m.update(ct.c_uint(k), ct.c_ushort(k + 1))
        buf, n = dump(m)
        assert (n, count(m), len(buf)) == (2, 2, 2 * 6)
        keys = sorted((ct.c_uint * 2).from_buffer(buf))
        assert keys == [5, 7] and sorted((ct.c_ushort * 2).from_buffer(buf, 8)) == [6, 8]


def test_which_maps_the_walker_serves():
    from pybpf_dsl.runtime.tables.dump import dumpable, pays_off

    class M:  # only the attributes dumpable() and pays_off() read
        def __init__(self, type, key_size=4, value_size=8, max_entries=SLOTS):
            self.type, self.key_size, self.value_size, self.max_entries = type, key_size, value_size, max_entries
    assert dumpable(M(MapType.HASH)) and dumpable(M(MapType.ARRAY))
    assert not dumpable(M(MapType.PERCPU_HASH))                          # one CPU's value only
    assert not dumpable(M(MapType.HASH, value_size=1024))                # too long to copy inline
    assert not dumpable(M(MapType.HASH, value_size=256, max_entries=1 << 21))  # past the verifier's offsets
    # Dense maps pay off, sparse ones (the walk visits every bucket) and small ones (setup) do not.
    assert pays_off(M(MapType.HASH, max_entries=100_000), 100_000)
    assert not pays_off(M(MapType.HASH, max_entries=1 << 20), 10)
    assert not pays_off(M(MapType.HASH, max_entries=1 << 20), 10, copy=False)
    assert not pays_off(M(MapType.HASH, max_entries=1024), 1024)
    assert pays_off(M(MapType.HASH, max_entries=1 << 20), 1 << 19, copy=False)


def test_table_follows_the_count_it_saw(root):
    with Map.create(MapSpec("tdump", MapType.HASH, 4, 4, 1 << 18)) as m:
        t = table_for(m, ct.c_uint, ct.c_uint)
        assert t._seen is None and t._one_pass(copy=True)   # before any read: half full, dense enough
        t.items_update_batch(list(range(10)), list(range(10)))
        assert len(t.items()) == 10 and t._seen == 10
        assert not t._one_pass(copy=True) and not t._one_pass(copy=False)   # 10 entries: batches


def test_map_the_kernel_will_not_let_the_walker_read_falls_back_to_batch(root):
    from pybpf_dsl.runtime.uapi import BPF_F_WRONLY_PROG
    with Map.create(MapSpec("tdump", MapType.HASH, 4, 8, SLOTS, flags=BPF_F_WRONLY_PROG)) as m:
        t = table_for(m, ct.c_uint, ct.c_ulonglong)
        t.items_update_batch([1, 2], [10, 20])
        _expect_full(t)
        assert sorted((k.value, v.value) for k, v in t.items()) == [(1, 10), (2, 20)]
        assert not t._dump_ok  # the verifier refused to read values: batch reads from now on
        assert len(t) == 2
