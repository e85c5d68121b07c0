"""Map semantics in the real kernel, each against a Python model (hypothesis state machines).

Every machine owns one live map, created per example and closed in teardown.
Example counts are modest so the whole file runs in a few seconds.
"""

from __future__ import annotations

import ctypes as ct
import errno
import ipaddress
from collections import deque

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pybpf_dsl.errors import SyscallError
from pybpf_dsl.runtime.cpus import num_possible_cpus
from pybpf_dsl.runtime.maps import Map
from pybpf_dsl.runtime.mapspec import MapSpec
from pybpf_dsl.runtime.tables import table_for
from pybpf_dsl.runtime.uapi import (BPF_ANY, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST,
                                    MapType)

pytestmark = pytest.mark.usefixtures("root")

NCPU = num_possible_cpus()
SETTINGS = settings(max_examples=40, stateful_step_count=30, deadline=None)
keys = st.integers(0, 11)
values = st.integers(0, 2 ** 64 - 1)
flags = st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST])


def _errno_of(fn) -> int:
    try:
        fn()
    except SyscallError as e:
        return e.errno
    return 0


class _MapMachine(RuleBasedStateMachine):
    spec: MapSpec

    def __init__(self):
        super().__init__()
        self.map = Map.create(self.spec)
        self.t = table_for(self.map)

    def teardown(self):
        self.map.close()


# ---------------------------------------------------------------- hash

class HashMachine(_MapMachine):
    """BPF_ANY / BPF_NOEXIST / BPF_EXIST, a full map, delete, batch reads."""

    spec = MapSpec("prop_hash", MapType.HASH, 4, 8, 6)

    def __init__(self):
        super().__init__()
        self.model: dict[int, int] = {}

    @rule(k=keys, v=values, f=flags)
    def update(self, k, v, f):
        err = _errno_of(lambda: self.map.update(ct.c_uint(k), ct.c_ulonglong(v), f))
        present = k in self.model
        if f == BPF_NOEXIST and present:
            assert err == errno.EEXIST
        elif f == BPF_EXIST and not present:
            assert err == errno.ENOENT
        elif not present and len(self.model) == self.spec.max_entries:
            assert err == errno.E2BIG
        else:
            assert err == 0
            self.model[k] = v

    @rule(k=keys)
    def delete(self, k):
        assert self.map.delete(ct.c_uint(k)) == (k in self.model)
        self.model.pop(k, None)

    @rule(k=keys)
    def lookup(self, k):
        got = self.t.get(k)
        assert (got.value if got is not None else None) == self.model.get(k)

    @invariant()
    def contents(self):
        items = {k.value: v.value for k, v in self.t.items()}          # batch
        assert items == self.model
        assert {k.value for k in self.t} == set(self.model)            # get_next_key walk


TestHash = HashMachine.TestCase
TestHash.settings = SETTINGS


# ---------------------------------------------------------------- array

class ArrayMachine(_MapMachine):
    """Every slot exists: NOEXIST always fails, delete is refused, indices are bounded."""

    spec = MapSpec("prop_array", MapType.ARRAY, 4, 8, 5)

    def __init__(self):
        super().__init__()
        self.model = [0] * self.spec.max_entries

    @rule(i=st.integers(0, 7), v=values, f=flags)
    def update(self, i, v, f):
        err = _errno_of(lambda: self.map.update(ct.c_uint(i), ct.c_ulonglong(v), f))
        if i >= len(self.model):
            assert err == errno.E2BIG
        elif f == BPF_NOEXIST:
            assert err == errno.EEXIST
        else:
            assert err == 0
            self.model[i] = v

    @rule(i=st.integers(0, 7))
    def delete(self, i):
        assert _errno_of(lambda: self.map.delete(ct.c_uint(i))) == errno.EINVAL

    @rule(i=st.integers(-7, 7))
    def index(self, i):
        if -len(self.model) <= i < len(self.model):
            assert self.t[i].value == self.model[i]
        else:
            with pytest.raises(IndexError):
                self.t[i]

    @invariant()
    def contents(self):
        assert [v.value for v in self.t.values()] == self.model
        assert [self.t[i].value for i in range(len(self.model))] == self.model


TestArray = ArrayMachine.TestCase
TestArray.settings = SETTINGS


# ---------------------------------------------------------------- per-CPU

