"""BTF reader: kernel BTF for real, hand-built program and split BTF, malformed input."""

from __future__ import annotations

import mmap
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf_dsl.ctypes_bridge import ctype_for
from pybpf_dsl.errors import ObjectFormatError
from pybpf_dsl.runtime import btf as btf_module
from pybpf_dsl.runtime.btf import BTF, HEADER, Kind, kernel_btf
from pybpf_dsl.runtime.uapi import MapType

needs_vmlinux = pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                                   reason="kernel built without CONFIG_DEBUG_INFO_BTF")


# ---------------------------------------------------------------- a tiny BTF writer for tests

class Builder:
    """Encodes BTF records (test helper: every kind, any field value)."""

    def __init__(self, first_id: int = 1, str_base: int = 0, with_empty: bool = True) -> None:
        self.types: list[bytes] = []
        self.strings = bytearray(b"\0" if with_empty else b"")
        self.first_id = first_id
        self.str_base = str_base

    def s(self, text: str) -> int:
        if not text:
            return 0
        off = self.str_base + len(self.strings)
        self.strings += text.encode() + b"\0"
        return off

    def add(self, kind: int, name: str, size_or_type: int, tail: bytes = b"", vlen: int = 0,
            kflag: int = 0) -> int:
        info = (kflag << 31) | (kind << 24) | vlen
        self.types.append(struct.pack("<III", self.s(name), info, size_or_type) + tail)
        return self.first_id + len(self.types) - 1

    def int_(self, name: str, size: int, bits: int, enc: int = 0) -> int:
        return self.add(Kind.INT, name, size, struct.pack("<I", (enc << 24) | bits))

    def struct_(self, name: str, size: int, members: list[tuple[str, int, int, int]],
                union: bool = False) -> int:
        kflag = int(any(m[3] for m in members))
        tail = b"".join(struct.pack("<III", self.s(n), t, (bs << 24 | off) if kflag else off)
                        for n, t, off, bs in members)
        return self.add(Kind.UNION if union else Kind.STRUCT, name, size, tail, len(members), kflag)

    def blob(self) -> bytes:
        types = b"".join(self.types)
        return HEADER.pack(0xEB9F, 1, 0, HEADER.size, 0, len(types), len(types),
                           len(self.strings)) + types + bytes(self.strings)


def sample_btf() -> bytes:
    """One type of every kind."""
    b = Builder()
    u32 = b.int_("unsigned int", 4, 32)                                   # 1
    s8 = b.int_("char", 1, 8, enc=1 | 2)                                  # 2
    ptr = b.add(Kind.PTR, "", 0)                                          # 3 void *
    arr = b.add(Kind.ARRAY, "", 0, struct.pack("<III", s8, u32, 16))      # 4 char[16]
    st_ = b.struct_("point", 24, [("x", u32, 0, 0), ("flags", u32, 32, 3),
                                  ("mode", u32, 35, 5), ("name", arr, 64, 0)])  # 5
    un = b.struct_("either", 4, [("a", u32, 0, 0), ("b", s8, 0, 0)], union=True)  # 6
    en = b.add(Kind.ENUM, "color", 4, struct.pack("<Ii", b.s("RED"), -1) + struct.pack("<Ii", b.s("BLUE"), 7),
               vlen=2, kflag=1)                                           # 7
    fwd = b.add(Kind.FWD, "opaque", 0, kflag=1)                           # 8 union fwd
    td = b.add(Kind.TYPEDEF, "u32_t", u32)                                # 9
    vol = b.add(Kind.VOLATILE, "", td)                                    # 10
    cst = b.add(Kind.CONST, "", vol)                                      # 11
    rst = b.add(Kind.RESTRICT, "", ptr)                                   # 12
    proto = b.add(Kind.FUNC_PROTO, "", u32, struct.pack("<II", b.s("p"), st_) +
                  struct.pack("<II", 0, 0), vlen=2)                       # 13 (point p, ...)
    fn = b.add(Kind.FUNC, "handler", proto, vlen=1)                       # 14 global
    var = b.add(Kind.VAR, "counter", cst, struct.pack("<I", 1))           # 15
    sec = b.add(Kind.DATASEC, ".data", 8, struct.pack("<III", var, 4, 4), vlen=1)  # 16
    flt = b.add(Kind.FLOAT, "double", 8)                                  # 17
    b.add(Kind.DECL_TAG, "user", st_, struct.pack("<i", 1))               # 18
    b.add(Kind.TYPE_TAG, "percpu", u32)                                   # 19
    b.add(Kind.ENUM64, "big", 8, struct.pack("<III", b.s("HUGE"), 0, 0x80000000), vlen=1)  # 20
    assert (ptr, un, en, fwd, rst, fn, sec, flt) == (3, 6, 7, 8, 12, 14, 16, 17)
    return b.blob()


