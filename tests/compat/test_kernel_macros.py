"""The kernel-header macros and inline helpers compat_c derives for bcc programs.

bcc's programs take DNAME_INLINE_LEN, min/max, the socket field aliases
(``sk->sk_state``, ``inet->inet_rcv_saddr``), the socket casts (``tcp_sk``,
``inet_sk``...) and the scatterlist helpers from kernel headers; these
machines have none, so compat_c derives them from BTF.  Each family is
compiled and loaded here and checked on values the kernel computes: a
sleepable SYSCALL program run with BPF_PROG_TEST_RUN, or a tracepoint that
sees this process's own TCP connect.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
from contextlib import contextmanager

import pytest
from hypothesis import given, settings, strategies as st

from compat_c import BPF, compile_c, kdefs
from pybpf_dsl.runtime.btf import Kind, kernel_btf
from pybpf_dsl.runtime.loader import load_object
from pybpf_dsl.runtime.uapi import BPF_F_SLEEPABLE, ProgType

pytestmark = pytest.mark.kernel


@contextmanager
def syscall_prog(src: str):
    """``(program, maps)`` of ``src``'s function ``run``, loaded as a sleepable SYSCALL program."""
    obj = compile_c(src)
    with load_object(obj.data, prog_types={}) as coll:
        yield coll.load_program("run", ProgType.SYSCALL, flags=BPF_F_SLEEPABLE), coll.maps


def array_u64(m, n: int) -> list[int]:
    return [struct.unpack("<Q", m.get(struct.pack("<i", i)))[0] for i in range(n)]


