"""@bpf_function returning a Struct or an Array by value (a hidden pointer to the caller's slot).

Proven in the kernel (inlined and true BPF-to-BPF calls) against CPython on hypothesis inputs.
"""

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.types import Array, Ptr, Struct, type_of, u8, u16, u32, u64

from .harness import kernel_runner


class Pair(Struct):
    a: u32
    b: u64
    buf: Array[u8, 8]


class Odd(Struct):          # 7 bytes, alignment 1: copies of it are byte-wise
    c: Array[u8, 5]
    d: Array[u8, 2]


def make(inline: bool):
    @bpf_function(inline=inline)
    def mk(x: u32, y: u64) -> Pair:
        p = Pair()
        p.a = x
        p.b = y
        p.buf[x & 7] = u8(y)
        if x & 1:
            return p                 # early return
        p.a += 100
        return p

    @bpf_function(inline=inline)
    def maybe(x: u32) -> Pair:
        if x > 1000:
            q = Pair()
            q.b = 5
            return q
        # falls off the end: the zero value

    @bpf_function(inline=inline)
    def swap(p: Pair) -> Pair:       # a by-value parameter returned (its own copy)
        t = p.a
        p.a = u32(p.b)
        p.b = t
        return p

    @bpf_function(inline=inline)
    def row(x: u16) -> Array[u16, 3]:
        r = Array[u16, 3]()
        r[0] = x
        r[1] = x * 3
        r[2] = ~x
        return r

    @bpf_function(inline=inline)
    def odd(x: u32) -> Odd:
        o = Odd()
        o.c[x % 5] = u8(x)
        o.d[1] = 9
        return o

    @bpf_function(inline=inline)
    def via_ptr(p: Ptr[Pair]) -> Pair:
        p.a += 1                     # the caller's object...
        return p[0]                  # ...returned by value

    @bpf_function(inline=inline)
    def nested(x: u32, y: u64) -> Pair:
        return swap(mk(x, y))        # a returned struct passed on by value, then returned

    @bpf_function
    def caller(x: u32, y: u64, k: u32) -> u64:
        p = mk(x, y)
        s = swap(p)
        r = row(u16(x))
        o = odd(k)
        n = nested(k, y)
        z = maybe(k)
        v = via_ptr(p)
        v.a += 7                     # v is a copy: p is unchanged by this
        t = swap(s)
        t = swap(t)                  # the result goes to t while t is also the (copied) argument
        h = p.buf[0] + p.buf[1] + p.buf[2] + p.buf[3] + p.buf[4] + p.buf[5] + p.buf[6] + p.buf[7]
        oc = o.c[0] + o.c[1] + o.c[2] + o.c[3] + o.c[4] + o.d[1]
        return (p.a ^ (s.b << 3) ^ s.a ^ (r[0] << 7) ^ (r[1] << 11) ^ (r[2] << 13) ^ (h << 17)
                ^ (oc << 21) ^ (n.a << 27) ^ n.b ^ (z.b << 33) ^ (v.a << 35) ^ mk(k, 1).a ^ row(7)[2] ^ (t.b << 50) ^ (t.a << 9))
    return caller


@pytest.mark.parametrize("inline", [True, False], ids=["inlined", "bpf2bpf"])
def test_struct_and_array_returns(root, inline):
    caller = make(inline)
    with kernel_runner(caller) as run:
        @settings(max_examples=80, deadline=None)
        @given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1),
               st.one_of(st.integers(0, 2000), st.integers(0, 2**32 - 1)))
        def same(x, y, k):
            assert run(x, y, k) == caller(x, y, k)
        same()


def test_interpreter_returns_a_copy():
    @bpf_function
    def through(p: Ptr[Pair]) -> Pair:
        return p[0]

    v = type_of(Pair).ctype()
    v.a = 1
    r = through(v)
    r.a = 2
    assert v.a == 1 and r.a == 2


def test_fall_off_end_returns_zero_value():
    @bpf_function
    def nothing(x: u32) -> Pair:
        pass

    r = nothing(3)
    assert (r.a, r.b, bytes(r.buf)) == (0, 0, bytes(8))


def test_subprogram_register_limit_counts_the_hidden_pointer():
    @bpf_function(inline=False)
    def five(a: u32, b: u32, c: u32, d: u32, e: u32) -> Pair:
        return Pair()

    @bpf_function
    def bad(x: u32) -> u32:
        return five(x, x, x, x, x).a

    with pytest.raises(CompileError, match="returns a struct"):
        bad.typed()
