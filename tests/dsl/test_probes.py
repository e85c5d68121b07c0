"""Every probe kind compiles, loads, and (where this kernel can) attaches and fires."""

import os
import subprocess

import pytest

from pybpf_dsl import (bpf, cgroup_skb, fentry, fexit, kprobe, kretprobe, load, lsm, perf_event,
                       raw_tracepoint, socket_filter, syscall, tc, tp_btf, tracepoint, uprobe, uretprobe,
                       usdt, xdp)
from pybpf_dsl import iter as iter_probe
from pybpf_dsl.errors import CompileError, NotSupported
from pybpf_dsl.kernel import sock
from pybpf_dsl.maps import ArrayMap, HashMap, PerfBuf, StackTrace
from pybpf_dsl.runtime import features
from pybpf_dsl.runtime.uapi import BPF_F_USER_STACK
from pybpf_dsl.types import Array, Ptr, Struct, char, s64, u8, u32, u64

hits = ArrayMap[u64](max_entries=8)
stacks = StackTrace(max_entries=64)
samples = HashMap[u32, u64](max_entries=64)


class Exec(Struct):
    pid: u32
    comm: Array[char, 16]


execs = PerfBuf[Exec]()

ME = 0


@raw_tracepoint("sys_enter")
def on_raw(ctx) -> int:
    if bpf.tgid() == hits[7] and ctx.args[1] == 39:   # args[1]: syscall nr (getpid)
        hits[0] += 1
    return 0


@tp_btf("sched_process_fork")
def on_fork(ctx) -> int:
    if ctx.parent.tgid == hits[7]:
        hits[1] = ctx.child.pid
    return 0


@tracepoint("sched:sched_process_exec")
def on_exec(args) -> int:
    if bpf.current_task().real_parent.tgid == hits[7]:
        ev = Exec()
        ev.pid = bpf.tgid()
        bpf.get_current_comm(ev.comm)
        execs.output(ev)
    return 0


@uprobe("c:getpid")
def on_getpid(ctx) -> int:
    if bpf.tgid() == hits[7]:
        hits[2] += 1
    return 0


@uretprobe("c:getpid")
def on_getpid_ret(ctx, ret: s64) -> int:
    if bpf.tgid() == hits[7]:
        hits[3] = ret
    return 0


@uprobe("c:kill")
def on_kill(ctx, pid: s64, sig: s64) -> int:
    if bpf.tgid() == hits[7]:
        hits[4] = pid * 100 + sig
    return 0


@usdt("/usr/bin/python3.11:python:function__entry")
def on_py_call(ctx) -> int:
    if bpf.current_task().real_parent.tgid == hits[7]:
        name = Array[char, 8]()
        bpf.probe_read_user_str(name, bpf.usdt_arg(ctx, 2))    # the function's name
        if name == "_coro":                         # _collections_abc.py, run at start-up
            hits[5] += 1
            hits[4] = bpf.usdt_arg(ctx, 3)                     # its line number
    return 0


@perf_event(sample_freq=199)
def on_sample(ctx) -> int:
    if bpf.tgid() == hits[7]:
        sid = stacks.get_stackid(BPF_F_USER_STACK)
        if sid >= 0:
            samples[u32(sid)] += 1
    return 0


@kprobe("tcp_sendmsg")
def on_send(ctx, sk: Ptr[sock], msg: u64, size: u64) -> int:
    hits[6] = sk.__sk_common.skc_family + size
    return 0


@kretprobe("tcp_sendmsg")
def on_send_ret(ctx, ret: s64) -> int:
    hits[6] = ret
    return 0


@syscall("openat")
def on_openat(ctx, dfd: s64, filename: Ptr[char, "user"], flags: u64) -> int:
    buf = Array[char, 32]()
    bpf.probe_read_user_str(buf, filename)
    return 0


@fentry("do_unlinkat")
def on_unlink(ctx) -> int:
    hits[6] = ctx.dfd
    return 0


@fexit("do_unlinkat")
def on_unlink_ret(ctx) -> int:
    hits[6] = ctx.ret
    return 0


@lsm("file_open")
def on_file_open(ctx) -> int:
    return 0


@iter_probe("task")
def dump_tasks(ctx) -> int:
    task = ctx.task
    if task:
        line = Array[char, 8]()
        if task.tgid == hits[7]:
            line[0] = 109
            line[1] = 101
            line[2] = 10
            bpf.seq_write(ctx.meta.seq, line)
    return 0


@xdp
def drop_udp(ctx) -> int:
    hdr = Array[u8, 24]()
    if bpf.xdp_load_bytes(ctx, 0, hdr) < 0:
        return 2
    if hdr[12] == 8 and hdr[13] == 0 and hdr[23] == 17:   # IPv4 + UDP
        return 1                                          # XDP_DROP
    return 2                                              # XDP_PASS


