"""Every helper of bcc's Reference Guide (the seed) under a ``bpf.*`` name, run in the kernel.

``SEED`` maps each helper and map method the guide names to its DSL spelling and to the
test that runs it in the kernel; ``EXTRA`` does the same for the rest of ``dir(bpf)``.
The table tests fail when a seed helper is unmapped, a DSL name does not exist, or a
proof test is missing.  Helpers run through BPF_PROG_TEST_RUN from this thread (SYSCALL
and raw tracepoint programs see this task as ``current``) or in probes this process
triggers; those this kernel cannot run compile and load where possible and skip saying why.
"""

import ast
import ctypes
import os
import re
import signal
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from net_fixtures import child_cgroup  # noqa: F401 - a fixture
from pybpf_dsl import bpf, kprobe, load, raw_tracepoint, socket_filter, tracepoint, uprobe
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import NotSupported, VerifierError
from pybpf_dsl.kernel import struct_by_name
from pybpf_dsl.lower import compile_programs
from pybpf_dsl.lower.maptyping import SIGNATURES
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.runtime.tracepipe import TracePipe
from pybpf_dsl.runtime.uapi import BPF_F_USER_STACK
from pybpf_dsl.types import Array, Struct, char, s64, u8, u32, u64

from .harness import kernel_runner

SEED_FILE = "/work/shared/seeds/000_cd60428cdf169951.txt"

