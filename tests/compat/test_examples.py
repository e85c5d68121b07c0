"""bcc's examples (examples/networking, examples/tracing) and programs in their style.

The programs written here follow the examples' shapes (a socket filter on a
raw socket read from Python, an XDP counter whose map kind comes from a
``-D`` flag, kernel-header macros such as htons and min_t) and run under
``python3 -m compat_c`` inside the veth fixture's namespace.  bcc's own
example scripts run from a bcc checkout when there is one ($BCC_EXAMPLES,
default /tmp/bcc/examples), unmodified; otherwise those tests skip.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compat_c import BPF
from compat_c.frontend import _table_kinds
from net_fixtures import netns, veth  # noqa: F401  (fixtures)
from pybpf_dsl.errors import NotSupported
from pybpf_dsl.runtime import features
from pybpf_dsl.runtime.elfsyms import build_id, find_library, resolve_symbol
from pybpf_dsl.runtime.syscall import prog_test_run

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = Path(os.environ.get("BCC_EXAMPLES", "/tmp/bcc/examples"))


def example(rel: str) -> Path:
    path = EXAMPLES / rel
    if not path.exists():
        pytest.skip(f"bcc's {rel} is not at {path} (set BCC_EXAMPLES to a bcc checkout's examples/)")
    return path


class Script:
    """``python3 -m compat_c SCRIPT ARGS`` (inside namespace ``netns`` if given), output collected."""

    def __init__(self, script: Path, *args: str, netns: str | None = None) -> None:
        prefix = ["ip", "netns", "exec", netns] if netns else []
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([*prefix, sys.executable, "-m", "compat_c", script.name, *args],
                                     cwd=script.parent, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._chunks: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self._chunks.append(line)

    @property
    def out(self) -> str:
        """Everything printed so far."""
        return "".join(self._chunks)

    def wait_for(self, pattern: str, timeout: float = 30, count: int = 1) -> list:
        """The first ``count`` matches of ``pattern`` in the output, waiting for them."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = rx.findall(self.out)
            if len(found) >= count:
                return found[:count]
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"no {count}x {pattern!r} in the output:\n{self.out[-3000:]}")

    def stop(self) -> int:
        """Ctrl-C, then the exit status (the rest of the output lands in ``out``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.proc.stdout.close()  # type: ignore[union-attr]
        return self.proc.returncode


def send_udp(pair, port: int, count: int, payload: bytes = b"x" * 8) -> None:
    with pair.peer.entered():
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with tx:
        for _ in range(count):
            tx.sendto(payload, (pair.addr, port))
            time.sleep(0.02)


# ---------------------------------------------------------------- the rewriter's share


@pytest.mark.parametrize("given, flags, want", [
    ('BPF_TABLE("hash", u32, u64, t, 8);', [], "BPF_TABLE(hash, u32, u64, t, 8);"),
    ("BPF_TABLE(KIND, u32, u64, t, 8);", ['-DKIND="percpu_array"'], "BPF_TABLE(percpu_array, u32, u64, t, 8);"),
    ('#define KIND "lru_hash"\nBPF_F_TABLE(KIND, u32, u64, t, 8, 0);', [],
     '#define KIND "lru_hash"\nBPF_F_TABLE(lru_hash, u32, u64, t, 8, 0);'),
    ("BPF_TABLE(KIND, u32, u64, t, 8);", ["-DKIND=hash"], "BPF_TABLE(KIND, u32, u64, t, 8);"),
    ("BPF_TABLE(OTHER, u32, u64, t, 8);", ['-DKIND="hash"'], "BPF_TABLE(OTHER, u32, u64, t, 8);"),
])
def test_table_kind_from_a_string_macro(given, flags, want):
    assert _table_kinds(given, flags) == want


_KINDS = st.sampled_from(["hash", "array", "percpu_array", "lru_hash", "lpm_trie", "prog", "devmap"])
_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True)


_CALLS = st.sampled_from(["BPF_TABLE({}, u32, u64, t, 8);", "BPF_F_TABLE( {} , u32, u64, t, 8, 0);",
                          'BPF_TABLE_PINNED({}, u32, u64, t, 8, "/sys/fs/bpf/t");',
                          "BPF_TABLE_PUBLIC({}, u32, u64, t, 8);"])


@given(kind=_KINDS, name=_NAMES, via_flag=st.booleans(), call=_CALLS)
def test_a_kind_through_a_macro_rewrites_like_the_literal(kind, name, via_flag, call):
    literal = _table_kinds(call.format(f'"{kind}"'), [])
    head = "" if via_flag else f'#define {name} "{kind}"\n'
    cflags = [f'-D{name}="{kind}"'] if via_flag else []
    squeeze = functools.partial(re.sub, r"\s+", "")
    assert squeeze(_table_kinds(head + call.format(name), cflags)) == squeeze(head + literal)


def test_kernel_header_macros_compute_in_a_program(root):
    text = r"""
    BPF_ARRAY(out, u64, 10);
    int f(struct __sk_buff *skb) {
        u64 big = 12345678901ULL;
        out.update(&(int){0}, &(u64){htons(0x0800)});
        out.update(&(int){1}, &(u64){ntohl(0x01020304)});
        out.update(&(int){2}, &(u64){min_t(u32, 7, 3)});
        out.update(&(int){3}, &(u64){max_t(s32, -7, 3)});
        out.update(&(int){4}, &(u64){div_u64(big, 1000)});
        out.update(&(int){5}, &(u64){clamp_t(u32, 99, 10, 20)});
        out.update(&(int){6}, &(u64){be64_to_cpu(0x0102030405060708ULL)});
        out.update(&(int){7}, &(u64){bpf_ntohs(0x1234)});
        out.update(&(int){8}, &(u64){bpf_htonl(0x11223344)});
        unsigned __int128 wide = (unsigned __int128)0x0102030405060708ULL << 64 | 0x090a0b0c0d0e0f10ULL;
        out.update(&(int){9}, &(u64){(u64)(bpf_hton128(wide) >> 64)});
        return 0;
    }
    """
    with BPF(text=text) as b:
        fn = b.load_func("f", BPF.SCHED_CLS)
        prog_test_run(fn.fd, b"\0" * 64)
        got = [b["out"][ctypes.c_int(i)].value for i in range(10)]
    assert got == [0x0008, 0x04030201, 3, 3, 12345678, 20, 0x0807060504030201,
                   0x3412, 0x44332211, 0x100f0e0d0c0b0a09]


# ---------------------------------------------------------------- build-id stacks


def _libc_getpid():
    libc = find_library("c")
    bid = build_id(libc) if libc else None
    if bid is None:
        pytest.skip("no libc with a GNU build id")
    return libc, bid, resolve_symbol(libc, "getpid")


def test_sym_resolves_a_build_id_frame():
    libc, bid, loc = _libc_getpid()
    BPF.add_module(libc)
    frame = SimpleNamespace(status=1, build_id=bytes.fromhex(bid), offset=loc.offset)
    assert BPF.sym(frame, -1) in (b"getpid", b"__getpid")
    assert BPF.sym(frame, -1, show_module=True).endswith(b" [" + os.path.basename(libc).encode() + b"]")


def test_sym_finds_a_build_id_in_the_process_maps():
    _, bid, loc = _libc_getpid()
    unknown = SimpleNamespace(status=1, build_id=bytes(20), offset=loc.offset)
    assert BPF.sym(unknown, os.getpid()) == b"[unknown]"
    mapped = SimpleNamespace(status=1, build_id=bytes.fromhex(bid), offset=loc.offset)
    assert BPF.sym(mapped, os.getpid()) in (b"getpid", b"__getpid")


def test_sym_of_an_ip_frame_and_an_empty_frame():
    addr = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    assert BPF.sym(SimpleNamespace(status=2, ip=addr), os.getpid()) in (b"getpid", b"__getpid")
    assert BPF.sym(SimpleNamespace(status=0), os.getpid()) == b"[unknown]"


# ---------------------------------------------------------------- programs in the examples' style

_RAW_SOCKET_SCRIPT = r'''
import socket, struct, sys
from bcc import BPF

text = """
#include <bcc/proto.h>
BPF_HASH(ports, u32, u64);
int keep_udp(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    if (eth->type != ETH_P_IP)
        return 0;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    if (ip->nextp != IPPROTO_UDP)
        return 0;
    struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
    ports.increment((u32)udp->dport);
    return -1;
}
"""
b = BPF(text=text)
fn = b.load_func("keep_udp", BPF.SOCKET_FILTER)
BPF.attach_raw_socket(fn, sys.argv[1])
sock = socket.fromfd(fn.sock, socket.PF_PACKET, socket.SOCK_RAW, socket.IPPROTO_IP)
sock.setblocking(True)  # bcc opens it non-blocking
print("ready")
for _ in range(int(sys.argv[2])):
    frame = sock.recv(2048)
    ihl = (frame[14] & 0xF) * 4
    dport, = struct.unpack_from("!H", frame, 14 + ihl + 2)
    print("packet to", dport, frame[14 + ihl + 8:].decode())
for k, v in b["ports"].items():
    print("count", k.value, v.value)
'''


def test_raw_socket_filter_script(veth, tmp_path):
    script = tmp_path / "udp_filter.py"
    script.write_text(_RAW_SOCKET_SCRIPT)
    run = Script(script, veth.dev, "3", netns=veth.ns.name)
    run.wait_for("^ready")
    send_udp(veth, 4321, 3, b"hello")
    assert run.wait_for(r"^packet to (\d+) (\w+)$", count=3) == [("4321", "hello")] * 3
    assert run.wait_for(r"^count (\d+) (\d+)$") == [("4321", "3")]
    assert run.proc.wait(20) == 0, run.out
    run.stop()


_XDP_SCRIPT = r'''
import sys, time
from bcc import BPF

text = """
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
BPF_TABLE(MAPTYPE, u32, long, dropcnt, 256);
int xdp_count(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return XDP_PASS;
    u32 proto = min_t(u32, div_u64(ip->protocol * 1000ULL, 1000), 255);
    long *n = dropcnt.lookup(&proto);
    if (n)
        __sync_fetch_and_add(n, 1);
    return RETURNCODE;
}
"""
b = BPF(text=text, cflags=["-DMAPTYPE=\"percpu_array\"", "-DRETURNCODE=XDP_DROP"])
fn = b.load_func("xdp_count", BPF.XDP)
b.attach_xdp(sys.argv[1], fn, 0)
print("ready")
drops = b["dropcnt"]
try:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and drops.sum(17).value < int(sys.argv[2]):
        time.sleep(0.05)
    print("udp dropped", drops.sum(17).value)
finally:
    b.remove_xdp(sys.argv[1], 0)
'''


def test_xdp_counter_with_map_kind_from_cflags(veth, tmp_path):
    script = tmp_path / "xdp_count.py"
    script.write_text(_XDP_SCRIPT)
    run = Script(script, veth.dev, "3", netns=veth.ns.name)
    run.wait_for("^ready")
    with veth.ns.entered():
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx:
        rx.bind((veth.addr, 4322))
        rx.setblocking(False)
        send_udp(veth, 4322, 3)
        assert run.wait_for(r"^udp dropped (\d+)$") == ["3"]
        with pytest.raises(BlockingIOError):
            rx.recv(100)
    assert run.proc.wait(20) == 0, run.out
    run.stop()
    assert "xdp" not in veth.ns.ip("link", "show", veth.dev)


# ---------------------------------------------------------------- bcc's own examples, unmodified


def test_bcc_http_parse_simple(veth):
    path = example("networking/http_filter/http-parse-simple.py")
    run = Script(path, "-i", veth.dev, netns=veth.ns.name)
    run.wait_for("binding socket")
    with veth.ns.entered():
        server = socket.socket()
    with veth.peer.entered():
        client = socket.socket()
    with server, client:
        server.bind((veth.addr, 8080))
        server.listen(1)
        time.sleep(0.3)  # the script sets its socket up after printing
        client.connect((veth.addr, 8080))
        conn, _ = server.accept()
        with conn:
            client.sendall(b"GET /pybpf HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.recv(100)
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            client.recv(100)
    assert run.wait_for(r"^(GET /pybpf HTTP/1.1|HTTP/1.1 204 No Content)$", count=2) == [
        "GET /pybpf HTTP/1.1", "HTTP/1.1 204 No Content"]
    run.stop()


def test_bcc_net_monitor(veth):
    path = example("networking/net_monitor.py")
    run = Script(path, veth.dev, netns=veth.ns.name)
    time.sleep(2)  # compile and attach; the script prints nothing until traffic is counted
    send_udp(veth, 4323, 3)
    run.wait_for(rf"source address : {re.escape(veth.peer_addr)} destination address : "
                 rf"{re.escape(veth.addr)} [1-9]")
    run.stop()


def test_bcc_xdp_redirect_cpu(veth):
    path = example("networking/xdp/xdp_redirect_cpu.py")
    run = Script(path, veth.dev, str(os.cpu_count() - 1), netns=veth.ns.name)
    run.wait_for("Printing redirected packets")
    send_udp(veth, 4324, 100)  # two seconds of traffic: the script prints a rate each second
    run.wait_for(r"^[1-9]\d* pkt/s to CPU \d+$")
    run.stop()
    assert "Removing filter from device" in run.out
    assert "xdp" not in veth.ns.ip("link", "show", veth.dev)


def test_bcc_strlen_count(root):
    run = Script(example("tracing/strlen_count.py"))
    run.wait_for("^Tracing strlen")  # printed once the uprobe is attached
    for _ in range(3):
        subprocess.run(["ls", "/"], capture_output=True)
    assert run.stop() == 0, run.out
    assert re.search(r'^\s+\d+ "/"$', run.out, re.M), run.out


def test_bcc_biolatpcts(root, tmp_path):
    run = Script(example("tracing/biolatpcts.py"))
    time.sleep(3)
    data = tmp_path / "blk"
    for _ in range(6):
        data.write_bytes(os.urandom(1 << 16))
        os.sync()
        time.sleep(0.5)
    run.wait_for(r"^p50=\d+us p75=\d+us p90=\d+us p99=\d+us", timeout=10)
    run.stop()


def test_bcc_stack_buildid_example(root):
    burner = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while 1: pass"])
    try:
        run = Script(example("tracing/stack_buildid_example.py"))
        run.wait_for(rf"^\s+-\s+python\S* \({burner.pid}\)$", timeout=30)
        run.stop()
    finally:
        burner.kill()
        burner.wait()
    frames = re.findall(rf"((?:^    \S.*\n)+)    -\s+python\S* \({burner.pid}\)", run.out, re.M)
    assert any("[unknown]" not in f for f in frames), run.out


# ---------------------------------------------------------------- task_switch.c's shape on a uprobe

_PARAM_AND_INIT = r"""
BPF_HASH(seen, u32, u64, 64);
int on_abs(struct pt_regs *ctx, int value) {
    u32 key = value;  /* no early return: the first lookup stays in the entry block */
    u64 zero = 0, *val = seen.lookup_or_try_init(&key, &zero);
    if (val)
        (*val)++;
    return 0;
}
"""


def test_register_parameter_with_lookup_or_try_init(root):
    """A probe argument read from a register plus a branch back to the entry block (task_switch.c)."""
    libc = ctypes.CDLL(find_library("c"))
    with BPF(text=_PARAM_AND_INIT) as b:
        b.attach_uprobe(name="c", sym="abs", fn_name="on_abs", pid=os.getpid())
        for value in (1234, 1234, 1234, -5):
            libc.abs(value)
        got = {k.value: v.value for k, v in b["seen"].items()}
    assert got == {1234: 3, (-5) & 0xFFFFFFFF: 1}


def test_kprobe_regex_without_kprobes_fails_in_one_line(root):
    """task_switch.py's ``attach_kprobe(event_re=...)`` must not attach nothing in silence."""
    if features.has("kprobes"):
        pytest.skip("this kernel has kprobes")
    with BPF(text="int count_sched(struct pt_regs *ctx) { return 0; }") as b:
        with pytest.raises(NotSupported, match="kprobes"):
            b.attach_kprobe(event_re=r"^finish_task_switch$", fn_name="count_sched")