# ---------------------------------------------------------------- program BTF, every kind

def test_every_kind_decodes():
    btf = BTF.parse(sample_btf())
    assert len(btf) == 21
    assert {t.kind for t in btf.iter_types()} == set(Kind) - {Kind.VOID}
    assert btf[1].int_bits == 32 and not btf[1].int_signed and btf[1].size == 4
    assert btf[2].int_signed and btf[2].int_char and not btf[2].int_bool
    assert btf[3].kind == Kind.PTR and btf[3].type_id == 0 and btf.sizeof(3) == 8
    assert btf[4].array == (2, 1, 16) and btf.sizeof(4) == 16
    point = btf.find("point", Kind.STRUCT)
    assert [m.name for m in point.members] == ["x", "flags", "mode", "name"]
    assert point.member("flags").bit_offset == 32 and point.member("flags").bitfield_size == 3
    assert point.member("mode").bit_offset == 35 and point.member("mode").bitfield_size == 5
    with pytest.raises(KeyError, match="no member 'nope'"):
        point.member("nope")
    assert btf[6].kind == Kind.UNION and btf.sizeof(6) == 4
    assert btf[7].values == [("RED", -1), ("BLUE", 7)] and btf[7].signed
    assert btf[8].fwd_union and btf[8].name == "opaque"
    assert btf.resolve(11).id == 1 and btf.sizeof(11) == 4
    assert btf.resolve(12).kind == Kind.PTR
    assert btf[13].params == [("p", 5), ("", 0)] and btf[13].type_id == 1
    assert btf[14].linkage == 1 and btf[14].type_id == 13
    assert btf[15].linkage == 1 and btf.sizeof(15) == 4
    assert btf[16].vars == [(15, 4, 4)] and btf[16].size == 8
    assert btf[17].kind == Kind.FLOAT and btf.sizeof(17) == 8
    assert btf[18].component_idx == 1 and btf[18].name == "user"
    assert btf[19].name == "percpu" and btf.resolve(19).id == 1
    assert btf[20].values == [("HUGE", 1 << 63)] and not btf[20].signed
    assert btf.type_name(12) == "void *" and btf.type_name(4) == "char[16]"
    assert btf.type_name(5) == "struct point"
    with pytest.raises(TypeError, match="no size"):
        btf.sizeof(14)
    with pytest.raises(TypeError):
        btf[1].members


def test_find_and_errors():
    btf = BTF.parse(sample_btf())
    assert btf.find_id("point") == 5
    assert btf.find("u32_t").kind == Kind.TYPEDEF
    with pytest.raises(KeyError, match="no BTF STRUCT type named 'color'"):
        btf.find("color", Kind.STRUCT)
    with pytest.raises(KeyError, match="no BTF type id 99"):
        btf[99]
    assert btf.find_all("missing") == []


def test_forward_declaration_is_not_preferred():
    b = Builder()
    b.add(Kind.FWD, "thing", 0)
    b.struct_("thing", 4, [("v", b.int_("int", 4, 32, 1), 0, 0)])
    btf = BTF.parse(b.blob())
    assert btf.find("thing").kind == Kind.STRUCT
    assert btf.find("thing", Kind.FWD).id == 1


def test_split_btf_continues_ids_and_strings():
    base = BTF.parse(sample_btf())
    b = Builder(first_id=len(base), str_base=base.str_end, with_empty=False)
    s = b.add(Kind.STRUCT, "module_thing", 8,
              struct.pack("<III", b.s("p"), 5, 0), vlen=1)  # refers to base type 5
    b.add(Kind.PTR, "", s)
    split = BTF.parse(b.blob(), base=base)
    assert split.first_id == 21 and len(split) == 23
    thing = split.find("module_thing")
    assert thing.id == 21 and thing.members[0].name == "p"
    assert split[thing.members[0].type_id].name == "point"
    assert split.find("point").id == 5  # base types are found through the split BTF
    assert split.type_name(22) == "struct module_thing *"
    assert [t.id for t in split.iter_types(Kind.PTR)] == [3, 22]


