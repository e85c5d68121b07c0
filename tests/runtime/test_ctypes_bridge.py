"""ctypes types from BTF: every offset and size must equal BTF's."""

from __future__ import annotations

import ctypes
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf_dsl.ctypes_bridge import ctype_for, layout
from pybpf_dsl.runtime.btf import Kind, kernel_btf

pytestmark = pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                                reason="kernel built without CONFIG_DEBUG_INFO_BTF")


def _check_members(btf, t, ct, base=0):
    """Every member of BTF type ``t`` sits at BTF's offset in ctypes type ``ct``."""
    assert ctypes.sizeof(ct) == t.size, t
    fields = {f.name: f for f in layout(ct)}
    for m in t.members:
        inner = btf.resolve(m.type_id)
        if not m.name:
            if inner.kind in (Kind.STRUCT, Kind.UNION):
                _check_anonymous(btf, inner, fields, base + m.bit_offset)
            continue
        f = fields[m.name]
        if f.bit_size:
            assert f.offset == base + m.bit_offset, (t, m)
            assert f.bit_size == (m.bitfield_size or inner.int_bits), (t, m)
        else:
            assert f.offset * 8 == base + m.bit_offset, (t, m)
            assert f.size == btf.sizeof(m.type_id), (t, m)


def _check_anonymous(btf, t, fields, base):
    for m in t.members:
        inner = btf.resolve(m.type_id)
        if not m.name:
            if inner.kind in (Kind.STRUCT, Kind.UNION):
                _check_anonymous(btf, inner, fields, base + m.bit_offset)
            continue
        f = fields[m.name]
        got = f.offset if f.bit_size else f.offset * 8
        assert got == base + m.bit_offset, (t, m)


@pytest.mark.parametrize("name", ["task_struct", "sk_buff", "file", "inode", "mm_struct",
                                  "sock", "bpf_map", "bpf_prog", "trace_entry", "pt_regs",
                                  "iphdr", "tcphdr", "ethhdr", "sockaddr_in6", "page", "rq"])
def test_well_known_kernel_structs(name):
    btf = kernel_btf()
    t = btf.find(name, Kind.STRUCT)
    _check_members(btf, t, ctype_for(btf, t.id))


def test_many_kernel_structs_and_unions():
    btf = kernel_btf()
    checked = 0
    for kind in (Kind.STRUCT, Kind.UNION):
        for i, t in enumerate(btf.iter_types(kind)):
            if i % 7:  # a spread across the whole id range, kept fast
                continue
            _check_members(btf, t, ctype_for(btf, t.id))
            checked += 1
    assert checked > 1000


def test_scalar_mappings():
    btf = kernel_btf()
    task = ctype_for(btf, btf.find_id("task_struct", Kind.STRUCT))
    t = task()
    assert isinstance(t.comm, bytes)                          # char[16] reads as bytes, as in bcc
    assert dict(task._fields_)["pid"] is ctypes.c_int32
    assert dict(task._fields_)["real_parent"] is ctypes.c_uint64  # pointers are addresses
    assert ctype_for(btf, btf.find_id("bool", Kind.TYPEDEF)) is ctypes.c_bool
    assert ctype_for(btf, btf.find_id("u64", Kind.TYPEDEF)) is ctypes.c_uint64
    assert ctype_for(btf, btf.find_id("bpf_map_type", Kind.ENUM)) is ctypes.c_uint32
    assert ctype_for(btf, 0) is None
    assert ctype_for(btf, btf.find_id("task_struct", Kind.STRUCT)) is task  # cached
    with pytest.raises(TypeError, match="FUNC"):
        ctype_for(btf, btf.find_id("do_sys_openat2", Kind.FUNC))


def test_anonymous_members_are_reachable():
    btf = kernel_btf()
    skb_t = btf.find("sk_buff", Kind.STRUCT)
    skb = ctype_for(btf, skb_t.id)()
    skb.len = 1234            # 'len' is a direct member; 'next' lives in an anonymous union
    skb.next = 0xFFFF888000001000
    assert skb.len == 1234 and skb.next == 0xFFFF888000001000


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bitfields_round_trip(data):
    btf = kernel_btf()
    ct = ctype_for(btf, btf.find_id("sk_buff", Kind.STRUCT))
    bits = [f for f in layout(ct) if f.bit_size]
    obj = ct()
    model = {}
    for f in data.draw(st.lists(st.sampled_from(bits), min_size=1, max_size=12)):
        value = data.draw(st.integers(0, (1 << f.bit_size) - 1))
        setattr(obj, f.name, value)
        model[f.name] = value
        raw = int.from_bytes(bytes(obj), "little")
        assert (raw >> f.offset) & ((1 << f.bit_size) - 1) == value
    for name, value in model.items():
        assert getattr(obj, name) == value


def test_datasec_layout():
    btf = kernel_btf()
    sec = btf.find(".data..percpu", Kind.DATASEC)
    ct = ctype_for(btf, sec.id)
    assert ctypes.sizeof(ct) == sec.size
    for v in sec.vars[:200]:
        var = btf[v.type_id]
        assert getattr(ct, var.name).offset == v.offset
