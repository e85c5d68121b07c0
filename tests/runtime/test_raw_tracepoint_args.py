"""A raw tracepoint program that reads past the tracepoint's arguments: the attach error says so.

The kernel checks the largest context offset a RAW_TRACEPOINT program reads
against the tracepoint's argument count only at attach time, and answers a
bare EINVAL (bcc's compactsnoop reads ``ctx->args[4]`` of a 4-argument
mm_compaction_begin on 6.18).  The error names the count, from the
``btf_trace_<name>`` prototype, and the argument the program reads, from its
instructions.
"""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf_dsl.errors import SyscallError
from pybpf_dsl.runtime import asm as A
from pybpf_dsl.runtime import syscall
from pybpf_dsl.runtime.attach.raw_tracepoint import attach_raw_tracepoint, max_ctx_arg, tracepoint_arg_count
from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.uapi import ProgType

GET_PRANDOM_U32 = 7


def reader(n: int, route: str = "direct") -> bytes:
    """A program reading ctx->args[n], reaching the context pointer one of several ways."""
    if route == "direct":
        body = [A.ldx(8, A.R0, A.R1, 8 * n)]
    elif route == "moved":
        body = [A.mov64_reg(A.R6, A.R1), A.call(GET_PRANDOM_U32), A.ldx(8, A.R0, A.R6, 8 * n)]
    elif route == "offset":
        body = [A.mov64_reg(A.R7, A.R1), A.alu64_imm(A.BPF_ADD, A.R7, 8 * n), A.ldx(8, A.R0, A.R7, 0)]
    elif route == "spilled":
        body = [A.stx(8, A.R10, A.R1, -8), A.call(GET_PRANDOM_U32), A.ldx(8, A.R3, A.R10, -8),
                A.ldx(4, A.R0, A.R3, 8 * n + 4)]
    elif route == "subprogram":  # r1 handed to a BPF-to-BPF call
        return b"".join([A.insn(0x85, src=1, imm=2), A.mov64_imm(A.R0, 0), A.exit_(),
                         A.ldx(8, A.R0, A.R1, 8 * n), A.exit_()])
    else:
        raise ValueError(route)
    return b"".join([*body, A.mov64_imm(A.R0, 0), A.exit_()])


def load(insns: bytes) -> FD:
    fd, err, log = syscall.prog_load(ProgType.RAW_TRACEPOINT, insns, "GPL", log_level=1)
    assert fd >= 0, f"load failed ({err}):\n{log}"
    return FD(fd, "prog")


def test_argument_count_comes_from_the_btf_prototype():
    assert tracepoint_arg_count("sys_enter") == 2       # (struct pt_regs *regs, long id)
    assert tracepoint_arg_count("sys_exit") == 2
    assert tracepoint_arg_count("no_such_tracepoint_here") is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 11), st.sampled_from(["direct", "moved", "offset", "spilled", "subprogram"]))
def test_largest_argument_read_is_found_through_moves_spills_and_calls(n, route):
    assert max_ctx_arg(reader(n, route)) == n


def test_no_context_read_is_none():
    assert max_ctx_arg(b"") is None
    assert max_ctx_arg(b"".join([A.mov64_imm(A.R0, 0), A.exit_()])) is None
    clobbered = [A.call(GET_PRANDOM_U32), A.ldx(8, A.R0, A.R1, 40), A.exit_()]   # r1 is no longer ctx
    assert max_ctx_arg(b"".join(clobbered)) is None
    overwritten = [A.mov64_reg(A.R6, A.R1), A.mov64_imm(A.R6, 0), A.ldx(8, A.R0, A.R6, 40), A.exit_()]
    assert max_ctx_arg(b"".join(overwritten)) is None


@pytest.mark.parametrize("n", [2, 5])
def test_reading_past_the_arguments_is_one_clear_line(root, n):
    with load(reader(n, "moved")) as prog:
        with pytest.raises(SyscallError) as info:
            attach_raw_tracepoint(prog, "sys_enter")
    assert info.value.errno == errno.EINVAL
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("attaching to raw tracepoint sys_enter: BPF_RAW_TRACEPOINT_OPEN failed with EINVAL: ")
    assert msg.endswith(f"tracepoint sys_enter has 2 arguments on this kernel (ctx->args[0] to ctx->args[1]), "
                        f"but the program reads ctx->args[{n}]: read only the arguments its prototype has here")


def test_reading_within_the_arguments_attaches(root):
    with load(reader(1, "spilled")) as prog, attach_raw_tracepoint(prog, "sys_enter") as link:
        assert link.target == "sys_enter"
