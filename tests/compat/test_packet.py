"""bcc's cursor-style packet parsing (<bcc/proto.h>) against a Python model.

Socket filters in the seed's style parse Ethernet, 802.1Q, IPv4, IPv6, UDP
and TCP headers through ``cursor_advance`` and ``struct ethernet_t`` style
pointers; BPF_PROG_TEST_RUN feeds them hypothesis-generated frames (short
ones included: a load past the end ends the program with 0, as LD_ABS does)
and every field they record is compared with the model.  A tc program
writes fields (``ip->ttl = ...``), checked on the frame it returns, and the
filter also runs on a real AF_PACKET socket through attach_raw_socket.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compat_c import BPF, compile_c
from compat_c.packet import uses_packets
from pybpf_dsl.errors import CompileError
from pybpf_dsl.runtime.syscall import prog_test_run

pytestmark = pytest.mark.kernel

PORT = 40000 + os.getpid() % 20000
NFIELDS = 40

FILTER = r"""
#include <bcc/proto.h>
BPF_ARRAY(fields, u64, 40);
static __always_inline void put(int i, u64 v) { fields.update(&i, &v); }

int udp_port_filter(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *ethernet = cursor_advance(cursor, sizeof(*ethernet));
    put(0, ethernet->dst);
    put(1, ethernet->src);
    put(2, ethernet->type);
    if (ethernet->type == ETH_P_8021Q) {
        struct dot1q_t *vlan = cursor_advance(cursor, sizeof(*vlan));
        put(29, vlan->pri);
        put(30, vlan->cfi);
        put(31, vlan->vlanid);
        put(32, vlan->type);
        return 0;
    }
    if (ethernet->type == ETH_P_IPV6) {
        struct ip6_t *ip6 = cursor_advance(cursor, sizeof(*ip6));
        put(33, ip6->ver);
        put(34, ip6->priority);
        put(35, ip6->flow_label);
        put(36, ip6->next_header);
        put(37, ip6->dst_lo);
        return 0;
    }
    if (!(ethernet->type == ETH_P_IP))
        goto DROP;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    put(3, ip->ver);
    put(4, ip->hlen);
    put(5, ip->tos);
    put(6, ip->tlen);
    put(7, ip->identification);
    put(8, ip->df);
    put(9, ip->mf);
    put(10, ip->foffset);
    put(11, ip->ttl);
    put(12, ip->nextp);
    put(13, ip->src);
    put(14, ip->dst);
    u32 ip_header_length = ip->hlen << 2;
    if (ip_header_length < sizeof(*ip))
        goto DROP;
    void *_ = cursor_advance(cursor, ip_header_length - sizeof(*ip));
    if (ip->nextp == IPPROTO_TCP) {
        struct tcp_t *tcp = cursor_advance(cursor, sizeof(*tcp));
        put(19, tcp->src_port);
        put(20, tcp->dst_port);
        put(21, tcp->seq_num);
        put(22, tcp->ack_num);
        put(23, tcp->offset);
        put(24, tcp->flag_syn);
        put(25, tcp->flag_ack);
        put(26, tcp->flag_fin);
        put(27, tcp->rcv_wnd);
        put(28, tcp->flag_cwr);
        goto DROP;
    }
    if (ip->nextp != IPPROTO_UDP)
        goto DROP;
    struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
    put(15, udp->sport);
    put(16, udp->dport);
    put(17, udp->length);
    put(18, udp->crc);
    if (udp->dport == PORT)
        goto KEEP;
DROP:
    return 0;
KEEP:
    return -1;
}
"""

# (index, header offset from its start, first bit, bits) per header, as bcc numbers bits
ETH = [(0, 0, 0, 48), (1, 6, 0, 48), (2, 12, 0, 16)]
VLAN = [(29, 0, 0, 3), (30, 0, 3, 1), (31, 0, 4, 12), (32, 2, 0, 16)]
IP6 = [(33, 0, 0, 4), (34, 0, 4, 8), (35, 0, 12, 20), (36, 6, 0, 8), (37, 32, 0, 64)]
IP = [(3, 0, 0, 4), (4, 0, 4, 4), (5, 1, 0, 8), (6, 2, 0, 16), (7, 4, 0, 16), (8, 6, 1, 1), (9, 6, 2, 1),
      (10, 6, 3, 13), (11, 8, 0, 8), (12, 9, 0, 8), (13, 12, 0, 32), (14, 16, 0, 32)]
TCP = [(19, 0, 0, 16), (20, 2, 0, 16), (21, 4, 0, 32), (22, 8, 0, 32), (23, 12, 0, 4), (24, 13, 6, 1),
       (25, 13, 3, 1), (26, 13, 7, 1), (27, 14, 0, 16), (28, 13, 0, 1)]
UDP = [(15, 0, 0, 16), (16, 2, 0, 16), (17, 4, 0, 16), (18, 6, 0, 16)]


class _Short(Exception):
    """A load past the end of the packet: the program stops and returns 0."""


def _bits(pkt: bytes, off: int, bit: int, size: int) -> int:
    nbytes = (bit + size + 7) // 8
    if off + nbytes > len(pkt):
        raise _Short
    raw = int.from_bytes(pkt[off:off + nbytes], "big")
    return (raw >> (8 * nbytes - bit - size)) & ((1 << size) - 1)


def model(pkt: bytes) -> tuple[int, dict[int, int]]:
    """What the filter returns and records for frame ``pkt``."""
    seen: dict[int, int] = {}

    def parse(base: int, layout: list) -> None:
        for index, off, bit, size in layout:
            seen[index] = _bits(pkt, base + off, bit, size)

    try:
        parse(0, ETH)
        if seen[2] == 0x8100:
            parse(14, VLAN)
            return 0, seen
        if seen[2] == 0x86DD:
            parse(14, IP6)
            return 0, seen
        if seen[2] != 0x0800:
            return 0, seen
        parse(14, IP)
        hlen = seen[4] * 4
        if hlen < 20:
            return 0, seen
        l4 = 14 + hlen
        if seen[12] == 6:
            parse(l4, TCP)
            return 0, seen
        if seen[12] != 17:
            return 0, seen
        parse(l4, UDP)
        return (0xFFFFFFFF if seen[16] == PORT else 0), seen
    except _Short:
        return 0, seen


@st.composite
def frames(draw) -> bytes:
    """Ethernet frames, mostly well formed: IPv4 UDP/TCP (with options), IPv6, VLAN, others, cut short."""
    ethertype = draw(st.sampled_from([0x0800] * 6 + [0x86DD, 0x8100, 0x0806]) | st.integers(0, 0xFFFF))
    head = draw(st.binary(min_size=12, max_size=12)) + ethertype.to_bytes(2, "big")
    ihl = draw(st.sampled_from([5, 5, 5, 6, 15]) | st.integers(0, 15))
    proto = draw(st.sampled_from([17, 17, 6]) | st.integers(0, 255))
    first = draw(st.integers(0, 15)) << 4 | ihl
    ip = bytes([first]) + draw(st.binary(min_size=8, max_size=8)) + bytes([proto]) \
        + draw(st.binary(min_size=10, max_size=10)) + draw(st.binary(min_size=4 * max(ihl - 5, 0),
                                                                     max_size=4 * max(ihl - 5, 0)))
    dport = draw(st.sampled_from([PORT, PORT + 1]) | st.integers(0, 0xFFFF))
    l4 = draw(st.binary(min_size=2, max_size=2)) + dport.to_bytes(2, "big") + draw(st.binary(min_size=16,
                                                                                          max_size=40))
    frame = head + ip + l4
    shortest = 54 if ethertype in (0x0800, 0x86DD) else 14  # the kernel refuses shorter test input
    cut = draw(st.sampled_from([len(frame)] * 4) | st.integers(shortest, len(frame)))
    return frame[:cut]


def test_proto_headers_compile_to_socket_loads():
    obj = compile_c(FILTER, [f"-DPORT={PORT}"], use_cache=False, listing=True)
    assert "skb[" in obj.asm and "llvm.preserve" not in obj.ir
    assert obj.meta["programs"]["udp_port_filter"]["ctx"] == "__sk_buff"
    assert uses_packets("#include <bcc/proto.h>") and not uses_packets("int x;")


@pytest.fixture(scope="module")
def udp_filter():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    b = BPF(text=FILTER, cflags=[f"-DPORT={PORT}"])
    fn = b.load_func("udp_port_filter", BPF.SOCKET_FILTER)
    yield b, fn
    b.cleanup()


@pytest.fixture(scope="module")
def udp_filter_tc():
    """The same filter as a tc program: BPF_PROG_TEST_RUN starts a socket filter's
    packet at the network header, a tc program's at the Ethernet header (as a
    packet socket does)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    b = BPF(text=FILTER, cflags=[f"-DPORT={PORT}"])
    fn = b.load_func("udp_port_filter", BPF.SCHED_CLS)
    yield b, fn
    b.cleanup()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pkt=frames())
