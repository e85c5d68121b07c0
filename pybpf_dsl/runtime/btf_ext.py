"""``.BTF.ext``: per-section func info, line info and CO-RE relocation records.

The compiler writes instruction offsets in bytes from the start of the ELF
section; :func:`parse_btf_ext` keeps them as instruction indices so the
loader can move them along with the code they describe.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from ..errors import ObjectFormatError

__all__ = ["FuncInfo", "LineInfo", "CoreRelo", "SectionExt", "parse_btf_ext",
           "pack_func_info", "pack_line_info", "FUNC_INFO_SIZE", "LINE_INFO_SIZE"]

_HDR = struct.Struct("<HBBIIIII")  # magic version flags hdr_len fi_off fi_len li_off li_len
_CORE_HDR = struct.Struct("<II")   # core_relo_off core_relo_len
_FUNC = struct.Struct("<II")
_LINE = struct.Struct("<IIII")
_CORE = struct.Struct("<IIII")
FUNC_INFO_SIZE = _FUNC.size
LINE_INFO_SIZE = _LINE.size


class FuncInfo(NamedTuple):
    """A function starts at instruction ``insn``; its BTF FUNC is ``type_id``."""
    insn: int
    type_id: int


class LineInfo(NamedTuple):
    """Instruction ``insn`` comes from ``file_name_off``:``line``:``col`` (BTF string offsets)."""
    insn: int
    file_name_off: int
    line_off: int
    line: int
    col: int


class CoreRelo(NamedTuple):
    """A CO-RE relocation of instruction ``insn`` (see :mod:`pybpf_dsl.runtime.core`)."""
    insn: int
    type_id: int
    access_str_off: int
    kind: int


@dataclass
class SectionExt:
    """The .BTF.ext records of one ELF section."""
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    core_relos: list[CoreRelo] = field(default_factory=list)


def _records(data: bytes, start: int, length: int, min_size: int, string: Callable[[int], str],
             what: str, make: Callable[[bytes, int], tuple]) -> dict[str, list]:
    """Decode one info block: rec_size, then (sec_name_off, count, records...) groups."""
    out: dict[str, list] = {}
    if length == 0:
        return out
    end = start + length
    if end > len(data) or length < 4:
        raise ObjectFormatError(f".BTF.ext {what} block ({start}+{length}) is out of bounds")
    (rec_size,) = struct.unpack_from("<I", data, start)
    if rec_size < min_size or rec_size % 4:
        raise ObjectFormatError(f".BTF.ext {what} record size {rec_size} is invalid")
    pos = start + 4
    while pos < end:
        if pos + 8 > end:
            raise ObjectFormatError(f".BTF.ext {what} section header at {pos} is truncated")
        name_off, count = struct.unpack_from("<II", data, pos)
        pos += 8
        if pos + count * rec_size > end:
            raise ObjectFormatError(f".BTF.ext {what}: {count} records at {pos} run past the block")
        recs = out.setdefault(string(name_off), [])
        for i in range(count):
            recs.append(make(data, pos + i * rec_size))
        pos += count * rec_size
    return out


def _func(data: bytes, pos: int) -> FuncInfo:
    off, type_id = _FUNC.unpack_from(data, pos)
    return FuncInfo(off // 8, type_id)


def _line(data: bytes, pos: int) -> LineInfo:
    off, file_off, line_off, line_col = _LINE.unpack_from(data, pos)
    return LineInfo(off // 8, file_off, line_off, line_col >> 10, line_col & 0x3FF)


def _core(data: bytes, pos: int) -> CoreRelo:
    off, type_id, access, kind = _CORE.unpack_from(data, pos)
    return CoreRelo(off // 8, type_id, access, kind)


def parse_btf_ext(data: bytes, string: Callable[[int], str]) -> dict[str, SectionExt]:
    """Records of a .BTF.ext blob by ELF section name; ``string`` reads the .BTF strings."""
    if len(data) < _HDR.size:
        raise ObjectFormatError(f".BTF.ext is {len(data)} bytes, shorter than its header")
    magic, version, _flags, hdr_len, fi_off, fi_len, li_off, li_len = _HDR.unpack_from(data)
    if magic != 0xEB9F or version != 1:
        raise ObjectFormatError(f".BTF.ext has bad magic 0x{magic:04x} or version {version}")
    if hdr_len < _HDR.size or hdr_len > len(data):
        raise ObjectFormatError(f".BTF.ext header length {hdr_len} is invalid")
    core_off = core_len = 0
    if hdr_len >= _HDR.size + _CORE_HDR.size:
        core_off, core_len = _CORE_HDR.unpack_from(data, _HDR.size)
    sections: dict[str, SectionExt] = {}
    blocks = (("func_info", fi_off, fi_len, _FUNC.size, _func),
              ("line_info", li_off, li_len, _LINE.size, _line),
              ("core_relos", core_off, core_len, _CORE.size, _core))
    for attr, off, length, size, make in blocks:
        for sec, recs in _records(data, hdr_len + off, length, size, string, attr, make).items():
            getattr(sections.setdefault(sec, SectionExt()), attr).extend(recs)
    return sections


def pack_func_info(records: list[FuncInfo]) -> bytes:
    """Kernel layout of func info (instruction indices, as BPF_PROG_LOAD wants)."""
    return b"".join(_FUNC.pack(r.insn, r.type_id) for r in records)


def pack_line_info(records: list[LineInfo]) -> bytes:
    """Kernel layout of line info."""
    return b"".join(_LINE.pack(r.insn, r.file_name_off, r.line_off, (r.line << 10) | r.col)
                    for r in records)
