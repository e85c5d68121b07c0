"""Attaching tracing programs in the real kernel: tracepoints, raw tracepoints, tp_btf,
perf events, iterators; and everything this kernel lacks (kprobes, fentry, LSM,
kprobe_multi, hardware counters) up to the syscall."""

from __future__ import annotations

import gc
import os
import platform
import re
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import AttachTargetNotFound, NotSupported, SyscallError
from pybpf_dsl.runtime import asm as A
from pybpf_dsl.runtime import features, syscall
from pybpf_dsl.runtime.attach import kprobe as kp
from pybpf_dsl.runtime.attach.fentry import attach_tracing, kernel_func_btf_id, lsm_hook_btf_id
from pybpf_dsl.runtime.attach.iterator import attach_iter, iter_target_btf_id
from pybpf_dsl.runtime.attach.perf_event import attach_perf_event, attach_perf_event_raw, perf_attr
from pybpf_dsl.runtime.attach.raw_tracepoint import attach_raw_tracepoint, attach_tp_btf, tp_btf_id
from pybpf_dsl.runtime.attach.tracepoint import attach_tracepoint
from pybpf_dsl.runtime.cpus import online_cpus
from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.tracefs import tracefs_root
from pybpf_dsl.runtime.uapi import (AttachType, MapType, PerfAttrFlag, PerfHwConfig, PerfSwConfig,
                                    PerfType, ProgType, ffi)

pytestmark = pytest.mark.usefixtures("root")

PID = os.getpid()
NR_GETPPID = {"x86_64": 110, "aarch64": 173}.get(platform.machine(), 110)
GET_CURRENT_PID_TGID, MAP_LOOKUP_ELEM, SEQ_WRITE, GET_ATTACH_COOKIE = 14, 1, 127, 174
ATOMIC_ADD_DW = 0xDB  # BPF_STX | BPF_DW | BPF_ATOMIC, imm = BPF_ADD


# ---------------------------------------------------------------- programs

def _count_into(map_fd: int) -> list[bytes]:
    """map[0] += 1 (atomically), then return 0."""
    return [A.st_imm(4, A.R10, -4, 0), A.mov64_reg(A.R2, A.R10), A.alu64_imm(A.BPF_ADD, A.R2, -4),
            A.ld_map_fd(A.R1, map_fd), A.call(MAP_LOOKUP_ELEM), A.jmp_imm(A.BPF_JEQ, A.R0, 0, 2),
            A.mov64_imm(A.R1, 1), A.insn(ATOMIC_ADD_DW, A.R0, A.R1, 0, 0),
            A.mov64_imm(A.R0, 0), A.exit_()]


def counter(map_fd: int, nr_at: int | None = None) -> bytes:
    """Count events of this process; with ``nr_at``, only when the u64 at ctx+nr_at is getppid's number."""
    tail = _count_into(map_fd)
    skip = len(b"".join(tail)) // 8 - 2  # jump to "r0 = 0; exit" (ld_imm64 takes two slots)
    body = [A.mov64_reg(A.R6, A.R1), A.call(GET_CURRENT_PID_TGID), A.alu64_imm(A.BPF_RSH, A.R0, 32)]
    if nr_at is None:
        body.append(A.jmp_imm(A.BPF_JNE, A.R0, PID, skip))
    else:
        body += [A.jmp_imm(A.BPF_JNE, A.R0, PID, skip + 2), A.ldx(8, A.R1, A.R6, nr_at),
                 A.jmp_imm(A.BPF_JNE, A.R1, NR_GETPPID, skip)]
    return b"".join(body + tail)