# ---------------------------------------------------------------- lookups by name: a model

_NAMES = ["a", "b", "ab", "task", "task_struct", "x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Kind.INT, Kind.TYPEDEF, Kind.STRUCT, Kind.ENUM, Kind.FWD]),
                          st.sampled_from(_NAMES), st.lists(st.integers(0, 2**32 - 1), max_size=4)),
                max_size=12),
       st.sampled_from(_NAMES), st.sampled_from([None, Kind.INT, Kind.STRUCT, Kind.ENUM]))
def test_find_all_matches_a_linear_scan(records, name, kind):
    """Names are also met as member names, enum values equal to string offsets and
    words that look like record heads: only real records of that name are found."""
    b = Builder()
    for rec_kind, rec_name, words in records:
        offs = [b.s(n) for n in _NAMES]              # every name's offset, again and again
        if rec_kind == Kind.INT:
            b.int_(rec_name, 4, 32)
        elif rec_kind == Kind.TYPEDEF:
            b.add(Kind.TYPEDEF, rec_name, 1)
        elif rec_kind == Kind.STRUCT:
            b.add(Kind.STRUCT, rec_name, 8, b"".join(struct.pack("<III", o, 1, w % 64)
                                                   for o, w in zip(offs, words)), vlen=len(words))
        elif rec_kind == Kind.ENUM:
            tail = b"".join(struct.pack("<II", o, w) for o, w in zip(offs, words))
            tail += struct.pack("<II", offs[len(words) % len(offs)], (Kind.STRUCT << 24) | 1)
            b.add(Kind.ENUM, rec_name, 4, tail, vlen=len(words) + 1)
        else:
            b.add(Kind.FWD, rec_name, 0)
    btf = BTF.parse(b.blob())
    want = [t.id for t in btf.iter_types(kind) if t.name == name]
    assert [t.id for t in btf.find_all(name, kind)] == want


# ---------------------------------------------------------------- buffers

def test_any_buffer_parses_and_files_are_mapped(tmp_path):
    blob = sample_btf()
    path = tmp_path / "btf.bin"
    path.write_bytes(blob)
    mapped = btf_module._read(str(path))
    assert isinstance(mapped, mmap.mmap)
    assert isinstance(btf_module._read("/proc/self/stat"), bytes)    # no mmap there: read
    for data in (blob, bytearray(blob), memoryview(blob), mapped):
        btf = BTF.parse(data)
        assert btf.find("point", Kind.STRUCT).member("name").bit_offset == 64
        assert btf[7].values == [("RED", -1), ("BLUE", 7)] and len(btf) == 21
    assert isinstance(BTF.parse(bytearray(blob)).data, bytes)        # a mutable buffer is copied


@needs_vmlinux
def test_kernel_btf_stays_small_in_memory():
    code = ("from pybpf_dsl.runtime.btf import kernel_btf, Kind\n"
            "def rss():\n    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
            "before = rss(); b = kernel_btf(); t = b.find('task_struct', Kind.STRUCT)\n"
            "b.find_all('sched_switch'); [b[i].name for i in range(1, len(b), 50)]\n"
            "print((rss() - before) / 2**20, type(b.data).__name__)")
    grown, kind = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    print(f"kernel BTF resident cost: {float(grown):.2f} MiB ({kind})")
    assert float(grown) < (4 if kind == "mmap" else 10)


# ---------------------------------------------------------------- malformed input

