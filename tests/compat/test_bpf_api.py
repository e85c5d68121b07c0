"""compat_c's bcc Python API (``from compat_c import BPF, USDT``) against the real kernel.

Each bcc-style tool below exercises a different part of the API: tracepoint
counting with print_log2_hist, a raw tracepoint latency histogram, exit
events through a perf buffer (pid/ppid/comm checked against the truth), a
ring buffer with reserve/submit, a uprobe on libc, a USDT probe of
/usr/bin/python3.11, perf-event stack sampling with symbols, an LPM trie
and a queue.  Everything is filtered by this test's pid: other developers
run tests on the same machine.
"""

from __future__ import annotations

import ctypes as ct
import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_c import BPF, USDT
from compat_c.constants import DEBUG_BPF, PerfSWConfig, PerfType
from compat_c.ctypes_desc import ctype_from_desc
from pybpf_dsl.errors import AttachTargetNotFound, BPFError, CompileError, NotSupported
from pybpf_dsl.runtime import features

PID = os.getpid()
CFLAGS = [f"-DPID={PID}"]
PYTHON_USDT = "/usr/bin/python3.11"

pytestmark = pytest.mark.kernel


# ---------------------------------------------------------------- constants and discovery (no root)

def test_constants_match_bcc():
    assert (BPF.SOCKET_FILTER, BPF.KPROBE, BPF.TRACEPOINT, BPF.XDP, BPF.PERF_EVENT) == (1, 2, 5, 6, 7)
    assert (BPF.RAW_TRACEPOINT, BPF.TRACING, BPF.LSM) == (17, 26, 29)
    assert (BPF.XDP_DROP, BPF.XDP_PASS, BPF.XDP_FLAGS_SKB_MODE, BPF.XDP_FLAGS_DRV_MODE) == (1, 2, 2, 4)
    assert (PerfType.SOFTWARE, PerfSWConfig.CPU_CLOCK, PerfSWConfig.BPF_OUTPUT) == (1, 0, 10)
    from compat_c import constants
    assert (constants.DEBUG_LLVM_IR, constants.DEBUG_BPF, constants.DEBUG_PREPROCESSOR, constants.DEBUG_SOURCE,
            constants.DEBUG_BPF_REGISTER_STATE, constants.DEBUG_BTF) == (1, 2, 4, 8, 0x10, 0x20)


def test_discovery_returns_bcc_types():
    assert BPF.get_tracepoints(b"sched:sched_switch") == [b"sched:sched_switch"]
    assert BPF.tracepoint_exists("sched", "sched_switch") and not BPF.tracepoint_exists("sched", "nope")
    assert BPF.kernel_struct_has_field(b"task_struct", b"tgid") == 1
    assert BPF.kernel_struct_has_field("task_struct", "no_such_field") == 0
    assert BPF.kernel_enum_has_val("bpf_map_type", "BPF_MAP_TYPE_RINGBUF") == 1
    lib = BPF.find_library("c")
    assert isinstance(lib, bytes) and b"libc.so" in lib
    assert BPF.find_exe("sh") is not None and BPF.find_exe(b"/no/such") is None
    addr = BPF.ksymname("do_nanosleep")
    assert addr > 0 and BPF.ksym(addr) == b"do_nanosleep"
    assert BPF.ksym(addr + 1, show_offset=True) == b"do_nanosleep+0x1"
    assert BPF.ksymname("no_such_symbol_at_all") == -1
    assert abs(BPF.monotonic_time() - time.monotonic_ns()) < 1e9
    funcs = BPF.get_user_functions_and_addresses("c", "^getppid$")
    assert funcs and funcs[0][0] == b"getppid"
    assert BPF.support_raw_tracepoint()
    assert BPF.generate_auto_includes(["struct bio *b"]) == "#include <linux/blkdev.h>\n"


def test_kprobe_discovery_without_kprobes():
    if features.has("kprobes"):
        pytest.skip("this kernel has kprobes")
    assert BPF.get_kprobe_functions(b"do_sys_.*") == set()


# ---------------------------------------------------------------- object basics

COUNT_SYSCALLS = r"""
BPF_HASH(counts, u32, u64);
BPF_HISTOGRAM(dist);
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    u32 nr = args->id;
    counts.increment(nr);
    dist.increment(bpf_log2l(nr + 1));
    return 0;
}
"""


def test_tracepoint_counting_by_syscall_with_log2_hist(root, capsys):
    with BPF(text=COUNT_SYSCALLS, cflags=CFLAGS) as b:
        assert b.num_open_tracepoints() == 1
        for _ in range(5):
            os.getppid()                 # 110 on x86_64
        os.getpgid(0)                    # 121
        counts = {k.value: v.value for k, v in b["counts"].items()}
        b["dist"].print_log2_hist("nr")
    assert counts[110] >= 5 and counts[121] >= 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "     nr                  : count     distribution"
    row = next(line for line in out if line.lstrip().startswith("64 -> 127"))   # getppid: log2(111) = 6
    assert row.startswith("        64 -> 127        : ") and row.endswith("|")