# seed name -> (DSL spelling, proof: a test here or "module::test" in tests/dsl)
SEED = {
    # Data
    "bpf_probe_read_kernel": ("bpf.probe_read_kernel(dst, src)", "test_current_task_and_kernel_reads"),
    "bpf_probe_read_kernel_str": ("bpf.probe_read_kernel_str(dst, src)", "test_current_task_and_kernel_reads"),
    "bpf_ktime_get_ns": ("bpf.ktime_ns() / bpf.ktime_get_ns()", "test_clocks"),
    "bpf_get_current_pid_tgid": ("bpf.tgid(), bpf.pid() / bpf.tid(), bpf.get_current_pid_tgid()",
                                 "test_pid_tgid_tid_of_a_thread"),
    "bpf_get_current_uid_gid": ("bpf.uid(), bpf.gid(), bpf.get_current_uid_gid()", "test_uid_gid_match_the_process"),
    "bpf_get_current_comm": ("bpf.comm(), bpf.get_current_comm(buf)", "test_comm_of_a_named_thread"),
    "bpf_get_current_task": ("bpf.current_task(), bpf.get_current_task()", "test_current_task_and_kernel_reads"),
    "bpf_log2l": ("bpf.log2l(v)", "test_log2l_matches_bcc"),
    "bpf_get_prandom_u32": ("bpf.get_prandom_u32()", "test_prandom_u32_sets_every_bit_eventually"),
    "bpf_probe_read_user": ("bpf.probe_read_user(dst, src)", "test_user_memory_reads"),
    "bpf_probe_read_user_str": ("bpf.probe_read_user_str(dst, src)", "test_user_memory_reads"),
    "bpf_get_ns_current_pid_tgid": ("bpf.get_ns_current_pid_tgid(dev, ino, info)", "test_get_ns_current_pid_tgid"),
    # Debugging
    "bpf_override_return": ("bpf.override_return(ctx, rc)", "test_override_return_needs_kprobe_override"),
    # Output
    "bpf_trace_printk": ('bpf.trace_printk("fmt", a, b, c)', "test_trace_printk_reaches_trace_pipe"),
    "perf_submit": ("perf.output(v)", "test_probes::test_perf_buffer_and_tracepoint"),
    "bpf_perf_event_output": ("perf.output(v)", "test_probes::test_perf_buffer_and_tracepoint"),
    "perf_submit_skb": ("perf.output(v, packet=n)", "test_perf_array::test_perf_output_appends_the_packet"),
    "ringbuf_output": ("rb.output(v)", "test_seed_helpers::test_ringbuf_output_reserve_submit_discard"),
    "ringbuf_reserve": ("rb.reserve()", "test_seed_helpers::test_ringbuf_output_reserve_submit_discard"),
    "ringbuf_submit": ("rb.submit(p)", "test_seed_helpers::test_ringbuf_output_reserve_submit_discard"),
    "ringbuf_discard": ("rb.discard(p)", "test_seed_helpers::test_ringbuf_output_reserve_submit_discard"),
    # Maps: methods
    "map.lookup": ("m.lookup(k)", "test_maps::test_hash_map_matches_model"),
    "map.lookup_or_try_init": ("v = m.lookup_or_try_init(k, zero)",
                               "test_seed_helpers::test_lookup_or_try_init_and_atomic_increment"),
    "map.lookup_or_init": ("m.insert(k, zero); v = m.lookup(k)",
                           "test_seed_helpers::test_lookup_or_try_init_and_atomic_increment"),
    "map.delete": ("m.delete(k) / del m[k]", "test_maps::test_hash_map_matches_model"),
    "map.update": ("m.update(k, v) / m[k] = v", "test_maps::test_hash_map_matches_model"),
    "map.insert": ("m.insert(k, v)", "test_maps::test_hash_map_matches_model"),
    "map.increment": ("m.increment(k, n) / m[k] += n", "test_maps::test_hash_map_matches_model"),
    "map.atomic_increment": ("m.atomic_increment(k, n) / m.increment(k, n) / m[k] += n",
                             "test_seed_helpers::test_lookup_or_try_init_and_atomic_increment"),
    "map.get_stackid": ("stacks.get_stackid(flags)", "test_probes::test_perf_event_stacks"),
    "bpf_get_stackid": ("stacks.get_stackid(flags)", "test_probes::test_perf_event_stacks"),
    "map.perf_read": ("counters.perf_read(cpu)", "test_perf_array::test_perf_read_gets_this_cpus_counter"),
    "map.call": ("jmp.call(ctx, i)", "test_map_kinds::test_tail_calls"),
    "bpf_tail_call": ("jmp.call(ctx, i)", "test_map_kinds::test_tail_calls"),
    "map.redirect_map": ("devs.redirect(i, flags)", "test_map_kinds::test_redirect_maps"),
    "map.push": ("q.push(v)", "test_maps::test_queue_and_stack_match_model"),
    "map.pop": ("q.pop(out)", "test_maps::test_queue_and_stack_match_model"),
    "map.peek": ("q.peek(out)", "test_maps::test_queue_and_stack_match_model"),
    "map.sock_hash_update": ("h.sock_hash_update(skops, k)",
                             "test_sockmap::test_sock_ops_adds_established_sockets_to_a_sockhash"),
    "map.msg_redirect_hash": ("h.msg_redirect_hash(msg, k, flags)",
                              "test_sockmap::test_sk_msg_redirect_hash_to_own_ingress"),
    "map.sk_redirect_hash": ("h.sk_redirect_hash(skb, k, flags)", "test_seed_helpers::test_sk_redirect_hash_loads"),
    # named in other sections
    "bpf_probe_read": ("bpf.probe_read(dst, src)", "test_user_memory_reads"),
    "bpf_usdt_readarg": ("bpf.usdt_arg(ctx, n)", "test_probes::test_usdt_argument"),
}

