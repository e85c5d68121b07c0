"""Compile errors name the user's file:line:col, show the line and say what to write instead.

One table row per unsupported construct or type error: the function that
triggers it, a phrase the message must contain and one the hint must contain.
"""

import pytest

from pybpf_dsl import bpf, tracepoint
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.maps import HashMap, RingBuf
from pybpf_dsl.types import Struct, u8, u32, u64

counts = HashMap[u32, u64](max_entries=4)


class Ev(Struct):
    pid: u32


events = RingBuf[Ev](pages=1)


def plain_python(x):
    return x


@bpf_function
def true_division(a: u32) -> u32:
    return a / 2


@bpf_function
def float_const(a: u32) -> u32:
    return a + 1.5


@bpf_function
def list_loop(a: u32) -> u32:
    for x in [1, 2]:
        a += x
    return a


@bpf_function
def too_big(a: u32) -> u8:
    b: u8 = 300
    return b


@bpf_function
def undefined(a: u32) -> u32:
    from_missing = undefined_name + a  # noqa: F821
    return from_missing


@bpf_function
def try_except(a: u32) -> u32:
    try:
        a += 1
    except Exception:
        pass
    return a


@bpf_function
def with_block(a: u32) -> u32:
    with open("/x"):
        pass
    return a


@bpf_function
def uses_lambda(a: u32) -> u32:
    f = lambda x: x  # noqa: E731
    return a


@bpf_function
def generator_expr(a: u32) -> u32:
    xs = (x for x in range(a))
    return a


@bpf_function
def list_comp(a: u32) -> u32:
    xs = [x for x in range(4)]
    return a


@bpf_function
def yields(a: u32) -> u32:
    yield a


@bpf_function
def class_inside(a: u32) -> u32:
    class Local:
        pass
    return a


@bpf_function
def nested_def(a: u32) -> u32:
    def inner() -> u32:
        return 1
    return a


@bpf_function
def raises(a: u32) -> u32:
    raise ValueError(a)


@bpf_function
def asserts(a: u32) -> u32:
    assert a > 1
    return a


@bpf_function
def uses_global(a: u32) -> u32:
    global counts
    return a


@bpf_function
def tuple_assign(a: u32) -> u32:
    x, y = a, a
    return x


@bpf_function
def dict_literal(a: u32) -> u32:
    d = {1: a}
    return a


@bpf_function
def string_concat(a: u32) -> u32:
    s = "a" + "b"
    return a


@bpf_function
def string_method(a: u32) -> u32:
    s = "abc".upper()
    return a


@bpf_function
def fstring_value(a: u32) -> u32:
    s = f"{a}"
    return a


@bpf_function
def slices(a: u32) -> u32:
    c = bpf.comm()
    d = c[1:3]
    return a


@bpf_function
def forever(a: u32) -> u32:
    while True:
        a += 1
    return a


@bpf_function
def recurse(a: u32) -> u32:
    if a == 0:
        return 0
    return recurse(a - 1)


@bpf_function
def ping(a: u32) -> u32:
    return pong(a)


@bpf_function
def pong(a: u32) -> u32:
    return ping(a)


@bpf_function
def calls_python(a: u32) -> u32:
    return plain_python(a)


@bpf_function
def wrong_count(a: u32) -> u32:
    return float_const(a, a)


@bpf_function
def wrong_type(a: u32) -> u32:
    return float_const(Ev())


@bpf_function
def unknown_field() -> u32:
    return bpf.current_task().tgidd


@bpf_function
def unknown_helper() -> u32:
    return bpf.get_pidd()


@bpf_function
def unchecked_lookup(k: u32) -> u64:
    v = counts.lookup(k)
    return v[0]


@bpf_function
def unchecked_reserve() -> u32:
    ev = events.reserve()
    ev.pid = 1
    events.submit(ev)
    return 0


@bpf_function
def checked_then_reassigned(k: u32) -> u64:
    v = counts.lookup(k)
    if v:
        v = counts.lookup(k + 1)
        return v[0]
    return 0


@bpf_function
def lookup_chained(k: u32) -> u64:
    return counts.lookup(k)[0]


@bpf_function
def is_on_int(a: u32) -> u32:
    return a is None


@bpf_function
def bad_print_spec(a: u32) -> u32:
    c = bpf.comm()
    print(f"{c:08x}")
    return a


