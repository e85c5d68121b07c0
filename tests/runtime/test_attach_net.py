"""Attach for network and cgroup programs, in the real kernel.

Traffic crosses a veth pair between two private network namespaces (see
tests/net_fixtures.py), or loopback sockets of this process inside its own
test cgroup, so nothing here touches other processes' packets.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from net_fixtures import child_cgroup, received, veth  # noqa: F401  (child_cgroup, veth: fixtures)
from pybpf_dsl.errors import AttachTargetNotFound, NotSupported, SyscallError
from pybpf_dsl.runtime import asm, netlink, syscall, uapi
from pybpf_dsl.runtime.asm import (BPF_ADD, BPF_JEQ, BPF_JGT, BPF_JNE, R0, R1, R2, R3, R4, R5, R6, R7,
                                   R10)
from pybpf_dsl.runtime.attach.cgroup import attach_cgroup, cgroup2_root, current_cgroup
from pybpf_dsl.runtime.attach.netns import attach_netns
from pybpf_dsl.runtime.attach.socket import attach_raw_socket, attach_socket_filter
from pybpf_dsl.runtime.attach.sockmap import attach_sockmap
from pybpf_dsl.runtime.attach.tc import TC_MODES, attach_tc
from pybpf_dsl.runtime.attach.xdp import attach_xdp, bcc_attach_xdp, remove_xdp
from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.netdev import device_names, ifindex, ifname
from pybpf_dsl.runtime.uapi import AttachType, LinkType, MapType, ProgType

XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3
TC_ACT_OK, TC_ACT_SHOT = 0, 2
PORT, OTHER_PORT = 4789, 4790
HELPER_MAP_LOOKUP = 1

# --------------------------------------------------------------------- programs


def assemble(parts: list) -> bytes:
    """Join instructions; a str is a label, a (label, make) pair a jump built as make(offset)."""
    index, labels = 0, {}
    for part in parts:
        if isinstance(part, str):
            labels[part] = index
        else:
            index += 1 if isinstance(part, tuple) else len(part) // 8
    out, index = [], 0
    for part in parts:
        if isinstance(part, str):
            continue
        if isinstance(part, tuple):
            label, make = part
            part = make(labels[label] - index - 1)
        out.append(part)
        index += len(part) // 8
    return b"".join(out)


def load(prog_type: int, parts: list, expected_attach_type: int = 0) -> FD:
    fd, err, log = syscall.prog_load(prog_type, assemble(parts), "GPL",
                                     expected_attach_type=expected_attach_type, log_level=1)
    assert fd >= 0, f"load failed: errno {err}\n{log}"
    return FD(fd, "prog")


def counter_map(slots: int = 1) -> FD:
    return syscall.map_create(MapType.ARRAY, 4, 8, slots, name="net_test_cnt")


def count(map_fd: FD, slot: int = 0) -> int:
    key, value = uapi.ffi.new("uint32_t *", slot), uapi.ffi.new("uint64_t *")
    assert syscall.map_lookup(map_fd.fileno(), key, value)
    return value[0]


def bump(map_fd: FD, slot: int = 0) -> list:
    """*map[slot] += 1, atomically; clobbers R0-R5."""
    return [asm.st_imm(4, R10, -4, slot), asm.mov64_reg(R2, R10), asm.alu64_imm(BPF_ADD, R2, -4),
            asm.ld_map_fd(R1, map_fd.fileno()), asm.call(HELPER_MAP_LOOKUP),
            asm.jmp_imm(BPF_JEQ, R0, 0, 2), asm.mov64_imm(R1, 1),
            asm.insn(0xDB, R0, R1, 0, 0)]  # lock *(u64 *)(r0 + 0) += r1


def udp_port_counter(map_fd: FD, *, data: int, data_end: int, l3: int, hit: int, miss: int,
                     port: int = PORT) -> list:
    """Count IPv4/UDP packets to ``port`` and return ``hit`` for them, ``miss`` for the rest.

    ``data``/``data_end`` are the context offsets of the packet pointers, ``l3``
    where the IP header starts (14 behind an Ethernet header, 0 without).
    """
    parts = [asm.mov64_reg(R6, R1), asm.ldx(4, R2, R6, data), asm.ldx(4, R3, R6, data_end),
             asm.mov64_reg(R4, R2), asm.alu64_imm(BPF_ADD, R4, l3 + 24),
             ("miss", lambda o: asm.jmp_reg(BPF_JGT, R4, R3, o))]
    if l3:
        parts += [asm.ldx(2, R4, R2, 12), ("miss", lambda o: asm.jmp_imm(BPF_JNE, R4, 0x0008, o))]
    parts += [asm.ldx(1, R4, R2, l3 + 9), ("miss", lambda o: asm.jmp_imm(BPF_JNE, R4, 17, o)),
              asm.ldx(2, R4, R2, l3 + 22),
              ("miss", lambda o: asm.jmp_imm(BPF_JNE, R4, socket.htons(port), o))]
    return parts + bump(map_fd) + [asm.mov64_imm(R0, hit), asm.exit_(),
                                   "miss", asm.mov64_imm(R0, miss), asm.exit_()]


def xdp_counter(map_fd: FD, hit: int = XDP_PASS) -> FD:
    return load(ProgType.XDP, udp_port_counter(map_fd, data=0, data_end=4, l3=14, hit=hit, miss=XDP_PASS))


def tc_counter(map_fd: FD, hit: int = TC_ACT_OK) -> FD:
    return load(ProgType.SCHED_CLS,
                udp_port_counter(map_fd, data=76, data_end=80, l3=14, hit=hit, miss=TC_ACT_OK))


def expect_udp(frame: bytes, port: int = PORT) -> bool:
    """The Python model of udp_port_counter's test for a frame with an Ethernet header."""
    return (len(frame) >= 14 + 24 and frame[12:14] == b"\x08\x00" and frame[23] == 17
            and frame[36:38] == struct.pack("!H", port))