# ---------------------------------------------------------------- examples needing pyroute2 / dnslib


def _needs(module: str) -> None:
    pytest.importorskip(module, reason=f"bcc's example imports {module}: pip install -e '.[test]'")


def _kernel_lacks(*options: str) -> list[str]:
    """The CONFIG_ options this kernel has neither built in nor as a module (from /proc/config.gz)."""
    import gzip
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            have = {line.split("=")[0] for line in f if line.rstrip().endswith(("=y", "=m"))}
    except OSError:
        return []
    return [o for o in options if o not in have]


def test_bcc_simple_tc(netns):
    _needs("pyroute2")
    missing = _kernel_lacks("CONFIG_NET_SCH_SFQ", "CONFIG_NET_ACT_GACT")
    if missing:
        pytest.skip(f"simple_tc.py adds an sfq qdisc and a cls_bpf filter with action 'ok' (gact): "
                    f"this kernel lacks {', '.join(missing)}")
    run = Script(example("networking/simple_tc.py"), netns=netns.name)
    assert run.proc.wait(60) == 0, run.out
    run.stop()
    assert "BPF tc functionality - SCHED_CLS: OK" in run.out
    assert "t1a" not in netns.ip("link", "show")


def _ping6_all_nodes(ns, dev: str, count: int) -> None:
    """ICMPv6 echo requests to ff02::1 out of ``dev`` (the kernel fills in the checksum)."""
    with ns.entered(), socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        where = ("ff02::1", 0, 0, socket.if_nametoindex(dev))
        for seq in range(count):
            sock.sendto(bytes([128, 0, 0, 0, 0x12, 0x34, 0, seq]) + b"pybpf", where)
            time.sleep(0.05)