def test_table_access_and_lifetime(root):
    b = BPF(text=COUNT_SYSCALLS.encode(), cflags=[c.encode() for c in CFLAGS])  # bytes, as bcc takes
    fn = b.load_func(b"tracepoint__raw_syscalls__sys_enter", BPF.TRACEPOINT)
    assert b.load_func("tracepoint__raw_syscalls__sys_enter", BPF.TRACEPOINT) is fn
    assert isinstance(fn, BPF.Function) and fn.fileno() == fn.fd > 0 and fn.name.endswith(b"sys_enter")
    code = b.dump_func("tracepoint__raw_syscalls__sys_enter")
    assert len(code) % 8 == 0 and len(code) > 8
    with pytest.raises(BPFError, match="Unknown program nope"):
        b.load_func("nope", BPF.KPROBE)
    with pytest.raises(KeyError):
        b["no_such_table"]
    counts = b[b"counts"]
    assert b["counts"] is counts and list(b) == ["counts"] and len(b) == 1 and "counts" in b
    counts[ct.c_uint(7)] = ct.c_ulonglong(3)
    assert counts[7].value == 3 and type(counts).__name__ == "HashTable"
    del b["counts"]
    assert len(b) == 0
    b.cleanup()
    b.cleanup()                          # idempotent, and atexit no longer holds it
    assert b.num_open_tracepoints() == 0 and not b.funcs


def test_compile_error_keeps_users_line():
    with pytest.raises(CompileError) as e:
        BPF(text="int f(void *ctx) {\n  return undefined_thing;\n}\n")
    assert e.value.loc.line == 2


def test_src_file_and_debug_preprocessor(root, tmp_path, capsys):
    src = tmp_path / "prog.c"
    src.write_text(COUNT_SYSCALLS)
    with BPF(src_file=str(src), cflags=CFLAGS, debug=DEBUG_BPF | 4) as b:
        assert b.num_open_tracepoints() == 1
    err = capsys.readouterr().err
    assert "BPF_HASH(counts, u32, u64);" in err and "instructions, loaded as TRACEPOINT" in err


def test_debug_llvm_ir_and_bpf_print_ir_and_assembly(capsys):
    from compat_c.constants import DEBUG_LLVM_IR
    with BPF(text="BPF_ARRAY(a, u64, 1);\nint get_one(void *ctx) { int k = 0; u64 *v = a.lookup(&k); "
                  "return v ? 7 : 1; }\n", debug=DEBUG_LLVM_IR | DEBUG_BPF) as b:
        listing = b.disassemble_func("get_one")
        raw = b.dump_func(b"get_one")
    err = capsys.readouterr().err
    assert 'define dso_local' in err and '@get_one(' in err and 'section "bcc/get_one"' in err   # IR
    assert "get_one:" in err and "call 1" in err and "exit" in err                              # assembly
    lines = listing.splitlines()
    assert lines[0] == "Disassemble of BPF program get_one:"
    assert any(ln.endswith("(18) r1 = map[a]") for ln in lines)
    assert any(ln.endswith("(85) call bpf_map_lookup_elem#1") for ln in lines)
    assert lines[-1].endswith("(95) exit") and len(raw) % 8 == 0 and len(lines) - 1 < len(raw) // 8 + 1


# ---------------------------------------------------------------- raw tracepoint: scheduler latency

RUNQLAT = r"""
#include <linux/sched.h>
BPF_HASH(start, u32);
BPF_HISTOGRAM(dist);
RAW_TRACEPOINT_PROBE(sched_wakeup) {
    struct task_struct *p = (struct task_struct *)ctx->args[0];
    if (p->tgid != PID) return 0;
    u32 tid = p->pid;
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
}
RAW_TRACEPOINT_PROBE(sched_switch) {
    struct task_struct *next = (struct task_struct *)ctx->args[2];
    u32 tid = next->pid;
    u64 *tsp = start.lookup(&tid);
    if (tsp == 0) return 0;
    dist.increment(bpf_log2l((bpf_ktime_get_ns() - *tsp) / 1000));
    start.delete(&tid);
    return 0;
}
"""


def test_raw_tracepoint_scheduler_latency_histogram(root, capsys):
    with BPF(text=RUNQLAT, cflags=CFLAGS) as b:
        assert sorted(b.raw_tracepoint_fds) == [b"sched_switch", b"sched_wakeup"]
        for _ in range(20):
            time.sleep(0.001)            # each sleep ends with a wakeup and a switch back to us
        b["dist"].print_log2_hist("usecs")
        total = sum(v.value for v in b["dist"].values())
        with pytest.raises(BPFError, match="has been attached"):
            b.attach_raw_tracepoint(tp="sched_switch", fn_name="raw_tracepoint__sched_switch")
        b.detach_raw_tracepoint(tp=b"sched_wakeup")
        assert list(b.raw_tracepoint_fds) == [b"sched_switch"]
    assert total >= 15
    assert "     usecs               : count     distribution" in capsys.readouterr().out


# ---------------------------------------------------------------- perf buffer: process exit events

EXITSNOOP = r"""
#include <linux/sched.h>
struct data_t { u32 pid; u32 ppid; u32 tid; int exit_code; char comm[TASK_COMM_LEN]; };
BPF_PERF_OUTPUT(events);
TRACEPOINT_PROBE(sched, sched_process_exit) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    if (task->real_parent->tgid != PID) return 0;
    if (task->pid != task->tgid) return 0;
    struct data_t d = {};
    d.pid = task->tgid;
    d.tid = task->pid;
    d.ppid = task->real_parent->tgid;
    d.exit_code = task->exit_code >> 8;
    bpf_get_current_comm(&d.comm, sizeof(d.comm));
    events.perf_submit(args, &d, sizeof(d));
    return 0;
}
"""