def udp_frame(port: int = PORT, payload: bytes = b"hello") -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 1, 0, 64, 17, 0,
                     socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
    udp = struct.pack("!HHHH", 5000, port, 8 + len(payload), 0)
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp + payload


def send_udp(pair, port: int, n: int) -> None:
    tx = pair.peer.socket()
    with tx:
        for i in range(n):
            tx.sendto(b"datagram %d" % i, (pair.addr, port))


def xdp_state(ns, dev: str) -> dict:
    """What `ip -d link` reports about the device's XDP program ({} when none)."""
    info = json.loads(ns.ip("-j", "-d", "link", "show", "dev", dev))[0]
    return info.get("xdp", {})


# --------------------------------------------------------------------- devices

def test_ifindex_resolves_names_and_lists_devices_when_missing():
    assert ifindex("lo") == 1 and ifindex(1) == 1 and ifindex(b"lo") == 1
    assert ifname(1) == "lo"
    assert "lo" in device_names()
    with pytest.raises(AttachTargetNotFound, match=r"no network device 'nosuchdev0'.*lo"):
        ifindex("nosuchdev0")
    with pytest.raises(AttachTargetNotFound, match="with index 999999"):
        ifindex(999999)


# --------------------------------------------------------------------- XDP

@pytest.mark.parametrize("flags,mode", [(uapi.XDP_FLAGS_SKB_MODE, "xdpgeneric"),
                                        (uapi.XDP_FLAGS_DRV_MODE, "xdp")])
def test_xdp_counts_packets_on_veth(veth, flags, mode):
    with counter_map() as cnt, xdp_counter(cnt) as prog:
        rx, _ = veth.udp_pair(PORT)
        with rx:
            with veth.ns.entered():
                link = attach_xdp(prog, veth.dev, flags)
            with link:
                assert link.kind == "xdp" and link.target == veth.dev
                assert xdp_state(veth.ns, veth.dev)["mode"] == {"xdpgeneric": 2, "xdp": 1}[mode]
                info = syscall.obj_info(link.fds[0].fileno(), "link")
                assert info.type == LinkType.XDP
                send_udp(veth, PORT, 5)
                send_udp(veth, OTHER_PORT, 3)
                assert len(received(rx)) == 5
                assert count(cnt) == 5
            assert xdp_state(veth.ns, veth.dev) == {}
            send_udp(veth, PORT, 2)
            assert len(received(rx)) == 2
            assert count(cnt) == 5


