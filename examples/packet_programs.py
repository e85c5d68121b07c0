"""xdp, socket_filter, tc and cgroup_skb programs, run on chosen packets with BPF_PROG_TEST_RUN.
Give a device to attach for real: load(..., ) then prog.attach(drop_udp, dev="eth0")."""
from pybpf_dsl import bpf, cgroup_skb, load, socket_filter, tc, xdp
from pybpf_dsl.types import Array, u8

@xdp
def drop_udp(ctx) -> int:
    hdr = Array[u8, 24]()
    if bpf.xdp_load_bytes(ctx, 0, hdr) < 0:
        return 2                                       # XDP_PASS
    if hdr[12] == 8 and hdr[13] == 0 and hdr[23] == 17:
        return 1                                       # XDP_DROP: IPv4 UDP
    return 2

@socket_filter
def first_64(ctx) -> int:
    return 64 if ctx.len > 64 else ctx.len             # bytes to keep

@tc
def mark(ctx) -> int:
    ctx.mark = 42
    return 0                                           # TC_ACT_OK

@cgroup_skb("egress")
def allow(ctx) -> int:
    return 1

eth = b"\xff" * 12 + b"\x08\x00"
udp = eth + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17]) + bytes(18)
tcp = eth + bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6]) + bytes(30)
with load(drop_udp, first_64, mark, allow) as prog:
    p = prog.programs
    print("xdp udp ->", p["drop_udp"].test_run(udp).retval, " tcp ->", p["drop_udp"].test_run(tcp).retval)
    print("socket filter keeps", p["first_64"].test_run(bytes(200)).retval, "bytes")
    print("tc ->", p["mark"].test_run(udp).retval, " cgroup_skb ->", p["allow"].test_run(udp).retval)
