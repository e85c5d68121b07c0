"""The reference guide's map kinds, map methods and probe macros, without a bcc checkout.

Each test is a bcc-style program for a part of the seed's surface that the
example- and tool-based tests only reach when bcc's sources are present:
redirect maps (DEVMAP, CPUMAP, XSKMAP) run through BPF_PROG_TEST_RUN (a devmap
redirect also for real, out of a veth into another namespace), sockmap
and sockhash fed by a sock_ops program in a child cgroup (with an sk_msg
program echoing a message back through ``msg_redirect_hash``), socket, task
and cgroup local storage checked from user space, build-id stack traces,
perf counter arrays, cgroup arrays and the ``TP_DATA_LOC_READ*`` macros on a
tracepoint this process triggers.  Hooks this kernel lacks (fexit, LSM,
kretprobes) must compile and then fail with one clear NotSupported line.
"""

from __future__ import annotations

import ctypes as ct
import os
import socket
import struct
import subprocess

import pytest
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_c import BPF, compile_c
from compat_c.constants import PerfSWConfig, PerfType
from pybpf_dsl.errors import NotSupported
from pybpf_dsl.runtime import features
from pybpf_dsl.runtime.attach.cgroup import cgroup2_root
from pybpf_dsl.runtime.syscall import prog_test_run
from pybpf_dsl.runtime.uapi import XDP_FLAGS_DRV_MODE, AttachType
from net_fixtures import child_cgroup, veth  # noqa: F401  (fixtures)

pytestmark = pytest.mark.kernel

PID = os.getpid()
CFLAGS = [f"-DPID={PID}"]
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)


# ---------------------------------------------------------------- XDP redirect maps

REDIRECT = r"""
BPF_DEVMAP(tx_port, 4);
BPF_CPUMAP(cpus, 2);
BPF_XSKMAP(xsks, 4);
BPF_ARRAY(xsk_hits, u64, 1);

/* The first byte of the frame picks the devmap slot; an empty slot drops. */
int to_port(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 1 > end)
        return XDP_ABORTED;
    return tx_port.redirect_map(*(u8 *)data, XDP_DROP);
}

int to_cpu(struct xdp_md *ctx) {
    return cpus.redirect_map(0, XDP_PASS);
}

int to_xsk(struct xdp_md *ctx) {
    u32 queue = ctx->rx_queue_index;
    if (xsks.lookup(&queue))
        xsk_hits.atomic_increment(0);
    return xsks.redirect_map(queue, XDP_PASS);
}
"""


@pytest.fixture(scope="module")
def redirect():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    b = BPF(text=REDIRECT)
    fns = {name: b.load_func(name, BPF.XDP) for name in ("to_port", "to_cpu", "to_xsk")}
    yield b, fns
    b.cleanup()


@settings(max_examples=30, deadline=None)
@given(filled=st.sets(st.integers(0, 3)), slot=st.integers(0, 255))
def test_devmap_redirect_map_follows_the_table(redirect, filled, slot):
    b, fns = redirect
    ports = b["tx_port"]
    lo = socket.if_nametoindex("lo")
    for i in range(4):
        if i in filled:
            ports[ports.Key(i)] = ports.Leaf(lo)
        else:
            ports.pop(ports.Key(i), None)
    assert {k.value: v.value for k, v in ports.items()} == {i: lo for i in filled}
    retval = prog_test_run(fns["to_port"].fd, bytes([slot]) + bytes(63)).retval
    assert retval == (XDP_REDIRECT if slot in filled else XDP_DROP)


BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
PASS_ALL = "int pass_all(struct xdp_md *ctx) { return XDP_PASS; }"


