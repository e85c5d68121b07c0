"""Tracefs event discovery and format parsing: every format on this machine, models, malformed input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import AttachTargetNotFound, ObjectFormatError
from pybpf_dsl.runtime import tracepoints as tp

pytestmark = pytest.mark.usefixtures("root")

COMMON = ["common_type", "common_flags", "common_preempt_count", "common_pid"]


# ---------------------------------------------------------------- the real tracefs

def test_every_format_on_this_machine_parses_consistently():
    names = tp.get_tracepoints(".*")
    assert len(names) > 500
    for name in names:
        fmt = tp.tracepoint_format(*tp.split_tracepoint(name))
        assert fmt.id > 0 and fmt.name == name
        assert [f.name for f in fmt.common_fields] == COMMON, name
        end = 0
        for field in fmt.fields:
            assert field.offset >= end, f"{name}: {field.name} overlaps the previous field"
            assert field.size > 0 or field.array_len == 0  # flexible array: u32 buf[0]
            end = field.offset + field.size
            if field.data_loc or field.rel_loc:
                assert field.size == 4 and field.array_len == 0
            elif field.array_len:
                assert field.size % field.array_len == 0, f"{name}: {field.declaration}"


def test_sched_switch_fields():
    fmt = tp.tracepoint_format("sched", "sched_switch")
    comm = fmt.field("prev_comm")
    assert (comm.type, comm.array_len, comm.size, comm.elem_size, comm.offset) == ("char", 16, 16, 1, 8)
    assert comm.declaration == "char prev_comm[16]" and comm.is_array and not comm.is_pointer
    pid = fmt.field("next_pid")
    assert pid.type == "pid_t" and pid.signed and pid.size == 4 and not pid.is_array
    assert fmt.size == fmt.args[-1].offset + fmt.args[-1].size
    assert fmt.id == tp.event_id("sched", "sched_switch")


def test_syscall_arguments_are_widened_to_their_slot():
    fmt = tp.tracepoint_format("syscalls", "sys_enter_openat")
    assert [f.name for f in fmt.args] == ["__syscall_nr", "dfd", "filename", "flags", "mode"]
    dfd = fmt.field("dfd")
    assert (dfd.type, dfd.size, dfd.offset) == ("int", 8, 16)
    filename = fmt.field("filename")
    assert filename.type == "const char *" and filename.is_pointer
    assert filename.declaration == "const char *filename"


def test_data_loc_field():
    f = tp.tracepoint_format("sched", "sched_process_exec").field("filename")
    assert f.data_loc and f.type == "char" and f.array_len == 0 and f.size == 4
    assert f.declaration == "char filename[]"


def test_unknown_field_lists_the_fields():
    with pytest.raises(KeyError, match="fields: .*next_pid"):
        tp.tracepoint_format("sched", "sched_switch").field("nxt_pid")


def test_get_tracepoints_matches_at_the_start_like_bcc():
    found = tp.get_tracepoints("sched:sched_sw")
    assert "sched:sched_switch" in found
    assert all(name.startswith("sched:sched_sw") for name in found)
    assert tp.get_tracepoints(b"syscalls:sys_enter_getppid$") == ["syscalls:sys_enter_getppid"]
    assert tp.get_tracepoints("no_such_category:.*") == []


def test_categories_and_events():
    cats = tp.categories()
    assert "sched" in cats and "syscalls" in cats and cats == sorted(cats)
    assert "sched_switch" in tp.events("sched")
    assert tp.events("no_such_category") == []


def test_tracepoint_exists():
    assert tp.tracepoint_exists("sched", "sched_switch")
    assert not tp.tracepoint_exists("sched", "sched_swich")
    assert not tp.tracepoint_exists("..", "sched")
    assert not tp.tracepoint_exists("sched", "")
    assert not tp.tracepoint_exists("sched/../sched", "sched_switch")


def test_split_tracepoint():
    assert tp.split_tracepoint("sched:sched_switch") == ("sched", "sched_switch")
    assert tp.split_tracepoint("sched/sched_switch") == ("sched", "sched_switch")
    for bad in ("sched", ":x", "x:", "a:b:c"):
        with pytest.raises(ValueError, match="category:event"):
            tp.split_tracepoint(bad)


@pytest.mark.parametrize("category, event, suggestion", [
    ("syscalls", "sys_enter_getppd", "syscalls:sys_enter_getppid"),
    ("schd", "sched_swich", "sched:sched_switch"),
    ("sched", "sys_enter_getppid", "syscalls:sys_enter_getppid"),
])
def test_a_typo_suggests_close_matches(category, event, suggestion):
    with pytest.raises(AttachTargetNotFound) as exc:
        tp.event_id(category, event)
    msg = str(exc.value)
    assert f"no tracepoint {category}:{event}" in msg and suggestion in msg and "\n" not in msg
    with pytest.raises(AttachTargetNotFound):
        tp.tracepoint_format(category, event)


# ---------------------------------------------------------------- the parser, on generated text

_TYPES = ["int", "unsigned int", "u8", "u64", "long", "unsigned short", "pid_t", "bool",
          "const char *", "void *", "struct sk_buff *", "const struct cred *"]
_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)


@st.composite
def _fields(draw):
    n = draw(st.integers(0, 8))
    names = draw(st.lists(_ident, min_size=n, max_size=n, unique=True).filter(
        lambda xs: not any(x.startswith("common_") for x in xs)))
    out, offset = [], 8
    for name in names:
        kind = draw(st.sampled_from(["scalar", "array", "data_loc"]))
        ctype = draw(st.sampled_from(_TYPES))
        if kind == "data_loc":
            ctype, size, array_len = draw(st.sampled_from(["char", "u8", "u32"])), 4, 0
        elif kind == "array":
            ctype = draw(st.sampled_from(["char", "u8", "u32", "u64"]))
            array_len = draw(st.integers(1, 64))
            size = array_len * {"char": 1, "u8": 1, "u32": 4, "u64": 8}[ctype]
        else:
            size, array_len = draw(st.sampled_from([1, 2, 4, 8])), None
        signed = draw(st.booleans())
        out.append(tp.TracepointField(name, ctype, offset, size, signed, array_len,
                                      data_loc=kind == "data_loc"))
        offset += size
    return out


def _render(name: str, ev_id: int, fields: list[tp.TracepointField]) -> str:
    lines = [f"name: {name}", f"ID: {ev_id}", "format:"]
    common = [("unsigned short", "common_type", 0, 2, 0), ("unsigned char", "common_flags", 2, 1, 0),
              ("unsigned char", "common_preempt_count", 3, 1, 0), ("int", "common_pid", 4, 4, 1)]
    for ctype, fname, off, size, signed in common:
        lines.append(f"\tfield:{ctype} {fname};\toffset:{off};\tsize:{size};\tsigned:{signed};")
    lines.append("")
    for f in fields:
        if f.data_loc:
            decl = f"__data_loc {f.type}[] {f.name}"
        elif f.array_len is not None:
            decl = f"{f.type} {f.name}[{f.array_len}]"
        else:
            decl = f"{f.type} {f.name}"
        lines.append(f"\tfield:{decl};\toffset:{f.offset};\tsize:{f.size};\tsigned:{int(f.signed)};")
    lines += ["", 'print fmt: "x=%d", REC->x']
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(_fields(), st.integers(1, 1 << 20), _ident)
def test_parse_format_round_trips_generated_formats(fields, ev_id, name):
    fmt = tp.parse_format(_render(name, ev_id, fields), "cat", name)
    assert fmt.id == ev_id and fmt.event == name and fmt.category == "cat"
    assert [f.name for f in fmt.common_fields] == COMMON
    assert list(fmt.args) == fields
    assert fmt.print_fmt == '"x=%d", REC->x'


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_malformed_format_raises_object_format_error_only(text):
    try:
        tp.parse_format(text)
    except ObjectFormatError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    "\tfield:int x;\toffset:8;\tsize:4;\tsigned:1;", "\tfield:;\toffset:1;\tsize:1;",
    "\tfield:int;\toffset:8;\tsize:4;\tsigned:1;", "ID: 12", "ID: x1", "format:", "",
    "\tgarbage", "print fmt: \"\"", "name: foo"]), max_size=12))
def test_format_fragments_parse_or_fail_cleanly(lines):
    try:
        fmt = tp.parse_format("\n".join(lines))
    except ObjectFormatError as e:
        assert re.search(r"format of|field declaration", str(e))
    else:
        assert fmt.id == 12