class PerCpuMachine(_MapMachine):
    """Per-CPU hash and array: every CPU's slot round-trips; sum and max agree."""

    spec = MapSpec("prop_pcpu", MapType.PERCPU_HASH, 4, 4, 4)
    per_cpu = st.lists(st.integers(0, 2 ** 32 - 1), min_size=NCPU, max_size=NCPU)

    def __init__(self):
        super().__init__()
        self.arr = table_for(Map.create(MapSpec("prop_pcpu_a", MapType.PERCPU_ARRAY, 4, 4, 3)))
        self.model: dict[int, list[int]] = {}
        self.amodel = [[0] * NCPU for _ in range(3)]

    def teardown(self):
        self.arr.map.close()
        super().teardown()

    @rule(k=st.integers(0, 5), vals=per_cpu)
    def update_hash(self, k, vals):
        err = _errno_of(lambda: self.t.__setitem__(k, (ct.c_uint * NCPU)(*vals)))
        if k not in self.model and len(self.model) == self.spec.max_entries:
            assert err == errno.E2BIG
        else:
            assert err == 0
            self.model[k] = vals

    @rule(i=st.integers(0, 2), vals=per_cpu)
    def update_array(self, i, vals):
        self.arr[i] = (ct.c_uint * NCPU)(*vals)
        self.amodel[i] = vals

    @rule(k=st.integers(0, 5))
    def delete(self, k):
        assert self.map.delete(ct.c_uint(k)) == (k in self.model)
        self.model.pop(k, None)

    @invariant()
    def contents(self):
        assert {k.value: list(v) for k, v in self.t.items()} == self.model
        for k, vals in self.model.items():
            assert self.t.sum(k).value == sum(vals) % 2 ** 32
            assert self.t.max(k).value == max(vals)
        assert [list(v) for v in self.arr.values()] == self.amodel


TestPerCpu = PerCpuMachine.TestCase
TestPerCpu.settings = SETTINGS


# ---------------------------------------------------------------- LRU

class LruMachine(_MapMachine):
    """Never more than max_entries; the key just written survives; no stale values."""

    spec = MapSpec("prop_lru", MapType.LRU_HASH, 4, 8, 8)

    def __init__(self):
        super().__init__()
        self.model: dict[int, int] = {}

    @rule(k=st.integers(0, 40), v=values)
    def update(self, k, v):
        self.t[k] = v
        self.model[k] = v
        assert self.t[k].value == v                  # the most recent write is kept

    @rule(k=st.integers(0, 40))
    def touch(self, k):
        got = self.t.get(k)
        if got is not None:
            assert got.value == self.model[k]

    @invariant()
    def bounded_and_consistent(self):
        items = {k.value: v.value for k, v in self.t.items()}
        assert len(items) <= self.spec.max_entries
        assert all(self.model[k] == v for k, v in items.items())   # evicted, never stale


TestLru = LruMachine.TestCase
TestLru.settings = SETTINGS


# ---------------------------------------------------------------- LPM trie

def _lpm_machine(version: int):
    bits = 32 if version == 4 else 128
    nbytes = bits // 8
    base = int(ipaddress.ip_address("10.0.0.0" if version == 4 else "2001:db8::"))
    # Addresses that differ in a few high-ish bits so prefixes overlap often.
    addrs = st.integers(0, 255).map(lambda x: base | (x << (bits - 24)) | x)
    prefixes = st.integers(0, bits)

    class Key(ct.Structure):
        _fields_ = [("prefixlen", ct.c_uint), ("data", ct.c_ubyte * nbytes)]

    def key(plen: int, addr: int) -> Key:
        return Key(plen, (ct.c_ubyte * nbytes)(*addr.to_bytes(nbytes, "big")))

    def masked(plen: int, addr: int) -> int:
        return addr >> (bits - plen) << (bits - plen) if plen else 0

    class LpmMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.map = Map.create(MapSpec(f"prop_lpm{version}", MapType.LPM_TRIE, 4 + nbytes, 8,
                                          64, flags=BPF_F_NO_PREALLOC))
            self.t = table_for(self.map, Key, ct.c_ulonglong)
            self.model: dict[tuple[int, int], int] = {}

        def teardown(self):
            self.map.close()

        @rule(plen=prefixes, addr=addrs, v=values)
        def insert(self, plen, addr, v):
            self.t[key(plen, addr)] = v
            self.model[(plen, masked(plen, addr))] = v

        @rule(plen=prefixes, addr=addrs)
        def delete(self, plen, addr):
            present = (plen, masked(plen, addr)) in self.model
            assert self.map.delete(key(plen, addr)) == present
            self.model.pop((plen, masked(plen, addr)), None)

        @rule(addr=addrs)
        def longest_prefix_match(self, addr):
            best = max((p for p, net in self.model if masked(p, addr) == net), default=None)
            got = self.t.get(key(bits, addr))
            want = self.model[(best, masked(best, addr))] if best is not None else None
            assert (got.value if got is not None else None) == want

        @invariant()
        def keys_match(self):
            got = {(k.prefixlen, masked(k.prefixlen, int.from_bytes(bytes(k.data), "big")))
                   for k in self.t.keys()}
            assert got == set(self.model)

    return LpmMachine


TestLpmIPv4 = _lpm_machine(4).TestCase
TestLpmIPv4.settings = SETTINGS
TestLpmIPv6 = _lpm_machine(6).TestCase
TestLpmIPv6.settings = SETTINGS


