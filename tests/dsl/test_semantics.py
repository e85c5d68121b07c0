"""Fixed-width semantics proven in the kernel: compiled code and the CPython interpreter agree."""


import itertools

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.types import Array, Struct, common_type, s8, s16, s32, s64, u8, u16, u32, u64, bool as b8

from .harness import int_strategy, kernel_runner

INTS = [u8, u16, u32, u64, s8, s16, s32, s64]
PAIRS = [(t, t) for t in INTS] + [(u32, s32), (s32, u32), (u64, s32), (s64, u32), (u8, s64),
                                  (s16, u16), (u16, s8), (u64, s64)]
NOPS = 10


def arith(ta, tb):
    rt = common_type(ta, tb)

    @bpf_function
    def f(a: ta, b: tb, op: u8) -> rt:
        if op == 0:
            return a + b
        elif op == 1:
            return a - b
        elif op == 2:
            return a * b
        elif op == 3:
            return a // b
        elif op == 4:
            return a % b
        elif op == 5:
            return a & b | (a ^ b)
        elif op == 6:
            return a << b
        elif op == 7:
            return a >> b
        elif op == 8:
            return -a + ~b
        return (a < b) + (a == b) * 2 + (a >= b) * 4 + (a != b) * 8
    return f


@pytest.mark.parametrize("ta,tb", PAIRS, ids=lambda t: t.name)
def test_arithmetic_matches_cpython(root, ta, tb):
    f = arith(ta, tb)
    with kernel_runner(f) as run:
        @settings(max_examples=60, deadline=None)
        @given(int_strategy(ta), int_strategy(tb), st.integers(0, NOPS - 1))
        def check(a, b, op):
            assert run(a, b, op) == f(a, b, op), (a, b, op)
        check()


def test_c_rules_in_cpython():
    f = arith(s32, s32)
    assert f(-7, 2, 3) == -3 and f(-7, 2, 4) == -1          # truncation toward zero
    assert f(5, 0, 3) == 0 and f(5, 0, 4) == 5              # BPF's x/0 and x%0
    assert f(-2**31, -1, 3) == -2**31                        # INT_MIN / -1 wraps
    assert f(1, 33, 6) == 2                                  # shift count modulo 32
    assert arith(u32, s32)(0, -1, 9) == 1 + 8                # -1 converts to u32 max: 0 < max, 0 != max
    assert arith(u8, u8)(200, 100, 0) == 300                 # u8 promotes to s32


@bpf_function
def loops(n: u32, stop: u32) -> u64:
    total: u64 = 0
    i: u32 = 0
    while i < n and i < 64:
        i += 1
        if i % 3 == 0:
            continue
        if i > stop:
            break
        total += i * i
    for j in range(2, 40, 3):
        if j > n:
            break
        total ^= j << 3
    for k in range(10, 0, -2):
        total += k
    return total if total and n else 7


@bpf_function
def bools(a: s32, b: s32) -> s32:
    x = a and b
    y = a or b
    z = not a
    w = 0 < a < b < 100
    return x * 5 + y * 3 + z + w * 1000 + (min(a, b) if a > b else max(a, b)) + abs(a) % 7


def test_control_flow_matches_cpython(root):
    with kernel_runner(loops) as run:
        @settings(max_examples=80, deadline=None)
        @given(st.integers(0, 64), st.integers(0, 70))
        def check(n, stop):
            assert run(n, stop) == loops(n, stop)
        check()


def test_bool_ops_match_cpython(root):
    with kernel_runner(bools) as run:
        @settings(max_examples=80, deadline=None)
        @given(int_strategy(s32), int_strategy(s32))
        def check(a, b):
            assert run(a, b) == bools(a, b)
        check()


class Point(Struct):
    x: s16
    y: u32
    tags: Array[u8, 5]
    flag: b8


class Box(Struct):
    lo: Point
    hi: Point
    n: u64


@bpf_function
def norm1(p: s16, q: u32) -> s64:
    return abs(p) + q


@bpf_function
def structs(a: s16, b: u32, i: u32) -> s64:
    box = Box()
    box.lo.x = a
    box.lo.y = b
    box.hi = box.lo
    box.hi.x += 1
    arr = Array[u32, 6]()
    for k in range(6):
        arr[k] = k * b
    box.lo.tags[i] = 200 + i          # out of range: dropped
    box.lo.flag = a > 0
    box.n = arr[i] + arr[i % 6]       # out of range read: 0
    t = box.lo.tags[i % 5] + box.lo.tags[i]
    return norm1(box.hi.x, box.lo.y) + box.n + t + box.lo.flag + len(arr)


def test_structs_and_arrays_match_cpython(root):
    with kernel_runner(structs) as run:
        @settings(max_examples=80, deadline=None)
        @given(int_strategy(s16), int_strategy(u32), st.integers(0, 12))
        def check(a, b, i):
            assert run(a, b, i) == structs(a, b, i)
        check()


def test_log2l_matches_bcc_buckets(root):
    from pybpf_dsl.helpers import bpf
    assert [bpf.log2l(v) for v in (0, 1, 2, 3, 4, 1023, 1024, 2**63)] == [1, 1, 2, 2, 3, 10, 11, 64]
    with kernel_runner(bpf.log2l) as run:
        for v in itertools.chain(range(0, 70), (2**k + d for k in range(64) for d in (-1, 0, 1))):
            v &= 2**64 - 1
            assert run(v) == bpf.log2l(v)
