"""Splice two loopback TCP connections in the kernel: an sk_skb verdict (bcc's BPF_SOCKMAP +
sk_redirect_map) moves what arrives on one socket into the other's receive queue."""
import socket

from pybpf_dsl import load, sk_skb
from pybpf_dsl.maps import ArrayMap, SockMap
from pybpf_dsl.types import u64

socks = SockMap(max_entries=2)
moved = ArrayMap[u64](max_entries=1)

@sk_skb("stream_verdict", map=socks)
def splice(skb) -> int:
    moved[0] += skb.len
    return socks.sk_redirect_map(skb, 1, 1)            # slot 1, BPF_F_INGRESS

def connection():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        return client, server.accept()[0]

with load(splice) as prog:
    (c1, s1), (c2, s2) = connection(), connection()
    prog["socks"][0], prog["socks"][1] = s1, s2
    c1.sendall(b"hello through the sockmap")
    s2.settimeout(2)
    print("second connection received:", s2.recv(100))
    print("bytes moved:", prog["moved"][0].value)
    for s in (c1, s1, c2, s2):
        s.close()