def test_bcc_tc_perf_event(netns):
    _needs("pyroute2")
    run = Script(example("networking/tc_perf_event.py"), netns=netns.name)
    run.wait_for(r"^CPU\s+SRC IP\s+DST IP\s+Magic")
    _ping6_all_nodes(netns, "me", 3)
    got = run.wait_for(r"^\d+\s+(fe80::\S+)\s+(ff02::1)\s+(0x\w+)$", count=3)
    assert {g[1:] for g in got} == {("ff02::1", "0xfaceb00c")}
    assert run.stop() == 0, run.out
    assert "me@" not in netns.ip("link", "show")  # the script deleted its veth pair


@pytest.mark.parametrize("rel", ["networking/xdp/xdp_drop_count.py", "networking/xdp/xdp_macswap_count.py"])
def test_bcc_xdp_count_by_protocol(veth, rel):
    _needs("pyroute2")
    run = Script(example(rel), veth.dev, netns=veth.ns.name)
    run.wait_for("Printing drops per IP protocol-number")
    send_udp(veth, 4325, 60)
    run.wait_for(r"^17: [1-9]\d* pkt/s$")
    run.stop()
    assert "Removing filter from device" in run.out
    assert "xdp" not in veth.ns.ip("link", "show", veth.dev)


def test_bcc_dns_matching(veth):
    _needs("dnslib")
    import dnslib
    run = Script(example("networking/dns_matching/dns_matching.py"), "-i", veth.dev, "-d", "foo.bar",
                 netns=veth.ns.name)
    run.wait_for("Hit Ctrl")
    for name in ("other.example", "foo.bar"):
        send_udp(veth, 53, 1, dnslib.DNSRecord.question(name).pack())
    run.wait_for(r"DNS Question: 'foo\.bar\.' qtype=A qclass=IN")
    assert run.stop() == 0, run.out
    assert "other.example" not in run.out