def cookie_writer(map_fd: int) -> bytes:
    """map[0] = bpf_get_attach_cookie(ctx)."""
    return b"".join([
        A.mov64_reg(A.R6, A.R1), A.st_imm(4, A.R10, -4, 0), A.mov64_reg(A.R2, A.R10),
        A.alu64_imm(A.BPF_ADD, A.R2, -4), A.ld_map_fd(A.R1, map_fd), A.call(MAP_LOOKUP_ELEM),
        A.jmp_imm(A.BPF_JEQ, A.R0, 0, 4), A.mov64_reg(A.R7, A.R0), A.mov64_reg(A.R1, A.R6),
        A.call(GET_ATTACH_COOKIE), A.stx(8, A.R7, A.R0, 0),
        A.mov64_imm(A.R0, 0), A.exit_()])


def load(prog_type: int, insns: bytes, **kw) -> FD:
    fd, err, log = syscall.prog_load(prog_type, insns, "GPL", log_level=1, **kw)
    assert fd >= 0, f"load failed ({os.strerror(err)}):\n{log}"
    return FD(fd, "prog")


@pytest.fixture
def counter_map():
    with syscall.map_create(MapType.ARRAY, 4, 8, 1, name="pybpf_test_cnt") as m:
        yield m


def read_count(m: FD) -> int:
    key, value = ffi.new("uint32_t *", 0), ffi.new("uint64_t *")
    assert syscall.map_lookup(m.fileno(), key, value)
    return value[0]


