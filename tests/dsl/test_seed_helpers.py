"""The seed's Output and map-method helpers that no other test runs, or whose DSL spelling is an idiom.

bcc's ``events.ringbuf_output/reserve/submit/discard`` are ``rb.output/reserve/submit/discard``;
``map.lookup_or_try_init(&k, &zero)`` is ``m.lookup_or_try_init(k, zero)`` (lookup; when missing,
insert with BPF_NOEXIST and look up again; also spelled ``m.insert(k, zero)`` then ``m.lookup(k)``);
``map.atomic_increment(k)`` is ``m.atomic_increment(k)``, an alias of ``m.increment(k)``.
"""

import struct
import threading

from pybpf_dsl import load, sk_skb
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.maps import HashMap, RingBuf, SockHash
from pybpf_dsl.types import Struct, u32, u64

from .harness import entry_program


class Rec(Struct):
    n: u64
    tag: u64


records = RingBuf[Rec](pages=1)


@bpf_function
def emit(n: u64) -> u64:
    """Three records: one copied, one reserved and submitted, one reserved and discarded."""
    r = Rec()
    r.n = n
    r.tag = 1
    sent = u64(records.output(r) == 0)
    p = records.reserve()
    if p:
        p.n = n
        p.tag = 2
        records.submit(p)
        sent += 1
    q = records.reserve()
    if q:
        q.n = n
        q.tag = 3
        records.discard(q)
    return sent


def _run(prog, *args: int) -> None:
    ctx = bytearray(struct.pack(f"<{len(args) + 1}Q", *args, 0))
    prog.programs["entry"].test_run(ctx_in=ctx)
    return struct.unpack_from("<Q", ctx, 8 * len(args))[0]


def test_ringbuf_output_reserve_submit_discard(root):
    with load(entry_program(emit), cache=False) as prog:
        assert _run(prog, 7) == 2
        got = [(r.n, r.tag) for r in prog.poll(records, timeout=0.5)]
    assert got == [(7, 1), (7, 2)]                # the discarded record never shows up


counts = HashMap[u32, u64](max_entries=16)


small = HashMap[u32, u64](max_entries=2)


@bpf_function
def try_init(k: u32, zero: u64) -> u64:
    """bcc: ``v = counts.lookup_or_try_init(&k, &zero); if (v) *v += 1;``."""
    v = counts.lookup_or_try_init(k, zero)
    if v:
        v[0] += 1
        return v[0]
    return 0


@bpf_function
def try_init_small(k: u32, zero: u64) -> u64:
    """The same on a 2-entry map: a third key does not fit, so the pointer is NULL."""
    v = small.lookup_or_try_init(k, zero)
    if v:
        v[0] += 1
        return v[0]
    return 999


@bpf_function
def bump(k: u32) -> u64:
    counts.atomic_increment(k)
    counts.atomic_increment(k + 1, 5)
    return 0


def test_lookup_or_try_init_and_atomic_increment(root):
    """The initial value is used once; concurrent increments from two threads lose nothing."""
    with load(entry_program(try_init), cache=False) as prog:
        assert [_run(prog, 3, 100), _run(prog, 3, 100), _run(prog, 3, 5)] == [101, 102, 103]
    counts.model.clear()
    assert [try_init(3, 100), try_init(3, 100), try_init(3, 5)] == [101, 102, 103]
    calls = [(1, 10), (2, 20), (3, 30), (1, 0), (3, 0), (2, 0)]
    with load(entry_program(try_init_small), cache=False) as prog:
        kernel = [_run(prog, k, z) for k, z in calls]
    small.model.clear()
    assert kernel == [try_init_small(k, z) for k, z in calls] == [11, 21, 999, 12, 999, 22]
    with load(entry_program(bump), cache=False) as prog:
        def hammer():
            for _ in range(2000):
                _run(prog, 9)
        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert prog["counts"][u32(9)].value == 4000
        assert prog["counts"][u32(10)].value == 20000


by_port = SockHash[u32](max_entries=4)


@sk_skb("stream_verdict", map=by_port)
def steer_by_port(skb) -> int:
    return by_port.sk_redirect_hash(skb, u32(1), 0)


def test_sk_redirect_hash_loads(root):
    """Compiled and accepted by the verifier (test_sockmap runs the by-index sibling on sockets)."""
    with load(steer_by_port, cache=False) as prog:
        assert "steer_by_port" in prog.programs


def test_lookup_or_try_init_must_be_null_checked_and_typed():
    import pytest
    from pybpf_dsl.errors import CompileError
    from pybpf_dsl.lower import compile_programs

    @bpf_function
    def unchecked(k: u32) -> u64:
        v = counts.lookup_or_try_init(k, 0)
        return v[0]

    @bpf_function
    def wrong_init(k: u32) -> u64:
        r = Rec()
        v = counts.lookup_or_try_init(k, r)
        return 1 if v else 0

    with pytest.raises(CompileError, match="test it first"):
        compile_programs(entry_program(unchecked))
    with pytest.raises(CompileError, match="lookup_or_try_init"):
        compile_programs(entry_program(wrong_init))