# the rest of dir(bpf) -> proof
EXTRA = {
    "cgroup_id": "test_cgroup_ids", "get_current_cgroup_id": "test_cgroup_ids",
    "get_current_ancestor_cgroup_id": "test_cgroup_ids",
    "cpu": "test_cpu_and_numa_node", "get_smp_processor_id": "test_cpu_and_numa_node",
    "get_numa_node_id": "test_cpu_and_numa_node",
    "current_task_btf": "test_current_task_and_kernel_reads", "probe_read_str": "test_current_task_and_kernel_reads",
    "ktime_get_boot_ns": "test_clocks", "ktime_get_tai_ns": "test_clocks", "jiffies64": "test_clocks",
    "ktime_get_coarse_ns": "test_socket_filter_helpers", "skb_load_bytes": "test_socket_filter_helpers",
    "copy_from_user": "test_user_memory_reads", "copy_from_user_task": "test_user_memory_reads",
    "send_signal": "test_send_signal", "send_signal_thread": "test_send_signal",
    "get_stack": "test_get_stack_user_and_kernel", "get_task_stack": "test_get_stack_user_and_kernel",
    "get_func_ip": "test_uprobe_func_ip_and_cookie", "get_attach_cookie": "test_uprobe_func_ip_and_cookie",
    "probe_write_user": "test_probe_write_user_needs_no_lockdown",
    "seq_write": "test_probes::test_iterator_writes_lines",
    "xdp_load_bytes": "test_map_kinds::test_redirect_maps",
}


def _names(spelling: str) -> tuple[list[str], list[str]]:
    """The ``bpf.*`` names and the map method names a DSL spelling uses."""
    return re.findall(r"\bbpf\.(\w+)", spelling), re.findall(r"\b(?!bpf\.)\w+\.(\w+)\(", spelling)


def _proof_exists(proof: str) -> bool:
    """``proof`` names a test function defined at the top level of its module."""
    mod, _, name = proof.rpartition("::")
    path = os.path.join(os.path.dirname(__file__), f"{mod}.py") if mod else __file__
    with open(path) as f:
        tree = ast.parse(f.read())
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def test_seed_table_maps_every_helper_to_a_dsl_name_and_a_proof():
    for seed, (spelling, proof) in SEED.items():
        helpers, methods = _names(spelling)
        assert helpers or methods, f"{seed}: no DSL name in {spelling!r}"
        for name in helpers:
            assert name in dir(bpf) and getattr(bpf, name), f"{seed}: bpf.{name} does not exist"
        for name in methods:
            assert name in SIGNATURES, f"{seed}: map method .{name}() does not exist"
        assert _proof_exists(proof), f"{seed}: proof {proof} is not a test"


def test_every_bpf_name_is_proven():
    proven = {n for spelling, _ in SEED.values() for n in _names(spelling)[0]} | set(EXTRA)
    assert sorted(set(dir(bpf)) - proven) == []
    assert sorted(proven - set(dir(bpf))) == []
    for proof in EXTRA.values():
        assert _proof_exists(proof), proof


def test_seed_names_no_helper_missing_from_the_table():
    """Reads bcc's Reference Guide: every helper and map method it names is in SEED."""
    if not os.path.exists(SEED_FILE):
        pytest.skip(f"the seed {SEED_FILE} is not on this machine")
    with open(SEED_FILE) as f:
        text = f.read()
    c_part = text[text.index("\nData\n"):text.index("\nLicensing\n")]
    named = set(re.findall(r"^\d+\. ([\w.]+)\(\)$", c_part, re.M))        # section headings
    named |= set(re.findall(r"\b(bpf_\w+)\(", text))                      # helpers in examples
    named |= {"map." + m for m in re.findall(r"\bmap\.(\w+)\(", c_part)}  # map methods in prose
    assert sorted(named - set(SEED)) == []


# -- pid, tgid, uid, gid, comm -------------------------------------------------------

@bpf_function
def ids_of_current() -> u64:
    both = bpf.get_current_pid_tgid()
    if u64(bpf.tgid()) << 32 | bpf.pid() != both or bpf.tid() != bpf.pid():
        return 0
    return both


def _in_thread(fn, *args):
    """``fn(*args)`` in a new thread; returns (its result, the thread's native id)."""
    out = []
    t = threading.Thread(target=lambda: out.append((fn(*args), threading.get_native_id())))
    t.start()
    t.join()
    return out[0]


