"""A small BPF instruction builder.

Used by the runtime for the few programs it writes itself (feature probes)
and by tests that need a program with exact instructions.  Each function
returns the instruction's 8 (or 16, for ``ld_imm64``) bytes::

    prog = b"".join([mov64_imm(R0, 0), exit_()])
"""

from __future__ import annotations

import struct

__all__ = [
    "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10",
    "insn", "mov64_imm", "mov64_reg", "alu64_imm", "alu64_reg", "ld_imm64", "ld_map_fd",
    "ld_map_value", "ldx", "stx", "st_imm", "jmp_imm", "jmp_reg", "ja", "call", "exit_",
    "BPF_ADD", "BPF_SUB", "BPF_MUL", "BPF_DIV", "BPF_OR", "BPF_AND", "BPF_LSH", "BPF_RSH",
    "BPF_MOD", "BPF_XOR", "BPF_ARSH", "BPF_JEQ", "BPF_JGT", "BPF_JGE", "BPF_JNE",
    "BPF_JSGT", "BPF_JSGE", "BPF_JLT", "BPF_JLE", "BPF_JSLT", "BPF_JSLE", "B", "H", "W", "DW",
]

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# instruction classes
_LD, _LDX, _ST, _STX, _ALU, _JMP, _JMP32, _ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# sizes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
_SIZE_BYTES = {1: B, 2: H, 4: W, 8: DW}
# modes
_IMM, _MEM = 0x00, 0x60
# sources
_K, _X = 0x00, 0x08
# ALU ops
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70)
BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH = 0x80, 0x90, 0xA0, 0xB0, 0xC0
# JMP ops
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70)
_CALL, _EXIT = 0x80, 0x90
BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE = 0xA0, 0xB0, 0xC0, 0xD0

_INSN = struct.Struct("<BBhi")


def _size_code(size: int) -> int:
    return _SIZE_BYTES[size] if size in _SIZE_BYTES else size


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One raw 8-byte instruction."""
    if imm >= 1 << 31:
        imm -= 1 << 32
    return _INSN.pack(code, (src << 4) | dst, off, imm)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(_ALU64 | BPF_MOV | _K, dst, 0, 0, imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(_ALU64 | BPF_MOV | _X, dst, src)


def alu64_imm(op: int, dst: int, imm: int) -> bytes:
    return insn(_ALU64 | op | _K, dst, 0, 0, imm)


def alu64_reg(op: int, dst: int, src: int) -> bytes:
    return insn(_ALU64 | op | _X, dst, src)


def ld_imm64(dst: int, imm: int, src: int = 0) -> bytes:
    """The two-slot 64-bit immediate load (``src`` selects a pseudo kind)."""
    imm &= (1 << 64) - 1
    lo, hi = imm & 0xFFFFFFFF, imm >> 32
    return insn(_LD | DW | _IMM, dst, src, 0, lo) + insn(0, 0, 0, 0, hi)


def ld_map_fd(dst: int, map_fd: int) -> bytes:
    """Load a map pointer (BPF_PSEUDO_MAP_FD)."""
    return ld_imm64(dst, map_fd, src=1)


def ld_map_value(dst: int, map_fd: int, offset: int = 0) -> bytes:
    """Load the address of a map's value + offset (BPF_PSEUDO_MAP_VALUE)."""
    return insn(_LD | DW | _IMM, dst, 2, 0, map_fd) + insn(0, 0, 0, 0, offset)


def ldx(size: int, dst: int, src: int, off: int) -> bytes:
    """dst = *(size *)(src + off); size in bytes (1, 2, 4, 8)."""
    return insn(_LDX | _size_code(size) | _MEM, dst, src, off)


def stx(size: int, dst: int, src: int, off: int) -> bytes:
    """*(size *)(dst + off) = src."""
    return insn(_STX | _size_code(size) | _MEM, dst, src, off)


def st_imm(size: int, dst: int, off: int, imm: int) -> bytes:
    """*(size *)(dst + off) = imm."""
    return insn(_ST | _size_code(size) | _MEM, dst, 0, off, imm)


def jmp_imm(op: int, dst: int, imm: int, off: int) -> bytes:
    """if dst <op> imm goto +off."""
    return insn(_JMP | op | _K, dst, 0, off, imm)


def jmp_reg(op: int, dst: int, src: int, off: int) -> bytes:
    """if dst <op> src goto +off."""
    return insn(_JMP | op | _X, dst, src, off)


def ja(off: int) -> bytes:
    return insn(_JMP | BPF_JA, 0, 0, off)


def call(helper_id: int) -> bytes:
    """Call a kernel helper by number."""
    return insn(_JMP | _CALL, 0, 0, 0, helper_id)


def exit_() -> bytes:
    return insn(_JMP | _EXIT)