def test_xdp_link_dies_with_the_process(veth):
    with counter_map() as cnt, xdp_counter(cnt) as prog, veth.ns.entered():
        pid = os.fork()
        if pid == 0:  # the child attaches and exits without closing anything
            try:
                link = attach_xdp(prog, veth.dev, uapi.XDP_FLAGS_SKB_MODE)
                os._exit(0 if link and xdp_state(veth.ns, veth.dev) else 3)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        for _ in range(100):
            if not xdp_state(veth.ns, veth.dev):
                break
            time.sleep(0.01)
        assert xdp_state(veth.ns, veth.dev) == {}


def test_xdp_drop_stops_datagrams(veth):
    with counter_map() as cnt, xdp_counter(cnt, hit=XDP_DROP) as prog:
        rx, _ = veth.udp_pair(PORT)
        with rx, veth.ns.entered(), attach_xdp(prog, veth.dev, uapi.XDP_FLAGS_SKB_MODE):
            send_udp(veth, PORT, 4)
            assert received(rx) == []
            assert count(cnt) == 4


def test_xdp_errors_are_one_actionable_line(veth):
    with counter_map() as cnt, xdp_counter(cnt) as prog, veth.ns.entered():
        with pytest.raises(AttachTargetNotFound, match="no network device 'eth_missing'"):
            attach_xdp(prog, "eth_missing")
        with pytest.raises(NotSupported, match="native XDP on lo: the driver lacks it"):
            attach_xdp(prog, "lo", uapi.XDP_FLAGS_DRV_MODE)
        with pytest.raises(SyscallError, match=f"needs a program loaded for {veth.dev}"):
            attach_xdp(prog, veth.dev, uapi.XDP_FLAGS_HW_MODE)
        with pytest.raises(ValueError, match="one mode only"):
            attach_xdp(prog, veth.dev, uapi.XDP_FLAGS_SKB_MODE | uapi.XDP_FLAGS_DRV_MODE)
        with attach_xdp(prog, veth.dev, uapi.XDP_FLAGS_SKB_MODE):
            with pytest.raises(SyscallError, match="already runs an XDP program") as exc:
                attach_xdp(prog, veth.dev, uapi.XDP_FLAGS_SKB_MODE)
            assert exc.value.errno == errno.EBUSY and "\n" not in str(exc.value)


def test_bcc_attach_and_remove_xdp(veth):
    generic = uapi.XDP_FLAGS_SKB_MODE
    with counter_map() as cnt, xdp_counter(cnt) as prog, xdp_counter(cnt) as other, veth.ns.entered():
        bcc_attach_xdp(veth.dev, prog, generic)
        first = xdp_state(veth.ns, veth.dev)["prog"]["id"]
        bcc_attach_xdp(veth.dev, other, generic)           # replaces, as bcc does
        assert xdp_state(veth.ns, veth.dev)["prog"]["id"] != first
        remove_xdp(veth.dev, generic)                      # from the registry
        assert xdp_state(veth.ns, veth.dev) == {}
        with netlink.RtNetlink() as nl:                    # what `ip link set dev X xdp ...` does
            netlink.set_xdp(nl, ifindex(veth.dev), prog.fileno(), generic)
        bcc_attach_xdp(veth.dev, other, generic)           # replaces the netlink program by netlink
        assert xdp_state(veth.ns, veth.dev)["prog"]["id"] != first
        remove_xdp(veth.dev, generic)                      # not ours: removed by netlink
        assert xdp_state(veth.ns, veth.dev) == {}
        remove_xdp(veth.dev, generic)                      # nothing there: the kernel shrugs


def test_bcc_attach_xdp_update_if_noexist_refuses_a_busy_device(veth):
    generic = uapi.XDP_FLAGS_SKB_MODE
    noexist = generic | uapi.XDP_FLAGS_UPDATE_IF_NOEXIST
    with counter_map() as cnt, xdp_counter(cnt) as prog, xdp_counter(cnt) as other, veth.ns.entered():
        bcc_attach_xdp(veth.dev, prog, noexist)            # a free device: attached
        first = xdp_state(veth.ns, veth.dev)["prog"]["id"]
        with pytest.raises(SyscallError) as exc:           # ours already there
            bcc_attach_xdp(veth.dev, other, noexist)
        assert exc.value.errno == errno.EBUSY and "\n" not in str(exc.value)
        assert xdp_state(veth.ns, veth.dev)["prog"]["id"] == first
        remove_xdp(veth.dev, generic)
        with netlink.RtNetlink() as nl:                    # someone else's, by netlink
            netlink.set_xdp(nl, ifindex(veth.dev), prog.fileno(), generic)
        with pytest.raises(SyscallError) as exc:
            bcc_attach_xdp(veth.dev, other, noexist)
        assert exc.value.errno == errno.EBUSY
        assert xdp_state(veth.ns, veth.dev)["prog"]["id"] == first
        remove_xdp(veth.dev, generic)
        assert xdp_state(veth.ns, veth.dev) == {}