def test_exit_events_through_perf_buffer(root):
    got = []
    with BPF(text=EXITSNOOP, cflags=CFLAGS) as b:
        def handle(cpu, data, size):
            e = b["events"].event(data)
            got.append((e.pid, e.ppid, e.tid, e.exit_code, e.comm))
        b["events"].open_perf_buffer(handle)
        children = [subprocess.Popen(["/bin/sh", "-c", f"exit {code}"]) for code in (3, 7)]
        for c in children:
            c.wait()
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            b.perf_buffer_poll(100)
    want = sorted((c.pid, PID, c.pid, c.returncode, b"sh") for c in children)
    assert sorted(got) == want


# ---------------------------------------------------------------- ring buffer: reserve/submit

RINGBUF = r"""
struct event { u32 pid; u32 nr; char comm[16]; };
BPF_RINGBUF_OUTPUT(ring, 8);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    struct event *e = ring.ringbuf_reserve(sizeof(struct event));
    if (!e) return 0;
    e->pid = PID;
    e->nr = args->pid;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    ring.ringbuf_submit(e, 0);
    return 0;
}
"""


def test_ring_buffer_reserve_submit(root):
    got = []
    with BPF(text=RINGBUF, cflags=CFLAGS) as b:
        with pytest.raises(BPFError, match="No ring buffers to poll"):
            b.ring_buffer_poll(0)

        def handle(ctx, data, size):
            e = b["ring"].event(data)
            got.append((ctx, e.pid, e.nr, e.comm))
        b["ring"].open_ring_buffer(handle, ctx="mine")
        for n in (11, 12, 13):
            try:
                os.getpgid(n)            # the pid argument is what the probe records
            except OSError:
                pass
        b.ring_buffer_poll(1000)
        b.ring_buffer_consume()
    comm = open("/proc/self/comm", "rb").read().strip()[:15]
    assert [g[:3] for g in got] == [("mine", PID, 11), ("mine", PID, 12), ("mine", PID, 13)]
    assert all(g[3] == comm for g in got)


# ---------------------------------------------------------------- uprobe on libc

UPROBE = r"""
BPF_ARRAY(hits, u64, 2);
int on_getppid(struct pt_regs *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    hits.increment(0);
    return 0;
}
int on_getppid_ret(struct pt_regs *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    if (PT_REGS_RC(ctx) == PPID) hits.increment(1);
    return 0;
}
"""


def test_uprobe_and_uretprobe_on_libc(root):
    with BPF(text=UPROBE, cflags=[*CFLAGS, f"-DPPID={os.getppid()}"]) as b:
        b.attach_uprobe(name="c", sym="getppid", fn_name="on_getppid", pid=PID)
        b.attach_uretprobe(name=b"c", sym=b"getppid", fn_name=b"on_getppid_ret", pid=PID)
        assert b.num_open_uprobes() == 2
        for _ in range(4):
            os.getppid()
        assert [v.value for v in b["hits"].values()] == [4, 4]
        b.detach_uprobe(name="c", sym="getppid", pid=PID)
        os.getppid()
        assert b["hits"][0].value == 4 and b["hits"][1].value == 5
        assert b.num_open_uprobes() == 1
        with pytest.raises(AttachTargetNotFound):
            b.attach_uprobe(name="c", sym="no_such_function_here", fn_name="on_getppid")


# ---------------------------------------------------------------- USDT on python3.11

USDT_GC = r"""
BPF_HASH(gens, int, u64);
int on_gc(struct pt_regs *ctx) {
    int gen = -1;
    bpf_usdt_readarg(1, ctx, &gen);
    gens.increment(gen);
    return 0;
}
"""