@example(pkt=bytes(12) + b"\x08\x00\x46" + bytes(8) + b"\x11" + bytes(14) + b"\x12\x34"
         + PORT.to_bytes(2, "big") + bytes(12))  # UDP to PORT after a 4-byte IP option: kept
def test_filter_matches_model(udp_filter_tc, pkt):
    b, fn = udp_filter_tc
    table = b["fields"]
    for i in range(NFIELDS):
        table[table.Key(i)] = table.Leaf(0)
    retval = prog_test_run(fn.fd, pkt).retval & 0xFFFFFFFF
    expect_ret, expect = model(pkt)
    got = {i: table[table.Key(i)].value for i in range(NFIELDS)}
    assert retval == expect_ret
    assert {i: v for i, v in got.items() if v} == {i: v for i, v in expect.items() if v}


def test_raw_socket_keeps_only_udp_to_port(udp_filter):
    b, fn = udp_filter
    BPF.attach_raw_socket(fn, "lo")
    raw = fn.socket
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(4):
                tx.sendto(b"keep%d" % i, ("127.0.0.1", PORT))
                tx.sendto(b"drop%d" % i, ("127.0.0.1", PORT + 1))
        got = []
        while True:
            try:
                frame = raw.recv(65535)
            except BlockingIOError:
                break
            assert model(frame)[0] == 0xFFFFFFFF
            got.append(frame[42:])
    finally:
        raw.close()
        del fn.socket
    assert set(got) == {b"keep%d" % i for i in range(4)}