# --------------------------------------------------------------------- BPF_PROG_TEST_RUN

frames = st.one_of(
    st.binary(min_size=14, max_size=120),
    st.builds(udp_frame, st.sampled_from([PORT, OTHER_PORT]), st.binary(max_size=64)),
    st.builds(lambda f, n: f[:n], st.builds(udp_frame), st.integers(14, 60)),
)


@pytest.fixture(scope="module")
def run_progs(root):
    """An XDP and a SCHED_CLS UDP counter sharing one counter map, plus an XDP MAC swapper."""
    cnt = counter_map()
    swap = [asm.ldx(4, R2, R1, 0), asm.ldx(4, R3, R1, 4), asm.mov64_reg(R4, R2),
            asm.alu64_imm(BPF_ADD, R4, 14), ("out", lambda o: asm.jmp_reg(BPF_JGT, R4, R3, o)),
            asm.ldx(4, R3, R2, 0), asm.ldx(2, R4, R2, 4), asm.ldx(4, R5, R2, 6), asm.ldx(2, R7, R2, 10),
            asm.stx(4, R2, R5, 0), asm.stx(2, R2, R7, 4), asm.stx(4, R2, R3, 6), asm.stx(2, R2, R4, 10),
            asm.mov64_imm(R0, XDP_TX), asm.exit_(), "out", asm.mov64_imm(R0, XDP_DROP), asm.exit_()]
    progs = {"xdp": xdp_counter(cnt, hit=XDP_DROP), "tc": tc_counter(cnt, hit=TC_ACT_SHOT),
             "swap": load(ProgType.XDP, swap), "map": cnt}
    yield progs
    for fd in progs.values():
        fd.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_test_run_xdp_and_tc_match_the_model(run_progs, frame):
    before = count(run_progs["map"])
    hit = expect_udp(frame)
    xdp = syscall.prog_test_run(run_progs["xdp"].fileno(), frame, data_out_size=len(frame) + 256)
    assert xdp.retval == (XDP_DROP if hit else XDP_PASS)
    assert xdp.data_out == frame
    l3_min = {b"\x08\x00": 20, b"\x86\xdd": 40}.get(frame[12:14], 0)
    if len(frame) < 14 + l3_min:  # the kernel refuses an skb whose IP header is cut short
        with pytest.raises(SyscallError) as exc:
            syscall.prog_test_run(run_progs["tc"].fileno(), frame)
        assert exc.value.errno == errno.EINVAL
        hit = False
    else:
        tc = syscall.prog_test_run(run_progs["tc"].fileno(), frame, data_out_size=len(frame) + 256)
        assert tc.retval == (TC_ACT_SHOT if hit else TC_ACT_OK)
        assert tc.data_out == frame
    assert count(run_progs["map"]) == before + expect_udp(frame) + hit


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=st.binary(min_size=14, max_size=200))
def test_test_run_xdp_rewrites_the_frame(run_progs, frame):
    out = syscall.prog_test_run(run_progs["swap"].fileno(), frame, data_out_size=len(frame) + 256)
    assert out.retval == XDP_TX
    assert out.data_out == frame[6:12] + frame[0:6] + frame[12:]


def test_test_run_rejects_frames_shorter_than_ethernet(run_progs):
    with pytest.raises(SyscallError) as exc:
        syscall.prog_test_run(run_progs["xdp"].fileno(), b"\x00" * 13)
    assert exc.value.errno == errno.EINVAL


# --------------------------------------------------------------------- tc

