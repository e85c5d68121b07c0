"""uprobes and uretprobes in the real kernel: libc (IFUNCs too), PIE and fixed executables."""

from __future__ import annotations

import ctypes
import os

import pytest

from pybpf_dsl.errors import AttachTargetNotFound, SyscallError
from pybpf_dsl.runtime import uapi
from pybpf_dsl.runtime.attach.uprobe import (attach_uprobe, attach_uprobe_regex, uprobe_perf_attr,
                                             uprobe_pmu)
from pybpf_dsl.runtime.elfsyms import find_library, open_elf
from pybpf_dsl.runtime.tracefs import tracefs_root
from pybpf_dsl.runtime.uapi import AttachType, ffi

from uprobe_testprogs import (SLOT_COOKIE, SLOT_HITS, SLOT_VALUE, TARGET_CALLS, build_c_programs,
                              counting_prog, new_array, read_slot, release, start_waiting)

pytestmark = pytest.mark.usefixtures("root")
libc = ctypes.CDLL(None)
RAX = 80  # offsetof(struct pt_regs, ax) on x86_64


@pytest.fixture(scope="module")
def c_programs(tmp_path_factory):
    return build_c_programs(tmp_path_factory.mktemp("uprobe_c"))


@pytest.fixture
def counter():
    m = new_array()
    yield m
    m.close()


def _uprobe_events() -> str:
    with open(os.path.join(tracefs_root(), "uprobe_events")) as f:
        return f.read()


def test_pmu_attr_is_built_from_sysfs():
    pmu_type, retbit, refshift = uprobe_pmu()
    attr, keep = uprobe_perf_attr("/bin/true", 0x1234, retprobe=True, ref_ctr_offset=0x20)
    assert attr.type == pmu_type and attr.size == uapi.PERF_ATTR_SIZE
    assert attr.config == (1 << retbit) | (0x20 << refshift)
    assert ffi.string(ffi.cast("char *", attr.config1)) == b"/bin/true"
    assert attr.config2 == 0x1234 and attr.sample_period == 1
    plain, _ = uprobe_perf_attr("/bin/true", 8)
    assert plain.config == 0


def test_uprobe_on_libc_counts_own_calls(counter):
    before = _uprobe_events()
    prog = counting_prog(counter, os.getpid(), record_cookie=True)
    with prog, attach_uprobe(prog, "c", "getpid", pid=os.getpid(), cookie=0xC0FFEE) as link:
        assert link.kind == "uprobe" and "getpid" in link.target
        for _ in range(5):
            libc.getpid()
    libc.getpid()  # detached: not counted
    assert read_slot(counter, SLOT_HITS) == 5
    assert read_slot(counter, SLOT_COOKIE) == 0xC0FFEE
    assert _uprobe_events() == before  # the PMU never writes uprobe_events


def test_uretprobe_on_ifunc_sees_return_value(counter):
    """strlen is an IFUNC: the probe must land on the implementation, not the resolver."""
    prog = counting_prog(counter, os.getpid(), value_ctx_off=RAX)
    with prog, attach_uprobe(prog, find_library("c"), "strlen", pid=os.getpid(), retprobe=True):
        assert libc.strlen(b"x" * 37) == 37
    assert read_slot(counter, SLOT_HITS) >= 1
    assert read_slot(counter, SLOT_VALUE) == 37


def test_pid_filter_excludes_other_processes(counter):
    prog = counting_prog(counter, os.getpid())
    with prog, attach_uprobe(prog, "c", "getpid", pid=1):
        libc.getpid()
    assert read_slot(counter, SLOT_HITS) == 0


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_executable_probe_and_return(c_programs, counter, kind):
    path = c_programs[kind]
    child = start_waiting(path)
    try:
        prog = counting_prog(counter, child.pid, value_ctx_off=RAX)
        with prog, attach_uprobe(prog, path, "target_fn", pid=child.pid, retprobe=True):
            out = release(child)
    finally:
        child.kill()
        child.wait()
    assert out.strip() == str(sum(range(TARGET_CALLS)))
    assert read_slot(counter, SLOT_HITS) == TARGET_CALLS
    assert read_slot(counter, SLOT_VALUE) == 3 * (TARGET_CALLS - 1)


def test_attach_by_address(c_programs, counter):
    path = c_programs["pie"]
    vaddr = open_elf(path).by_name("target_fn")[0].value
    child = start_waiting(path)
    try:
        prog = counting_prog(counter, child.pid)
        with prog, attach_uprobe(prog, path, addr=vaddr, pid=child.pid):
            release(child)
    finally:
        child.kill()
        child.wait()
    assert read_slot(counter, SLOT_HITS) == TARGET_CALLS


def test_regex_uses_one_uprobe_multi_link(counter):
    prog = counting_prog(counter, os.getpid(), record_cookie=True,
                         expected_attach_type=AttachType.TRACE_UPROBE_MULTI)
    with prog, attach_uprobe_regex(prog, "c", r"^get(pid|ppid|uid)$", pid=os.getpid(),
                                   cookie=9) as link:
        assert len(link.fds) == 1
        libc.getpid(), libc.getppid(), libc.getuid()
    assert read_slot(counter, SLOT_HITS) == 3
    assert read_slot(counter, SLOT_COOKIE) == 9


def test_regex_falls_back_to_perf_events(counter):
    prog = counting_prog(counter, os.getpid())
    with prog, attach_uprobe_regex(prog, "c", r"^get(pid|ppid)$", pid=os.getpid()) as link:
        assert len(link.fds) == 4  # a link and a perf event per function
        libc.getpid(), libc.getppid()
    assert read_slot(counter, SLOT_HITS) == 2


def test_regex_multi_demanded_from_plain_program_fails(counter):
    prog = counting_prog(counter, os.getpid())
    with prog, pytest.raises(SyscallError, match="uprobe_multi"):
        attach_uprobe_regex(prog, "c", r"^getpid$", multi=True)


def test_missing_targets_say_what_is_missing(counter):
    prog = counting_prog(counter, os.getpid())
    with prog:
        with pytest.raises(AttachTargetNotFound, match="no library or executable named"):
            attach_uprobe(prog, "no_such_lib_xyz", "f")
        with pytest.raises(AttachTargetNotFound, match="did you mean getpid"):
            attach_uprobe(prog, "c", "getpidd")
        with pytest.raises(AttachTargetNotFound, match="matches"):
            attach_uprobe_regex(prog, "c", r"^no_such_function_")
        with pytest.raises(AttachTargetNotFound, match="not in any loadable segment"):
            attach_uprobe(prog, "c", addr=1 << 40)


def test_close_is_idempotent_and_gc_detaches(counter):
    prog = counting_prog(counter, os.getpid())
    with prog:
        link = attach_uprobe(prog, "c", "getpid", pid=os.getpid())
        link.close()
        link.close()
        assert link.closed
        attach_uprobe(prog, "c", "getpid", pid=os.getpid())  # dropped at once
        libc.getpid()
    assert read_slot(counter, SLOT_HITS) == 0