# ---------------------------------------------------------------- hardware counter examples

_NO_PMU = ("perf_event_open failed with ENOENT: no hardware perf counter support for event type 0 "
           "(this machine exposes no hardware PMU, usual in virtual machines)")


@pytest.mark.parametrize("rel, args, what", [
    ("perf/ipc.py", ("-l", "c", "-s", "strlen"), "opening counter on CPU 0"),
    ("tracing/lbr.py", ("-t", "getpid"), "opening perf event type 0 config 0 on CPU 0"),
])
def test_hardware_counter_examples_without_a_pmu_stop_in_one_line(root, rel, args, what):
    if features.has("hardware_perf"):
        pytest.skip("this machine has hardware perf counters")
    path = example(rel)
    run = Script(path, *args)
    assert run.proc.wait(60) == 1
    run.stop()
    assert run.out.strip().splitlines()[-1] == f"{path.name}: {what}: {_NO_PMU}"
    assert "Traceback" not in run.out


def test_bcc_ipc_counts_cycles_and_instructions(root):
    features.skip_unless("hardware_perf")
    run = Script(example("perf/ipc.py"), "-l", "c", "-s", "strlen")
    time.sleep(3)  # compile and attach the uprobes
    for _ in range(3):
        subprocess.run(["ls", "/"], capture_output=True)
    run.wait_for(r"^\d+\s+\d+\s+[\d.]+\s+[\d.]+ us \d+$")
    run.stop()


def test_bcc_vlan_filter_program_loads(root):
    """vlan_filter/data-plane-tracing.py itself is not run: it imports netifaces (unmaintained since
    2021, not a test dependency) and kafka-python, and needs a VXLAN scenario; its C program is
    compiled and loaded as the script would."""
    path = example("networking/vlan_filter/data-plane-tracing.c")
    with BPF(src_file=str(path)) as b:
        assert b.load_func("vlan_filter", BPF.SOCKET_FILTER).fd > 0
