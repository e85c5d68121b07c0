"""Helpers run in the kernel: trace_printk, get_ns_current_pid_tgid, prandom, uid/gid.

Each is also called through its CPython model, which must agree with the kernel.
"""

import os
import threading

from pybpf_dsl import bpf
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.runtime.tracepipe import TracePipe
from pybpf_dsl.types import Struct, s64, u32, u64

from .harness import kernel_runner


@bpf_function
def printk(a: u64, b: u64) -> s64:
    return bpf.trace_printk("pybpf-dsl-printk %d %llx\n", a, b)


def test_trace_printk_reaches_trace_pipe(root):
    """A private tracefs instance: nobody else drains it; the pid and a random value mark our line."""
    marker = int.from_bytes(os.urandom(6), "little")
    with TracePipe(instance=f"pybpf_dsl_printk_{os.getpid()}") as pipe, kernel_runner(printk) as run:
        assert run(os.getpid(), marker) > 0
        want = f"pybpf-dsl-printk {os.getpid()} {marker:x}".encode()
        for _ in range(1000):
            f = pipe.fields(timeout=5)
            assert f[0] is not None, "the trace_printk line never reached trace_pipe"
            if f.msg == want:
                break
        assert f.pid == threading.get_native_id()


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
    st = os.stat("/proc/self/ns/pid")
    want = os.getpid() << 32 | threading.get_native_id()
    with kernel_runner(ns_ids) as run:
        assert run(st.st_dev, st.st_ino) == want
        assert run(st.st_dev, st.st_ino + 1) == u64.wrap(-22)  # not our namespace: -EINVAL
    assert ns_ids(st.st_dev, st.st_ino) == want
    assert ns_ids(st.st_dev, st.st_ino + 1) == u64.wrap(-22)


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