def test_tcx_counts_ingress_and_egress(veth):
    with counter_map() as c_in, counter_map() as c_out, tc_counter(c_in) as p_in, tc_counter(c_out) as p_out:
        rx, _ = veth.udp_pair(PORT)
        with rx:
            with veth.ns.entered():
                ingress = attach_tc(p_in, veth.dev, "ingress")
            with veth.peer.entered():
                egress = attach_tc(p_out, veth.peer_dev, "egress")
            with ingress, egress:
                assert (ingress.kind, ingress.target) == ("tcx", f"{veth.dev}:ingress")
                assert syscall.obj_info(ingress.fds[0].fileno(), "link").type == LinkType.TCX
                send_udp(veth, PORT, 6)
                assert len(received(rx)) == 6
                assert (count(c_in), count(c_out)) == (6, 6)
            send_udp(veth, PORT, 1)
            assert len(received(rx)) == 1 and count(c_in) == 6


def test_tcx_shot_drops(veth):
    with counter_map() as cnt, tc_counter(cnt, hit=TC_ACT_SHOT) as prog:
        rx, _ = veth.udp_pair(PORT)
        with rx, veth.ns.entered(), attach_tc(prog, veth.dev, "ingress", mode="tcx"):
            send_udp(veth, PORT, 3)
            assert received(rx) == [] and count(cnt) == 3


def _qdiscs(ns, dev: str) -> str:
    return subprocess.run(["tc", "-n", ns.name, "qdisc", "show", "dev", dev], capture_output=True,
                          text=True, check=True).stdout


def test_tc_netlink_clsact_cls_bpf(veth):
    with counter_map() as cnt, tc_counter(cnt) as prog:
        rx, _ = veth.udp_pair(PORT)
        with rx, veth.ns.entered():
            with attach_tc(prog, veth.dev, "ingress", mode="netlink", name="counter") as link:
                assert link.kind == "tc" and not link.fds
                assert "clsact" in _qdiscs(veth.ns, veth.dev)
                shown = subprocess.run(["tc", "-n", veth.ns.name, "filter", "show", "dev", veth.dev,
                                        "ingress"], capture_output=True, text=True, check=True).stdout
                assert "counter" in shown and "direct-action" in shown
                send_udp(veth, PORT, 4)
                assert len(received(rx)) == 4 and count(cnt) == 4
            assert "clsact" not in _qdiscs(veth.ns, veth.dev)   # we created it, we removed it
            veth.ns.ip("link", "show")  # the device is intact
            subprocess.run(["tc", "-n", veth.ns.name, "qdisc", "add", "dev", veth.dev, "clsact"], check=True)
            with attach_tc(prog, veth.dev, "egress", mode="netlink"):
                pass
            assert "clsact" in _qdiscs(veth.ns, veth.dev)       # someone else's: left alone


def test_tc_netlink_failure_leaves_no_qdisc(veth, monkeypatch):
    def refuse(*args):
        raise SyscallError("RTM_NEWTFILTER", errno.ENOMEM)
    monkeypatch.setattr(netlink, "add_bpf_filter", refuse)
    with counter_map() as cnt, tc_counter(cnt) as prog, veth.ns.entered():
        with pytest.raises(SyscallError, match="ENOMEM"):
            attach_tc(prog, veth.dev, mode="netlink")
        assert "clsact" not in _qdiscs(veth.ns, veth.dev)


def test_tc_rejects_bad_arguments(veth):
    with counter_map() as cnt, tc_counter(cnt) as prog, veth.ns.entered():
        with pytest.raises(ValueError, match="'ingress' or 'egress'"):
            attach_tc(prog, veth.dev, "sideways")
        with pytest.raises(AttachTargetNotFound):
            attach_tc(prog, "nosuchdev0")
        with xdp_counter(cnt) as xdp:
            for mode in TC_MODES:
                with pytest.raises(SyscallError, match="this is a xdp program; the hook runs sched_cls"):
                    attach_tc(xdp, veth.dev, mode=mode)
        assert "clsact" not in _qdiscs(veth.ns, veth.dev)    # nothing half-attached


def _kernel_without(errno_value: int):
    """A link_create that fails like a kernel lacking the link type."""
    def link_create(*args, **kwargs):
        raise SyscallError("BPF_LINK_CREATE", errno_value)
    return link_create