def no_pybpf_dynamic_events() -> None:
    root = tracefs_root()
    for name in ("kprobe_events", "uprobe_events", "dynamic_events"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            with open(path) as f:
                assert f"pybpf_{PID}_" not in f.read(), f"{name} has a leftover probe of this process"


# ---------------------------------------------------------------- tracepoints

def test_tracepoint_counts_getppid_of_this_process(counter_map):
    with load(ProgType.TRACEPOINT, counter(counter_map.fileno())) as prog:
        with attach_tracepoint(prog, "syscalls", "sys_enter_getppid") as link:
            assert link.kind == "tracepoint" and link.target == "syscalls:sys_enter_getppid"
            for _ in range(25):
                os.getppid()
            assert read_count(counter_map) == 25
        assert link.closed
        os.getppid()
        assert read_count(counter_map) == 25
    no_pybpf_dynamic_events()


def test_tracepoint_accepts_category_colon_event_and_the_old_ioctl_path(counter_map, monkeypatch):
    real_has = features.has
    monkeypatch.setattr(features, "has", lambda name: name != "perf_event_links" and real_has(name))
    with load(ProgType.TRACEPOINT, counter(counter_map.fileno())) as prog:
        link = attach_tracepoint(prog.fileno(), "syscalls:sys_enter_getppid")
        assert [f.kind for f in link.fds] == ["perf_event"]  # PERF_EVENT_IOC_SET_BPF, no BPF link
        os.getppid()
        del link
        gc.collect()  # dropping the Link detaches
        os.getppid()
        assert read_count(counter_map) == 1


def test_tracepoint_cookie(counter_map):
    features.skip_unless("bpf_cookie")
    with load(ProgType.TRACEPOINT, cookie_writer(counter_map.fileno())) as prog:
        with attach_tracepoint(prog, "syscalls", "sys_enter_getppid", cookie=0xC0FFEE):
            os.getppid()
        assert read_count(counter_map) == 0xC0FFEE


def test_tracepoint_typo_suggests_and_leaks_nothing(counter_map):
    with load(ProgType.TRACEPOINT, counter(counter_map.fileno())) as prog:
        with pytest.raises(AttachTargetNotFound, match="did you mean syscalls:sys_enter_getppid"):
            attach_tracepoint(prog, "syscalls", "sys_enter_getppd")


def test_tracepoint_with_a_program_of_the_wrong_type_fails_cleanly(counter_map):
    with load(ProgType.RAW_TRACEPOINT, counter(counter_map.fileno())) as prog:
        with pytest.raises(SyscallError, match="attaching program to tracepoint sched:sched_switch"):
            attach_tracepoint(prog, "sched", "sched_switch")
    # the autouse fd-leak check proves the perf event was closed


def test_prog_argument_validation():
    with pytest.raises(TypeError, match="loaded program"):
        attach_tracepoint("prog", "sched", "sched_switch")
    with pytest.raises(ValueError):
        attach_tracepoint(-1, "sched", "sched_switch")


# ---------------------------------------------------------------- raw tracepoints and tp_btf

def test_raw_tracepoint_sys_enter(counter_map):
    with load(ProgType.RAW_TRACEPOINT, counter(counter_map.fileno(), nr_at=8)) as prog:
        with attach_raw_tracepoint(prog, "sys_enter") as link:
            assert link.kind == "raw_tracepoint" and link.target == "sys_enter"
            for _ in range(7):
                os.getppid()
        os.getppid()
    assert read_count(counter_map) == 7


def test_raw_tracepoint_typo():
    with load(ProgType.RAW_TRACEPOINT, A.mov64_imm(A.R0, 0) + A.exit_()) as prog:
        with pytest.raises(AttachTargetNotFound, match="no kernel tracepoint named 'sched_swich'.*sched_switch"):
            attach_raw_tracepoint(prog, "sched_swich")


def _tp_btf_prog(counter_map: FD) -> FD:
    # tp_btf sys_enter: ctx = (struct pt_regs *regs, long id) as u64 slots
    return load(ProgType.TRACING, counter(counter_map.fileno(), nr_at=8),
                expected_attach_type=AttachType.TRACE_RAW_TP, attach_btf_id=tp_btf_id("sys_enter"))


def test_tp_btf_sys_enter(counter_map):
    features.skip_unless("tp_btf")
    with _tp_btf_prog(counter_map) as prog:
        with attach_tp_btf(prog) as link:
            assert link.kind == "tp_btf" and link.target == "sys_enter"
            for _ in range(5):
                os.getppid()
    assert read_count(counter_map) == 5


def test_tp_btf_through_link_create_with_attach_type(counter_map):
    features.skip_unless("tp_btf")
    with _tp_btf_prog(counter_map) as prog:
        with attach_tracing(prog, AttachType.TRACE_RAW_TP) as link:
            assert link.kind == "tp_btf" and link.target == "btf_trace_sys_enter"
            os.getppid()
    assert read_count(counter_map) == 1


def test_tp_btf_id_typo():
    with pytest.raises(AttachTargetNotFound, match="sched_switch"):
        tp_btf_id("sched_swich")


# ---------------------------------------------------------------- perf events

def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_perf_event_cpu_clock_sampling_on_every_cpu(counter_map):
    with load(ProgType.PERF_EVENT, counter(counter_map.fileno())) as prog:
        with attach_perf_event(prog, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, sample_freq=2000) as link:
            assert link.kind == "perf_event"
            per_cpu = 2 if features.has("perf_event_links") else 1
            assert len(link.fds) == per_cpu * len(online_cpus())
            _spin(0.25)
        samples = read_count(counter_map)
        _spin(0.05)
        assert read_count(counter_map) == samples
    assert 100 < samples < 1000  # ~500 expected at 2 kHz for 0.25 s of this process


def test_perf_event_period_on_one_cpu_for_this_process(counter_map):
    with load(ProgType.PERF_EVENT, counter(counter_map.fileno())) as prog:
        with attach_perf_event(prog, PerfType.SOFTWARE, PerfSwConfig.TASK_CLOCK,
                               sample_period=1_000_000, pid=PID, cpu=-1) as link:
            _spin(0.1)
            assert len(link.fds) >= len(online_cpus())
    assert read_count(counter_map) > 20  # one sample per ms of CPU time


def test_perf_event_raw_from_a_mapping_and_from_bytes(counter_map):
    with load(ProgType.PERF_EVENT, counter(counter_map.fileno())) as prog:
        attr = {"type": PerfType.SOFTWARE, "config": PerfSwConfig.CPU_CLOCK, "sample_period": 100_000}
        with attach_perf_event_raw(prog, attr, cpu=0):
            _spin(0.05)
        with attach_perf_event_raw(prog, {"type": PerfType.SOFTWARE, "sample_freq": 500, "read_format": 0}):
            _spin(0.05)
        with pytest.raises(ValueError, match="needs a 'type'"):
            attach_perf_event_raw(prog, {"config": 0})
        raw = bytes(ffi.buffer(perf_attr(PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, sample_freq=1000)))
        with attach_perf_event_raw(prog, bytearray(raw)) as link:
            assert link.target == "type=1,config=0"
            _spin(0.05)
    assert read_count(counter_map) > 0


def test_hardware_perf_event_not_supported_message(counter_map):
    if features.has("hardware_perf"):
        pytest.skip("this machine has hardware perf counters")
    with load(ProgType.PERF_EVENT, counter(counter_map.fileno())) as prog:
        with pytest.raises(NotSupported, match="^this kernel does not support hardware perf counters: "):
            attach_perf_event(prog, PerfType.HARDWARE, PerfHwConfig.CPU_CYCLES, sample_period=100000)


def test_perf_event_argument_errors(counter_map):
    with load(ProgType.PERF_EVENT, counter(counter_map.fileno())) as prog:
        with pytest.raises(ValueError, match="exactly one of sample_period / sample_freq"):
            attach_perf_event(prog, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK)
        with pytest.raises(ValueError, match="exactly one"):
            attach_perf_event(prog, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, sample_period=1, sample_freq=1)
        with pytest.raises(ValueError, match="perf_event_max_sample_rate"):
            attach_perf_event(prog, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, sample_freq=10**9)


def test_perf_attr_fields():
    attr = perf_attr(PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, sample_freq=99)
    assert attr.sample_period == 99 and attr.flags & PerfAttrFlag.FREQ
    assert attr.flags & PerfAttrFlag.DISABLED and attr.size == ffi.sizeof(attr[0])


# ---------------------------------------------------------------- iterators

def _task_iter_prog(text: bool) -> FD:
    from pybpf_dsl.runtime.btf import Kind, kernel_btf
    tgid_off = kernel_btf().find("task_struct", Kind.STRUCT).member("tgid").bit_offset // 8
    if text:
        emit = [A.st_imm(2, A.R10, -2, 0x0A78), A.mov64_imm(A.R3, 2), A.mov64_reg(A.R2, A.R10),
                A.alu64_imm(A.BPF_ADD, A.R2, -2)]                          # "x\n"
    else:
        emit = [A.ldx(4, A.R2, A.R7, tgid_off), A.stx(4, A.R10, A.R2, -4), A.mov64_imm(A.R3, 4),
                A.mov64_reg(A.R2, A.R10), A.alu64_imm(A.BPF_ADD, A.R2, -4)]  # task->tgid
    body = b"".join(emit + [A.ldx(8, A.R1, A.R6, 0), A.call(SEQ_WRITE)])
    insns = [A.ldx(8, A.R6, A.R1, 0), A.ldx(8, A.R7, A.R1, 8), A.jmp_imm(A.BPF_JEQ, A.R7, 0, len(body) // 8)]
    insns += [body, A.mov64_imm(A.R0, 0), A.exit_()]
    return load(ProgType.TRACING, b"".join(insns), expected_attach_type=AttachType.TRACE_ITER,
                attach_btf_id=iter_target_btf_id("task"))


def test_task_iterator_sees_this_process():
    features.skip_unless("iterators")
    with _task_iter_prog(text=False) as prog, attach_iter(prog) as it:
        assert it.kind == "iter" and it.target == "task"
        data = it.read()
        tgids = struct.unpack(f"<{len(data) // 4}I", data)
        assert PID in tgids and len(set(tgids)) > 10
        assert it.read()  # every read runs a new walk


def test_task_iterator_for_one_process_and_text_lines():
    features.skip_unless("iterators")
    with _task_iter_prog(text=False) as prog, attach_iter(prog, pid=PID) as it:
        data = it.read()
        assert set(struct.unpack(f"<{len(data) // 4}I", data)) == {PID}
    with _task_iter_prog(text=True) as prog, attach_iter(prog) as it:
        lines = list(it.lines())
        assert len(lines) > 10 and set(lines) == {"x"}
    with pytest.raises(ValueError, match="closed"):
        it.read()


def test_iterator_target_typo():
    with pytest.raises(AttachTargetNotFound, match="no BPF iterator target 'tsk'"):
        iter_target_btf_id("tsk")


# ---------------------------------------------------------------- kprobes (absent here)

def test_kprobe_attach_names_the_missing_kernel_option():
    if features.has("kprobes"):
        pytest.skip("this kernel has kprobes")
    with load(ProgType.KPROBE, A.mov64_imm(A.R0, 0) + A.exit_()) as prog:
        for kwargs in ({}, {"retprobe": True}, {"retprobe": True, "maxactive": 16}):
            with pytest.raises(NotSupported, match="kprobes: CONFIG_KPROBES is off"):
                kp.attach_kprobe(prog, "do_nanosleep", **kwargs)
        with pytest.raises(NotSupported, match="CONFIG_KPROBES"):
            kp.attach_kretprobe(prog, "do_nanosleep")
    no_pybpf_dynamic_events()


def test_kprobe_live_when_available(counter_map):
    features.skip_unless("kprobes")
    with load(ProgType.KPROBE, counter(counter_map.fileno())) as prog:
        with kp.attach_kprobe(prog, kp.get_syscall_fnname("getppid")):
            os.getppid()
        with pytest.raises(AttachTargetNotFound):
            kp.attach_kprobe(prog, "pybpf_no_such_function")
    assert read_count(counter_map) == 1
    no_pybpf_dynamic_events()


def test_kprobe_perf_attr():
    attr, keep = kp.kprobe_perf_attr(6, 0, "do_sys_openat2", offset=16)
    assert (attr.type, attr.config, attr.config2) == (6, 0, 16)
    assert ffi.string(ffi.cast("char *", attr.config1)) == b"do_sys_openat2"
    attr, keep = kp.kprobe_perf_attr(6, 3, "do_sys_openat2", retprobe=True)
    assert attr.config == 1 << 3 and attr.config2 == 0


def test_kprobe_events_lines():
    assert kp.kprobe_events_line("ev", "do_sys_open") == "p:pybpf/ev do_sys_open"
    assert kp.kprobe_events_line("ev", "do_sys_open", 0x10) == "p:pybpf/ev do_sys_open+16"
    assert kp.kprobe_events_line("ev", "do_sys_open", retprobe=True) == "r:pybpf/ev do_sys_open"
    assert kp.kprobe_events_line("ev", "do_sys_open", retprobe=True, maxactive=100) == "r100:pybpf/ev do_sys_open"
    assert kp.kprobe_remove_line("ev") == "-:pybpf/ev"
    with pytest.raises(ValueError, match="cannot take an offset"):
        kp.kprobe_events_line("ev", "f", 4, retprobe=True)
    with pytest.raises(ValueError, match="only applies to kretprobes"):
        kp.kprobe_events_line("ev", "f", maxactive=4)
    with pytest.raises(ValueError, match="invalid kernel function name"):
        kp.kprobe_events_line("ev", "f g")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip() == s and "\x00" not in s),
       st.integers(0, 1 << 32), st.booleans())
def test_kprobe_event_names_are_valid_unique_and_carry_the_pid(symbol, offset, retprobe):
    a = kp.kprobe_event_name(symbol, offset, retprobe)
    b = kp.kprobe_event_name(symbol, offset, retprobe)
    for name in (a, b):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and len(name) <= 63
        assert name.startswith(f"pybpf_{PID}_{'r' if retprobe else 'p'}_")
    assert a != b


def test_kprobe_functions_and_syscall_names():
    funcs = kp.get_kprobe_functions("do_sys_.*")
    assert isinstance(funcs, set)
    if not features.has("kprobes"):
        assert funcs == set()
    else:
        assert funcs and all(f.startswith("do_sys_") for f in funcs)
    prefix = kp.get_syscall_prefix()
    if platform.machine() == "x86_64":
        assert prefix == "__x64_sys_"
    assert kp.get_syscall_fnname("openat") == prefix + "openat"
    assert kp.fix_syscall_fnname("sys_clone") == prefix + "clone"
    assert kp.fix_syscall_fnname("__arm64_sys_clone") == prefix + "clone"
    assert kp.fix_syscall_fnname("do_sys_open") == "do_sys_open"


def test_kprobe_multi(counter_map):
    with load(ProgType.KPROBE, A.mov64_imm(A.R0, 0) + A.exit_(),
              expected_attach_type=AttachType.TRACE_KPROBE_MULTI) as prog:
        with pytest.raises(ValueError, match="either symbols or addrs"):
            kp.attach_kprobe_multi(prog)
        with pytest.raises(ValueError, match="2 cookies for 1 functions"):
            kp.attach_kprobe_multi(prog, ["do_nanosleep"], cookies=[1, 2])
        if features.has("kprobe_multi"):
            with kp.attach_kprobe_multi(prog, ["do_nanosleep"], cookies=[7]) as link:
                assert link.kind == "kprobe_multi"
        else:
            with pytest.raises(NotSupported, match="kprobe_multi links: CONFIG_FPROBE is off"):
                kp.attach_kprobe_multi(prog, ["do_nanosleep", "do_sys_openat2"], retprobe=True)


# ---------------------------------------------------------------- fentry / fexit / LSM

def test_kernel_func_and_lsm_hook_btf_ids():
    from pybpf_dsl.runtime.btf import Kind, kernel_btf
    btf = kernel_btf()
    fid = kernel_func_btf_id("do_nanosleep")
    assert btf[fid].kind == Kind.FUNC and btf[fid].name == "do_nanosleep"
    assert lsm_hook_btf_id("file_open") == lsm_hook_btf_id("bpf_lsm_file_open") == \
        btf.find_id("bpf_lsm_file_open", Kind.FUNC)
    with pytest.raises(AttachTargetNotFound, match="did you mean do_nanosleep"):
        kernel_func_btf_id("do_nanoslep")
    with pytest.raises(AttachTargetNotFound, match="no LSM hook 'file_opn'"):
        lsm_hook_btf_id("file_opn")


def test_fentry_live_when_available(counter_map):
    features.skip_unless("fentry")
    with load(ProgType.TRACING, counter(counter_map.fileno()), expected_attach_type=AttachType.TRACE_FENTRY,
              attach_btf_id=kernel_func_btf_id("do_nanosleep")) as prog:
        with attach_tracing(prog) as link:
            assert link.target == "do_nanosleep"
            time.sleep(0.001)
    assert read_count(counter_map) >= 1


def test_attach_tracing_reaches_the_kernel_with_a_non_tracing_program():
    # What this kernel cannot load (fentry/LSM), exercised up to the syscall.
    with load(ProgType.TRACEPOINT, A.mov64_imm(A.R0, 0) + A.exit_()) as prog:
        with pytest.raises(SyscallError, match="BTF target: BPF_RAW_TRACEPOINT_OPEN failed with EINVAL"):
            attach_tracing(prog)
        with pytest.raises(SyscallError, match="attaching fexit program: BPF_LINK_CREATE failed with EINVAL"):
            attach_tracing(prog, AttachType.TRACE_FEXIT, cookie=3)
        with pytest.raises(SyscallError, match="attaching lsm program"):
            attach_tracing(prog, AttachType.LSM_MAC)
        with pytest.raises(ValueError, match="cookie needs the program's attach_type"):
            attach_tracing(prog, cookie=1)