@socket_filter
def keep_short(ctx) -> int:
    return 0 if ctx.len > 64 else ctx.len


@tc
def mark(ctx) -> int:
    ctx.mark = 42
    return 0


@cgroup_skb("egress")
def allow_all(ctx) -> int:
    return 1


def _prog(**kw):
    return load(*kw.pop("probes"), cache=False, **kw)


def test_raw_tracepoint_tp_btf_and_uprobes_fire(root):
    with _prog(probes=[on_raw, on_fork, on_getpid, on_getpid_ret, on_kill]) as prog:
        t = prog["hits"]
        t[7] = os.getpid()
        for _ in range(3):
            os.getpid()
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
        os.kill(os.getpid(), 0)
        got = [t[i].value for i in range(5)]
    assert got[0] >= 3 and got[2] >= 3
    assert got[1] == child
    assert got[3] == os.getpid()
    assert got[4] == os.getpid() * 100
    assert all(link.closed for link in prog.links.values()) or not prog.links


def test_perf_buffer_and_tracepoint(root):
    with _prog(probes=[on_exec]) as prog:
        prog["hits"][7] = os.getpid()
        subprocess.run(["/bin/true"], check=True)
        got = list(prog.poll(execs, timeout=0.5))
    assert [(e.comm.decode()) for e in got] == ["true"]


def test_bcc_style_buffers(root):
    seen = []
    with _prog(probes=[on_exec]) as prog:
        prog["hits"][7] = os.getpid()
        prog["execs"].open_perf_buffer(lambda cpu, data, size: seen.append(prog["execs"].event(data).pid))
        p = subprocess.Popen(["/bin/true"])
        p.wait()
        for _ in range(5):
            if seen:
                break
            prog.perf_buffer_poll(200)
    assert seen == [p.pid]


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3.11"), reason="needs /usr/bin/python3.11 (USDT notes)")
def test_usdt_argument(root):
    with _prog(probes=[on_py_call]) as prog:
        prog["hits"][7] = os.getpid()
        subprocess.run(["/usr/bin/python3.11", "-S", "-c", "import os\ndef f(x):\n    pass\nlist(map(f, 'ab'))"],
                       check=True)
        count, line = prog["hits"][5].value, prog["hits"][4].value
    assert count >= 1
    with open("/usr/lib/python3.11/_collections_abc.py") as f:   # the line reported defines _coro
        assert "def _coro" in f.read().splitlines()[line - 1]


def test_perf_event_stacks(root):
    import time
    with _prog(probes=[on_sample]) as prog:
        prog["hits"][7] = os.getpid()
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass
        n = sum(v.value for v in prog["samples"].values())
        sid = next(iter(prog["samples"].keys())).value
        frames = list(prog["stacks"].walk(sid))
    assert n > 5 and frames


def test_iterator_writes_lines(root):
    with _prog(probes=[dump_tasks]) as prog:
        prog["hits"][7] = os.getpid()
        text = prog.links["dump_tasks"].read()
    assert text.count(b"me\n") >= 1


def test_packet_programs_run(root):
    with _prog(probes=[drop_udp, keep_short, mark]) as prog:
        assert not prog.links                       # no device given: loaded, not attached
        eth = b"\xff" * 12 + b"\x08\x00"
        ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17]) + bytes(10)
        udp = eth + ip + bytes(8)
        assert prog.programs["drop_udp"].test_run(udp).retval == 1
        tcp = eth + ip[:9] + b"\x06" + ip[10:] + bytes(20)
        assert prog.programs["drop_udp"].test_run(tcp).retval == 2
        assert prog.programs["keep_short"].test_run(bytes(60)).retval == 60 - 14   # from L3 on
        assert prog.programs["mark"].test_run(udp).retval == 0


def test_kernel_without_kprobes_says_why(root):
    if features.has("kprobes"):
        pytest.skip("this kernel has kprobes: covered by the attach tests")
    with pytest.raises(NotSupported, match="kprobe"):
        _prog(probes=[on_send, on_send_ret])
    prog = _prog(probes=[on_send, on_send_ret, on_openat], attach=False)   # they load
    prog.close()


def test_trampolines_say_why(root):
    for p in (on_unlink, on_unlink_ret, on_file_open):
        try:
            _prog(probes=[p]).close()
        except NotSupported as e:
            assert "fentry" in str(e) or "LSM" in str(e)


def test_contexts_are_typed():
    assert on_exec.signature()[0][0][1].target.field("filename").dataloc == "abs"
    assert on_fork.signature()[0][0][1].target.field("child").type.space == "btf"
    assert on_unlink_ret.signature()[0][0][1].target.field("ret") is not None
    assert on_kill.signature()[0][2][1] is s64
    with pytest.raises(CompileError, match="take only the context"):
        @tracepoint("sched:sched_switch")
        def bad(args, x: u32) -> int:
            return 0
        bad.typed()
