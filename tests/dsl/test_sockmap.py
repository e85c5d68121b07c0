"""Sockmaps in the DSL: SockMap/SockHash with sk_skb, sk_msg and sock_ops programs on loopback TCP."""

import socket

import pytest

from pybpf_dsl import load, sk_msg, sk_skb, sock_ops
from pybpf_dsl.maps import ArrayMap, SockHash, SockMap
from pybpf_dsl.types import u32, u64

from net_fixtures import child_cgroup  # noqa: F401 - a fixture

SK_PASS = 1
BPF_F_INGRESS = 1

seen = ArrayMap[u64](max_entries=1)
socks = SockMap(max_entries=2)
by_port = SockHash[u32](max_entries=4)


@sk_skb("stream_verdict", map=socks)
def verdict(skb) -> int:
    seen[0] += skb.len
    return SK_PASS


@sk_msg
def to_self(msg) -> int:
    """Every message the socket sends comes back into its own receive queue."""
    seen[0] += msg.size
    port = u32(msg.local_port)
    return by_port.msg_redirect_hash(msg, port, BPF_F_INGRESS)


@sk_skb("stream_verdict")
def steer(skb) -> int:
    return socks.sk_redirect_map(skb, 1, BPF_F_INGRESS)


def _pair():
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    server.close()
    for s in (client, conn):
        s.settimeout(2)
    return client, conn


def test_sk_skb_verdict_passes_tcp_data(root):
    """The map named in the decorator is part of the object and the program is attached by load()."""
    with load(verdict, cache=False) as prog:
        assert "verdict" in prog.links
        client, conn = _pair()
        with client, conn:
            prog["socks"][0] = conn
            client.sendall(b"through the verdict")
            assert conn.recv(100) == b"through the verdict"
            assert prog["seen"][0].value == len(b"through the verdict")
            del prog["socks"][0]


def test_sk_skb_redirect_map_moves_data_to_another_socket(root):
    with load(steer, cache=False) as prog, prog.attach(steer, map=socks):   # loaded only: no map= yet
        (c1, s1), (c2, s2) = _pair(), _pair()
        with c1, s1, c2, s2:
            prog["socks"][0] = s1
            prog["socks"][1] = s2
            c1.sendall(b"steered")
            assert s2.recv(100) == b"steered"     # s1's data lands in s2's receive queue
            s1.settimeout(0.2)
            with pytest.raises(TimeoutError):
                s1.recv(100)
            del prog["socks"][0]
            del prog["socks"][1]


def test_sk_msg_redirect_hash_to_own_ingress(root):
    with load(to_self, cache=False) as prog, prog.attach(to_self, map=by_port):
        client, conn = _pair()
        with client, conn:
            port = client.getsockname()[1]
            prog["by_port"][u32(port)] = client
            client.sendall(b"boomerang")
            assert client.recv(100) == b"boomerang"
            assert prog["seen"][0].value == len(b"boomerang")
            conn.settimeout(0.2)
            with pytest.raises(TimeoutError):
                conn.recv(100)
            del prog["by_port"][u32(port)]


ESTABLISHED = (4, 5)   # BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB
ops_seen = SockHash[u32](max_entries=8)


@sock_ops
def on_established(skops) -> int:
    if skops.op == ESTABLISHED[0] or skops.op == ESTABLISHED[1]:
        port = u32(skops.local_port)
        ops_seen.sock_hash_update(skops, port, 0)
    return 1


def test_sock_ops_adds_established_sockets_to_a_sockhash(child_cgroup):
    with load(on_established, cache=False) as prog:
        assert "on_established" not in prog.links    # needs cgroup=
        with prog.attach(on_established, cgroup=child_cgroup.path):
            client, conn = _pair()
            with client, conn:
                ports = {client.getsockname()[1], conn.getsockname()[1]}
                assert {k.value for k in prog["ops_seen"].keys()} == ports
                for port in ports:
                    del prog["ops_seen"][u32(port)]
