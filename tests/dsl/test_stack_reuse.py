"""Locals that share stack slots (lifetime brackets, `c = b` taking over b's slot) keep Python's meaning.

Run in the kernel and in CPython on hypothesis inputs.  The function needs
far more than 512 bytes if every local had its own slot, so it also proves
the slots are shared.
"""

from hypothesis import given, settings, strategies as st

from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.lower.codegen import is_aggregate
from pybpf_dsl.lower.lifetimes import local_lifetimes
from pybpf_dsl.types import Array, Struct, u64

from .harness import kernel_runner


class Blk(Struct):
    d: Array[u64, 24]        # 192 bytes


@bpf_function
def reuse(x: u64, y: u64) -> u64:
    acc = u64(0)
    if x & 1:
        a = Blk()
        a.d[x % 24] = y
        a.d[3] = x
        acc = a.d[3] + a.d[y % 24]
    else:
        b = Blk()
        b.d[y % 24] = x
        acc = b.d[x % 24] * 3
    for i in range(3):
        c = Blk()
        c.d[i] = acc + i
        e = c                # a copy that takes over c's slot: c is not used again
        e.d[i + 1] = y
        acc += e.d[i] ^ e.d[i + 1]
    f = Blk()
    f.d[0] = acc
    g = f                    # a real copy: f is used again below
    g.d[0] = 1
    acc += f.d[0] * 7 + g.d[0]
    return acc


def test_lifetimes_found():
    tf = reuse.typed()
    lt = local_lifetimes(tf, is_aggregate)
    assert lt.aliases == {"e": "c"}
    assert lt.scoped() == {"a", "b", "c", "e", "f", "g"}


def test_shared_slots_keep_python_semantics(root):
    assert reuse(2, 5) == 185      # worked by hand: 0; +5, +3, +15; +23 * 7 + 1
    with kernel_runner(reuse) as run:
        @settings(max_examples=80, deadline=None)
        @given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
        def same(x, y):
            assert run(x, y) == reuse(x, y)
        same()