@pytest.mark.skipif(not os.path.exists(PYTHON_USDT), reason=f"{PYTHON_USDT} (with USDT notes) is absent")
def test_usdt_gc_start_on_python(root):
    child = subprocess.Popen([PYTHON_USDT, "-c", "import gc, sys\nsys.stdin.readline()\n"
                              "for g in (0, 1, 2, 2): gc.collect(g)\n"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.2)
        u = USDT(pid=child.pid)
        u.enable_probe(probe="gc__start", fn_name="on_gc")
        with BPF(text=USDT_GC, usdt_contexts=[u]) as b:
            assert b.num_open_uprobes() == 1
            child.communicate(b"go\n", timeout=10)
            gens = {k.value: v.value for k, v in b["gens"].items()}
    finally:
        child.kill()
        child.wait()
    assert gens[0] == 1 and gens[1] == 1 and gens[2] >= 2   # and more at interpreter exit


USDT_NAMES = r"""
struct name_t { char text[8]; };
BPF_HASH(names, struct name_t, u64);
int on_entry(struct pt_regs *ctx) {
    struct name_t n = {};
    bpf_usdt_readarg_p(2, ctx, n.text, sizeof(n.text));   /* funcname: a char *, 8 bytes of it */
    names.increment(n);
    return 0;
}
"""


@pytest.mark.skipif(not os.path.exists(PYTHON_USDT), reason=f"{PYTHON_USDT} (with USDT notes) is absent")
def test_usdt_readarg_p_reads_through_the_pointer_for_any_length(root):
    # an 8-byte buffer is the case a value read would get wrong (it would hold the pointer)
    child = subprocess.Popen([PYTHON_USDT, "-c", "import sys\nsys.stdin.readline()\n"
                              "def abcdefghij(): pass\nsys.setprofile(lambda *a: None)\n"
                              "for _ in range(5): abcdefghij()\n"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.2)
        u = USDT(pid=child.pid)
        u.enable_probe(probe="function__entry", fn_name="on_entry")
        with BPF(text=USDT_NAMES, usdt_contexts=[u]) as b:
            child.communicate(b"go\n", timeout=10)
            names = {bytes(k.text): v.value for k, v in b["names"].items()}
    finally:
        child.kill()
        child.wait()
    assert names.get(b"abcdefgh", 0) >= 5, names


# ---------------------------------------------------------------- perf event stack sampling

PROFILE = r"""
struct key_t { int user_stack; int kernel_stack; };
BPF_HASH(counts, struct key_t, u64);
BPF_STACK_TRACE(stacks, 1024);
int on_sample(struct bpf_perf_event_data *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    struct key_t k = {};
    k.user_stack = stacks.get_stackid(ctx, BPF_F_USER_STACK);
    k.kernel_stack = stacks.get_stackid(ctx, 0);
    counts.increment(k);
    return 0;
}
"""


def test_stack_sampling_with_perf_event_and_symbols(root):
    with BPF(text=PROFILE, cflags=CFLAGS) as b:
        b.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                            fn_name="on_sample", sample_freq=499)
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            sum(range(1000))
        names = set()
        for k, _v in b["counts"].items():
            if k.user_stack >= 0:
                names.update(b.sym(a, PID) for a in b["stacks"].walk(k.user_stack))
        b.detach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK)
        assert not b.open_perf_events
    assert names - {b"[unknown]"}, "no user frame of this process resolved to a symbol"


# ---------------------------------------------------------------- LPM trie and queue

LPM_QUEUE = r"""
struct lpm_key { u32 prefixlen; u32 addr; };
BPF_LPM_TRIE(routes, struct lpm_key, u32, 16);
BPF_ARRAY(probe_addr, u32, 1);
BPF_QUEUE(answers, u32, 8);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    int zero = 0;
    u32 *a = probe_addr.lookup(&zero);
    if (!a) return 0;
    struct lpm_key k = {32, *a};
    u32 *route = routes.lookup(&k);
    u32 answer = route ? *route : 0;
    answers.push(&answer, 0);
    return 0;
}
"""


def test_lpm_trie_and_queue(root):
    import socket
    import struct

    def key(trie, cidr):
        net, bits = cidr.split("/")
        return trie.Key(int(bits), struct.unpack("<I", socket.inet_aton(net))[0])

    with BPF(text=LPM_QUEUE, cflags=CFLAGS) as b:
        routes, answers = b["routes"], b["answers"]
        routes[key(routes, "10.0.0.0/8")] = ct.c_uint(8)
        routes[key(routes, "10.1.0.0/16")] = ct.c_uint(16)
        with pytest.raises(NotImplementedError):
            len(routes)
        for ip in ("10.1.2.3", "10.9.9.9", "192.168.0.1"):
            b["probe_addr"][0] = ct.c_uint(struct.unpack("<I", socket.inet_aton(ip))[0])
            os.getpgid(0)
        assert answers.peek().value == 16
        assert [answers.pop().value for _ in range(3)] == [16, 8, 0]
        with pytest.raises(KeyError):
            answers.pop()
        answers.push(ct.c_uint(5))
        assert [v.value for v in answers.values()] == [5]


# ---------------------------------------------------------------- trace_pipe

def test_trace_fields_reads_bpf_trace_printk(root):
    text = r"""
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    bpf_trace_printk("compat_c %d\n", args->pid);
    return 0;
}"""
    marker = 4000 + PID % 1000
    with BPF(text=text, cflags=CFLAGS) as b:
        b.trace_open(nonblocking=True)
        for _ in range(5):
            try:
                os.getpgid(marker)
            except OSError:
                pass
        found = None
        deadline = time.monotonic() + 3
        while found is None and time.monotonic() < deadline:
            task, pid, cpu, flags, ts, msg = b.trace_fields(nonblocking=True)
            if task is None:
                time.sleep(0.05)
            elif msg == b"compat_c %d" % marker and pid == PID:
                found = (task, cpu, ts)
    if found is None:
        pytest.skip("another reader of the global trace_pipe took our lines")
    assert isinstance(found[0], bytes) and isinstance(found[1], int) and found[2] > 0


# ---------------------------------------------------------------- hooks this kernel lacks

def test_kprobe_is_one_clear_line_without_kprobes(root):
    if features.has("kprobes"):
        pytest.skip("this kernel has kprobes")
    with pytest.raises(NotSupported) as e:
        BPF(text="int kprobe__do_nanosleep(struct pt_regs *ctx) { return 0; }")
    assert "kprobes" in str(e.value) and "\n" not in str(e.value)


