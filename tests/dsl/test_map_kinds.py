"""Tail calls, redirects, maps of maps, pinned maps, LPM tries and per-CPU maps, run in the kernel."""

import ctypes
import os
import shutil
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl import bpf, load, xdp
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.maps import (ArrayOfMaps, CpuMap, DevMap, HashMap, HashOfMaps, LpmTrie, PerCpuArray,
                            PerCpuHash, ProgArray, XskMap)
from pybpf_dsl.runtime.tracefs import bpffs_root
from pybpf_dsl.types import Array, Struct, s32, s64, u8, u32, u64

from .harness import entry_program

XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = 1, 2, 3, 4
FRAME = bytes(64)

jump = ProgArray(max_entries=4)


@xdp
def dispatch(ctx) -> int:
    hdr = Array[u8, 2]()
    if bpf.xdp_load_bytes(ctx, 0, hdr) < 0:
        return 0
    jump.call(ctx, hdr[0])
    return XDP_PASS                      # nothing at that index: the call returned


@xdp
def drop_all(ctx) -> int:
    return XDP_DROP


@xdp
def bounce(ctx) -> int:
    return XDP_TX


def test_tail_calls(root):
    with load(dispatch, drop_all, bounce, cache=False) as prog:
        prog["jump"][0] = prog.programs["drop_all"]
        prog["jump"][1] = prog.programs["bounce"]
        run = prog.programs["dispatch"].test_run
        assert [run(bytes([i]) + FRAME).retval for i in range(4)] == [XDP_DROP, XDP_TX, XDP_PASS, XDP_PASS]
        del prog["jump"][1]
        assert run(bytes([1]) + FRAME).retval == XDP_PASS


ports = DevMap(max_entries=4)
cpus = CpuMap(max_entries=2)
sockets = XskMap(max_entries=2)


@xdp
def redirect(ctx) -> int:
    hdr = Array[u8, 2]()
    if bpf.xdp_load_bytes(ctx, 0, hdr) < 0:
        return 0
    if hdr[0] == 0:
        return ports.redirect(hdr[1], XDP_PASS)      # the flags' low bits: the action when missing
    if hdr[0] == 1:
        return cpus.redirect(hdr[1], XDP_DROP)
    return sockets.redirect(hdr[1], XDP_DROP)


def test_redirect_maps(root):
    with load(redirect, cache=False) as prog:
        prog["ports"][0] = ctypes.c_uint32(1)           # lo
        prog["cpus"][0] = ctypes.c_uint32(64)           # a queue of 64 frames to CPU 0
        run = prog.programs["redirect"].test_run
        got = [run(bytes(h) + FRAME).retval for h in ((0, 0), (0, 3), (1, 0), (1, 1), (2, 0))]
        del prog["cpus"][0]
    assert got == [XDP_REDIRECT, XDP_PASS, XDP_REDIRECT, XDP_DROP, XDP_DROP]


tables = ArrayOfMaps(max_entries=2, inner=HashMap[u32, u64](max_entries=8))
by_name = HashOfMaps[u32](max_entries=2, inner=HashMap[u32, u64](max_entries=8))


@bpf_function
def in_table(which: u32, k: u32) -> s64:
    v = tables.lookup_in(which, k)
    if v:
        return s64(v[0])
    w = by_name.lookup_in(which + 100, k)
    if w is not None:
        return -s64(w[0])
    return -1


def _run(prog, *args):
    ctx = bytearray(struct.pack(f"<{len(args) + 1}Q", *[a & (2**64 - 1) for a in args], 0))
    prog.programs["entry"].test_run(ctx_in=ctx)
    return s64.wrap(struct.unpack_from("<Q", ctx, 8 * len(args))[0])


def test_map_in_map_lookups(root):
    with load(entry_program(in_table), cache=False) as prog:
        a, b = prog.new_inner_map("tables"), prog.new_inner_map("by_name")
        a[5], b[5] = ctypes.c_uint64(50), ctypes.c_uint64(7)
        prog["tables"][1] = a
        prog["by_name"][100] = b
        assert [_run(prog, w, k) for w, k in ((1, 5), (1, 6), (0, 5))] == [50, -1, -7]
        del prog["by_name"][100]
        assert _run(prog, 0, 5) == -1


