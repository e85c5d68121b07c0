"""Kernel structs from BTF: offsets of the running kernel, probe reads and direct (BTF) loads."""

import os

import pytest

from pybpf_dsl import bpf, load, tracepoint
from pybpf_dsl.decorators import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.kernel import KernelStructType, kernel_type
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.runtime.btf import kernel_btf
from pybpf_dsl.types import Ptr, u32, u64

from .harness import kernel_runner

ids = ArrayMap[u64](max_entries=4)


@bpf_function
def task_ids() -> u64:
    task = bpf.current_task()
    return u64(task.tgid) << 32 | task.real_parent.tgid


def test_kernel_struct_offsets_come_from_btf():
    from pybpf_dsl.kernel import task_struct
    btf = kernel_btf()
    t = btf.find("task_struct")
    assert isinstance(task_struct, KernelStructType) and task_struct.size == t.size
    assert task_struct.field("tgid").offset == t.member("tgid").bit_offset // 8
    assert task_struct.field("real_parent").type.target is task_struct
    assert task_struct.field("real_parent").type.space == "kernel"
    assert kernel_type("sock").field("__sk_common") is not None
    with pytest.raises(AttributeError, match="no struct or union named"):
        kernel_type("no_such_struct_xyz")


def test_current_task_fields_in_the_kernel(root):
    with kernel_runner(task_ids) as run:
        got = run()
    assert got >> 32 == os.getpid()
    assert got & 0xFFFFFFFF == os.getppid()


@tracepoint("syscalls:sys_enter_getppid")
def on_getppid(args) -> int:
    if bpf.tgid() == ids[3]:
        task = bpf.current_task()
        ids[0] = task.tgid
        ids[1] = task.real_parent.tgid
        ids[2] = bpf.current_task_btf().real_parent.tgid    # a BTF pointer: direct loads
    return 0


def test_tracepoint_reads_task_struct(root):
    with load(on_getppid, cache=False) as prog:
        prog["ids"][3] = os.getpid()
        os.getppid()
        got = [prog["ids"][i].value for i in range(3)]
    assert got == [os.getpid(), os.getppid(), os.getppid()]


@bpf_function
def write_kernel() -> u32:
    task = bpf.current_task()
    task.pid = 1
    return 0


@bpf_function
def read_user(p: Ptr[u32, "user"]) -> u32:
    return p[0]


def test_kernel_and_user_memory_rules():
    with pytest.raises(CompileError, match="cannot write through a kernel pointer"):
        write_kernel.typed()
    with pytest.raises(CompileError, match="user memory cannot be read directly"):
        read_user.typed()
