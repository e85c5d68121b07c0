"""Constructs a bcc/bpftrace user writes naturally, found missing in the issue-3 audit.

``if p and q:`` on map pointers, ``x in (1, 2, 3)``, ``key in some_map``,
reading ``m[k].field``; and ``m[k].field = v`` refused (the write would be
lost on a copy).  Kernel and CPython agree on hypothesis inputs.
"""

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.maps import ArrayMap, HashMap
from pybpf_dsl.types import Array, Struct, s8, u8, u32, u64

from .harness import int_strategy, kernel_runner


class Rec(Struct):
    n: u32
    total: u64
    tag: Array[u8, 4]


recs = HashMap[u32, Rec](max_entries=16)
seen = HashMap[u32, u64](max_entries=16)
slots = ArrayMap[u64](max_entries=4)


@bpf_function
def language(x: u32, y: s8, z: u32) -> u64:
    for i in range(16):             # start empty, in the kernel as in the CPython model
        del seen[i]
        del recs[i]
    seen[x & 7] = 1
    r = Rec()
    r.n = z
    r.total = u64(x) * 3
    r.tag[z & 3] = u8(y)
    recs[x & 3] = r
    out = u64(0)
    a = recs.lookup(x & 3)
    b = recs.lookup(z & 15)
    if a and b:                     # both found
        out |= 1
    if a or b:
        out |= 2
    if not (a and b):
        out |= 4
    if a and b and a.n == b.n:
        out |= 8
    if x in (1, 5, 9, 4000000000):
        out |= 16
    if y not in (-1, 3, 0):
        out |= 32
    if z in seen:
        out |= 64
    if z not in seen:
        out |= 128
    if z in slots:                  # array keys below max_entries always exist
        out |= 256
    if 7 in (x, z):
        out |= 512
    return out ^ (recs[z & 15].total << 10) ^ (u64(recs[x & 3].tag[z & 3]) << 40) ^ (u64(recs[x & 3].n) << 48)


def test_language_constructs_match(root):
    # by hand: only a found (2 | 4), 5 in (1, 5, ...) (16), -1 excluded, 5 in seen (64); tag[1] = 255, n = 5
    assert language(5, -1, 5) == 86 ^ (255 << 40) ^ (5 << 48)
    with kernel_runner(language) as run:
        @settings(max_examples=100, deadline=None)
        @given(st.one_of(st.integers(0, 16), int_strategy(u32)), int_strategy(s8), st.integers(0, 20))
        def same(x, y, z):
            assert run(x, y, z) == language(x, y, z)
        same()


def test_write_through_map_subscript_is_refused():
    @bpf_function
    def bad(x: u32) -> u32:
        recs[x].n = 5
        return 0

    with pytest.raises(CompileError, match=r"recs\[x\] is a copy.*recs.lookup\(x\)"):
        bad.typed()


def test_in_needs_values_or_a_map():
    @bpf_function
    def bad(x: u32) -> u32:
        return x in x

    with pytest.raises(CompileError, match="literal values or a map's keys"):
        bad.typed()


class Wide(Struct):
    head: u32
    d: Array[u64, 30]        # 248 bytes: copies of it stay in memory


wides = ArrayMap[Wide](max_entries=4)


@bpf_function
def fetch(k: u32) -> Wide:
    return wides[k]              # straight from the map into the caller's slot


@bpf_function
def wide_fields(k: u32, i: u32, v: u64) -> u64:
    w = Wide()
    w.head = k
    w.d[i % 30] = v
    wides[k & 3] = w
    c = fetch(k & 3)
    r = c.d[i % 30] >> 1
    return (r ^ wides[k & 3].d[i % 30] ^ wides[k & 3].head ^ wides[7].head
            ^ (wides[(k + 1) & 3].d[3] << 2) ^ fetch(k + 9).head)


def test_wide_map_value_fields_match(root):
    with kernel_runner(wide_fields) as run:
        @settings(max_examples=60, deadline=None)
        @given(st.integers(0, 7), st.integers(0, 2**32 - 1), int_strategy(u64))
        def same(k, i, v):
            assert run(k, i, v) == wide_fields(k, i, v)
        same()


def test_pointer_cast_from_a_raw_argument(root):
    from pybpf_dsl import raw_tracepoint
    from pybpf_dsl.kernel import task_struct
    from pybpf_dsl.lower import compile_programs
    from pybpf_dsl.runtime.loader import load_object
    from pybpf_dsl.types import Ptr

    @raw_tracepoint("sched_switch")
    def on_switch(ctx) -> int:
        nxt = Ptr[task_struct](ctx.args[2])      # C: (struct task_struct *)ctx->args[2]
        if nxt.tgid == 1:
            slots[0] += 1
        return 0

    with load_object(compile_programs(on_switch).elf):
        pass


def test_direct_pointer_from_an_integer_is_refused():
    from pybpf_dsl.types import Ptr

    @bpf_function
    def bad(x: u64) -> u32:
        p = Ptr[Rec](x)
        return p.n

    with pytest.raises(CompileError, match=r"must come from the context.*Ptr\[Rec, 'kernel'\]"):
        bad.typed()