def test_kfunc_is_one_clear_line_without_trampolines(root):
    if BPF.support_kfunc():
        pytest.skip("this kernel has fentry")
    with pytest.raises(NotSupported) as e:
        BPF(text="KFUNC_PROBE(do_nanosleep) { return 0; }")
    assert "\n" not in str(e.value)


def test_missing_tracepoint_is_named(root):
    with pytest.raises(AttachTargetNotFound, match="sched_swich"):
        BPF(text="TRACEPOINT_PROBE(sched, sched_swich) { return 0; }")


# ---------------------------------------------------------------- bcc module alias and helpers

def test_bcc_modules_resolve_to_compat_c():
    from compat_c import alias
    alias.install()
    try:
        import bcc
        from bcc.syscall import syscall_name
        from bcc.table import BPF_MAP_TYPE_HASH, HashTable
        from bcc.tcp import flags2str
        from bcc.utils import ArgString, get_online_cpus
        assert bcc.BPF is BPF and bcc.USDT is USDT and bcc.__name__ == "compat_c.bcc"
        assert syscall_name(0) == b"read" and syscall_name(99999) == b"[unknown: 99999]"
        assert flags2str(0x12) == "SYN|ACK" and BPF_MAP_TYPE_HASH == 1 and HashTable
        assert bytes(ArgString("x")) == b"x" and get_online_cpus()
        from bcc.containers import filter_by_containers
        assert "container_should_be_filtered" in filter_by_containers(type("A", (), {"cgroupmap": None,
                                                                                     "mntnsmap": None})())
    finally:
        alias.uninstall()
        for name in [m for m in sys.modules if m == "bcc" or m.startswith("bcc.")]:
            del sys.modules[name]


def test_printb_writes_bytes(capsysbinary):
    from compat_c.bcc.utils import printb
    printb(b"\xffraw", file=sys.stdout)
    printb(b"x", file=sys.stdout, nl=0)
    assert capsysbinary.readouterr().out == b"\xffraw\nx"


# ---------------------------------------------------------------- C type descriptions -> ctypes

_SCALARS = st.sampled_from([("char", 1, True), ("u8", 1, False), ("short", 2, True), ("u16", 2, False),
                            ("int", 4, True), ("u32", 4, False), ("long long", 8, True),
                            ("u64", 8, False)])


@st.composite
def _structs(draw, depth=0):
    fields, off, align = [], 0, 1
    for i in range(draw(st.integers(1, 5))):
        if depth < 2 and draw(st.booleans()) and draw(st.booleans()):
            t = draw(_structs(depth + 1))
            a = t["align"]
        else:
            name, size, signed = draw(_SCALARS)
            t = {"kind": "int", "name": name, "size": size, "signed": signed}
            a = size
            n = draw(st.integers(0, 3))
            if n:
                t = {"kind": "array", "name": "", "len": n, "size": n * size, "type": t}
        off = (off + a - 1) // a * a
        fields.append({"name": f"f{i}", "offset": off, "bit_offset": off * 8, "bits": 0, "type": t})
        off += t["size"]
        align = max(align, a)
    size = (off + align - 1) // align * align
    return {"kind": "struct", "name": f"s{depth}", "size": size, "fields": fields, "align": align}


@settings(max_examples=200, deadline=None)
@given(_structs())
def test_described_structs_have_the_described_layout(desc):
    T = ctype_from_desc(desc)
    assert ct.sizeof(T) == desc["size"]
    for f in desc["fields"]:
        assert getattr(T, f["name"]).offset == f["offset"]
    obj = T()
    first = desc["fields"][0]
    if first["type"]["kind"] == "int" and first["type"]["size"] > 1:
        setattr(obj, "f0", 5)
        assert bytes(obj)[: first["type"]["size"]] == (5).to_bytes(first["type"]["size"], "little")


def test_char_arrays_read_as_bytes_and_bitfields_as_ints():
    desc = {"kind": "struct", "name": "e", "size": 24, "fields": [
        {"name": "comm", "offset": 0, "bit_offset": 0, "bits": 0,
         "type": {"kind": "array", "name": "", "len": 16, "size": 16,
                  "type": {"kind": "int", "name": "char", "size": 1, "signed": True}}},
        {"name": "flag", "offset": 16, "bit_offset": 130, "bits": 3,
         "type": {"kind": "int", "name": "unsigned int", "size": 4, "signed": False}},
        {"name": "neg", "offset": 16, "bit_offset": 133, "bits": 4,
         "type": {"kind": "int", "name": "int", "size": 4, "signed": True}}]}
    T = ctype_from_desc(desc)
    raw = bytearray(24)
    raw[:4] = b"sshd"
    raw[16] = (5 << 2) | (1 << 5)        # flag = 5 (bits 2-4), neg's low bits = 0b001 (bits 5-7) ...
    raw[17] = 1                          # ... and its top bit: neg = 0b1001 = -7
    obj = T.from_buffer_copy(raw)
    assert obj.comm == b"sshd" and obj.flag == 5 and obj.neg == -7
    obj.flag = 2
    assert obj.flag == 2 and obj.neg == -7


def test_threads_in_perf_callback_do_not_break_poll(root):
    """A callback may start threads (tools do): polling continues afterwards."""
    with BPF(text=EXITSNOOP, cflags=CFLAGS) as b:
        seen = []
        b["events"].open_perf_buffer(lambda cpu, data, size: threading.Thread(
            target=seen.append, args=(size,)).start())
        subprocess.run(["/bin/true"], check=True)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            b.perf_buffer_poll(100)
    assert seen