def _decode_everything(btf: BTF) -> None:
    for t in btf.iter_types():
        _ = (t.name, t.size, t.type_id)
        for prop in ("members", "values", "params", "vars", "array", "int_bits", "linkage",
                     "component_idx", "fwd_union"):
            try:
                getattr(t, prop)
            except TypeError:
                pass  # the property belongs to another kind
        btf.resolve(t.id)
        btf.type_name(t.id)
        try:
            btf.sizeof(t.id)
        except TypeError:
            pass  # functions, forward declarations, void have no size
        try:
            ctype_for(btf, t.id)
        except TypeError:
            pass  # no value layout (functions), or a layout ctypes cannot express
    btf.find_all("point")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_malformed_btf_raises_object_format_error(data):
    blob = bytearray(sample_btf())
    how = data.draw(st.sampled_from(["truncate", "flip", "words", "garbage"]))
    if how == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    elif how == "words":
        pos = data.draw(st.integers(0, len(blob) // 4 - 1)) * 4
        struct.pack_into("<I", blob, pos, data.draw(st.integers(0, 2**32 - 1)))
    else:
        blob = bytearray(data.draw(st.binary(max_size=200)))
    try:
        btf = BTF.parse(bytes(blob))
        _decode_everything(btf)
    except ObjectFormatError:
        pass


def test_bad_headers_name_the_problem():
    good = sample_btf()
    with pytest.raises(ObjectFormatError, match="bad BTF magic"):
        BTF.parse(b"\0\0" + good[2:])
    with pytest.raises(ObjectFormatError, match="big-endian"):
        BTF.parse(b"\xeb\x9f" + good[2:])
    with pytest.raises(ObjectFormatError, match="shorter than"):
        BTF.parse(good[:10])
    with pytest.raises(ObjectFormatError, match="out of bounds"):
        BTF.parse(good[:-3])


# ---------------------------------------------------------------- kernel BTF

@needs_vmlinux
def test_kernel_task_struct():
    btf = kernel_btf()
    assert btf is kernel_btf()  # cached
    task = btf.find("task_struct", Kind.STRUCT)
    names = {m.name for m in task.members}
    assert {"pid", "tgid", "comm", "real_parent", "mm"} <= names
    pid, tgid = task.member("pid"), task.member("tgid")
    assert tgid.bit_offset == pid.bit_offset + 32 and pid.bit_offset % 32 == 0
    assert btf.resolve(pid.type_id).kind == Kind.INT and btf.sizeof(pid.type_id) == 4
    assert btf[pid.type_id].name == "pid_t"
    comm = btf.resolve(task.member("comm").type_id)
    assert comm.kind == Kind.ARRAY and comm.array[2] == 16
    assert btf.type_name(task.member("real_parent").type_id) == "struct task_struct *"
    assert btf.sizeof(task.id) == task.size > 1000


@needs_vmlinux
def test_kernel_bitfields_enums_protos():
    btf = kernel_btf()
    skb = btf.find("sk_buff", Kind.STRUCT)
    assert skb.kind_flag
    bits = [m for m in _all_members(btf, skb) if m.bitfield_size]
    assert bits and all(0 < m.bitfield_size < 32 for m in bits)
    assert any(m.name == "cloned" and m.bitfield_size == 1 for m in bits)
    values = dict(btf.find("bpf_map_type", Kind.ENUM).values)
    for mt in MapType:
        assert values[f"BPF_MAP_TYPE_{mt.name}"] == mt.value
    assert any(True for _ in btf.iter_types(Kind.ENUM64))
    func = btf.find("do_sys_openat2", Kind.FUNC)
    proto = btf[func.type_id]
    assert proto.kind == Kind.FUNC_PROTO
    assert [p.name for p in proto.params] == ["dfd", "filename", "how"]
    assert btf.type_name(proto.params[2].type_id) == "struct open_how *"
    assert btf.find("btf_trace_sched_switch", Kind.TYPEDEF)


def _all_members(btf, t):
    for m in t.members:
        yield m
        inner = btf.resolve(m.type_id)
        if not m.name and inner.kind in (Kind.STRUCT, Kind.UNION):
            yield from _all_members(btf, inner)


@needs_vmlinux
def test_kernel_has_every_kind():
    btf = kernel_btf()
    seen = {btf.kind_of(i) for i in range(1, len(btf))}
    expected = set(Kind) - {Kind.VOID}
    assert expected <= seen, f"kinds missing from kernel BTF: {expected - seen}"
    for kind in expected:
        t = next(btf.iter_types(kind))
        assert t.kind == kind


@needs_vmlinux
def test_kernel_btf_cold_start_is_fast():
    code = ("import time; t = time.perf_counter();"
            "from pybpf_dsl.runtime.btf import kernel_btf, Kind;"
            "b = kernel_btf(); b.find('task_struct', Kind.STRUCT).member('tgid');"
            "print((time.perf_counter() - t) * 1e3)")
    best = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(3))
    print(f"cold kernel_btf() + find('task_struct'): {best:.1f} ms")
    assert best < 200