def test_tc_auto_falls_back_to_netlink_without_tcx(veth, monkeypatch):
    from pybpf_dsl.runtime.attach import tc
    monkeypatch.setattr(tc.syscall, "link_create", _kernel_without(errno.EINVAL))
    with counter_map() as cnt, tc_counter(cnt) as prog, veth.ns.entered():
        with attach_tc(prog, veth.dev) as link:
            assert link.kind == "tc" and "clsact" in _qdiscs(veth.ns, veth.dev)
        with pytest.raises(SyscallError, match="EINVAL"):
            attach_tc(prog, veth.dev, mode="tcx")
        monkeypatch.setattr(tc.syscall, "link_create", _kernel_without(errno.EPERM))
        with pytest.raises(SyscallError, match="EPERM"):
            attach_tc(prog, veth.dev)                          # a real refusal is not retried
        assert "clsact" not in _qdiscs(veth.ns, veth.dev)


# --------------------------------------------------------------------- socket filters

def skb_len_filter(limit: int) -> FD:
    """Keep packets whose skb->len is at most ``limit``, drop the rest."""
    return load(ProgType.SOCKET_FILTER, [
        asm.ldx(4, R0, R1, 0), ("drop", lambda o: asm.jmp_imm(BPF_JGT, R0, limit, o)), asm.exit_(),
        "drop", asm.mov64_imm(R0, 0), asm.exit_()])


def test_socket_filter_drops_large_datagrams(root):
    with skb_len_filter(8 + 32) as prog, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        with attach_socket_filter(prog, rx) as link:
            assert link.kind == "socket_filter"
            for size in (1, 100, 32, 33, 7):
                tx.sendto(b"x" * size, rx.getsockname())
            assert sorted(map(len, received(rx))) == [1, 7, 32]
        tx.sendto(b"x" * 100, rx.getsockname())
        assert list(map(len, received(rx))) == [100]
        with counter_map() as cnt, xdp_counter(cnt) as xdp, \
                pytest.raises(SyscallError, match="this is a xdp program; the hook runs socket_filter"):
            attach_socket_filter(xdp, rx)


def test_socket_filter_on_int_fd_keeps_socket_until_closed(root):
    with skb_len_filter(8) as prog, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        link = attach_socket_filter(prog, rx.fileno())
        tx.sendto(b"dropped", rx.getsockname())
        assert received(rx) == []
        link.close()
        link.close()
        tx.sendto(b"kept", rx.getsockname())
        assert received(rx) == [b"kept"]


def test_test_run_socket_filter_sees_l3(root):
    ld_abs_b = asm.insn(0x30, 0, 0, 0, 0)   # r0 = skb->data[0], the first byte after Ethernet
    with load(ProgType.SOCKET_FILTER, [asm.mov64_reg(R6, R1), ld_abs_b, asm.exit_()]) as first, \
            skb_len_filter(10_000) as length:
        frame = udp_frame(payload=b"abc")
        assert syscall.prog_test_run(first.fileno(), frame).retval == 0x45
        assert syscall.prog_test_run(length.fileno(), frame).retval == len(frame) - 14


def test_raw_socket_sees_filtered_frames(veth):
    ld_abs = {1: 0x30, 2: 0x28}
    keep_udp_to_port = [
        asm.mov64_reg(R6, R1),
        asm.insn(ld_abs[2], 0, 0, 0, 12), ("drop", lambda o: asm.jmp_imm(BPF_JNE, R0, 0x0800, o)),
        asm.insn(ld_abs[1], 0, 0, 0, 23), ("drop", lambda o: asm.jmp_imm(BPF_JNE, R0, 17, o)),
        asm.insn(ld_abs[2], 0, 0, 0, 36), ("drop", lambda o: asm.jmp_imm(BPF_JNE, R0, PORT, o)),
        asm.mov64_imm(R0, 0xFFFF), asm.exit_(), "drop", asm.mov64_imm(R0, 0), asm.exit_()]
    with load(ProgType.SOCKET_FILTER, keep_udp_to_port) as prog:
        with veth.ns.entered():
            sock = attach_raw_socket(prog, veth.dev)
        with sock:
            assert sock.getsockname()[0] == veth.dev and sock.getblocking() is False
            send_udp(veth, OTHER_PORT, 2)
            send_udp(veth, PORT, 3)
            time.sleep(0.05)
            got = []
            while True:
                try:
                    got.append(sock.recv(2048))
                except BlockingIOError:
                    break
            assert len(got) == 3 and all(expect_udp(f) for f in got)
        with pytest.raises(AttachTargetNotFound):
            attach_raw_socket(prog, "nosuchdev0")


