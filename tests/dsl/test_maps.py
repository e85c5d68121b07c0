"""Map operations in the kernel agree with the CPython model, op by op, on hypothesis sequences."""

import ctypes
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl.decorators import bpf_function, raw_tracepoint
from pybpf_dsl.lower import compile_programs
from pybpf_dsl.maps import ArrayMap, BloomFilter, HashMap, Histogram, LruHash, PerCpuArray, Queue, Stack
from pybpf_dsl.runtime.loader import load_object
from pybpf_dsl.types import Ptr, Struct, s8, s16, s64, u8, u16, u32, u64

from .harness import entry_program


class Pair(Struct):
    hits: u32
    total: u64


counts = HashMap[u32, u64](max_entries=8)
pairs = HashMap[u16, Pair](max_entries=16)
slots = ArrayMap[u64](max_entries=4)
fifo = Queue[u32](max_entries=4)
lifo = Stack[u32](max_entries=4)
seen = BloomFilter[u32](max_entries=64)
hist = Histogram()


@bpf_function
def hash_op(op: u8, k: u32, v: u64) -> s64:
    if op == 0:
        counts[k] = v
        return 0
    elif op == 1:
        return counts.insert(k, v)
    elif op == 2:
        return counts.delete(k)
    elif op == 3:
        counts[k] += v
        return 0
    elif op == 4:
        p = counts.lookup(k)
        if p:
            p[0] += 1
            return 1
        return 0
    elif op == 5:
        counts.increment(k)
        return 0
    elif op == 6:
        del counts[k]
        return 0
    return s64(counts[k])


@bpf_function
def struct_op(op: u8, k: u16, v: u64) -> s64:
    if op == 0:
        p = pairs.lookup(k)
        if p:
            p.hits += 1
            p.total += v
            return 1
        fresh = Pair()
        fresh.hits = 1
        fresh.total = v
        return pairs.update(k, fresh)
    elif op == 1:
        got = pairs[k]
        return got.hits * 1000 + got.total
    return pairs.delete(k)


@bpf_function
def array_op(op: u8, k: u32, v: u64) -> s64:
    if op == 0:
        slots[k] = v
        return 0
    elif op == 1:
        slots[k] -= v
        return 0
    elif op == 2:
        return slots.insert(k, v)
    elif op == 3:
        p = slots.lookup(k)
        if p:
            return s64(p[0])
        return -1
    return s64(slots[k])


@bpf_function
def queue_op(op: u8, k: u32, v: u64) -> s64:
    out: u32 = 0
    if op == 0:
        return fifo.push(k, v & 2)
    elif op == 1:
        r = fifo.pop(out)
        return r * 10000000000 + out
    elif op == 2:
        r = fifo.peek(out)
        return r * 10000000000 + out
    elif op == 3:
        return lifo.push(k, v & 2)
    elif op == 4:
        r = lifo.pop(out)
        return r * 10000000000 + out
    r = lifo.peek(out)
    return r * 10000000000 + out


narrow = HashMap[s8, s16](max_entries=8)
wide_keys = HashMap[u64, u8](max_entries=8)


@bpf_function
def narrow_op(op: u8, k: u32, v: u64) -> s64:
    nk = s8(k) - 6
    wk = u64(k) << 60 | 5
    if op == 0:
        narrow[nk] = v
    elif op == 1:
        narrow[nk] += v                  # 16-bit values: a plain read-modify-write
    elif op == 2:
        return narrow[nk]
    elif op == 3:
        wide_keys[wk] = v
    elif op == 4:
        wide_keys[wk] -= v
    elif op == 5:
        return wide_keys[wk]
    else:
        return wide_keys.delete(wk) + narrow.delete(nk)
    return 0


@bpf_function
def misc_op(op: u8, k: u32, v: u64) -> s64:
    hist.record(v)
    return 0


class RawArgs(Struct):
    op: u64
    k: u64


@raw_tracepoint("sys_enter")
def bloom_prog(ctx: Ptr[RawArgs]) -> int:
    if ctx.op == 0:
        return seen.push(u32(ctx.k)) + 100
    return seen.contains(u32(ctx.k))


class Runner:
    """One op function loaded in the kernel: run(op, k, v) -> result, maps by name."""

    def __init__(self, fn):
        self.fn = fn
        self.coll = load_object(compile_programs(entry_program(fn)).elf)
        self.prog = self.coll.programs["entry"]

    def __call__(self, *args):
        ctx = bytearray(struct.pack("<4Q", *[a & (2**64 - 1) for a in args], 0))
        self.prog.test_run(ctx_in=ctx)
        return s64.wrap(struct.unpack_from("<Q", ctx, 24)[0])

    def close(self):
        self.coll.close()


@pytest.fixture
def runner(request, root):
    r = Runner(request.param)
    yield r
    r.close()