def test_pid_tgid_tid_of_a_thread(root):
    """From a second thread: pid (the thread id) differs from tgid (the process id)."""
    with kernel_runner(ids_of_current) as run:
        got, tid = _in_thread(run)
        assert got == os.getpid() << 32 | tid and tid != os.getpid()
        assert run() == os.getpid() << 32 | threading.get_native_id()
    got, tid = _in_thread(ids_of_current)
    assert got == os.getpid() << 32 | tid


@bpf_function
def ids() -> u64:
    return u64(bpf.gid()) << 32 | bpf.uid()


@bpf_function
def raw_ids() -> u64:
    return bpf.get_current_uid_gid()


def test_uid_gid_match_the_process(root):
    want = os.getgid() << 32 | os.getuid()
    with kernel_runner(ids) as run:
        assert run() == want
    with kernel_runner(raw_ids) as run:
        assert run() == want
    assert ids() == raw_ids() == want


class Comm(Struct):
    name: Array[char, 16]


@bpf_function
def same_name(a: Comm, b: Comm) -> bool:
    for i in range(16):
        if a.name[i] != b.name[i]:
            return False
    return True


@bpf_function
def comm_word(i: u32) -> u64:
    """Bytes 8*i..8*i+7 of the task name, if bpf.comm() and get_current_comm agree."""
    c = Comm()
    bpf.get_current_comm(c.name)
    d = Comm()
    d.name = bpf.comm()
    if not same_name(c, d):
        return 1
    word = u64(0)
    for j in range(8):
        word |= u64(c.name[(i & 1) * 8 + j]) << (8 * j)
    return word


def _named_thread_comm(fn, name: bytes):
    libc = ctypes.CDLL(None, use_errno=True)

    def body():
        libc.prctl(15, name)                      # PR_SET_NAME
        return fn(0) | fn(1) << 64
    return _in_thread(body)[0]


def test_comm_of_a_named_thread(root):
    name = f"h7-{os.getpid() % 100000}".encode()
    want = int.from_bytes(name.ljust(16, b"\0"), "little")
    with kernel_runner(comm_word) as run:
        assert _named_thread_comm(run, name) == want
    assert _named_thread_comm(comm_word, name) == want


# -- current task and kernel memory ------------------------------------------------------

TASK = struct_by_name("task_struct")
COMM_OFF, PID_OFF = TASK.field("comm").offset, TASK.field("pid").offset


@bpf_function
def task_facts(comm_off: u64, pid_off: u64) -> u64:
    """Bit i set when check i holds: typed fields, raw reads and string reads agree."""
    t = bpf.current_task()
    addr = bpf.get_current_task()
    tb = bpf.current_task_btf()
    pid = u32(bpf.get_current_pid_tgid())
    ok = u64(t.tgid == bpf.tgid()) | u64(tb.pid == pid) << 1 | u64(tb.tgid == t.tgid) << 2
    v = Array[u8, 4]()
    if bpf.probe_read_kernel(v, addr + pid_off) == 0:
        ok |= u64(u32(v[0]) | u32(v[1]) << 8 | u32(v[2]) << 16 | u32(v[3]) << 24 == pid) << 3
    c = Comm()
    bpf.get_current_comm(c.name)
    s = Comm()
    n = bpf.probe_read_kernel_str(s.name, addr + comm_off)
    ok |= u64(n > 1 and same_name(s, c)) << 4
    legacy = Comm()
    ok |= u64(bpf.probe_read_str(legacy.name, addr + comm_off) == n and same_name(legacy, c)) << 5
    w = Array[u8, 4]()
    ok |= u64(bpf.probe_read(w, addr + pid_off) == 0 and w[0] == v[0] and w[1] == v[1]) << 6
    short = Array[u8, 2]()
    ok |= u64(bpf.probe_read_kernel_str(short, addr + comm_off) == 2 and short[1] == 0) << 7
    bad = Array[u8, 8]()
    ok |= u64(bpf.probe_read_kernel(bad, 8) == -34) << 8    # x86: a user address is -ERANGE
    return ok