# ---------------------------------------------------------------- tables shared between objects

def test_public_and_extern_tables_share_one_map(root):
    owner_src = """
BPF_TABLE_PUBLIC("hash", u32, u64, shared_calls, 16);
TRACEPOINT_PROBE(syscalls, sys_enter_getpgid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    u32 k = 1; shared_calls.increment(k); return 0;
}"""
    user_src = """
BPF_TABLE("extern", u32, u64, shared_calls, 16);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    u32 k = 2; shared_calls.increment(k, 10); return 0;
}"""
    with pytest.raises(BPFError, match="extern table shared_calls: no BPF object in this process exports it"):
        BPF(text=user_src, cflags=CFLAGS)
    with BPF(text=owner_src, cflags=CFLAGS) as owner:
        with BPF(text=user_src, cflags=CFLAGS) as user:
            os.getpgid(0)
            os.getppid()
            assert owner["shared_calls"].map_id == user["shared_calls"].map_id
            seen = {k.value: v.value for k, v in owner["shared_calls"].items()}
            with pytest.raises(BPFError, match="a public table named shared_calls already exists"):
                BPF(text=owner_src, cflags=CFLAGS)
        assert seen == {1: 1, 2: 10}
    with pytest.raises(BPFError, match="no BPF object in this process exports it"):
        BPF(text=user_src, cflags=CFLAGS)       # withdrawn with its owner


def test_syscall_numbers_match_the_kernel(root):
    from compat_c.bcc.syscall import syscall_name
    src = """
BPF_HASH(ids, u32, u64);
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    u32 id = args->id; ids.increment(id); return 0;
}"""
    libc = ct.CDLL(None, use_errno=True)
    with BPF(text=src, cflags=CFLAGS) as b:
        os.getppid()
        os.getpgid(0)
        os.sched_yield()
        libc.syscall(462, ct.c_long(-1), 0, 0)        # mseal (newer than glibc's header): EINVAL
        names = {syscall_name(k.value) for k in b["ids"].keys()}
    assert {b"getppid", b"getpgid", b"sched_yield", b"mseal"} <= names


@pytest.mark.parametrize("outer", ["BPF_ARRAY_OF_MAPS(maps, \"ex1\", 10)",
                                   "BPF_HASH_OF_MAPS(maps, int, \"ex1\", 10)"])
def test_maps_of_maps_take_the_named_table_as_inner_template(root, outer):
    from pybpf_dsl.runtime.syscall import prog_test_run
    src = """
BPF_ARRAY(ex1, int, 4);
BPF_ARRAY(ex2, int, 4);
%s;
int pick(struct __sk_buff *skb) {
    int k = 0;
    void *inner = maps.lookup(&k);
    if (!inner) return 1000;
    int *v = bpf_map_lookup_elem(inner, &k);
    return v ? *v : 2000;
}""" % outer
    with BPF(text=src) as b:
        fn = b.load_func("pick", BPF.SOCKET_FILTER)
        assert prog_test_run(fn.fd, bytes(64)).retval == 1000
        b["ex1"][0] = ct.c_int(7)
        b["ex2"][0] = ct.c_int(9)
        maps = b["maps"]
        maps[0] = b["ex1"]
        assert maps[0].value == b["ex1"].map_id
        assert prog_test_run(fn.fd, bytes(64)).retval == 7
        maps[0] = b["ex2"]
        assert prog_test_run(fn.fd, bytes(64)).retval == 9
        del maps[0]
        assert prog_test_run(fn.fd, bytes(64)).retval == 1000


def test_map_of_maps_names_a_missing_inner_table():
    with pytest.raises(BPFError, match="inner map 'nosuch' is not a table of this program"):
        BPF(text='BPF_ARRAY_OF_MAPS(maps_array, "nosuch", 10);')


@pytest.mark.parametrize("call", ["bpf_usdt_readarg(1, ctx, &a)", "bpf_usdt_readarg_p(1, ctx, &a, sizeof(a))"])
def test_usdt_readarg_without_usdt_contexts_is_one_clear_line(call):
    with pytest.raises(CompileError) as exc:
        BPF(text="int do_trace(struct pt_regs *ctx) { u64 a = 0; %s; return a; }" % call)
    assert "do_trace: bpf_usdt_readarg" in str(exc.value) and "has no USDT probe argument 1" in str(exc.value)
    assert "usdt_contexts=[USDT(" in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------- every bcc name the tools use exists

