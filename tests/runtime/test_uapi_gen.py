"""The pre-parsed cffi module (_uapi_ffi.py) is current and declares what uapi.CDEF says."""

from __future__ import annotations

import ast
import subprocess
import sys

import cffi
from hypothesis import given
from hypothesis import strategies as st

from pybpf_dsl.runtime import _gen_uapi, _uapi_ffi, uapi

REGENERATE = "uapi.CDEF changed: run `python3 -m pybpf_dsl.runtime._gen_uapi` and commit _uapi_ffi.py"


def _inline() -> cffi.FFI:
    parsed = cffi.FFI()
    parsed.cdef(uapi.CDEF)
    return parsed


def _shape(ffi, ctype) -> object:
    """Everything about ``ctype`` that decides its memory layout, by value (anonymous types have no stable name)."""
    if ctype.kind in ("struct", "union"):
        return (ctype.kind, ffi.sizeof(ctype), ffi.alignof(ctype),
                [(name, f.offset, f.bitshift, f.bitsize, _shape(ffi, f.type)) for name, f in ctype.fields])
    if ctype.kind == "array":
        return ("array", ctype.length, _shape(ffi, ctype.item))
    if ctype.kind == "pointer":
        return ("pointer", ctype.item.cname if ctype.item.kind in ("primitive", "void") else ctype.item.kind)
    return (ctype.kind, ctype.cname)


def test_generated_module_is_current():
    assert _uapi_ffi.CDEF == uapi.CDEF, REGENERATE
    assert uapi.ffi is _uapi_ffi.ffi


def test_generated_types_match_an_inline_parse():
    inline = _inline()
    generated = _uapi_ffi.ffi
    assert generated.list_types() == inline.list_types()
    typedefs, structs, unions = inline.list_types()
    names = typedefs + [f"struct {n}" for n in structs] + [f"union {n}" for n in unions]
    for name in names:
        assert _shape(generated, generated.typeof(name)) == _shape(inline, inline.typeof(name)), name
    inline_lib, generated_lib = inline.dlopen(None), generated.dlopen(None)
    assert sorted(dir(generated_lib)) == sorted(dir(inline_lib))
    for name in dir(inline_lib):
        assert generated.typeof(getattr(generated_lib, name)).cname == \
            inline.typeof(getattr(inline_lib, name)).cname, name


def test_stale_text_falls_back_to_parsing():
    ffi = uapi._ffi_for(uapi.CDEF + "struct stale_probe { uint16_t a; uint64_t b; };\n")
    assert ffi is not _uapi_ffi.ffi
    assert ffi.sizeof("struct stale_probe") == 16
    assert ffi.sizeof("struct perf_event_attr") == uapi.PERF_ATTR_SIZE


def test_rendered_module_records_the_text_and_declares_it():
    namespace: dict = {}
    exec(compile(_gen_uapi.render(uapi.CDEF), "<rendered>", "exec"), namespace)  # noqa: S102 - our own output
    assert namespace["CDEF"] == uapi.CDEF
    assert namespace["ffi"].sizeof("struct prog_load_attr") == uapi.ffi.sizeof("struct prog_load_attr")


@given(st.text())
def test_recorded_text_round_trips(text):
    assert ast.literal_eval(_gen_uapi._literal(text)) == text


def test_import_does_not_parse_c():
    code = "import sys, pybpf_dsl.runtime.uapi; print('pycparser' in sys.modules, 'cffi.cparser' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