def test_current_task_and_kernel_reads(root):
    with kernel_runner(task_facts) as run:
        assert run(COMM_OFF, PID_OFF) == 0x1FF
        assert _in_thread(run, COMM_OFF, PID_OFF)[0] == 0x1FF


# -- time ------------------------------------------------------------------------------

@bpf_function
def clock(which: u32) -> u64:
    if which == 0:
        return bpf.ktime_ns()
    if which == 1:
        return bpf.ktime_get_ns()
    if which == 2:
        return bpf.ktime_get_boot_ns()
    if which == 3:
        return bpf.ktime_get_tai_ns()
    return bpf.jiffies64()


def test_clocks(root):
    clocks = [time.CLOCK_MONOTONIC, time.CLOCK_MONOTONIC, time.CLOCK_BOOTTIME, time.CLOCK_TAI]
    with kernel_runner(clock) as run:
        for which, c in enumerate(clocks):
            before = time.clock_gettime_ns(c)
            got = run(which)
            assert before <= got <= time.clock_gettime_ns(c), which
            assert before <= clock(which) <= time.clock_gettime_ns(c), which
        j0, t0 = run(4), time.monotonic()
        time.sleep(0.2)
        j1, t1 = run(4), time.monotonic()
        hz = (j1 - j0) / (t1 - t0)
        assert 50 < hz < 1500, hz                 # CONFIG_HZ is 100, 250, 300 or 1000


# -- cpu, NUMA node, cgroup ------------------------------------------------------------------

@bpf_function
def where() -> u64:
    return u64(bpf.cpu()) | u64(bpf.get_smp_processor_id()) << 16 | u64(bpf.get_numa_node_id()) << 32


def test_cpu_and_numa_node(root):
    saved = os.sched_getaffinity(0)
    try:
        with kernel_runner(where) as run:
            for cpu in sorted(saved):
                os.sched_setaffinity(0, {cpu})
                node = where() >> 32
                assert run() == cpu | cpu << 16 | node << 32
                assert where() == run()
    finally:
        os.sched_setaffinity(0, saved)


@bpf_function
def cgroups(level: u32) -> u64:
    if bpf.cgroup_id() != bpf.get_current_cgroup_id():
        return 0
    return bpf.get_current_ancestor_cgroup_id(level)


def test_cgroup_ids(child_cgroup):
    """In a child of the cgroup v2 root: level 0 is the root, level 1 our group, level 2 nothing."""
    want = [os.stat(os.path.dirname(child_cgroup.path)).st_ino, os.stat(child_cgroup.path).st_ino, 0]
    with kernel_runner(cgroups) as run:
        assert [run(level) for level in range(3)] == want
    assert [cgroups(level) for level in range(3)] == want


# -- log2l, prandom ----------------------------------------------------------------------

@bpf_function
def log2l_of(v: u64) -> u32:
    return bpf.log2l(v)


@pytest.fixture(scope="module")
def log2l_run(root):
    with kernel_runner(log2l_of) as run:
        yield run


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2, 3, 2**32 - 1, 2**32, 2**63, 2**64 - 1])))
def test_log2l_matches_bcc(log2l_run, v):
    """bcc's bpf_log2l: floor(log2(v)) + 1, and 1 for v == 0 (the slot BPF_HISTOGRAM uses)."""
    want = max(v.bit_length(), 1)
    assert log2l_run(v) == want
    assert log2l_of(v) == want


@bpf_function
def random_or(n: u32) -> u32:
    acc = u32(0)
    for i in range(64):
        if i < n:
            acc |= bpf.get_prandom_u32()
    return acc


def test_prandom_u32_sets_every_bit_eventually(root):
    """64 draws OR-ed together leave a bit clear with probability 2**-64 per bit."""
    with kernel_runner(random_or) as run:
        assert run(64) == 0xFFFFFFFF
        assert run(0) == 0
        assert {run(1) for _ in range(8)} != {run(1)}  # not a constant
    assert random_or(64) == 0xFFFFFFFF