_BCC_NAMES = {
    "bcc": "BPF USDT USDTException SymbolCache Perf PerfType PerfHWConfig PerfSWConfig PerfEventSampleFormat "
           "BPFProgType BPFAttachType XDPAction XDPFlags DEBUG_LLVM_IR DEBUG_BPF DEBUG_PREPROCESSOR DEBUG_SOURCE "
           "DEBUG_BPF_REGISTER_STATE DEBUG_BTF utils syscall table containers tcp usdt perf",
    "bcc.utils": "printb ArgString get_online_cpus get_possible_cpus detect_language",
    "bcc.syscall": "syscall_name",
    "bcc.containers": "filter_by_containers",
    "bcc.tcp": "flags2str state2str",
    "bcc.usdt": "USDT USDTException USDTProbe USDTProbeLocation USDTProbeArgument",
    "bcc.table": "Table HashTable Array ProgArray PerfEventArray PerCpuHash PerCpuArray LpmTrie StackTrace "
                 "LruHash LruPerCpuHash CgroupArray DevMap CpuMap XskMap MapInMapArray MapInMapHash QueueStack "
                 "RingBuf BPF_MAP_TYPE_HASH BPF_MAP_TYPE_PERF_EVENT_ARRAY",
    "BPF": "Function Table str2ctype CLOCK_MONOTONIC KPROBE TRACEPOINT RAW_TRACEPOINT PERF_EVENT SOCKET_FILTER "
           "SCHED_CLS XDP TRACING LSM XDP_FLAGS_SKB_MODE XDP_FLAGS_DRV_MODE XDP_DROP XDP_PASS "
           "load_func load_funcs dump_func disassemble_func decode_table get_table "
           "__getitem__ __setitem__ __len__ __iter__ __delitem__ __contains__ __enter__ __exit__ "
           "attach_kprobe attach_kretprobe detach_kprobe detach_kretprobe detach_kprobe_event "
           "detach_kprobe_event_by_fn attach_uprobe attach_uretprobe detach_uprobe detach_uretprobe "
           "detach_uprobe_event attach_tracepoint detach_tracepoint attach_raw_tracepoint detach_raw_tracepoint "
           "attach_kfunc attach_kretfunc attach_lsm attach_fmod_ret detach_kfunc detach_kretfunc detach_lsm "
           "detach_fmod_ret attach_perf_event attach_perf_event_raw detach_perf_event attach_xdp remove_xdp "
           "attach_raw_socket attach_func detach_func add_prefix "
           "get_kprobe_functions get_tracepoints tracepoint_exists get_user_functions get_user_addresses "
           "get_user_functions_and_addresses find_library find_exe get_syscall_prefix get_syscall_fnname "
           "fix_syscall_fnname support_kfunc support_fmod_ret support_lsm support_raw_tracepoint "
           "support_raw_tracepoint_in_module kernel_struct_has_field kernel_enum_has_val monotonic_time "
           "get_probe_limit generate_auto_includes sym ksym ksymname add_module "
           "trace_open trace_readline trace_fields trace_print perf_buffer_poll perf_buffer_consume "
           "kprobe_poll ring_buffer_poll ring_buffer_consume num_open_kprobes num_open_uprobes "
           "num_open_tracepoints free_bcc_memory donothing cleanup close",
    "USDT": "enable_probe enable_probe_or_bail get_context get_text enumerate_probes enumerate_active_probes "
            "get_probe_arg_ctype attach_uprobes",
    "USDTProbe": "short_name get_location", "USDTProbeLocation": "get_argument",
    "table:common": "get_fd items values keys clear items_lookup_batch items_lookup_and_delete_batch "
                    "items_delete_batch items_update_batch zero key_sprintf leaf_sprintf key_scanf leaf_scanf "
                    "print_log2_hist print_linear_hist print_json_hist itervalues iteritems "
                    "__getitem__ __setitem__ __delitem__ __iter__ __len__",
    "PerCpuHash": "sum max average getvalue", "PerCpuArray": "sum max average getvalue",
    "PerfEventArray": "open_perf_buffer open_perf_event event", "RingBuf": "open_ring_buffer event",
    "QueueStack": "push pop peek values itervalues", "StackTrace": "walk",
    "Perf": "perf_event_attr perf_event_open perf_custom_event_open NR_PERF_EVENT_OPEN PERF_TYPE_HARDWARE "
            "PERF_TYPE_SOFTWARE PERF_TYPE_TRACEPOINT PERF_TYPE_HW_CACHE PERF_SAMPLE_RAW PERF_FLAG_FD_CLOEXEC "
            "PERF_EVENT_IOC_SET_FILTER PERF_EVENT_IOC_ENABLE",
}


def _bcc_owner(where: str) -> list:
    import importlib

    from compat_c import bcc
    from compat_c.bcc import table, usdt
    if where.startswith("bcc"):
        return [importlib.import_module("compat_c" + ("." + where if where != "bcc" else ".bcc"))]
    if where == "table:common":
        return [table.HashTable, table.Array]
    found = getattr(table, where, None) or getattr(usdt, where, None) or getattr(bcc, where)
    return [found]


@pytest.mark.parametrize("where", sorted(_BCC_NAMES))
def test_every_bcc_api_name_exists(where):
    """Each name bcc tools use (notes/bcc-api.md, bcc's classes) exists where bcc puts it."""
    missing = [f"{getattr(o, '__name__', o)}.{n}" for o in _bcc_owner(where) for n in _BCC_NAMES[where].split()
               if not hasattr(o, n)]
    assert not missing


