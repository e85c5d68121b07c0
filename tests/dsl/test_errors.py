"""Compile errors name the user's file:line:col, show the line and say what to write instead."""

import pytest

from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.types import u8, u32


@bpf_function
def true_division(a: u32) -> u32:
    return a / 2


@bpf_function
def float_const(a: u32) -> u32:
    return a + 1.5


@bpf_function
def bad_loop(a: u32) -> u32:
    for x in [1, 2]:
        a += x
    return a


@bpf_function
def too_big(a: u32) -> u8:
    b: u8 = 300
    return b


@bpf_function
def const_index(a: u32) -> u32:
    from_missing = undefined_name + a  # noqa: F821
    return from_missing


@pytest.mark.parametrize("fn,needle,hint", [
    (true_division, "operator / is not supported", "use //"),
    (float_const, "float constants are not supported", "scale floats"),
    (bad_loop, "iterate over range", "for i in range(n)"),
    (too_big, "300 does not fit in u8", "u8(300)"),
    (const_index, "'undefined_name' is not defined", "assign it first"),
])
def test_error_names_place_and_fix(fn, needle, hint):
    with pytest.raises(CompileError) as info:
        fn.typed()
    err = info.value
    assert needle in err.message and hint in err.hint
    assert err.loc.file == __file__
    line = err.loc.source_line()
    assert line is not None and err.loc.line > fn.py_func.__code__.co_firstlineno
    assert f"{__file__}:{err.loc.line}:{err.loc.col}" in str(err)
    assert line.strip() in str(err)
