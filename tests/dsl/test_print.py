"""``print(...)`` in probes: values recorded in the kernel, text formatted in user space.

The kernel's text must equal what the same function prints in CPython.
"""

import contextlib
import io
import os
import struct

from hypothesis import given, settings

from pybpf_dsl import bpf, load, tracepoint
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.maps import ArrayMap, HashMap
from pybpf_dsl.printfmt import PrintSite, sites_from_json, sites_to_json
from pybpf_dsl.types import Array, Struct, bool as b8, char, s8, s16, s32, s64, u8, u16, u32, u64

from .harness import entry_program, int_strategy


class Rec(Struct):
    a: s8
    b: u16
    name: Array[char, 8]
    vals: Array[s16, 3]
    ok: b8


totals = HashMap[u32, u64](max_entries=4)


@bpf_function
def show(a: s64, b: u64, c: u32) -> u32:
    r = Rec()
    r.a = s8(a)
    r.b = u16(b)
    r.name[0] = 65 + c % 26
    r.name[1] = 97 + c % 7
    r.vals[1] = s16(a)
    r.ok = c > 5
    print("ints", s8(a), s16(a), s32(a), a, u8(b), u16(b), u32(b), b, c > 5, 42)
    print(f"{a:>22}|{b:#x}|{r.name}|{r.name!r}|{c:05d}|{r}", sep="")
    print(r.vals, r.ok, "total", end="!\n", sep=", ")
    totals[c % 4] += 1
    v = totals.lookup(c % 4)
    if v:
        print("count", v)
    return 0


def test_print_matches_cpython_in_the_kernel(root):
    with load(entry_program(show), cache=False) as prog:
        run = prog.programs["entry"]

        @settings(max_examples=40, deadline=None)
        @given(int_strategy(s64), int_strategy(u64), int_strategy(u32))
        def check(a, b, c):
            totals.model.clear()
            prog["totals"].clear()
            run.test_run(ctx_in=struct.pack("<4Q", a & (2**64 - 1), b, c, 0))
            kernel = "".join(prog.printed(timeout=0))
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                show(a, b, c)
            assert kernel == out.getvalue()
        check()


def test_print_text_in_cpython():
    out = io.StringIO()
    totals.model.clear()
    with contextlib.redirect_stdout(out):
        show(-1, 255, 7)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ints -1 -1 -1 -1 255 255 255 255 True 42"
    assert lines[1] == "                    -1|0xff|Ha|'Ha'|00007|Rec(a=-1, b=255, name='Ha', vals=[0, -1, 0], ok=True)"
    assert lines[2] == "[0, -1, 0], True, total!"
    assert lines[3] == "count 1"


me = ArrayMap[u32](max_entries=1)


@tracepoint("syscalls:sys_enter_getppid")
def on_getppid(args) -> int:
    if bpf.tgid() == me[0]:
        print(f"getppid from {bpf.tgid()} ({bpf.comm()})")
    return 0


def test_print_from_a_tracepoint_with_cache(root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for attempt in range(2):                 # compiled, then from the cache (formats from .meta)
        with load(on_getppid) as prog:
            assert (prog.object is None) == (attempt == 1)
            prog["me"][0] = os.getpid()
            os.getppid()
            assert prog.print_events(timeout=0.5) == 1
            os.getppid()
            prog.ring_buffer_poll(500)      # bcc-style polling prints too
    comm = open("/proc/self/comm").read().strip()
    assert capsys.readouterr().out == f"getppid from {os.getpid()} ({comm})\n" * 4


def test_sites_round_trip_through_json():
    sites = [PrintSite(["a ", [4, ["i", 32, True], "", ">3"], "\n"], 8, "f.py:3")]
    back = sites_from_json(sites_to_json(sites))
    rec = struct.pack("<Ii", 0, -5)
    assert back[0].format(rec) == sites[0].format(rec) == "a  -5\n"