def _reset(r, *decls):
    for d in decls:
        d.model.clear()
        m = r.coll.maps.get(d.name)
        if m is None:
            continue
        key = ctypes.create_string_buffer(m.key_size)
        keys = []
        while m.get_next_key(None if not keys else keys[-1], key):
            keys.append(ctypes.create_string_buffer(key.raw, m.key_size))
        for k in keys:
            m.delete(k)


def _kernel_items(r, decl):
    from pybpf_dsl.runtime.tables import table_for
    kt, vt = decl.ctypes_kv()
    t = table_for(r.coll.maps[decl.name], kt, vt)
    return {(k.value if hasattr(k, "value") else bytes(k)): bytes(v) for k, v in t.items()}


def _model_items(decl):
    return {k: bytes(v) for k, v in decl.model.items()}


OPS = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 11), st.integers(0, 2**64 - 1)), max_size=40)


@pytest.mark.parametrize("runner", [hash_op], indirect=True)
def test_hash_map_matches_model(runner):
    @settings(max_examples=40, deadline=None)
    @given(OPS)
    def check(ops):
        _reset(runner, counts)
        for op, k, v in ops:
            assert runner(op, k, v) == hash_op(op, k, v), (op, k, v)
        assert _kernel_items(runner, counts) == _model_items(counts)
    check()


@pytest.mark.parametrize("runner", [narrow_op], indirect=True)
def test_narrow_keys_and_values_match_model(runner):
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 11), st.integers(0, 2**64 - 1)), max_size=40))
    def check(ops):
        _reset(runner, narrow, wide_keys)
        for op, k, v in ops:
            assert runner(op, k, v) == narrow_op(op, k, v), (op, k, v)
        assert _kernel_items(runner, narrow) == _model_items(narrow)
        assert _kernel_items(runner, wide_keys) == _model_items(wide_keys)
    check()


@pytest.mark.parametrize("runner", [struct_op], indirect=True)
def test_struct_values_match_model(runner):
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20), st.integers(0, 2**40)), max_size=40))
    def check(ops):
        _reset(runner, pairs)
        for op, k, v in ops:
            assert runner(op, k, v) == struct_op(op, k, v), (op, k, v)
        assert _kernel_items(runner, pairs) == _model_items(pairs)
    check()


@pytest.mark.parametrize("runner", [array_op], indirect=True)
def test_array_map_matches_model(runner):
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 2**64 - 1)), max_size=30))
    def check(ops):
        slots.model.clear()
        for i in range(4):
            runner(0, i, 0)
        for op, k, v in ops:
            assert runner(op, k, v) == array_op(op, k, v), (op, k, v)
        for i in range(4):
            assert runner(4, i, 0) == array_op(4, i, 0)
    check()


@pytest.mark.parametrize("runner", [queue_op], indirect=True)
def test_queue_and_stack_match_model(runner):
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2**32 - 1), st.integers(0, 3)), max_size=30))
    def check(ops):
        for op in (1, 4):       # drain the kernel maps
            while runner(op, 0, 0) >= 0:
                pass
        fifo.model.clear()
        lifo.model.clear()
        for op, k, v in ops:
            assert runner(op, k, v) == queue_op(op, k, v), (op, k, v)
    check()


@pytest.mark.parametrize("runner", [misc_op], indirect=True)
def test_histogram_slots_match_model(runner):
    hist.model.clear()
    for v in (0, 1, 2, 3, 1000, 2**63):
        runner(2, 0, v)
        misc_op(2, 0, v)
    from pybpf_dsl.runtime.tables import table_for
    t = table_for(runner.coll.maps["hist"], ctypes.c_uint32, ctypes.c_uint64)
    kernel = {k.value: v.value for k, v in t.items() if v.value}
    model = {k: v.value for k, v in hist.model.items() if v.value}
    assert kernel == model == {1: 2, 2: 2, 10: 1, 64: 1}


def test_bloom_filter_has_no_false_negatives(root):
    with load_object(compile_programs(bloom_prog).elf) as coll:
        prog = coll.programs["bloom_prog"]

        def run(op, k):
            return prog.test_run(ctx_in=struct.pack("<2Q", op, k)).retval
        assert [run(0, k) for k in (3, 7, 11)] == [100, 100, 100]
        assert [run(1, k) for k in (3, 7, 11)] == [1, 1, 1]
        assert sum(run(1, k) for k in range(1000, 1100)) < 20     # few false positives


def test_map_declarations_check_their_arguments():
    with pytest.raises(TypeError, match="declare the types"):
        HashMap(max_entries=4)
    with pytest.raises(ValueError, match="positive"):
        ArrayMap[u32](max_entries=0)
    with pytest.raises(ValueError, match="power of two"):
        from pybpf_dsl.maps import RingBuf
        RingBuf[Pair](pages=3)
    with pytest.raises(TypeError, match="prefixlen"):
        from pybpf_dsl.maps import LpmTrie
        LpmTrie[Pair, u64](max_entries=4)
    assert LruHash[u32, u32](max_entries=2).map_type.name == "LRU_HASH"
    assert PerCpuArray[u64](max_entries=1).methods() >= {"lookup", "increment"}
