"""BPF instructions as text, in the notation of bcc's ``disassemble_func``.

::

    print(disassemble("hello", insns))
    # Disassemble of BPF program hello:
    #    0: (b7) r0 = 1
    #    1: (95) exit

One line per instruction slot: ``%4d: (%02x) text``.  The notation is the
kernel verifier's, with bcc's choices where they differ: registers are
always ``rN`` (32-bit ALU too), bitwise immediates print in hex, jumps show
their target as ``<index>``.  Calls name the helper; ``ld_imm64`` of a map
names the map when the caller passes ``maps`` ({slot index: map name}).
Byte swaps and the instructions bcc's disassembler predates (atomics,
32-bit jumps, sign extension, signed division) print as the kernel prints
them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping

from .helper_table import HELPERS

__all__ = ["disassemble", "instructions"]

_HELPER_NAMES = {num: name for num, name, _r, _p in HELPERS}
_SIZE = {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}
_ALU = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=",
        0x70: ">>=", 0x90: "%=", 0xa0: "^=", 0xb0: "=", 0xc0: "s>>="}
_BITWISE = {0x40, 0x50, 0xa0}
_JMP = {0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=",
        0xa0: "<", 0xb0: "<=", 0xc0: "s<", 0xd0: "s<="}
_ATOMIC = {0x00: "+=", 0x40: "|=", 0x50: "&=", 0xa0: "^="}
_PSEUDO = {1: "map[{}]", 2: "map_value[{}]", 3: "btf_var#{}", 4: "func#{}", 5: "map_idx[{}]",
           6: "map_idx_value[{}]"}


def instructions(insns: bytes) -> Iterator[tuple[int, int, int, int, int, int]]:
    """``(index, opcode, dst, src, offset, imm)`` of every 8-byte slot."""
    for i in range(len(insns) // 8):
        op, regs, off, imm = struct.unpack_from("<BBhi", insns, i * 8)
        yield i, op, regs & 0xF, regs >> 4, off, imm


def _alu(op: int, dst: int, src: int, off: int, imm: int, wide: bool) -> str:
    code, from_reg = op & 0xF0, op & 0x08
    if code == 0x80:
        return f"r{dst} = ~ ({'u64' if wide else 'u32'})r{dst}"
    if code == 0xd0:
        return f"r{dst} = {'be' if from_reg else 'le'}{imm} r{dst}"
    sign = "s" if off == 1 and code in (0x30, 0x90) else ""   # sdiv, smod
    opname = sign + _ALU.get(code, "?=")
    if from_reg:
        rhs = f"(s{off})r{src}" if code == 0xb0 and off in (8, 16, 32) else f"r{src}"   # movsx
        return f"r{dst} {opname} {rhs}"
    value = f"0x{imm & 0xFFFFFFFF:x}" if code in _BITWISE else str(imm)
    return f"r{dst} {opname} {value}"


def _jump(i: int, op: int, dst: int, src: int, off: int, imm: int, wide: bool) -> str:
    code = op & 0xF0
    if code == 0x00:
        return f"goto {off:+d} <{i + off + 1}>"
    if code == 0x80:
        if src == 1:
            return f"call pc{imm:+d}"
        if src == 2:
            return f"call kernel-function#{imm}"
        return f"call bpf_{_HELPER_NAMES[imm]}#{imm}" if imm in _HELPER_NAMES else f"call #{imm}"
    if code == 0x90:
        return "exit"
    reg = "r" if wide else "w"
    rhs = f"{reg}{src}" if op & 0x08 else str(imm)
    return f"if {reg}{dst} {_JMP.get(code, '?')} {rhs} goto pc{off:+d} <{i + off + 1}>"


def _memory(op: int, dst: int, src: int, off: int, imm: int) -> str:
    cls, size, mode = op & 0x07, _SIZE[op & 0x18], op & 0xE0
    if cls == 0x00 or mode in (0x20, 0x40):  # legacy packet loads
        where = f"{imm}" if mode == 0x20 else f"r{src} {imm:+d}"
        return f"r0 = *({size}*)skb[{where}]"
    if cls == 0x01:
        sign = "s" if mode == 0x80 else ""   # ldsx
        return f"r{dst} = *({sign}{size}*)(r{src} {off:+d})"
    if cls == 0x02:
        return f"*({size}*)(r{dst} {off:+d}) = {imm}"
    if mode == 0xC0:
        return _atomic(size, dst, src, off, imm)
    return f"*({size}*)(r{dst} {off:+d}) = r{src}"


def _atomic(size: str, dst: int, src: int, off: int, imm: int) -> str:
    place = f"*({size} *)(r{dst} {off:+d})"
    if imm == 0xE1:
        return f"r{src} = atomic{'64' if size == 'u64' else ''}_xchg({place}, r{src})"
    if imm == 0xF1:
        return f"r0 = atomic{'64' if size == 'u64' else ''}_cmpxchg({place}, r0, r{src})"
    op = _ATOMIC.get(imm & ~0x01, "?=")
    if imm & 0x01:  # BPF_FETCH
        return f"r{src} = atomic{'64' if size == 'u64' else ''}_fetch_{op[:-1]}({place}, r{src})"
    return f"lock {place} {op} r{src}"


def disassemble(name: str, insns: bytes, maps: Mapping[int, str] | None = None) -> str:
    """The listing of program ``name`` (``maps``: map names by ``ld_imm64`` slot index)."""
    lines = [f"Disassemble of BPF program {name}:"]
    maps = maps or {}
    skip = False
    for i, op, dst, src, off, imm in instructions(insns):
        if skip:
            skip = False
            continue
        cls = op & 0x07
        if op == 0x18:
            skip = True
            hi = struct.unpack_from("<i", insns, i * 8 + 12)[0] if len(insns) >= i * 8 + 16 else 0
            value = ((hi & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF)
            if i in maps:
                text = f"r{dst} = map[{maps[i]}]"
            elif src in _PSEUDO:
                text = f"r{dst} = " + _PSEUDO[src].format(imm)
            else:
                text = f"r{dst} = 0x{value:x}"
        elif cls in (0x04, 0x07):
            text = _alu(op, dst, src, off, imm, cls == 0x07)
        elif cls in (0x05, 0x06):
            text = _jump(i, op, dst, src, off, imm, cls == 0x05)
        else:
            text = _memory(op, dst, src, off, imm)
        lines.append(f"{i:4d}: ({op:02x}) {text}")
    return "\n".join(lines)