shared = HashMap[u32, u64](max_entries=8, pinned=True)


@bpf_function
def bump(k: u32) -> u64:
    shared[k] += 1
    return shared[k]


def test_pinned_map_is_reused_across_loads(root):
    pin_root = os.path.join(bpffs_root(), f"pybpf_dsl_test_{os.getpid()}")
    os.makedirs(pin_root)
    try:
        ids = []
        for expect in (1, 2, 3):
            with load(entry_program(bump), cache=False, pin_root=pin_root) as prog:
                assert _run(prog, 3) == expect
                ids.append(prog["shared"].map_id)
        assert os.path.exists(os.path.join(pin_root, "shared")) and len(set(ids)) == 1
    finally:
        shutil.rmtree(pin_root)


class V4(Struct):
    prefixlen: u32
    addr: Array[u8, 4]


routes = LpmTrie[V4, u32](max_entries=16)


@bpf_function
def route(op: u8, plen: u32, addr: u32, value: u32) -> s64:
    k = V4()
    k.prefixlen = plen
    for i in range(4):
        k.addr[i] = u8(addr >> (24 - 8 * i))
    if op == 0:
        return routes.update(k, value)
    if op == 1:
        return routes.delete(k)
    v = routes.lookup(k)
    if v:
        return v[0]
    return -1


def test_lpm_trie_matches_longest_prefix_model(root):
    with load(entry_program(route, raw_tp=True), cache=False, attach=False) as prog:
        run = prog.programs["entry"].test_run
        ops = st.tuples(st.sampled_from([0, 0, 1, 2, 2, 2]), st.sampled_from([0, 8, 16, 24, 32, 33, 12]),
                        st.sampled_from([0x0A000000, 0x0A010000, 0x0A010203, 0xC0A80101, 0x0A0102FF]),
                        st.integers(0, 2**31 - 1))

        @settings(max_examples=40, deadline=None)
        @given(st.lists(ops, max_size=30))
        def check(seq):
            routes.model.clear()
            prog["routes"].clear()
            for op, plen, addr, value in seq:
                if op == 2:
                    plen = 32
                got = s32.wrap(run(ctx_in=struct.pack("<4Q", op, plen, addr, value)).retval)
                assert got == route(op, plen, addr, value), (op, plen, addr)
        check()


per_cpu = PerCpuArray[u64](max_entries=2)
per_cpu_hash = PerCpuHash[u32, u64](max_entries=4)


@bpf_function
def count(k: u32, n: u64) -> u32:
    per_cpu[k] += n
    per_cpu_hash[k] += n
    return 0


def test_per_cpu_maps_sum_in_user_space(root):
    ncpu = os.cpu_count()
    if ncpu < 2:
        pytest.skip("needs 2 CPUs")
    before = os.sched_getaffinity(0)
    try:
        with load(entry_program(count), cache=False) as prog:
            for cpu, n in ((0, 5), (1, 7), (1, 1)):
                os.sched_setaffinity(0, {cpu})
                _run(prog, 1, n)
            arr, h = prog["per_cpu"], prog["per_cpu_hash"]
            assert list(arr[1])[:2] == list(h[1])[:2] == [5, 8]
            assert arr.sum(1).value == h.sum(1).value == 13
            assert arr.average(1) == h.average(1) == 13 / ncpu
            assert arr.max(1).value == 8
    finally:
        os.sched_setaffinity(0, before)


@xdp
def to_xsk(ctx) -> int:
    if sockets.lookup(ctx.rx_queue_index):
        return sockets.redirect(ctx.rx_queue_index, XDP_DROP)
    return XDP_PASS


def test_xskmap_lookup_is_false_without_a_socket(root):
    """Binding an AF_XDP socket needs a UMEM and a NIC queue: the empty slot is what is checked here."""
    with load(to_xsk, cache=False) as prog:
        assert prog.programs["to_xsk"].test_run(FRAME).retval == XDP_PASS
