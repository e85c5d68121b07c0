"""Kernel structs from BTF: offsets of the running kernel, probe reads and direct (BTF) loads."""

import os
import struct

import pytest

from pybpf_dsl import bpf, load, tc, tp_btf, tracepoint
from pybpf_dsl import types as T
from pybpf_dsl.decorators import bpf_function, syscall_prog
from pybpf_dsl.errors import CompileError
from pybpf_dsl.kernel import KernelStructType, kernel_type, sk_buff
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.runtime.btf import kernel_btf
from pybpf_dsl.types import Ptr, u8, u32, u64

from .harness import kernel_runner

ids = ArrayMap[u64](max_entries=4)


@bpf_function
def task_ids() -> u64:
    task = bpf.current_task()
    return u64(task.tgid) << 32 | task.real_parent.tgid


def test_kernel_struct_offsets_come_from_btf():
    from pybpf_dsl.kernel import task_struct
    btf = kernel_btf()
    t = btf.find("task_struct")
    assert isinstance(task_struct, KernelStructType) and task_struct.size == t.size
    assert task_struct.field("tgid").offset == t.member("tgid").bit_offset // 8
    assert task_struct.field("real_parent").type.target is task_struct
    assert task_struct.field("real_parent").type.space == "kernel"
    assert kernel_type("sock").field("__sk_common") is not None
    with pytest.raises(AttributeError, match="no struct or union named"):
        kernel_type("no_such_struct_xyz")


def test_current_task_fields_in_the_kernel(root):
    with kernel_runner(task_ids) as run:
        got = run()
    assert got >> 32 == os.getpid()
    assert got & 0xFFFFFFFF == os.getppid()


@tracepoint("syscalls:sys_enter_getppid")
def on_getppid(args) -> int:
    if bpf.tgid() == ids[3]:
        task = bpf.current_task()
        ids[0] = task.tgid
        ids[1] = task.real_parent.tgid
        ids[2] = bpf.current_task_btf().real_parent.tgid    # a BTF pointer: direct loads
    return 0


def test_tracepoint_reads_task_struct(root):
    with load(on_getppid, cache=False) as prog:
        prog["ids"][3] = os.getpid()
        os.getppid()
        got = [prog["ids"][i].value for i in range(3)]
    assert got == [os.getpid(), os.getppid(), os.getppid()]


@bpf_function
def write_kernel() -> u32:
    task = bpf.current_task()
    task.pid = 1
    return 0


@bpf_function
def read_user(p: Ptr[u32, "user"]) -> u32:
    return p[0]


def test_kernel_and_user_memory_rules():
    with pytest.raises(CompileError, match="cannot write through a kernel pointer"):
        write_kernel.typed()
    with pytest.raises(CompileError, match="user memory cannot be read directly"):
        read_user.typed()


# -- bitfields and flexible arrays ----------------------------------------------------

def test_bitfields_and_flexible_arrays_come_from_btf():
    from pybpf_dsl.kernel import cgroup, sk_buff
    pkt_type, ancestors = sk_buff.field("pkt_type"), cgroup.field("ancestors")
    assert isinstance(pkt_type, T.BitField) and pkt_type.bit_size == 3 and pkt_type.type is u8
    assert isinstance(ancestors.type, T.FlexArrayType) and ancestors.type.elem.target is cgroup


BITS = T.StructType("bits", [
    T.BitField("a", u8, 0, 0, 3, 1), T.BitField("b", T.s8, 0, 3, 5, 1),
    T.BitField("c", T.u16, 2, 4, 9, 2), T.BitField("d", T.s32, 4, 7, 20, 4),
    T.BitField("e", T.s64, 8, 13, 40, 8), T.BitField("f", u64, 8, 53, 11, 8),
] + [T.Field(f"o{n}", T.s64, 16 + 8 * i) for i, n in enumerate("abcdef")], 64, 8)


@syscall_prog
def read_bits(ctx: Ptr[BITS]) -> int:
    ctx.oa = ctx.a
    ctx.ob = ctx.b
    ctx.oc = ctx.c
    ctx.od = ctx.d
    ctx.oe = ctx.e
    ctx.of = ctx.f
    return 0


def test_bitfield_reads_shift_mask_and_sign_extend(root):
    from hypothesis import given, settings, strategies as st
    from pybpf_dsl.printfmt import decode
    with load(read_bits, cache=False) as prog:
        @settings(max_examples=60, deadline=None)
        @given(st.binary(min_size=16, max_size=16))
        def check(raw):
            ctx = bytearray(raw + bytes(48))
            prog.programs["read_bits"].test_run(ctx_in=ctx)
            got = struct.unpack_from("<6q", ctx, 16)
            want = [decode(["f", f.bit_offset, f.bit_size, f.type.signed], raw, f.offset) for f in BITS.fields[:6]]
            assert list(got) == want
        check()
    with pytest.raises(CompileError, match="cannot assign to the bitfield"):
        write_bits.typed()


@syscall_prog
def write_bits(ctx: Ptr[BITS]) -> int:
    ctx.a = 1
    return 0


marks = ArrayMap[u64](max_entries=5)


@bpf_function
def note_skb(skb: Ptr[sk_buff, "btf"]) -> u32:
    if skb.mark == marks[3]:
        marks[0] = skb.pkt_type + 1                      # a BTF pointer: direct loads
        k: Ptr[sk_buff] = u64(skb)                       # the same skb as a kernel pointer: probe reads
        marks[1] = k.pkt_type + 1
        marks[2] = k.cloned + 10
    return 0


@tp_btf("kfree_skb")
def on_kfree_skb(ctx) -> int:
    return note_skb(ctx.skb)


@tp_btf("consume_skb")
def on_consume_skb(ctx) -> int:
    return note_skb(ctx.skb)


@tc
def set_mark(ctx) -> int:
    ctx.mark = marks[3]
    marks[4] = ctx.pkt_type                              # the kernel's own view (__sk_buff conversion)
    return 0


def test_sk_buff_pkt_type_bitfield_in_the_kernel(root):
    """BPF_PROG_TEST_RUN builds an skb with eth_type_trans: the destination MAC decides pkt_type.

    On lo, whose broadcast address is all zeros, ff:ff:ff:ff:ff:ff is multicast (2).
    """
    with load(on_kfree_skb, on_consume_skb, set_mark, cache=False) as prog:
        m = prog["marks"]
        m[3] = 0x5EED0000 | os.getpid() & 0xFFFF
        frame = bytes(6) + b"\x02\x00\x00\x00\x00\x09" + b"\x08\x00" + bytes(46)
        got = []
        for dst, pkt_type in ((b"\xff" * 6, 2), (b"\x01\x00\x5e\x00\x00\x01", 2), (b"\x02" + bytes(5), 3),
                              (bytes(6), 0)):
            m[0] = m[1] = 0
            prog.programs["set_mark"].test_run(dst + frame[6:])
            got.append((m[0].value - 1, m[1].value - 1, m[4].value, m[2].value - 10, pkt_type))
    assert all(a == b == kernel == want and cloned == 0 for a, b, kernel, cloned, want in got), got


@bpf_function
def cgroup_ancestors() -> u64:
    cg = bpf.current_task().cgroups.dfl_cgrp
    me = cg.ancestors[cg.level]                          # a flexible array, variable index
    root = cg.ancestors[0]
    return u64(me == cg) | u64(root.level == 0) << 1 | u64(me.kn.id == bpf.get_current_cgroup_id()) << 2


def test_flexible_array_member_in_the_kernel(root):
    with kernel_runner(cgroup_ancestors) as run:
        assert run() == 7