REWRITE = r"""
#include <bcc/proto.h>
int rewrite(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *ethernet = cursor_advance(cursor, sizeof(*ethernet));
    if (ethernet->type != ETH_P_IP)
        return 1;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    ip->ttl = ip->ttl - 1;
    ip->mf = !ip->mf;
    ip->foffset = ip->foffset + 3;
    ethernet->src = ethernet->dst + ip->ttl;
    bpf_dins_pkt(skb, 14 + 1, 2, 4, bpf_dext_pkt(skb, 14, 0, 4));
    return 2;
}
"""


def rewrite_model(pkt: bytes) -> bytes:
    out = bytearray(pkt)

    def setbits(off: int, bit: int, size: int, value: int) -> None:
        nbytes = (bit + size + 7) // 8
        low = 8 * nbytes - bit - size
        raw = int.from_bytes(out[off:off + nbytes], "big")
        mask = ((1 << size) - 1) << low
        raw = (raw & ~mask) | ((value << low) & mask)
        out[off:off + nbytes] = raw.to_bytes(nbytes, "big")

    ttl = (pkt[22] - 1) & 0xFF
    setbits(22, 0, 8, ttl)
    setbits(20, 2, 1, 1 - _bits(pkt, 20, 2, 1))
    setbits(20, 3, 13, _bits(pkt, 20, 3, 13) + 3)
    setbits(6, 0, 48, _bits(pkt, 0, 0, 48) + ttl)
    setbits(15, 2, 4, _bits(pkt, 14, 0, 4))
    return bytes(out)


@pytest.mark.usefixtures("root")
@settings(max_examples=40, deadline=None)
@given(body=st.binary(min_size=20, max_size=60), dst=st.binary(min_size=6, max_size=6))
def test_tc_program_writes_fields(body, dst):
    pkt = dst + bytes(6) + b"\x08\x00" + body
    with BPF(text=REWRITE) as b:
        fn = b.load_func("rewrite", BPF.SCHED_CLS)
        res = prog_test_run(fn.fd, pkt, data_out_size=len(pkt) + 64)
    assert res.retval == 2
    assert res.data_out[:len(pkt)] == rewrite_model(pkt)


def test_field_address_is_refused():
    src = """
#include <bcc/proto.h>
int f(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ip6_opt_t *opt = cursor_advance(cursor, sizeof(*opt));
    return opt->pad[1];
}
"""
    with pytest.raises(CompileError, match="only integer fields") as e:
        compile_c(src, use_cache=False)
    assert e.value.loc is not None and e.value.loc.line == 6