def _udp_frame(dst_mac: str, src_mac: str, src: str, dst: str, port: int, payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame (IP checksum set, UDP checksum 0)."""
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                               socket.inet_aton(src), socket.inet_aton(dst)))
    total = sum(struct.unpack("!10H", ip))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    ip[10:12] = struct.pack("!H", ~total & 0xFFFF)
    mac = lambda m: bytes.fromhex(m.replace(":", ""))  # noqa: E731
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + bytes(ip) + udp


def test_devmap_redirect_sends_out_of_a_veth(redirect, veth):
    """Live frames: the kernel really transmits the redirected frame on the devmap's device."""
    b, fns = redirect
    ports = b["tx_port"]
    with BPF(text=PASS_ALL) as peer_prog:
        # a native XDP program on the receiving end gives the veth the NAPI context redirects need
        pass_all = peer_prog.load_func("pass_all", BPF.XDP)
        with veth.peer.entered():
            BPF.attach_xdp(veth.peer_dev, pass_all, XDP_FLAGS_DRV_MODE)
        try:
            with veth.peer.socket() as rx:
                rx.bind((veth.peer_addr, 5000))
                rx.settimeout(2)
                with veth.ns.entered():
                    ports[ports.Key(2)] = ports.Leaf(socket.if_nametoindex(veth.dev))
                    frame = _udp_frame(veth.peer_mac, veth.mac, veth.addr, veth.peer_addr, 5000, b"via devmap")
                    assert frame[0] == 2  # the first byte picks the slot: 02:... is the peer's MAC
                    prog_test_run(fns["to_port"].fd, frame, flags=BPF_F_TEST_XDP_LIVE_FRAMES)
                    del ports[ports.Key(2)]
                assert rx.recv(100) == b"via devmap"
        finally:
            with veth.peer.entered():
                BPF.remove_xdp(veth.peer_dev, XDP_FLAGS_DRV_MODE)


def test_cpumap_and_xskmap_redirect(redirect):
    b, fns = redirect
    cpus = b["cpus"]
    assert prog_test_run(fns["to_cpu"].fd, bytes(64)).retval == XDP_PASS  # empty slot: the fallback
    cpus[cpus.Key(0)] = cpus.Leaf(192)  # queue size: the kernel starts a kthread for CPU 0
    try:
        assert cpus[cpus.Key(0)].value == 192
        assert prog_test_run(fns["to_cpu"].fd, bytes(64)).retval == XDP_REDIRECT
    finally:
        del cpus[cpus.Key(0)]
    # no AF_XDP socket in the map: lookup finds nothing and redirect_map falls back
    assert prog_test_run(fns["to_xsk"].fd, bytes(64)).retval == XDP_PASS
    assert b["xsk_hits"][0].value == 0


# ---------------------------------------------------------------- sockmap, sockhash, sk storage

SOCKETS = r"""
struct conn_t { u32 op; u32 port; };
BPF_SOCKHASH(by_port, u32, 64);
BPF_SOCKMAP(slots, 4);
BPF_SK_STORAGE(conns, struct conn_t);

/* Every established TCP socket of the cgroup, keyed by its local port; the
 * connecting side keeps its storage, the accepting side has it deleted. */
int track(struct bpf_sock_ops *skops) {
    u32 op = skops->op, port = skops->local_port;
    if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
        return 1;
    by_port.sock_hash_update(skops, &port, BPF_ANY);
    struct bpf_sock *sk = skops->sk;
    if (!sk)
        return 1;
    struct conn_t *c = conns.sk_storage_get(sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (c) {
        c->op = op;
        c->port = port;
    }
    if (op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
        conns.sk_storage_delete(sk);
    return 1;
}

/* What a socket sends comes back to its own receive queue. */
int echo_back(struct sk_msg_md *msg) {
    u32 port = msg->local_port;
    return by_port.msg_redirect_hash(msg, &port, BPF_F_INGRESS);
}

int to_owner(struct __sk_buff *skb) {
    u32 port = skb->local_port;
    return by_port.sk_redirect_hash(skb, &port, BPF_F_INGRESS);
}

int to_slot0(struct __sk_buff *skb) { return slots.sk_redirect_map(skb, 0, BPF_F_INGRESS); }
int msg_to_slot0(struct sk_msg_md *msg) { return slots.msg_redirect_map(msg, 0, 0); }
int fill_slot0(struct bpf_sock_ops *skops) {
    int zero = 0;
    slots.sock_map_update(skops, &zero, BPF_ANY);
    return 1;
}
"""


def test_sockhash_sk_storage_and_msg_redirect(root, child_cgroup):
    with BPF(text=SOCKETS) as b:
        track = b.load_func("track", BPF.SOCK_OPS)
        echo = b.load_func("echo_back", BPF.SK_MSG)
        for name, kind in (("to_owner", BPF.SK_SKB), ("msg_to_slot0", BPF.SK_MSG),
                           ("fill_slot0", BPF.SOCK_OPS)):
            b.load_func(name, kind)
        by_port, slots = b["by_port"], b["slots"]
        # verdict programs attach to the maps (and detach again) as in bcc
        to_slot0 = b.load_func("to_slot0", BPF.SK_SKB)
        BPF.attach_func(to_slot0, slots.map_fd, AttachType.SK_SKB_STREAM_VERDICT)
        BPF.detach_func(to_slot0, slots.map_fd, AttachType.SK_SKB_STREAM_VERDICT)
        BPF.attach_func(echo, by_port.map_fd, AttachType.SK_MSG_VERDICT)
        BPF.attach_func(track, child_cgroup.fd, AttachType.CGROUP_SOCK_OPS)
        try:
            with socket.create_server(("127.0.0.1", 0)) as server:
                with socket.create_connection(server.getsockname()) as client:
                    accepted, _ = server.accept()
                    with accepted:
                        cport, sport = client.getsockname()[1], server.getsockname()[1]
                        assert sorted(k.value for k in by_port.keys()) == sorted([cport, sport])
                        conn = b["conns"][client]
                        assert (conn.op, conn.port) == (4, cport)  # BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
                        with pytest.raises(KeyError):
                            b["conns"][accepted]
                        client.sendall(b"seed surface")
                        client.settimeout(2)
                        assert client.recv(100) == b"seed surface"
                        accepted.setblocking(False)
                        with pytest.raises(BlockingIOError):
                            accepted.recv(100)
        finally:
            BPF.detach_func(track, child_cgroup.fd, AttachType.CGROUP_SOCK_OPS)
            BPF.detach_func(echo, by_port.map_fd, AttachType.SK_MSG_VERDICT)


# ---------------------------------------------------------------- task storage, build-id stacks

TASKS = r"""
struct seen_t { u64 calls; u64 last_arg; };
BPF_TASK_STORAGE(per_task, struct seen_t);
BPF_STACK_TRACE_BUILDID(stacks, 64);
BPF_ARRAY(stack_id, int, 1);

TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
    struct seen_t *s = per_task.task_storage_get(task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (s) {
        s->calls++;
        s->last_arg = args->pid;
    }
    int zero = 0, id = stacks.get_stackid(args, BPF_F_USER_STACK);
    stack_id.update(&zero, &id);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_getsid) {
    if ((bpf_get_current_pid_tgid() >> 32) == PID)
        per_task.task_storage_delete((struct task_struct *)bpf_get_current_task_btf());
    return 0;
}
"""


def _build_ids() -> set[bytes]:
    """Build ids of the files this process maps."""
    ids = set()
    with open("/proc/self/maps") as maps:
        fields = [line.split(maxsplit=5) for line in maps]
    for path in {f[5].strip() for f in fields if len(f) == 6 and f[5].startswith("/")}:
        try:
            with open(path, "rb") as f:
                note = ELFFile(f).get_section_by_name(".note.gnu.build-id")
                if note is not None:
                    ids.update(bytes.fromhex(n["n_desc"]) for n in note.iter_notes())
        except (OSError, ELFError):  # gone, or not an ELF file: no build id
            continue
    return ids


@settings(max_examples=5, deadline=None)
@given(calls=st.integers(1, 20), arg=st.integers(1, 1 << 20))
def test_task_storage_counts_our_calls(tasks, calls, arg):
    b = tasks
    with _pidfd() as pidfd:
        os.getsid(0)  # start from no storage
        with pytest.raises(KeyError):
            b["per_task"][pidfd]
        for _ in range(calls):
            try:
                os.getpgid(arg)
            except OSError:
                pass
        seen = b["per_task"][pidfd]
        assert (seen.calls, seen.last_arg) == (calls, arg)


class _pidfd:
    """A pidfd of this process (the key of task storage), closed on exit."""

    def __enter__(self) -> int:
        self.fd = os.pidfd_open(PID)
        return self.fd

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


@pytest.fixture(scope="module")
def tasks():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    b = BPF(text=TASKS, cflags=CFLAGS)
    yield b
    b.cleanup()


def test_build_id_stack_frames_name_mapped_files(tasks):
    b = tasks
    os.getpgid(0)
    sid = b["stack_id"][0].value
    assert sid >= 0
    frames = list(b["stacks"].walk(sid))
    assert frames and frames[0].status == 1  # BPF_STACK_BUILD_ID_VALID: libc's getpgid()
    assert {bytes(f.build_id) for f in frames if f.status == 1} <= _build_ids()


# ---------------------------------------------------------------- cgroup storage

CGROUP_COUNT = r"""
struct traffic_t { u64 packets; u64 bytes; };
BPF_CGROUP_STORAGE(per_cgroup, struct traffic_t);
BPF_PERCPU_CGROUP_STORAGE(per_cpu_cgroup, u64);
BPF_ARRAY(last, u64, 2);

int count_egress(struct __sk_buff *skb) {
    struct traffic_t *t = per_cgroup.get_local_storage(0);
    __sync_fetch_and_add(&t->packets, 1);
    __sync_fetch_and_add(&t->bytes, skb->len);
    u64 *mine = per_cpu_cgroup.get_local_storage(0);
    *mine += 1;
    int k0 = 0, k1 = 1;
    u64 packets = t->packets, here = *mine;
    last.update(&k0, &packets);
    last.update(&k1, &here);
    return 1;
}
"""


@settings(max_examples=5, deadline=None)
@given(repeat=st.integers(1, 50))
def test_cgroup_storage_lives_for_one_test_run(cgroup_count, repeat):
    b, fn = cgroup_count
    assert prog_test_run(fn.fd, bytes(64), repeat=repeat).retval == 1
    assert [b["last"][i].value for i in range(2)] == [repeat, repeat]


@pytest.fixture(scope="module")
def cgroup_count():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    b = BPF(text=CGROUP_COUNT)
    yield b, b.load_func("count_egress", BPF.CGROUP_SKB)
    b.cleanup()


def test_cgroup_storage_of_an_attached_program(cgroup_count, child_cgroup):
    b, fn = cgroup_count
    BPF.attach_func(fn, child_cgroup.fd, AttachType.CGROUP_INET_EGRESS)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", 0))
            for size in (10, 20, 30):
                tx.sendto(bytes(size), rx.getsockname())
            (key, traffic), = b["per_cgroup"].items()
            assert key.cgroup_inode_id == os.fstat(child_cgroup.fd).st_ino
            assert key.attach_type == AttachType.CGROUP_INET_EGRESS
            assert (traffic.packets, traffic.bytes) == (3, 3 * 28 + 60)  # IPv4 + UDP headers
            assert sum(b["per_cpu_cgroup"][key]) == 3
    finally:
        BPF.detach_func(fn, child_cgroup.fd, AttachType.CGROUP_INET_EGRESS)


# ---------------------------------------------------------------- perf counter and cgroup arrays

COUNTERS = r"""
struct reading_t { u64 counter; u64 enabled; u64 running; s64 err; };
BPF_PERF_ARRAY(clocks, NCPU);
BPF_CGROUP_ARRAY(groups, 2);
BPF_ARRAY(readings, struct reading_t, 2);
BPF_ARRAY(under, u64, 2);

TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID)
        return 0;
    struct reading_t r = {};
    r.counter = clocks.perf_read(CUR_CPU_IDENTIFIER);
    int k = 0;
    readings.update(&k, &r);
    struct bpf_perf_event_value v = {};
    struct reading_t full = {};
    full.err = clocks.perf_counter_value(CUR_CPU_IDENTIFIER, &v, sizeof(v));
    full.counter = v.counter;
    full.enabled = v.enabled;
    full.running = v.running;
    k = 1;
    readings.update(&k, &full);
    u64 in_child = groups.check_current_task(0), in_sibling = groups.check_current_task(1);
    k = 0;
    under.update(&k, &in_child);
    k = 1;
    under.update(&k, &in_sibling);
    return 0;
}
"""


def test_perf_array_reads_and_cgroup_array_checks(root, child_cgroup):
    sibling = os.path.join(cgroup2_root(), f"pybpf_seed_{PID}")
    os.mkdir(sibling)
    try:
        fd = os.open(sibling, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with BPF(text=COUNTERS, cflags=CFLAGS + [f"-DNCPU={os.cpu_count()}"]) as b:
                b["clocks"].open_perf_event(PerfType.SOFTWARE, PerfSWConfig.CPU_CLOCK)
                groups = b["groups"]
                groups[0] = child_cgroup.fd
                groups[1] = fd
                os.getpgid(0)
                quick, full = b["readings"][0], b["readings"][1]
                assert quick.counter > 0
                assert full.err == 0 and full.counter > 0 and full.enabled >= full.running > 0
                assert [b["under"][i].value for i in range(2)] == [1, 0]
        finally:
            os.close(fd)
    finally:
        os.rmdir(sibling)


# ---------------------------------------------------------------- __data_loc tracepoint fields

DATA_LOC = r"""
struct exec_t { char exact[8]; char fixed[4]; char str[32]; char whole[64]; };
BPF_HASH(execs, u32, struct exec_t);

TRACEPOINT_PROBE(sched, sched_process_exec) {
    struct exec_t e = {};
    u32 pid = args->pid;
    TP_DATA_LOC_READ(e.exact, filename);
    TP_DATA_LOC_READ(e.whole, filename);
    TP_DATA_LOC_READ_CONST(e.fixed, filename, sizeof(e.fixed));
    TP_DATA_LOC_READ_STR(e.str, filename, sizeof(e.str));
    execs.update(&pid, &e);
    return 0;
}
"""


def test_tp_data_loc_reads_exec_filename(root):
    path = "/usr/bin/true" if os.path.exists("/usr/bin/true") else "/bin/true"
    with BPF(text=DATA_LOC) as b:
        child = subprocess.Popen([path])
        child.wait()
        e = b["execs"][ct.c_uint(child.pid)]
    name = path.encode()
    assert bytes(e.exact) == (name + b"\0")[:8]  # the field's length, capped at the array
    assert bytes(e.whole).rstrip(b"\0") == name
    assert bytes(e.fixed) == name[:4]
    assert e.str == name  # NUL-terminated


def test_tp_data_loc_read_takes_pointer_destinations():
    """A pointer destination (char * or void *, into a map value) compiles as in bcc, uncapped."""
    src = r"""
struct big_t { char name[256]; };
BPF_PERCPU_ARRAY(scratch, struct big_t, 1);
TRACEPOINT_PROBE(sched, sched_process_exec) {
    int zero = 0;
    struct big_t *big = scratch.lookup(&zero);
    if (!big)
        return 0;
    char *text = big->name;
    void *raw = big->name;
    TP_DATA_LOC_READ(text, filename);
    TP_DATA_LOC_READ(raw, filename);
    return 0;
}
"""
    assert "tracepoint__sched__sched_process_exec" in compile_c(src, use_cache=False).meta["programs"]


# ---------------------------------------------------------------- hooks this kernel lacks

KRETFUNC = r"""
BPF_HASH(opened, u32, long);
KRETFUNC_PROBE(do_sys_openat2, int dfd, const char *filename, struct open_how *how, long ret) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    opened.update(&pid, &ret);
    return 0;
}
"""

INODE_MARKS = r"""
BPF_INODE_STORAGE(marks, u64);
LSM_PROBE(inode_unlink, struct inode *dir, struct dentry *victim) {
    u64 *m = marks.inode_storage_get(victim->d_inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (m)
        *m += 1;
    return 0;
}
"""


def test_kretfunc_and_inode_storage_compile():
    ret = compile_c(KRETFUNC, use_cache=False)
    assert "kretfunc__vmlinux__do_sys_openat2" in ret.meta["programs"]
    lsm = compile_c(INODE_MARKS, use_cache=False)
    assert "lsm__inode_unlink" in lsm.meta["programs"]


@pytest.mark.parametrize("text, feature, needs", [
    (KRETFUNC, "fentry", "fentry/fexit"),
    (INODE_MARKS, "lsm", "LSM"),
    ("int kretprobe__do_nanosleep(struct pt_regs *ctx) { return 0; }", "kprobes", "kprobes"),
])
def test_missing_hooks_are_one_clear_line(root, text, feature, needs):
    if features.has(feature):
        pytest.skip(f"this kernel has {feature}")
    with pytest.raises(NotSupported) as e:
        BPF(text=text)
    assert needs in str(e.value) and "\n" not in str(e.value)
