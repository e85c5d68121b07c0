"""Perf event arrays: PerfArray counters read with perf_read(), PerfBuf outputs carrying packet bytes."""

import ctypes
import struct

import pytest

from pybpf_dsl import load, raw_tracepoint, tc
from pybpf_dsl.maps import ArrayMap, PerfArray, PerfBuf
from pybpf_dsl.runtime.uapi import PerfSwConfig, PerfType
from pybpf_dsl.types import Struct, u32, u64

ENOENT, E2BIG = 2, 7
BEYOND = 4096   # a slot past every CPU

clock = PerfArray()
reads = ArrayMap[u64](max_entries=2)


@raw_tracepoint("sys_enter")
def read_clock(ctx) -> int:
    reads[0] = clock.perf_read()
    reads[1] = clock.perf_read(BEYOND)
    return 0


def test_perf_read_gets_this_cpus_counter(root):
    with load(read_clock, cache=False, attach=False) as prog:
        run = prog.programs["read_clock"]
        run.test_run(ctx_in=bytes(8 * 12))
        assert prog["reads"][0].value == u64.wrap(-ENOENT)   # no counter opened yet
        prog["clock"].open_perf_event(PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK)
        run.test_run(ctx_in=bytes(8 * 12))
        first = prog["reads"][0].value
        assert 0 < first < 2**63
        run.test_run(ctx_in=bytes(8 * 12))
        assert prog["reads"][0].value != first        # a running clock, in ns
        assert prog["reads"][1].value == u64.wrap(-E2BIG)


class Seen(Struct):
    len: u32
    proto: u32


packets = PerfBuf[Seen]()


@tc
def capture(skb) -> int:
    s = Seen()
    s.len = skb.len
    s.proto = skb.protocol
    packets.output(s, packet=skb.len)
    return 0


def test_perf_output_appends_the_packet(root):
    """bcc's perf_submit_skb: the sample is the record followed by the packet's bytes."""
    frame = bytes(range(12)) + b"\x08\x00" + bytes(range(100, 150))
    got = []
    with load(capture, cache=False) as prog:
        prog["packets"].open_perf_buffer(lambda cpu, data, size: got.append(ctypes.string_at(data, size)))
        assert prog.programs["capture"].test_run(frame).retval == 0
        prog.perf_buffer_poll(timeout=1000)
    assert len(got) == 1
    length, proto = struct.unpack_from("<II", got[0])
    assert (length, proto) == (len(frame), 0x0008)     # protocol in network byte order
    assert got[0][8:8 + len(frame)] == frame


def test_packet_bytes_need_a_perf_buffer():
    from pybpf_dsl.errors import CompileError
    from pybpf_dsl.maps import RingBuf

    ring = RingBuf[Seen]()

    @tc
    def bad(skb) -> int:
        s = Seen()
        ring.output(s, packet=skb.len)
        return 0

    with pytest.raises(CompileError, match="only perf outputs append packet bytes"):
        bad.typed()