# ---------------------------------------------------------------- queue and stack

def _queue_stack_machine(mtype: MapType):
    lifo = mtype == MapType.STACK

    class QueueStackMachine(_MapMachine):
        spec = MapSpec("prop_qs", mtype, 0, 4, 4)

        def __init__(self):
            super().__init__()
            self.model: deque[int] = deque()

        @rule(v=st.integers(0, 2 ** 32 - 1), replace=st.booleans())
        def push(self, v, replace):
            err = _errno_of(lambda: self.t.push(v, BPF_EXIST if replace else 0))
            if len(self.model) == self.spec.max_entries:
                if not replace:
                    assert err == errno.E2BIG
                    return
                self.model.popleft()             # full + BPF_EXIST: the oldest goes
            assert err == 0
            self.model.append(v)

        @rule()
        def pop(self):
            if not self.model:
                with pytest.raises(KeyError):
                    self.t.pop()
                return
            want = self.model.pop() if lifo else self.model.popleft()
            assert self.t.pop().value == want

        @rule()
        def peek(self):
            if not self.model:
                with pytest.raises(KeyError):
                    self.t.peek()
            else:
                assert self.t.peek().value == (self.model[-1] if lifo else self.model[0])

        @precondition(lambda self: len(self.model) > 0)
        @rule()
        def drain(self):
            want = list(reversed(self.model)) if lifo else list(self.model)
            assert [v.value for v in self.t.values()] == want
            self.model.clear()

    return QueueStackMachine


TestQueue = _queue_stack_machine(MapType.QUEUE).TestCase
TestQueue.settings = SETTINGS
TestStack = _queue_stack_machine(MapType.STACK).TestCase
TestStack.settings = SETTINGS


# ---------------------------------------------------------------- bloom filter

class BloomMachine(_MapMachine):
    """No false negatives: everything pushed is always found."""

    spec = MapSpec("prop_bloom", MapType.BLOOM_FILTER, 0, 8, 64)

    def __init__(self):
        super().__init__()
        self.pushed: set[int] = set()

    @rule(v=values)
    def push(self, v):
        self.t.push(v)
        self.pushed.add(v)

    @invariant()
    def no_false_negatives(self):
        assert all(self.t.peek(v) for v in self.pushed)


TestBloom = BloomMachine.TestCase
TestBloom.settings = SETTINGS


# ---------------------------------------------------------------- batches == one by one

class BatchMachine(RuleBasedStateMachine):
    """Batch update/delete/lookup on one map equal the same operations one by one on another."""

    @initialize(mtype=st.sampled_from([MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH]),
                chunk=st.sampled_from([1, 2, 5, 64]))
    def create(self, mtype, chunk):
        self.maps = [Map.create(MapSpec("prop_batch", mtype, 4, 8, 64)) for _ in range(2)]
        self.batched, self.single = (table_for(m) for m in self.maps)
        # Small chunks: many batch calls, the prefetch thread, ENOSPC on shared hash buckets.
        self.batched.batch_chunk = chunk
        self.percpu = mtype == MapType.PERCPU_HASH

    def teardown(self):
        for m in getattr(self, "maps", ()):
            m.close()

    def _leaf(self, table, v):
        return table.Leaf(*([v] * NCPU)) if self.percpu else v

    @rule(kv=st.dictionaries(st.integers(0, 40), st.integers(0, 2 ** 63), min_size=1, max_size=12))
    def update(self, kv):
        ks, vs = list(kv), list(kv.values())
        self.batched.items_update_batch(ks, [self._leaf(self.batched, v) for v in vs])
        for k, v in kv.items():
            self.single[k] = self._leaf(self.single, v)

    @rule(ks=st.lists(st.integers(0, 40), min_size=1, max_size=10, unique=True))
    def delete(self, ks):
        self.batched.items_delete_batch(ks)
        for k in ks:
            self.single.pop(k, None)

    @rule()
    def lookup_and_delete_all(self):
        got = sorted((k.value, list(v) if self.percpu else v.value)
                     for k, v in self.batched.items_lookup_and_delete_batch())
        want = sorted((k.value, list(v) if self.percpu else v.value) for k, v in self.single.iteritems())
        assert got == want
        self.single.clear()

    @invariant()
    def same_contents(self):
        if not hasattr(self, "maps"):
            return
        norm = (lambda v: list(v)) if self.percpu else (lambda v: v.value)
        a = sorted((k.value, norm(v)) for k, v in self.batched.items_lookup_batch()) \
            if len(self.batched) else []
        b = sorted((k.value, norm(self.single[k])) for k in self.single)
        assert a == b
        assert len(self.batched) == len(b) and sorted(k.value for k in self.batched.keys()) == \
            [k for k, _ in b]


TestBatch = BatchMachine.TestCase
TestBatch.settings = SETTINGS
