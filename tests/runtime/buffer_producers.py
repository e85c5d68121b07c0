"""BPF programs that write numbered samples into perf buffers and ring buffers.

Shared by tests/runtime/test_perf_buffer.py, test_ring_buffer.py (with :func:`run_script`) and
benchmarks/bench_buffers.py.  Each SCHED_CLS program, run with
BPF_PROG_TEST_RUN (``repeat=N`` gives N samples from one syscall), takes a
sequence number from a one-slot counter array and emits a sample of
``size`` bytes whose 8-byte word ``i`` is ``seq + i`` (see :func:`expected`).
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
import threading
import time

from pybpf_dsl.errors import BPFError, VerifierError
from pybpf_dsl.runtime import syscall
from pybpf_dsl.runtime.asm import (BPF_ADD, BPF_AND, BPF_JEQ, BPF_JNE, BPF_RSH, DW, R0, R1, R2,
                                   R3, R4, R5, R6, R7, R8, R9, R10, W, alu64_imm, call, exit_, ja,
                                   jmp_imm, ld_imm64, ld_map_fd, ldx, mov64_imm, mov64_reg,
                                   st_imm, stx)
from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.uapi import BPF_F_CURRENT_CPU, MapType, ProgType

MAP_LOOKUP_ELEM, GET_CURRENT_PID_TGID, PERF_EVENT_OUTPUT = 1, 14, 25
RINGBUF_OUTPUT, RINGBUF_RESERVE, RINGBUF_SUBMIT, RINGBUF_DISCARD = 130, 131, 132, 133
PACKET = bytes(64)  # what SCHED_CLS test runs see: a zeroed Ethernet frame


def expected(seq: int, size: int) -> bytes:
    """The payload of sample ``seq`` (the first one is 1)."""
    words = (size + 7) // 8
    return struct.pack(f"<{words}Q", *(seq + i for i in range(words)))[:size]


def counter_map() -> FD:
    """The one-slot u64 array holding the last sequence number."""
    return syscall.map_create(MapType.ARRAY, 4, 8, 1, name="seq")


def perf_array(max_entries: int | None = None) -> FD:
    """A PERF_EVENT_ARRAY with one slot per possible CPU."""
    return syscall.map_create(MapType.PERF_EVENT_ARRAY, 4, 4, max_entries or os.cpu_count() or 1,
                              name="events")


def ringbuf(size: int) -> FD:
    """A RINGBUF map of ``size`` bytes (a power-of-two number of pages)."""
    return syscall.map_create(MapType.RINGBUF, 0, 0, size, name="rb")


def _next_seq(counter_fd: int, skip: int) -> list[bytes]:
    """r7 = ++counter[0]; on a missing slot jump ``skip`` instructions ahead."""
    return [
        st_imm(W, R10, -4, 0),
        ld_map_fd(R1, counter_fd),
        mov64_reg(R2, R10), alu64_imm(BPF_ADD, R2, -4),
        call(MAP_LOOKUP_ELEM),
        jmp_imm(BPF_JEQ, R0, 0, skip),
        ldx(DW, R7, R0, 0), alu64_imm(BPF_ADD, R7, 1), stx(DW, R0, R7, 0),
    ]


def _fill(base_reg: int, offset: int, size: int) -> list[bytes]:
    """Words seq+i at base_reg+offset.. (whole words: the stack buffer is rounded up)."""
    out = []
    for i in range((size + 7) // 8):
        out += [mov64_reg(R8, R7), alu64_imm(BPF_ADD, R8, i), stx(DW, base_reg, R8, offset + 8 * i)]
    return out


def _count(parts: list[bytes]) -> int:
    return sum(len(p) for p in parts) // 8


def _load(prog_type: int, parts: list[bytes]) -> FD:
    code = b"".join(parts)
    fd, err, log = syscall.prog_load(prog_type, code, "GPL", name="producer", log_level=0)
    if fd < 0:
        _, err, log = syscall.prog_load(prog_type, code, "GPL", log_level=1)
        raise VerifierError("producer", err, log)
    return FD(fd, "prog")


def _tail() -> list[bytes]:
    return [mov64_imm(R0, 0), exit_()]


def _stack_buffer(size: int) -> int:
    """Offset from r10 of the stack buffer holding a sample of ``size`` bytes."""
    return -8 - 8 * ((size + 7) // 8)


def _perf_output(events_fd: int, size: int) -> list[bytes]:
    """Fill the stack buffer, then bpf_perf_event_output(r6 = ctx, events, CURRENT_CPU, buffer)."""
    buf = _stack_buffer(size)
    return _fill(R10, buf, size) + [
        mov64_reg(R1, R6), ld_map_fd(R2, events_fd), ld_imm64(R3, BPF_F_CURRENT_CPU),
        mov64_reg(R4, R10), alu64_imm(BPF_ADD, R4, buf), mov64_imm(R5, size),
        call(PERF_EVENT_OUTPUT),
    ]


def _ringbuf_output(rb_fd: int, size: int) -> list[bytes]:
    """Fill the stack buffer, then bpf_ringbuf_output(rb, buffer, size, 0)."""
    buf = _stack_buffer(size)
    return _fill(R10, buf, size) + [
        ld_map_fd(R1, rb_fd), mov64_reg(R2, R10), alu64_imm(BPF_ADD, R2, buf),
        mov64_imm(R3, size), mov64_imm(R4, 0), call(RINGBUF_OUTPUT),
    ]


def perf_producer(events_fd: int, counter_fd: int, size: int) -> FD:
    """SCHED_CLS: bpf_perf_event_output(ctx, events, BPF_F_CURRENT_CPU, sample, size)."""
    body = _perf_output(events_fd, size)
    return _load(ProgType.SCHED_CLS, [mov64_reg(R6, R1)] + _next_seq(counter_fd, _count(body))
                 + body + _tail())


def ringbuf_producer(rb_fd: int, counter_fd: int, size: int, mode: str = "output") -> FD:
    """SCHED_CLS writing one ring buffer sample per run.

    ``mode``: "output" (bpf_ringbuf_output from the stack), "reserve"
    (reserve, fill, submit) or "discard_odd" (like reserve, but samples with
    an odd sequence number are discarded).  "reserve" modes need ``size`` % 8 == 0.
    """
    if mode == "output":
        body = _ringbuf_output(rb_fd, size)
    else:
        if size % 8:
            raise ValueError("reserve producers write whole words: size must be a multiple of 8")
        fill = _fill(R9, 0, size)
        submit = [mov64_reg(R1, R9), mov64_imm(R2, 0), call(RINGBUF_SUBMIT)]
        finish = submit
        if mode == "discard_odd":
            discard = [mov64_reg(R1, R9), mov64_imm(R2, 0), call(RINGBUF_DISCARD)]
            odd = [mov64_reg(R8, R7), alu64_imm(BPF_AND, R8, 1),
                   jmp_imm(BPF_JNE, R8, 0, _count(submit) + 1)]
            finish = odd + submit + [ja(_count(discard))] + discard
        after = fill + finish
        body = [ld_map_fd(R1, rb_fd), mov64_imm(R2, size), mov64_imm(R3, 0), call(RINGBUF_RESERVE),
                mov64_reg(R9, R0), jmp_imm(BPF_JEQ, R9, 0, _count(after))] + after
    return _load(ProgType.SCHED_CLS, _next_seq(counter_fd, _count(body)) + body + _tail())


def run(prog: FD, repeat: int) -> None:
    """Run the producer ``repeat`` times in the kernel (one syscall)."""
    syscall.prog_test_run(prog.fileno(), PACKET, repeat=repeat)


def read_payload(addr: int, size: int) -> bytes:
    return ctypes.string_at(addr, size)


def tracepoint_producer(events_fd: int, pid: int) -> FD:
    """TRACEPOINT: a perf sample holding pid_tgid when process ``pid`` enters the traced call."""
    emit = [
        stx(DW, R10, R7, -8),
        mov64_reg(R1, R6), ld_map_fd(R2, events_fd), ld_imm64(R3, BPF_F_CURRENT_CPU),
        mov64_reg(R4, R10), alu64_imm(BPF_ADD, R4, -8), mov64_imm(R5, 8),
        call(PERF_EVENT_OUTPUT),
    ]
    return _load(ProgType.TRACEPOINT, [
        mov64_reg(R6, R1),
        call(GET_CURRENT_PID_TGID),
        mov64_reg(R7, R0), alu64_imm(BPF_RSH, R0, 32),  # the tgid
        jmp_imm(BPF_JNE, R0, pid, _count(emit)),
    ] + emit + _tail())


def tracepoint_seq_producer(out_fd: int, counter_fd: int, pid: int, size: int,
                            ring: bool = False) -> FD:
    """TRACEPOINT: a numbered sample of ``size`` bytes each time process ``pid`` hits the event.

    The sample is the one :func:`perf_producer` (or, with ``ring``,
    :func:`ringbuf_producer` in "output" mode) writes, sent to the perf
    event array or ring buffer ``out_fd``: a live producer for streaming
    measurements (attach it to, e.g., ``syscalls:sys_enter_getppid``).
    """
    body = _ringbuf_output(out_fd, size) if ring else _perf_output(out_fd, size)
    count = _next_seq(counter_fd, _count(body)) + body
    return _load(ProgType.TRACEPOINT, [
        mov64_reg(R6, R1),
        call(GET_CURRENT_PID_TGID),
        alu64_imm(BPF_RSH, R0, 32),  # the tgid
        jmp_imm(BPF_JNE, R0, pid, _count(count)),
    ] + count + _tail())


def run_script(script: str) -> None:
    """Run ``script`` in a fresh interpreter that can import this module; it must print only "ok"."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join([here, os.path.dirname(os.path.dirname(here))])  # + the repository
    out = subprocess.run([sys.executable, "-c", script], cwd=here, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": path})
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr


def close_while_reading(buffer, read) -> list[BaseException]:
    """Call ``read()`` in a loop on another thread until ``buffer`` is closed, close it from this
    thread meanwhile, and return what the reader raised (a BPFError saying "closed" is expected:
    the close can fall between the loop's check and the call)."""
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not buffer.closed:
                read()
        except BPFError as exc:
            if "closed" not in str(exc):
                errors.append(exc)
        except BaseException as exc:     # the failure being tested
            errors.append(exc)
    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.001)
    buffer.close()
    thread.join(10)
    if thread.is_alive():
        errors.append(TimeoutError("the reader did not stop after close()"))
    return errors


def close_wakes_a_blocked_read(buffer, read) -> float:
    """Seconds ``read()`` (a wait with no data coming, on another thread) took to return after
    ``buffer.close()``; what it returned or raised must be 0 or "closed"."""
    outcome: list[object] = []

    def reader() -> None:
        try:
            outcome.append(read())
        except BPFError as exc:
            outcome.append(str(exc))
    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)                         # the reader is in epoll_wait by now
    start = time.monotonic()
    buffer.close()
    thread.join(10)
    took = time.monotonic() - start
    assert not thread.is_alive(), "close() did not wake the blocked read"
    assert outcome in ([0], ["closed"]) or "closed" in str(outcome), outcome
    return took
