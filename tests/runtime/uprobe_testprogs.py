"""Hand-written KPROBE-type programs shared by the uprobe, USDT, symbol and trace_pipe tests.

Every program counts only hits of one process (``tgid``), so other
developers' processes running the same binaries do not disturb the tests.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from pybpf_dsl.errors import VerifierError
from pybpf_dsl.runtime import syscall
from pybpf_dsl.runtime.asm import (BPF_ADD, BPF_JNE, BPF_RSH, R0, R1, R2, R3, R6, R7, R10,
                                   alu64_imm, call, exit_, jmp_imm, ld_imm64, ld_map_fd, ldx, mov64_imm,
                                   mov64_reg, st_imm, stx)
from pybpf_dsl.runtime.fd import FD
from pybpf_dsl.runtime.uapi import MapType, ProgType

GET_CURRENT_PID_TGID, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, TRACE_PRINTK = 14, 1, 2, 6
GET_ATTACH_COOKIE, PROBE_READ_USER = 174, 112

SLOT_HITS, SLOT_VALUE, SLOT_COOKIE = 0, 1, 2


def new_array(entries: int = 4) -> FD:
    """An array map of u64 values."""
    return syscall.map_create(MapType.ARRAY, 4, 8, entries, name="uprobe_test")


def read_slot(map_fd: FD, slot: int) -> int:
    key = ctypes.c_uint32(slot)
    val = ctypes.c_uint64()
    assert syscall.map_lookup(map_fd.fileno(), ctypes.addressof(key), ctypes.addressof(val))
    return val.value


def counting_prog(map_fd: FD, tgid: int, value_ctx_off: int | None = None,
                  value_size: int = 8, record_cookie: bool = False,
                  expected_attach_type: int = 0, value_mem: tuple[int, int] | None = None) -> FD:
    """A program that, for ``tgid`` only, increments slot 0, and optionally stores
    ``*(u<size> *)(ctx + value_ctx_off)`` in slot 1 and the attach cookie in slot 2.

    With ``value_mem=(reg_off, disp)`` slot 1 gets ``value_size`` bytes of user
    memory at ``*(u64 *)(ctx + reg_off) + disp`` instead (a USDT memory argument)."""
    m = map_fd.fileno()
    body = [
        mov64_reg(R6, R1),
        call(GET_CURRENT_PID_TGID),
        alu64_imm(BPF_RSH, R0, 32),
    ]
    rest = [
        # slot 0 += 1
        st_imm(4, R10, -4, SLOT_HITS),
        ld_map_fd(R1, m),
        mov64_reg(R2, R10), alu64_imm(BPF_ADD, R2, -4),
        call(MAP_LOOKUP_ELEM),
        jmp_imm(0x10, R0, 0, 3),  # JEQ r0, 0 -> skip increment
        ldx(8, R1, R0, 0),
        alu64_imm(BPF_ADD, R1, 1),
        stx(8, R0, R1, 0),
    ]
    if value_ctx_off is not None:
        rest += [ldx(value_size, R7, R6, value_ctx_off)] + _update(m, SLOT_VALUE, R7)
    if value_mem is not None:
        rest += [
            st_imm(8, R10, -24, 0),
            ldx(8, R3, R6, value_mem[0]),
            alu64_imm(BPF_ADD, R3, value_mem[1]),
            mov64_reg(R1, R10), alu64_imm(BPF_ADD, R1, -24),
            mov64_imm(R2, value_size),
            call(PROBE_READ_USER),
            ldx(8, R7, R10, -24),
        ] + _update(m, SLOT_VALUE, R7)
    if record_cookie:
        rest += [mov64_reg(R1, R6), call(GET_ATTACH_COOKIE), mov64_reg(R7, R0)]
        rest += _update(m, SLOT_COOKIE, R7)
    rest += [mov64_imm(R0, 0), exit_()]
    rest_code = b"".join(rest)
    skip = len(rest_code) // 8 - 2  # jump over everything but the final "r0 = 0; exit"
    body.append(jmp_imm(BPF_JNE, R0, tgid, skip))  # other processes: skip
    return _load(b"".join(body) + rest_code, expected_attach_type)


def _update(m: int, slot: int, reg: int) -> list[bytes]:
    return [
        stx(8, R10, reg, -16),
        st_imm(4, R10, -4, slot),
        ld_map_fd(R1, m),
        mov64_reg(R2, R10), alu64_imm(BPF_ADD, R2, -4),
        mov64_reg(R3, R10), alu64_imm(BPF_ADD, R3, -16),
        mov64_imm(4, 0),
        call(MAP_UPDATE_ELEM),
    ]


def printk_prog(message: bytes) -> FD:
    """A program calling bpf_trace_printk(message) (at most 16 bytes incl. NUL here)."""
    assert len(message) < 16
    buf = message.ljust(16, b"\0")
    code = []
    for i in range(0, 16, 8):
        word = int.from_bytes(buf[i:i + 8], "little")
        code += [ld_imm64(R1, word), stx(8, R10, R1, -16 + i)]
    code += [mov64_reg(R1, R10), alu64_imm(BPF_ADD, R1, -16), mov64_imm(R2, len(message) + 1),
             call(TRACE_PRINTK), mov64_imm(R0, 0), exit_()]
    return _load(b"".join(code), 0)


def _load(code: bytes, expected_attach_type: int) -> FD:
    fd, err, log = syscall.prog_load(ProgType.KPROBE, code, "GPL",
                                     expected_attach_type=expected_attach_type, log_level=1)
    if fd < 0:
        raise VerifierError("test", err, log)
    return FD(fd, "prog")



C_SOURCE = r"""
#include <stdio.h>
int counter;
__attribute__((noinline)) int target_fn(int x) { counter += x; return x * 3; }
int main(void) {
    char buf[16];
    if (!fgets(buf, sizeof buf, stdin)) return 1;
    for (int i = 0; i < 7; i++) target_fn(i);
    printf("%d\n", counter);
    fflush(stdout);
    fgets(buf, sizeof buf, stdin);
    return 0;
}
"""
TARGET_CALLS = 7  # target_fn(0..6): returns 3*i, the last one 18


def build_c_programs(directory: Path) -> dict[str, str]:
    """The program above built as PIE ("pie") and at a fixed address ("nopie")."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = directory / "prog.c"
    src.write_text(C_SOURCE)
    out = {}
    for kind, flags in (("pie", ["-fPIE", "-pie"]), ("nopie", ["-fno-pie", "-no-pie"])):
        exe = directory / f"prog_{kind}"
        subprocess.run(["gcc", "-O1", "-g", *flags, str(src), "-o", str(exe)], check=True)
        out[kind] = str(exe)
    return out


def start_waiting(path: str) -> subprocess.Popen:
    """Run a built program; it waits for a line on stdin before calling target_fn."""
    return subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def release(child: subprocess.Popen) -> str:
    """Let the program run its calls; returns what it printed, then lets it exit."""
    child.stdin.write(b"go\n")
    child.stdin.flush()
    line = child.stdout.readline().decode()
    child.stdin.write(b"end\n")
    child.stdin.flush()
    child.wait(5)
    child.stdin.close()
    child.stdout.close()
    return line