# -- user memory ----------------------------------------------------------------------

@bpf_function
def read_user(which: u32, addr: u64) -> u64:
    """Low 32 bits: the helper's result; high 32: a checksum of the bytes it left in dst."""
    b16 = Array[u8, 16]()
    b8 = Array[u8, 8]()
    r = s64(0)
    if which == 0:
        r = bpf.probe_read_user_str(b16, addr)
    elif which == 1:
        r = bpf.probe_read_str(b8, addr)
    elif which == 2:
        r = bpf.probe_read_user(b8, addr)
    elif which == 3:
        r = bpf.probe_read(b8, addr)
    elif which == 4:
        r = bpf.copy_from_user(b8, addr)
    else:
        r = bpf.copy_from_user_task(b8, addr, bpf.current_task_btf(), 0)
    h = u32(0)
    if which == 0:
        for i in range(16):
            h = h * 31 + b16[i]
    else:
        for i in range(8):
            h = h * 31 + b8[i]
    return u64(h) << 32 | u32(r)


def _expect(which: int, data: bytes) -> int:
    """What the kernel documents for ``read_user(which, <address of data + NUL>)``."""
    size = 16 if which == 0 else 8
    if which <= 1:
        out = data[:size - 1] + b"\0"
        r, dst = len(out), out.ljust(size, b"\0")
    else:
        dst = (data + b"\0")[:size].ljust(size, b"\0")
        r = 0 if len(data) + 1 >= size else -14
        dst = dst if r == 0 else bytes(size)
    h = 0
    for byte in dst:
        h = (h * 31 + byte) & 0xFFFFFFFF
    return h << 32 | (r & 0xFFFFFFFF)


@pytest.fixture(scope="module")
def user_run(root):
    with kernel_runner(read_user) as run:
        yield run


def _guarded(data: bytes) -> tuple[ctypes.Array, int]:
    """``data`` + NUL at the very end of a page followed by an unmapped one."""
    import mmap
    m = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    buf = (ctypes.c_char * (2 * mmap.PAGESIZE)).from_buffer(m)
    base = ctypes.addressof(buf)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 0) == 0
    start = mmap.PAGESIZE - len(data) - 1
    buf[start:start + len(data) + 1] = data + b"\0"
    return (m, buf), base + start


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"x")), st.integers(0, 5))
def test_user_memory_reads(user_run, data, which):
    """Strings end at a page whose successor is unmapped, so reads past the NUL fault."""
    keep, addr = _guarded(data)
    want = _expect(which, data)
    assert user_run(which, addr) == want
    if which != 5:                                # the model has no BTF task pointer
        assert read_user(which, addr) == want
    for bad in (0, 8, 2**63):                     # NULL, unmapped, non-canonical: dst zeroed (hash 0)
        err = -34 if bad > 8 and which in (1, 3) else -14  # -ERANGE where probe_read reads kernel memory
        assert user_run(which, bad) == err & 0xFFFFFFFF


# -- signals -----------------------------------------------------------------------------

@bpf_function
def signal_self(sig: u32, thread: u32) -> s64:
    if thread:
        return bpf.send_signal_thread(sig)
    return bpf.send_signal(sig)


def test_send_signal(root):
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
    try:
        with kernel_runner(signal_self) as run:
            assert run(signal.SIGUSR1, 0) == 0
            time.sleep(0.01)
            assert got == [1]

            def in_worker():
                """The thread blocks SIGUSR2; a thread-directed one stays pending on it alone."""
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
                r = run(signal.SIGUSR2, 1)
                pending = signal.SIGUSR2 in signal.sigpending()
                signal.sigwait({signal.SIGUSR2})
                return r, pending
            assert _in_thread(in_worker)[0] == (0, True)
            assert signal.SIGUSR2 not in signal.sigpending()
        assert signal_self(signal.SIGUSR1, 0) == 0
        time.sleep(0.01)
        assert got == [1, 1]
    finally:
        signal.signal(signal.SIGUSR1, old)


