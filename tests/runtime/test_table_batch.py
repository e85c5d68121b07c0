"""Batch reads of whole tables: chunking, the prefetch thread, decoding into ctypes objects."""

from __future__ import annotations

import copy
import ctypes as ct
import errno
import pickle
import threading

import pytest

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
    got = decode((stand_in * 3)(7, 8, 9), 2)       # slicing gives objects, not ints
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