def btf_offset(struct_name: str, path: str) -> int:
    """The byte offset of ``path`` in ``struct struct_name``, walked in BTF independently of kdefs."""
    btf = kernel_btf()
    t, offset = btf.find(struct_name, Kind.STRUCT), 0
    for name in path.split("."):
        stack = [(t, 0)]
        while stack:
            cur, base = stack.pop()
            hit = next((m for m in cur.members if m.name == name), None)
            if hit is not None:
                offset += base + hit.bit_offset // 8
                t = btf.resolve(hit.type_id)
                break
            stack += [(btf.resolve(m.type_id), base + m.bit_offset // 8) for m in cur.members if not m.name]
        else:
            raise KeyError(path)
    return offset


# ---------------------------------------------------------------- DNAME_INLINE_LEN

def test_dname_inline_len_is_the_dentry_inline_name_size(root):
    btf = kernel_btf()
    dentry = btf.find("dentry", Kind.STRUCT)
    names = {m.name: m for m in dentry.members}
    if "d_shortname" in names:      # 6.14+: union shortname_store { unsigned char string[DNAME_INLINE_LEN]; ... }
        store = btf.resolve(names["d_shortname"].type_id)
        expected = btf.resolve(next(m for m in store.members if m.name == "string").type_id).array[2]
    else:
        expected = btf.resolve(names["d_iname"].type_id).array[2]
    assert kdefs.dname_inline_len(btf) == expected
    src = """
BPF_ARRAY(out, u64, 2);
struct name_t { char name[DNAME_INLINE_LEN]; };
int run(void *ctx) {
    int k = 0; u64 v = DNAME_INLINE_LEN;
    out.update(&k, &v);
    k = 1; v = sizeof(struct name_t);
    out.update(&k, &v);
    return 0;
}
"""
    with syscall_prog(src) as (prog, maps):
        prog.test_run()
        assert array_u64(maps["out"], 2) == [expected, expected]


# ---------------------------------------------------------------- min / max

MINMAX = """
BPF_ARRAY(in, s64, 3);
struct res_t { s64 v[8]; };
BPF_ARRAY(out, struct res_t, 1);
int run(void *ctx) {
    int k0 = 0, k1 = 1, k2 = 2;
    s64 *pa = in.lookup(&k0), *pb = in.lookup(&k1), *pc = in.lookup(&k2);
    if (!pa || !pb || !pc) return 1;
    s64 a = *pa, b = *pb, c = *pc, i = a;
    struct res_t r = {{min(a, b), max(a, b), min(min(a, b), c), max(a, max(b, c)),
                       min3(a, b, c), clamp(a, b < c ? b : c, b < c ? c : b), min(i++, b), 0}};
    r.v[7] = i;
    out.update(&k0, &r);
    return 0;
}
"""


@pytest.fixture(scope="module")
def minmax():
    with syscall_prog(MINMAX) as loaded:
        yield loaded


s64s = st.integers(-(2 ** 63), 2 ** 63 - 1)


@settings(max_examples=60, deadline=None)
@given(a=s64s, b=s64s, c=s64s)
def test_min_max_semantics(root, minmax, a, b, c):
    prog, maps = minmax
    for i, v in enumerate((a, b, c)):
        maps["in"].update(struct.pack("<i", i), struct.pack("<q", v))
    prog.test_run()
    got = list(struct.unpack("<8q", maps["out"].get(struct.pack("<i", 0))))
    lo, hi = min(b, c), max(b, c)
    assert got == [min(a, b), max(a, b), min(a, b, c), max(a, b, c),
                   min(a, b, c), min(max(a, lo), hi), min(a, b), a + 1 if a < 2 ** 63 - 1 else -(2 ** 63)]


def test_program_defining_its_own_min_keeps_it(root):
    """bcc's kernel headers define min/max too: a program's own #define replaces them."""
    src = """
#define min(a, b) ((a) < (b) ? (b) : (a))   /* deliberately not a min */
#define max(a, b, c) ((a) + (b) + (c))      /* and another arity */
BPF_ARRAY(out, u64, 2);
int run(void *ctx) {
    int k = 0; u64 v = min(3, 9);
    out.update(&k, &v);
    k = 1; v = max(1, 2, 3);
    out.update(&k, &v);
    return 0;
}
"""
    with syscall_prog(src) as (prog, maps):
        prog.test_run()
        assert array_u64(maps["out"], 2) == [9, 6]


def test_program_defining_min_as_a_function(root):
    src = """
#undef min
static inline u64 min(u64 a, u64 b) { return a < b ? a : b; }
BPF_ARRAY(out, u64, 1);
int run(void *ctx) { int k = 0; u64 v = min(7, 5); out.update(&k, &v); return 0; }
"""
    with syscall_prog(src) as (prog, maps):
        prog.test_run()
        assert array_u64(maps["out"], 1) == [5]


# ---------------------------------------------------------------- socket field aliases and casts

def test_field_aliases_name_the_kernel_paths(root):
    """offsetof through each alias equals offsetof through the full path, and both equal BTF's offset."""
    cases = [("sock", "sk_state", "__sk_common.skc_state"), ("sock", "sk_family", "__sk_common.skc_family"),
             ("sock", "sk_num", "__sk_common.skc_num"), ("sock", "sk_dport", "__sk_common.skc_dport"),
             ("sock", "sk_v6_rcv_saddr", "__sk_common.skc_v6_rcv_saddr"),
             ("sock", "sk_refcnt", "__sk_common.skc_refcnt"), ("sock", "sk_rmem_alloc", "sk_backlog.rmem_alloc"),
             ("inet_sock", "inet_rcv_saddr", "sk.__sk_common.skc_rcv_saddr"),
             ("inet_sock", "inet_daddr", "sk.__sk_common.skc_daddr"),
             ("inet_sock", "inet_dport", "sk.__sk_common.skc_dport"),
             ("inet_sock", "inet_num", "sk.__sk_common.skc_num"),
             ("inet_timewait_sock", "tw_state", "__tw_common.skc_state"),
             ("request_sock", "rsk_refcnt", "__req_common.skc_refcnt"),
             ("inet_request_sock", "ir_rmt_port", "req.__req_common.skc_dport")]
    body = "".join(f"    v = offsetof(struct {s}, {alias}); k = {2 * i}; out.update(&k, &v);\n"
                   f"    v = offsetof(struct {s}, {path}); k = {2 * i + 1}; out.update(&k, &v);\n"
                   for i, (s, alias, path) in enumerate(cases))
    src = f"BPF_ARRAY(out, u64, {2 * len(cases)});\nint run(void *ctx) {{\n    int k; u64 v;\n{body}    return 0;\n}}\n"
    with syscall_prog(src) as (prog, maps):
        prog.test_run()
        got = array_u64(maps["out"], 2 * len(cases))
    expected = [btf_offset(s, path) for s, _alias, path in cases]
    assert got[0::2] == expected and got[1::2] == expected


def test_aliases_never_shadow_real_members_or_enumerators():
    btf = kernel_btf()
    words = {m.name for t in btf.iter_types() if t.kind in (Kind.STRUCT, Kind.UNION) for m in t.members}
    words |= {n for t in btf.iter_types() if t.kind in (Kind.ENUM, Kind.ENUM64) for n, _v in t.values}
    text = kdefs.render_kernel(btf, words, set())
    defined = {line.split()[1] for line in text.splitlines() if line.startswith("#define ")}
    assert "sk_state" not in words and "sk_state" in defined   # this kernel: an alias, as in net/sock.h
    assert not defined & words
    # a name that is a real member somewhere is left alone
    assert "sk_state" not in kdefs.render_kernel(btf, words | {"sk_state"}, set())
    # a function-like helper is left out only where the types call a name of it
    assert "#define tcp_sk(" not in kdefs.render_kernel(btf, set(), {"tcp_sk"})
    assert "#define tcp_sk(" in kdefs.render_kernel(btf, {"tcp_sk"}, set())


SOCK_PROG = r"""
#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/tcp.h>
struct res_t { u64 v[10]; };
BPF_ARRAY(out, struct res_t, 1);
TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID || args->newstate != TCP_SYN_SENT) return 0;
    struct sock *sk = (struct sock *)args->skaddr;
    struct tcp_sock *tp = tcp_sk(sk);
    struct inet_sock *inet = inet_sk(sk);
    struct inet_connection_sock *icsk = inet_csk(sk);
    int k = 0;
    struct res_t r = {{sk->sk_state, args->oldstate, sk->sk_family, args->family,
                 ntohs(inet->inet_dport), inet->inet_num, inet->inet_daddr, inet->inet_rcv_saddr,
                 (void *)tp == (void *)sk && (void *)icsk == (void *)sk,
                 ntohs(icsk->icsk_inet.inet_sport)}};
    out.update(&k, &r);
    return 0;
}
"""


def test_socket_aliases_and_casts_read_a_live_socket(root):
    """At connect (CLOSE -> SYN_SENT) the aliases and casts read what the tracepoint reports."""
    listener, client = socket.socket(), socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client.bind(("127.0.0.1", 0))
        dport, sport = listener.getsockname()[1], client.getsockname()[1]
        with BPF(text=SOCK_PROG, cflags=[f"-DPID={os.getpid()}"]) as b:
            client.connect(listener.getsockname())
            got = list(b["out"][ctypes.c_int(0)].v)
    finally:
        client.close()
        listener.close()
    lo = struct.unpack("<I", socket.inet_aton("127.0.0.1"))[0]
    tcp_close = 7
    assert got == [tcp_close, tcp_close, socket.AF_INET, socket.AF_INET, dport, sport, lo, lo, 1, sport]


# ---------------------------------------------------------------- scatterlist helpers

def test_scatterlist_helpers(root):
    src = """
struct res_t { u64 v[8]; };
BPF_ARRAY(out, struct res_t, 1);
int run(void *ctx) {
    int k = 0;
    struct scatterlist end = {}, chain = {}, sg[2] = {};
    end.page_link = 0x1000 | SG_END;
    chain.page_link = 0x2000 | SG_CHAIN;
    sg[1].page_link = 0x3000 | SG_CHAIN;
    struct res_t r = {{!!sg_is_last(&end), !!sg_is_chain(&end), !!sg_is_last(&chain), !!sg_is_chain(&chain),
                       (u64)sg_chain_ptr(&chain), (u64)sg_next(&end), (u64)sg_next(&sg[0]), SG_PAGE_LINK_MASK}};
    out.update(&k, &r);
    return 0;
}
"""
    with syscall_prog(src) as (prog, maps):
        prog.test_run()
        got = list(struct.unpack("<8Q", maps["out"].get(struct.pack("<i", 0))))
    assert got == [1, 0, 0, 1, 0x2000, 0, 0x3000, 3]


def test_skb_header_helpers(root):
    src = """
struct res_t { u64 v[5]; };
BPF_ARRAY(out, struct res_t, 1);
int run(void *ctx) {
    int k = 0;
    struct sk_buff skb = {};
    skb.head = (unsigned char *)0x10000;
    skb.mac_header = 2;
    skb.network_header = 16;
    skb.transport_header = 36;
    struct res_t r = {{(u64)skb_mac_header(&skb), (u64)ip_hdr(&skb), (u64)ipv6_hdr(&skb),
                       (u64)tcp_hdr(&skb), (u64)udp_hdr(&skb)}};
    out.update(&k, &r);
    return 0;
}
"""
    with syscall_prog(src) as (prog, maps):
        prog.test_run()
        got = list(struct.unpack("<5Q", maps["out"].get(struct.pack("<i", 0))))
    assert got == [0x10002, 0x10010, 0x10010, 0x10024, 0x10024]


# ---------------------------------------------------------------- Debian's bcc tools

# Each failed to compile before these macros existed; kprobes are absent here,
# so "gets past compilation" is: runs, or stops with the one-line kprobe message.
TOOLS = ("filegone", "filelife", "fileslower", "filetop", "xfsslower", "zfsslower", "sofdsnoop",
         "sslsniff", "solisten", "tcptracer", "tcprtt", "virtiostat")


@pytest.mark.skipif(not os.path.exists("/usr/sbin/filelife-bpfcc"), reason="bpfcc-tools is not installed")
@pytest.mark.parametrize("tool", TOOLS)
def test_bcc_tool_gets_past_compilation(root, tool):
    proc = subprocess.Popen([sys.executable, "-m", "compat_c", f"/usr/sbin/{tool}-bpfcc"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _out, err = proc.communicate(timeout=8)
    except subprocess.TimeoutExpired:       # running: stop it as a user would
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        return
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert proc.returncode == 0 or "this kernel does not support kprobes" in last, last


def test_copying_a_kernel_struct_keeps_the_object_btf(root):
    """filelife & co. copy ``struct qstr d_name = de->d_name``: the object still carries BTF for its maps."""
    src = """
struct info_t { char name[DNAME_INLINE_LEN]; u32 len; };
BPF_HASH(names, u32, struct info_t);
int trace_unlink(struct pt_regs *ctx, struct inode *dir, struct dentry *de) {
    struct qstr d_name = de->d_name;
    struct info_t info = {.len = d_name.len};
    bpf_probe_read_kernel(&info.name, sizeof(info.name), d_name.name);
    u32 k = 0;
    names.update(&k, &info);
    return 0;
}
"""
    obj = compile_c(src)
    with load_object(obj.data, prog_types={"trace_unlink": ProgType.KPROBE}) as coll:
        assert "names" in coll.maps