# -- stacks ------------------------------------------------------------------------------

stack_out = ArrayMap[u64](max_entries=4)


@raw_tracepoint("sys_enter")
def stack_probe(ctx) -> int:
    user = Array[u64, 8]()
    stack_out[0] = u64(bpf.get_stack(ctx, user, BPF_F_USER_STACK))
    stack_out[1] = user[0]
    kern = Array[u64, 8]()
    stack_out[2] = u64(bpf.get_stack(ctx, kern, 0))
    stack_out[3] = kern[0]
    return 0


@bpf_function
def task_stack_top() -> u64:
    frames = Array[u64, 4]()
    n = bpf.get_task_stack(bpf.current_task_btf(), frames, 0)
    if n < 8:
        return u64(n)
    return frames[0]


def _mapping_of(addr: int) -> str:
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= addr < hi:
                return line.split()[-1]
    return ""


def test_get_stack_user_and_kernel(root):
    """Run from here, the user stack's top frame is libc's syscall(); kernel frames are kernel text."""
    with load(stack_probe, cache=False, attach=False) as prog:
        prog.programs["stack_probe"].test_run(ctx_in=bytes(16))
        n_user, top_user, n_kern, top_kern = (prog["stack_out"][i].value for i in range(4))
    assert n_user > 0 and n_user % 8 == 0
    assert "libc.so" in _mapping_of(top_user)
    assert n_kern > 0 and n_kern % 8 == 0 and top_kern >= 0xFFFF800000000000
    with kernel_runner(task_stack_top) as run:
        assert run() >= 0xFFFF800000000000


# -- probe-context helpers: func ip, cookie ------------------------------------------------------

probe_out = ArrayMap[u64](max_entries=4)


@uprobe("c:getpid")
def on_getpid(ctx) -> int:
    if bpf.tgid() == probe_out[3]:
        probe_out[0] = bpf.get_func_ip(ctx)
        probe_out[1] = bpf.get_attach_cookie(ctx) + 1
    return 0


def test_uprobe_func_ip_and_cookie(root):
    libc = ctypes.CDLL("libc.so.6")
    with load(on_getpid, cache=False) as prog:
        prog["probe_out"][3] = os.getpid()
        libc.getpid()
        assert prog["probe_out"][0].value == ctypes.cast(libc.getpid, ctypes.c_void_p).value
        assert prog["probe_out"][1].value == 1    # attached without a cookie: 0


# -- socket filter: skb_load_bytes, ktime_get_coarse_ns (tracing programs may not use it) -----------

sk_out = ArrayMap[u64](max_entries=3)


@socket_filter
def sk_helpers(skb) -> int:
    four = Array[u8, 4]()
    sk_out[0] = u64(bpf.skb_load_bytes(skb, 2, four))
    sk_out[1] = u64(four[0]) | u64(four[3]) << 24
    sk_out[2] = bpf.ktime_get_coarse_ns()
    return 0


def test_socket_filter_helpers(root):
    """The program sees the packet from L3: offset 2 is byte 14 + 2 of the frame."""
    with load(sk_helpers, cache=False, attach=False) as prog:
        before = time.clock_gettime_ns(6)          # CLOCK_MONOTONIC_COARSE
        prog.programs["sk_helpers"].test_run(data_in=bytes(range(40)))
        after = time.clock_gettime_ns(6)
        got = [prog["sk_out"][i].value for i in range(3)]
    assert got[:2] == [0, 16 | 19 << 24]
    assert before <= got[2] <= after


# -- helpers this kernel refuses --------------------------------------------------------------

@kprobe("should_failslab")
def inject(ctx) -> int:
    bpf.override_return(ctx, u64(-12))
    return 0


