"""Structs and arrays as @bpf_function arguments: by value (a copy) or through Ptr[T] (the caller's object).

Proven in the kernel (inlined and true BPF-to-BPF calls) and in CPython.
"""

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.types import Array, Ptr, Struct, type_of, u8, u32, u64

from .harness import kernel_runner


class Pair(Struct):
    a: u32
    b: u64
    buf: Array[u8, 8]


def make(inline: bool):
    @bpf_function(inline=inline)
    def by_value(p: Pair, arr: Array[u8, 8]) -> u64:
        p.a += 1                 # the callee's own copies: the caller never sees these writes
        arr[1] = 7
        p.buf[0] = 1
        return p.a + p.b + arr[1] + arr[2] + p.buf[2]

    @bpf_function(inline=inline)
    def by_ref(p: Ptr[Pair], arr: Ptr[Array[u8, 8]], k: u32) -> u64:
        p.a += k                 # the caller's objects
        arr[3] = 9
        return p.a

    @bpf_function
    def caller(x: u32, y: u64, k: u32) -> u64:
        p = Pair()
        p.a = x
        p.b = y
        p.buf[2] = u8(x)
        r = by_value(p, p.buf)
        seen = p.a + p.buf[0] + p.buf[1]        # unchanged by by_value
        r2 = by_ref(p, p.buf, k)
        return r ^ (seen << 20) ^ (r2 << 40) ^ (p.a << 8) ^ p.buf[3]
    return caller


@pytest.mark.parametrize("inline", [True, False], ids=["inlined", "bpf2bpf"])
def test_struct_and_array_arguments(root, inline):
    caller = make(inline)
    assert caller(3, 5, 2) == (4 + 5 + 7 + 3 + 3) ^ (3 << 20) ^ (5 << 40) ^ (5 << 8) ^ 9
    with kernel_runner(caller) as run:
        @settings(max_examples=60, deadline=None)
        @given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
        def same(x, y, k):
            assert run(x, y, k) == caller(x, y, k)
        same()


def test_interpreter_copies_struct_arguments():
    @bpf_function
    def clobber(p: Pair) -> u32:
        p.a = 99
        return p.a

    v = type_of(Pair).ctype()
    v.a = 1
    assert clobber(v) == 99 and v.a == 1


def test_reference_to_a_temporary_is_rejected():
    @bpf_function
    def take(p: Ptr[Pair]) -> u32:
        return p.a

    @bpf_function
    def bad(x: u32) -> u32:
        return take(Pair())

    with pytest.raises(CompileError, match="takes a pointer"):
        bad.typed()


def test_wrong_struct_argument_is_rejected():
    class Other(Struct):
        a: u32

    @bpf_function
    def take(p: Pair) -> u32:
        return p.a

    @bpf_function
    def bad(x: u32) -> u32:
        o = Other()
        return take(o)

    with pytest.raises(CompileError, match="cannot store a Other where a Pair"):
        bad.typed()
