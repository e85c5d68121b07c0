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
        return (a < b) + (a == b) * 2 + (a >= b) * 4 + (a != b) * 8 + (a <= b) * 16 + (a > b) * 32
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
    assert arith(u32, s32)(0, -1, 9) == 1 + 8 + 16           # -1 converts to u32 max: 0 < max, 0 != max
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


# -- conversions and augmented assignment, every width and signedness ------------------

def casts(src):
    @bpf_function
    def f(a: src, op: u8) -> u64:
        if op == 0:
            return u64(u8(a))
        elif op == 1:
            return u64(u16(a))
        elif op == 2:
            return u64(u32(a))
        elif op == 3:
            return u64(a)
        elif op == 4:
            return u64(s8(a))
        elif op == 5:
            return u64(s16(a))
        elif op == 6:
            return u64(s32(a))
        elif op == 7:
            x: s64 = a                     # assignment converts like C
            return u64(x)
        y: u8 = 0
        y = a
        return y + (a > -1) * 1000 + (a <= 200) * 10000
    return f


@pytest.mark.parametrize("src", INTS, ids=lambda t: t.name)
def test_conversions_match_cpython(root, src):
    f = casts(src)
    with kernel_runner(f) as run:
        @settings(max_examples=40, deadline=None)
        @given(int_strategy(src), st.integers(0, 8))
        def check(a, op):
            assert run(a, op) == f(a, op), (a, op)
        check()


def augmented(t):
    @bpf_function
    def f(a: t, b: t, op: u8) -> t:
        x: t = a
        if op == 0:
            x += b
        elif op == 1:
            x -= b
        elif op == 2:
            x *= b
        elif op == 3:
            x //= b
        elif op == 4:
            x %= b
        elif op == 5:
            x &= b
        elif op == 6:
            x |= b
        elif op == 7:
            x ^= b
        elif op == 8:
            x <<= b
        else:
            x >>= b
        return x
    return f


@pytest.mark.parametrize("t", INTS, ids=lambda t: t.name)
def test_augmented_assignment_matches_cpython(root, t):
    f = augmented(t)
    with kernel_runner(f) as run:
        @settings(max_examples=40, deadline=None)
        @given(int_strategy(t), int_strategy(t), st.integers(0, 9))
        def check(a, b, op):
            assert run(a, b, op) == f(a, b, op), (a, b, op)
        check()


class Wide(Struct):
    a: u8
    b: s8
    c: u16
    d: s16
    e: u32
    f: s32
    g: u64
    h: s64
    arr: Array[s64, 3]


@bpf_function
def widths(x: s64, i: u32) -> s64:
    w = Wide()
    w.a = x
    w.b = x
    w.c = x
    w.d = x
    w.e = x
    w.f = x
    w.g = x
    w.h = x
    w.arr[i % 3] = w.b * w.d
    copy = w
    copy.h += 1
    return (w.a + w.b + w.c + w.d) ^ s64(w.e) ^ s64(w.f) ^ s64(w.g) ^ copy.h ^ w.arr[i] ^ w.arr[1]


def test_struct_fields_of_every_width_match_cpython(root):
    with kernel_runner(widths) as run:
        @settings(max_examples=60, deadline=None)
        @given(int_strategy(s64), st.integers(0, 4))
        def check(x, i):
            assert run(x, i) == widths(x, i), (x, i)
        check()


@bpf_function(inline=False)
def mix(a: u64, b: u32) -> u64:
    x = a
    for i in range(8):
        x = x * 31 + (b >> i)
    return x


@bpf_function
def calls_mix(a: u64, b: u32) -> u64:
    return mix(a, b) ^ mix(b, a)


def test_bpf_to_bpf_calls(root):
    from pybpf_dsl.lower import compile_programs
    from .harness import entry_program
    assert "call mix" in compile_programs(entry_program(calls_mix)).assembly(interleave_source=False)
    with kernel_runner(calls_mix) as run:
        @settings(max_examples=30, deadline=None)
        @given(int_strategy(u64), int_strategy(u32))
        def check(a, b):
            assert run(a, b) == calls_mix(a, b)
        check()