def test_override_return_needs_kprobe_override(root):
    assert "call 58" in compile_programs(inject).assembly(interleave_source=False)
    try:
        with load(inject, cache=False):
            pass
    except VerifierError as e:
        assert "bpf_override_return" in str(e)
        pytest.skip("bpf_override_return: this kernel lacks CONFIG_BPF_KPROBE_OVERRIDE (the verifier refuses it)")
    except NotSupported as e:
        pytest.skip(f"bpf_override_return loads, but cannot run: {e}")


poke_out = ArrayMap[u64](max_entries=2)


@tracepoint("syscalls:sys_enter_getppid")
def poke(args) -> int:
    if bpf.tgid() == poke_out[1]:
        word = Array[u8, 8]()
        word[0] = 0x2A
        bpf.probe_write_user(poke_out[0], word)
    return 0


def _lockdown() -> str:
    """The lockdown mode, as /sys/kernel/security/lockdown shows it (securityfs may be unmounted)."""
    try:
        with open("/sys/kernel/security/lockdown") as f:
            return re.search(r"\[(\w+)\]", f.read()).group(1)
    except (OSError, AttributeError):
        return "mode unknown: securityfs is not mounted"


def test_probe_write_user_needs_no_lockdown(root):
    target = ctypes.c_uint64(0)
    try:
        with load(poke, cache=False) as prog:
            prog["poke_out"][0] = ctypes.addressof(target)
            prog["poke_out"][1] = os.getpid()
            os.getppid()
    except VerifierError as e:
        assert "bpf_probe_write_user" in str(e)
        pytest.skip(f"bpf_probe_write_user: kernel lockdown ({_lockdown()}) removes the helper for root too")
    assert target.value == 0x2A


# -- trace_printk, pid namespaces ---------------------------------------------------------------

@bpf_function
def printk(a: u64, b: u64) -> s64:
    c = Comm()
    bpf.get_current_comm(c.name)
    if a == 0:
        return bpf.trace_printk("pybpf-dsl-printk %s\n", bpf.comm())
    return bpf.trace_printk("pybpf-dsl-printk %d %llx %s\n", a, b, c.name)


def test_trace_printk_reaches_trace_pipe(root):
    """A private tracefs instance: nobody else drains it; the pid and a random value mark our line."""
    marker = int.from_bytes(os.urandom(6), "little")
    with TracePipe(instance=f"pybpf_dsl_printk_{os.getpid()}") as pipe, kernel_runner(printk) as run:
        assert run(os.getpid(), marker) > 0
        with open("/proc/thread-self/comm", "rb") as f:
            comm = f.read().strip()
        want = f"pybpf-dsl-printk {os.getpid()} {marker:x} ".encode() + comm
        for _ in range(1000):
            f = pipe.fields(timeout=5)
            assert f[0] is not None, "the trace_printk line never reached trace_pipe"
            if f.msg == want:
                break
        assert f.pid == threading.get_native_id()
        assert run(0, 0) > 0                      # %s of a char array that is not a place



class PidNs(Struct):
    pid: u32
    tgid: u32


@bpf_function
def ns_ids(dev: u64, ino: u64) -> u64:
    info = PidNs()
    err = bpf.get_ns_current_pid_tgid(dev, ino, info)
    if err:
        return u64(err)
    return u64(info.tgid) << 32 | info.pid


def test_get_ns_current_pid_tgid(root):
    st_ = os.stat("/proc/self/ns/pid")
    want = os.getpid() << 32 | threading.get_native_id()
    with kernel_runner(ns_ids) as run:
        assert run(st_.st_dev, st_.st_ino) == want
        assert run(st_.st_dev, st_.st_ino + 1) == u64.wrap(-22)  # not our namespace: -EINVAL
    assert ns_ids(st_.st_dev, st_.st_ino) == want
    assert ns_ids(st_.st_dev, st_.st_ino + 1) == u64.wrap(-22)

