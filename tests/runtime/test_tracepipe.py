"""trace_pipe parsing (bcc's trace_fields) and live bpf_trace_printk output."""

from __future__ import annotations

import ctypes
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf_dsl.runtime import tracepipe
from pybpf_dsl.runtime.attach.uprobe import attach_uprobe
from pybpf_dsl.runtime.tracefs import tracefs_root
from pybpf_dsl.runtime.tracepipe import TracePipe, parse_trace_line

from uprobe_testprogs import printk_prog

libc = ctypes.CDLL(None)
MARK = b"pyb%d" % (os.getpid() % 10**6)


@pytest.mark.parametrize("line, expect", [
    (b"           <...>-1234    [001] d..31  1234.567890: bpf_trace_printk: hello world",
     (b"<...>", 1234, 1, b"d..31", 1234.56789, b"hello world")),
    (b"    python3-19523   [000] ...11  1124.329757: bpf_trace_printk: mark",
     (b"python3", 19523, 0, b"...11", 1124.329757, b"mark")),
    (b" my-task-name-12-99 [003] .... 5.000001: 0x00000001: dash in comm",
     (b"my-task-name-12", 99, 3, b"....", 5.000001, b"dash in comm")),
    (b"  sh-42  ( 41) [002] d.h2. 77.5: bpf_trace_printk: with tgid: colon",
     (b"sh", 42, 2, b"d.h2.", 77.5, b"with tgid: colon")),
    (b"   a b-7 [000] 1.250000: bpf_trace_printk: no flags column",
     (b"a b", 7, 0, b"", 1.25, b"no flags column")),
])
def test_parse_lines(line, expect):
    assert tuple(parse_trace_line(line)) == expect


def test_lost_event_lines_and_noise_are_skipped():
    assert parse_trace_line(b"CPU:1 [LOST 12 EVENTS]") is None
    assert parse_trace_line(b"not a trace line") is None
    assert parse_trace_line(b"") is None


@given(st.binary(max_size=200))
def test_parser_never_raises(blob):
    parse_trace_line(blob)


_COMM = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=15)


@given(_COMM, st.integers(1, 4194304), st.integers(0, 4095), st.sampled_from(["d..31", "....", ".N.1."]),
       st.integers(0, 10**7), st.integers(0, 999999),
       st.binary(max_size=60).filter(lambda b: b"\n" not in b))
def test_generated_lines_round_trip(comm, pid, cpu, flags, sec, usec, msg):
    line = b"%16s-%-7d [%03d] %s %5d.%06d: bpf_trace_printk: %s" % (
        comm.encode(), pid, cpu, flags.encode(), sec, usec, msg)
    f = parse_trace_line(line)
    assert f is not None
    assert (f.task, f.pid, f.cpu, f.flags, f.msg) == (comm.encode(), pid, cpu, flags.encode(), msg)
    assert f.ts == pytest.approx(sec + usec / 1e6)


def _comm() -> bytes:
    with open("/proc/self/comm", "rb") as f:
        return f.read().strip()


@pytest.mark.usefixtures("root")
def test_private_instance_sees_printk_from_a_uprobe():
    name = f"pybpf_test_{os.getpid()}"
    with printk_prog(MARK) as prog, TracePipe(instance=name) as pipe:
        with attach_uprobe(prog, "c", "getpid", pid=os.getpid()):
            libc.getpid()
        fields = pipe.fields(timeout=5)
        assert fields[5] == MARK
        assert fields[1] == os.getpid()  # the main thread's tid is the pid
        assert fields[0] == _comm()
        assert fields[2] in range(os.cpu_count() or 1024)
        assert pipe.fields(nonblocking=True) == (None,) * 6
    assert not os.path.exists(os.path.join(tracefs_root(), "instances", name))


@pytest.mark.usefixtures("root")
def test_global_trace_pipe_with_bcc_functions():
    """Other processes may read the global pipe too: fire repeatedly, look for our marker."""
    pipe = tracepipe.trace_open(nonblocking=True)
    try:
        with printk_prog(MARK) as prog, attach_uprobe(prog, "c", "getpid", pid=os.getpid()):
            deadline = time.monotonic() + 10
            seen = None
            while seen is None and time.monotonic() < deadline:
                libc.getpid()
                for _ in range(10000):  # others' lines may be queued ahead of ours
                    f = tracepipe.trace_fields(nonblocking=True)
                    if f[0] is None:
                        break
                    if f[5] == MARK and f[1] == os.getpid():
                        seen = f
                        break
                time.sleep(0.01)
        assert seen is not None, "our trace_printk line never showed up in trace_pipe"
        assert isinstance(seen[4], float)
    finally:
        pipe.close()