# --------------------------------------------------------------------- cgroups

def test_cgroup2_root_is_discovered():
    assert current_cgroup().startswith(cgroup2_root())
    with open("/proc/self/mountinfo") as f:
        assert any(f" {cgroup2_root()} " in line and " cgroup2 " in line for line in f)


@pytest.mark.parametrize("mode", ["auto", "prog_attach"])
def test_cgroup_skb_counts_egress_and_drops_ingress(child_cgroup, veth, mode):
    egress = udp_port_counter  # cgroup_skb: __sk_buff.data starts at the IP header
    with counter_map() as c_out, counter_map() as c_in, \
            load(ProgType.CGROUP_SKB, egress(c_out, data=76, data_end=80, l3=0, hit=1, miss=1),
                 AttachType.CGROUP_INET_EGRESS) as p_out, \
            load(ProgType.CGROUP_SKB, egress(c_in, data=76, data_end=80, l3=0, hit=0, miss=1),
                 AttachType.CGROUP_INET_INGRESS) as p_in:
        rx, tx = veth.ns.socket(), veth.ns.socket()   # loopback of a private namespace: the port is ours
        with rx, tx:
            rx.bind(("127.0.0.1", PORT))
            with attach_cgroup(p_out, child_cgroup.path, "cgroup_inet_egress", mode=mode) as out_link, \
                    attach_cgroup(p_in, child_cgroup, AttachType.CGROUP_INET_INGRESS, mode=mode):
                assert out_link.kind == "cgroup"
                if mode == "auto":
                    assert syscall.obj_info(out_link.fds[0].fileno(), "link").type == LinkType.CGROUP
                for _ in range(5):
                    tx.sendto(b"ping", ("127.0.0.1", PORT))
                assert received(rx) == []
                assert (count(c_out), count(c_in)) == (5, 5)
            tx.sendto(b"ping", ("127.0.0.1", PORT))
            assert received(rx) == [b"ping"] and (count(c_out), count(c_in)) == (5, 5)


def test_cgroup_auto_falls_back_to_prog_attach_without_links(child_cgroup, monkeypatch):
    from pybpf_dsl.runtime.attach import progattach
    monkeypatch.setattr(progattach.syscall, "link_create", _kernel_without(errno.EINVAL))
    with load(ProgType.CGROUP_SKB, [asm.mov64_imm(R0, 1), asm.exit_()]) as prog:
        with attach_cgroup(prog, child_cgroup, "cgroup_inet_egress") as link:
            assert [fd.kind for fd in link.fds] == ["prog", "cgroup"]   # kept for BPF_PROG_DETACH
            ids = _attached_prog_ids(child_cgroup, AttachType.CGROUP_INET_EGRESS)
            assert ids == [syscall.obj_info(prog.fileno(), "prog").id]
        assert _attached_prog_ids(child_cgroup, AttachType.CGROUP_INET_EGRESS) == []


def _attached_prog_ids(group, attach_type) -> list[int]:
    ids = uapi.ffi.new("uint32_t[8]")
    attr = uapi.ffi.new("struct prog_query_attr *")
    attr.target_fd, attr.attach_type = group.fileno(), attach_type
    attr.prog_ids, attr.prog_cnt = int(uapi.ffi.cast("uintptr_t", ids)), 8
    syscall.bpf(uapi.Cmd.PROG_QUERY, attr)
    return list(ids[0:attr.prog_cnt])


def test_cgroup_sock_create_denies_udp_sockets(child_cgroup):
    deny_udp = [asm.ldx(4, R2, R1, 12), ("allow", lambda o: asm.jmp_imm(BPF_JNE, R2, 17, o)),
                asm.mov64_imm(R0, 0), asm.exit_(), "allow", asm.mov64_imm(R0, 1), asm.exit_()]
    with load(ProgType.CGROUP_SOCK, deny_udp, AttachType.CGROUP_INET_SOCK_CREATE) as prog:
        with attach_cgroup(prog, child_cgroup.path, "cgroup_inet_sock_create"):
            with pytest.raises(PermissionError):
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()