def test_trampoline_attach_names_take_bccs_prefix(root):
    """attach_kfunc("f") / attach_fmod_ret("f") mean kfunc__f / kmod_ret__f, as in bcc."""
    assert BPF.add_prefix(b"kfunc__", b"vfs_read") == b"kfunc__vfs_read"
    assert BPF.add_prefix(b"kfunc__", b"kfunc__vfs_read") == b"kfunc__vfs_read"
    with BPF(text="int nothing(void *ctx) { return 0; }") as b:
        with pytest.raises(BPFError, match="Unknown program kmod_ret__update_socket_protocol"):
            b.attach_fmod_ret("update_socket_protocol")
        with pytest.raises(BPFError, match="Fmod_ret func nothing is not attached"):
            b.detach_fmod_ret("nothing")
        with pytest.raises(BPFError, match="Kprobe nothing is not attached"):
            b.detach_kprobe_event(b"p_nothing")
        with pytest.raises(BPFError, match="Uprobe p_x is not attached"):
            b.detach_uprobe_event(b"p_x")
        assert b.free_bcc_memory() == 0 and b.donothing() is None
    assert BPF.support_fmod_ret() == (features.has("fentry") and
                                      BPF.kernel_enum_has_val("bpf_attach_type", "BPF_MODIFY_RETURN") == 1)


# ---------------------------------------------------------------- bcc.Perf

def _perf():
    from compat_c.bcc.perf import Perf
    return Perf


_ATTR_INTS = {"type": 32, "config": 64, "sample_period": 64, "sample_type": 64, "read_format": 64,
              "wakeup_events": 32, "bp_type": 32, "config1": 64, "config2": 64, "branch_sample_type": 64,
              "sample_regs_user": 64, "sample_stack_user": 32, "sample_regs_intr": 64, "aux_watermark": 32,
              "sample_max_stack": 16, "aux_sample_size": 32, "sig_data": 64}
_FLAG_NAMES = {"disabled": 0, "inherit": 1, "exclude_kernel": 5, "freq": 10, "watermark": 14,
               "precise_ip": 15, "mmap2": 23, "context_switch": 26, "cgroup": 32, "sigtrap": 37}


@given(values=st.fixed_dictionaries({k: st.integers(0, (1 << w) - 1) for k, w in _ATTR_INTS.items()}),
       flags=st.dictionaries(st.sampled_from(sorted(_FLAG_NAMES)), st.integers(0, 1)))
def test_perf_event_attr_has_the_kernels_layout(values, flags):
    """Fields set by name on bcc's ctypes attr land where the kernel's struct has them."""
    from pybpf_dsl.runtime import uapi
    attr = _perf().perf_event_attr()
    for name, value in {**values, **flags}.items():
        setattr(attr, name, value)
    raw = uapi.ffi.new("struct perf_event_attr *")
    uapi.ffi.memmove(raw, bytes(memoryview(attr).cast("B")), uapi.PERF_ATTR_SIZE)
    assert {k: getattr(raw, k) for k in values} == values
    assert raw.size == uapi.PERF_ATTR_SIZE == ct.sizeof(attr)
    assert raw.flags == sum(v << _FLAG_NAMES[k] for k, v in flags.items())
    assert attr.sample_freq == attr.sample_period and attr.bp_addr == attr.config1


def test_perf_event_attr_warns_on_unknown_fields(capsys):
    attr = _perf().perf_event_attr()
    attr.freq = 1
    assert capsys.readouterr().err == ""
    attr.frequency = 99
    assert "perf_event_attr has no field 'frequency'" in capsys.readouterr().err


def _read_counts(Perf) -> list[int]:
    return [int.from_bytes(os.read(fd.fileno(), 8), "little") for fd in Perf._events]


def test_perf_software_sampling_event_runs_on_every_cpu(root):
    """old/profile.py's Perf.perf_event_open(0, ptype=SOFTWARE, freq=F): cpu-clock on each CPU."""
    from pybpf_dsl.runtime.cpus import online_cpus
    Perf = _perf()
    Perf.perf_event_open(PerfSWConfig.CPU_CLOCK, pid=-1, ptype=Perf.PERF_TYPE_SOFTWARE, freq=49)
    try:
        assert len(Perf._events) == len(online_cpus())
        time.sleep(0.05)
        assert all(n > 0 for n in _read_counts(Perf))  # enabled: the clock runs
    finally:
        Perf.close_all()
    assert Perf._events == []


def test_perf_tracepoint_event_is_filtered_to_no_task(root):
    """A tracepoint opened through Perf runs but records nothing ("common_pid == -17")."""
    from pybpf_dsl.runtime.tracepoints import event_id
    Perf = _perf()
    Perf.perf_event_open(event_id("syscalls", "sys_enter_getppid"), pid=PID)
    try:
        for _ in range(5):
            os.getppid()
        assert _read_counts(Perf) == [0] * len(Perf._events)
    finally:
        Perf.close_all()


def test_perf_custom_hardware_event(root):
    """lbr.py's Perf.perf_custom_event_open(attr) with a hardware event."""
    Perf = _perf()
    attr = Perf.perf_event_attr()
    attr.type, attr.config = PerfType.HARDWARE, 0
    attr.sample_period = 1 << 20
    if not features.has("hardware_perf"):
        with pytest.raises(OSError, match="no hardware perf counter support for event type 0"):
            Perf.perf_custom_event_open(attr, pid=PID)
        assert Perf._events == []
        features.skip_unless("hardware_perf")
    try:
        Perf.perf_custom_event_open(attr, pid=PID)
        assert _read_counts(Perf)
    finally:
        Perf.close_all()
