"""CO-RE: rewrite instructions compiled against one set of types for the running kernel.

Each ``.BTF.ext`` CO-RE record names an instruction, a local (program BTF)
type and an access string such as ``"0:2:1"`` (root index, then member or
array indices).  :func:`relocate` finds the same fields by name in the
target BTF (normally :func:`~pybpf_dsl.runtime.btf.kernel_btf`) and patches
the instruction's offset or immediate.  A relocation that cannot be
resolved turns its instruction into a call to an invalid helper, as libbpf
does, so the verifier rejects it only when that code can actually run.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from ..errors import ObjectFormatError
from .btf import BTF, BtfType, Kind
from .btf_ext import CoreRelo

__all__ = ["ReloKind", "relocate", "CoreError"]

_INSN = struct.Struct("<BBhi")
POISON_HELPER = 0xBAD2310
_SIZE_BITS = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
_COMPOSITE = (Kind.STRUCT, Kind.UNION)


class ReloKind(IntEnum):
    """``enum bpf_core_relo_kind``."""
    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


class CoreError(Exception):
    """A relocation that has no answer in the target BTF (internal: becomes a poisoned insn)."""


class _Field(NamedTuple):
    bit_offset: int
    type_id: int          # the field's own type (before resolving)
    bitfield_size: int
    btf: BTF


def essential_name(name: str) -> str:
    """``task_struct___old`` -> ``task_struct`` (libbpf's flavour suffix)."""
    pos = name.find("___")
    return name[:pos] if pos > 0 else name


def _candidates(local: BtfType, target: BTF) -> list[BtfType]:
    name = essential_name(local.name)
    if not name:
        raise CoreError(f"anonymous {local.kind.name} cannot be relocated")
    kinds = {local.kind}
    if local.kind in (Kind.ENUM, Kind.ENUM64):
        kinds = {Kind.ENUM, Kind.ENUM64}
    out = []
    for kind in kinds:
        out += target.find_all(name, kind)
    # flavours in the target (``x___y``) are not searched: kernel BTF has none
    return out


def _access(btf: BTF, root_id: int, spec: list[int]) -> tuple[_Field, list[str | int | None]]:
    """Walk the local access string: the field reached and the path as names/indices."""
    root = btf.resolve(root_id)
    bit_offset = spec[0] * 8 * btf.sizeof(root.id) if spec[0] else 0
    path: list[str | int | None] = []
    cur_id = root.id
    bitfield = 0
    for index in spec[1:]:
        cur = btf.resolve(cur_id)
        if cur.kind in _COMPOSITE:
            members = cur.members
            if index >= len(members):
                raise ObjectFormatError(f"CO-RE access {spec}: member {index} of {cur.name!r} is out of range")
            m = members[index]
            bit_offset += m.bit_offset
            bitfield = m.bitfield_size
            cur_id = m.type_id
            path.append(m.name or None)
        elif cur.kind == Kind.ARRAY:
            elem, _i, _n = cur.array
            bit_offset += index * 8 * btf.sizeof(elem)
            bitfield = 0
            cur_id = elem
            path.append(index)
        else:
            raise ObjectFormatError(f"CO-RE access {spec}: cannot index into {cur.kind.name}")
    return _Field(bit_offset, cur_id, bitfield, btf), path


def _find_member(btf: BTF, comp: BtfType, name: str, base_bits: int) -> tuple[int, int, int] | None:
    """``(bit_offset, type_id, bitfield_size)`` of ``name`` in ``comp``, looking inside
    anonymous members as C does."""
    for m in comp.members:
        if m.name == name:
            return base_bits + m.bit_offset, m.type_id, m.bitfield_size
        if not m.name:
            inner = btf.resolve(m.type_id)
            if inner.kind in _COMPOSITE:
                found = _find_member(btf, inner, name, base_bits + m.bit_offset)
                if found is not None:
                    return found
    return None


def _match(target: BTF, cand: BtfType, spec: list[int], path: list) -> _Field:
    """The target field reached by following ``path`` by name from ``cand``."""
    bit_offset = spec[0] * 8 * target.sizeof(cand.id) if spec[0] else 0
    cur_id = cand.id
    bitfield = 0
    for step in path:
        cur = target.resolve(cur_id)
        if isinstance(step, int):
            if cur.kind != Kind.ARRAY:
                raise CoreError(f"{target.type_name(cur.id)} is not an array")
            elem, _i, n = cur.array
            if n and step >= n:
                raise CoreError(f"index {step} is out of bounds of {target.type_name(cur.id)}")
            bit_offset += step * 8 * target.sizeof(elem)
            cur_id, bitfield = elem, 0
            continue
        if cur.kind not in _COMPOSITE:
            raise CoreError(f"{target.type_name(cur.id)} is not a struct or union")
        found = _find_member(target, cur, step, 0)
        if found is None:
            raise CoreError(f"{target.type_name(cur.id)} has no member {step!r}")
        off, cur_id, bitfield = found
        bit_offset += off
    return _Field(bit_offset, cur_id, bitfield, target)




def _field_value(kind: ReloKind, f: _Field, insn_size: int | None) -> tuple[int, int | None]:
    """The relocated value, and the new load size for BYTE_OFFSET on a memory access."""
    btf = f.btf
    t = btf.resolve(f.type_id)
    size = btf.sizeof(f.type_id)
    if f.bitfield_size:
        # the smallest naturally aligned load of ``size`` bytes holding the bits
        byte_size = size
        byte_off = f.bit_offset // 8 // byte_size * byte_size
        while f.bit_offset + f.bitfield_size - byte_off * 8 > byte_size * 8:
            byte_size *= 2
            byte_off = f.bit_offset // 8 // byte_size * byte_size
    else:
        byte_size, byte_off = size, f.bit_offset // 8
    if kind == ReloKind.FIELD_BYTE_OFFSET:
        new_size = byte_size if insn_size is not None and byte_size in _SIZE_BITS else None
        return byte_off, new_size
    if kind == ReloKind.FIELD_BYTE_SIZE:
        return byte_size, None
    if kind == ReloKind.FIELD_SIGNED:
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            return int(t.signed), None
        return int(t.kind == Kind.INT and t.int_signed), None
    if kind == ReloKind.FIELD_LSHIFT_U64:
        bits = f.bitfield_size or size * 8
        return 64 - (f.bit_offset + bits - byte_off * 8), None
    if kind == ReloKind.FIELD_RSHIFT_U64:
        return 64 - (f.bitfield_size or size * 8), None
    raise ObjectFormatError(f"CO-RE relocation kind {kind.name} is not a field relocation")


def _resolve_one(relo: CoreRelo, local: BTF, target: BTF, insn_size: int | None) -> tuple[int, int | None]:
    kind = ReloKind(relo.kind)
    local_t = local[relo.type_id]
    local_root = local.resolve(relo.type_id) if local_t.kind != Kind.TYPEDEF else local_t
    access = local.string(relo.access_str_off)
    try:
        spec = [int(x) for x in access.split(":")]
    except ValueError:
        raise ObjectFormatError(f"CO-RE access string {access!r} is malformed") from None
    if kind == ReloKind.TYPE_ID_LOCAL:
        return relo.type_id, None
    cands = _candidates(local_root, target)
    if kind in (ReloKind.TYPE_EXISTS, ReloKind.TYPE_MATCHES):
        return int(bool(cands)), None
    if kind in (ReloKind.TYPE_ID_TARGET, ReloKind.TYPE_SIZE):
        if not cands:
            raise CoreError(f"no type {local_root.name!r} in the target BTF")
        t = cands[0]
        return (t.id if kind == ReloKind.TYPE_ID_TARGET else target.sizeof(t.id)), None
    if kind in (ReloKind.ENUMVAL_EXISTS, ReloKind.ENUMVAL_VALUE):
        name = local_root.values[spec[0]][0]
        for c in cands:
            for vname, value in c.values:
                if vname == name:
                    return (1 if kind == ReloKind.ENUMVAL_EXISTS else value), None
        if kind == ReloKind.ENUMVAL_EXISTS:
            return 0, None
        raise CoreError(f"enum {local_root.name!r} has no value {name!r} in the target BTF")
    local_field, steps = _access(local, local_root.id, spec)
    path = [p for p in steps if p is not None]  # anonymous members are found by name
    if insn_size is not None and _field_value(ReloKind.FIELD_BYTE_SIZE, local_field, None)[0] != insn_size:
        insn_size = None  # the load reads part of the field: keep its size
    results = set()
    errors = []
    for c in cands:
        try:
            f = _match(target, c, spec, path)
        except CoreError as e:
            errors.append(str(e))
            continue
        results.add(1 if kind == ReloKind.FIELD_EXISTS else _field_value(kind, f, insn_size))
    if kind == ReloKind.FIELD_EXISTS:
        return int(bool(results)), None
    if not results:
        why = errors[0] if errors else f"no type {local_root.name!r} in the target BTF"
        raise CoreError(why)
    if len(results) > 1:
        raise CoreError(f"{local_root.name!r} matches several target types with different layouts")
    return results.pop()


def _patch(code: bytearray, idx: int, value: int, new_size: int | None, name: str) -> None:
    pos = idx * 8
    if pos + 8 > len(code):
        raise ObjectFormatError(f"program {name!r}: CO-RE relocation of instruction {idx} is past its end")
    opcode, regs, off, imm = _INSN.unpack_from(code, pos)
    cls = opcode & 0x07
    if cls in (0x04, 0x07) and not opcode & 0x08:  # ALU/ALU64 with an immediate
        _INSN.pack_into(code, pos, opcode, regs, off, _s32(value))
    elif cls in (0x01, 0x02, 0x03):  # LDX, ST, STX: the offset
        if new_size is not None and cls == 0x01:
            opcode = (opcode & ~0x18) | _SIZE_BITS[new_size]
        _INSN.pack_into(code, pos, opcode, regs, value, imm)
    elif opcode == 0x18:  # ld_imm64
        _INSN.pack_into(code, pos, opcode, regs, off, _s32(value & 0xFFFFFFFF))
        o2, r2, f2, _i2 = _INSN.unpack_from(code, pos + 8)
        _INSN.pack_into(code, pos + 8, o2, r2, f2, _s32((value >> 32) & 0xFFFFFFFF))
    else:
        raise ObjectFormatError(f"program {name!r}: CO-RE relocation on instruction {idx}"
                                f" (opcode 0x{opcode:02x}) that cannot carry a value")


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def relocate(insns: bytes, relos: list[CoreRelo], local: BTF, target: BTF,
             name: str = "") -> tuple[bytes, list[str]]:
    """Apply CO-RE relocations; returns the new code and a note per poisoned instruction."""
    if not relos:
        return insns, []
    code = bytearray(insns)
    notes = []
    for relo in relos:
        opcode = code[relo.insn * 8] if relo.insn * 8 < len(code) else 0
        insn_size = None
        if opcode & 0x07 == 0x01:
            insn_size = {0x10: 1, 0x08: 2, 0x00: 4, 0x18: 8}[opcode & 0x18]
        try:
            value, new_size = _resolve_one(relo, local, target, insn_size)
        except CoreError as e:
            notes.append(f"instruction {relo.insn}: {e}")
            _INSN.pack_into(code, relo.insn * 8, 0x85, 0, 0, POISON_HELPER)
            continue
        _patch(code, relo.insn, value, new_size, name)
    return bytes(code), notes