def test_cgroup_errors(root):
    with counter_map() as cnt, xdp_counter(cnt) as prog:
        with pytest.raises(AttachTargetNotFound, match="no cgroup .*pybpf_absent"):
            attach_cgroup(prog, "pybpf_absent", "cgroup_inet_ingress")
        with pytest.raises(ValueError, match="unknown attach type 'cgroup_nope'"):
            attach_cgroup(prog, cgroup2_root(), "cgroup_nope")
        with pytest.raises(ValueError, match="mode must be one of"):
            attach_cgroup(prog, cgroup2_root(), "cgroup_inet_ingress", mode="magic")


# --------------------------------------------------------------------- sockmap, netns

@pytest.mark.parametrize("mode", ["auto", "prog_attach"])
@pytest.mark.parametrize("attach_type,prog_type,side", [
    ("sk_skb_stream_verdict", ProgType.SK_SKB, "receiver"),
    ("sk_msg_verdict", ProgType.SK_MSG, "sender")])
def test_sockmap_verdict_sees_tcp_data(root, attach_type, prog_type, side, mode):
    with counter_map() as cnt, syscall.map_create(MapType.SOCKMAP, 4, 4, 2, name="net_test_sm") as smap, \
            load(prog_type, bump(cnt) + [asm.mov64_imm(R0, 1), asm.exit_()]) as verdict, \
            socket.create_server(("127.0.0.1", 0)) as server:
        with attach_sockmap(verdict, smap, attach_type, mode=mode) as link:
            if mode == "auto":
                assert syscall.obj_info(link.fds[0].fileno(), "link").type == LinkType.SOCKMAP
            client = socket.create_connection(server.getsockname())
            conn, _ = server.accept()
            with client, conn:
                key = uapi.ffi.new("uint32_t *", 0)
                member = conn if side == "receiver" else client
                syscall.map_update(smap.fileno(), key, uapi.ffi.new("uint32_t *", member.fileno()))
                client.sendall(b"through the verdict")
                conn.settimeout(2)
                assert conn.recv(100) == b"through the verdict"   # SK_PASS
                assert count(cnt) >= 1
                syscall.map_delete(smap.fileno(), key)
        with pytest.raises(ValueError, match="not a sockmap attach type"):
            attach_sockmap(verdict, smap, "cgroup_inet_ingress")


def test_netns_links_for_flow_dissector_and_sk_lookup(veth):
    with load(ProgType.FLOW_DISSECTOR, [asm.mov64_imm(R0, 0), asm.exit_()]) as dissector, \
            load(ProgType.SK_LOOKUP, [asm.mov64_imm(R0, 1), asm.exit_()], AttachType.SK_LOOKUP) as lookup:
        with attach_netns(dissector, "flow_dissector", veth.ns.name) as link:
            assert syscall.obj_info(link.fds[0].fileno(), "link").type == LinkType.NETNS
            with pytest.raises(SyscallError, match="takes one program and already has one") as exc:
                attach_netns(dissector, "flow_dissector", veth.ns.path)
            assert exc.value.errno == errno.E2BIG
            with veth.ns.entered(), attach_netns(lookup, AttachType.SK_LOOKUP), \
                    attach_netns(lookup, AttachType.SK_LOOKUP):
                pass  # sk_lookup takes several programs
        with attach_netns(dissector, "flow_dissector", veth.ns.path):
            pass  # detached: attachable again
        with pytest.raises(AttachTargetNotFound, match="pybpf_no_ns"):
            attach_netns(dissector, "flow_dissector", "pybpf_no_ns")


# --------------------------------------------------------------------- netlink encoding

@given(st.lists(st.tuples(st.integers(1, 0x7FFF), st.binary(max_size=40)), max_size=8, unique_by=lambda a: a[0]))
def test_netlink_attributes_round_trip(attrs):
    data = b"".join(netlink._attr(kind, payload) for kind, payload in attrs)
    assert len(data) % 4 == 0
    assert netlink._attrs(data) == dict(attrs)


def test_netlink_errors_carry_the_kernel_message(veth):
    with veth.ns.entered(), netlink.RtNetlink() as nl:
        with pytest.raises(SyscallError, match="RTM_NEWTFILTER failed with E") as exc:
            netlink.add_bpf_filter(nl, ifindex(veth.dev), uapi.TC_H_MIN_INGRESS, 999, "x")
        assert exc.value.call == "RTM_NEWTFILTER"
        assert "qdisc" in str(exc.value).lower()   # the kernel's extended-ack text, not just errno