@bpf_function
def print_file(a: u32) -> u32:
    print(a, file=None)
    return a


@tracepoint("sched:sched_switch")
def unknown_tp_field(args) -> int:
    return args.prev_pidd


CASES = [
    (true_division, "operator / is not supported", "use //"),
    (float_const, "float constants are not supported", "scale floats"),
    (list_loop, "iterate over range", "for i in range(n)"),
    (too_big, "300 does not fit in u8", "u8(300)"),
    (undefined, "'undefined_name' is not defined", "assign it first"),
    (try_except, "try/except is not supported", "no exceptions"),
    (with_block, "with is not supported", "context managers"),
    (uses_lambda, "lambda is not supported", "@bpf_function"),
    (generator_expr, "generator expressions are not supported", "for-in-range"),
    (list_comp, "list comprehensions are not supported", "Array[T, n]"),
    (yields, "yield is not supported", "RingBuf"),
    (class_inside, "class definitions are not supported", "module level"),
    (nested_def, "nested def is not supported", "@bpf_function"),
    (raises, "raise is not supported", "error code"),
    (asserts, "assert is not supported", "test the condition"),
    (uses_global, "global is not supported", "map"),
    (tuple_assign, "only single assignments", "one assignment per line"),
    (dict_literal, "dicts are not supported", "HashMap"),
    (string_concat, "string operations are not supported", "char array"),
    (string_method, "string operations are not supported", "print("),
    (fstring_value, "f-strings outside print() are not supported", "print(f"),
    (slices, "slices are not supported", "one element at a time"),
    (forever, "this loop never ends", "range(N)"),
    (recurse, "recursive call (recurse -> recurse)", "bounded loop"),
    (ping, "recursive call (ping -> pong -> ping)", "bounded loop"),
    (calls_python, "plain Python function", "@bpf_function"),
    (wrong_count, "takes 1 argument(s), 2 given", "float_const(a: u32)"),
    (wrong_type, "cannot store a Ev where a u32 is expected", "pass an integer"),
    (unknown_field, "struct task_struct has no field 'tgidd'", "did you mean 'tgid'"),
    (unknown_helper, "has no attribute 'get_pidd'", "did you mean"),
    (unchecked_lookup, "'v' may be NULL here", "if v:"),
    (unchecked_reserve, "'ev' may be NULL here", "if ev:"),
    (checked_then_reassigned, "'v' may be NULL here", "if v:"),
    (lookup_chained, "may be NULL", "v = m.lookup(k)"),
    (is_on_int, "`is` only tests a pointer against None", "p is None"),
    (bad_print_spec, "format spec '08x' does not apply", "{n:#x}"),
    (print_file, "takes sep= and end= only", "print_events"),
    (unknown_tp_field, "has no field 'prev_pidd'", "did you mean 'prev_pid'"),
]


@pytest.mark.parametrize("fn,needle,hint", CASES, ids=[c[0].name for c in CASES])
def test_error_names_place_and_fix(fn, needle, hint):
    with pytest.raises(CompileError) as info:
        fn.typed()
    err = info.value
    assert needle in err.message, err.message
    assert err.hint and hint in err.hint, err.hint
    assert err.loc.file == __file__
    line = err.loc.source_line()
    assert line is not None and err.loc.line > fn.py_func.__code__.co_firstlineno
    assert f"{__file__}:{err.loc.line}:{err.loc.col}" in str(err)
    assert line.strip() in str(err)


@bpf_function
def null_tested_every_way(k: u32) -> u64:
    total: u64 = 0
    a = counts.lookup(k)
    if a:
        total += a[0]
    b = counts.lookup(k + 1)
    if not b:
        return total
    total += b[0]
    c = counts.lookup(k + 2)
    if c is not None and c[0] > 1:
        total += c[0]
    d = counts.lookup(k + 3)
    total += d[0] if d else 0
    for i in range(3):
        e = counts.lookup(k + i)
        if e is None:
            continue
        total += e[0]
    ev = events.reserve()
    if ev:
        ev.pid = k
        events.submit(ev)
    return total


def test_null_tests_in_every_form_are_accepted():
    null_tested_every_way.typed()
    counts.model.clear()
    assert null_tested_every_way(1) == 0
