"""A reader of relocatable ELF objects, the form every BPF object takes.

Only what :mod:`.elf` needs: the header, the sections (with their names and
data), the symbols of a symbol table by index and the entries of SHT_REL and
SHT_RELA sections, for 64-bit objects.  Every read is bounds-checked: a
malformed object raises :class:`~pybpf_dsl.errors.ObjectFormatError`.
:func:`unpack` and :func:`section_headers` also serve :mod:`.elfsyms`.

(pyelftools parses the same, and much more, but importing it costs ~10 ms of
every program start; ``struct`` reads the few records a loader needs.)
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from ..errors import ObjectFormatError

__all__ = ["ElfObject", "Section", "Symbol", "Relocation", "unpack", "section_headers", "SHT_NULL", "SHT_SYMTAB", "SHT_REL",
           "SHT_RELA", "SHT_NOBITS", "SHN_UNDEF", "SHN_ABS", "SHN_COMMON", "STT_NOTYPE", "STT_OBJECT",
           "STT_FUNC", "STT_SECTION", "STB_LOCAL", "STB_GLOBAL", "STB_WEAK"]

SHT_NULL, SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 0, 2, 4, 8, 9
SHF_COMPRESSED = 0x800
SHN_UNDEF, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFFF1, 0xFFF2, 0xFFFF
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
_ELFCLASS64 = 2
_ELFCOMPRESS_ZLIB = 1


class Section(NamedTuple):
    """One section header; ``name`` resolved from the section name table."""
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int


class Symbol(NamedTuple):
    """One symbol table entry (``type`` and ``bind`` split out of ``st_info``)."""
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int


class Relocation(NamedTuple):
    """One SHT_REL/SHT_RELA entry (the addend of RELA is not needed by BPF loaders)."""
    offset: int
    sym: int
    type: int


class _Layout(NamedTuple):
    ehdr: struct.Struct
    shdr: struct.Struct
    sym: struct.Struct
    rel: struct.Struct
    rela: struct.Struct
    chdr: struct.Struct


_LAYOUTS = {endian: _Layout(struct.Struct(endian + "HHIQQQIHHHHHH"), struct.Struct(endian + "IIQQQQIIQQ"),
                            struct.Struct(endian + "IBBHQQ"), struct.Struct(endian + "QQ"),
                            struct.Struct(endian + "QQq"), struct.Struct(endian + "IIQQ"))
            for endian in ("<", ">")}


class ElfObject:
    """A parsed 64-bit ELF object: ``machine``, ``little_endian``, ``sections`` by index."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        data = self._data = data if isinstance(data, bytes) else bytes(data)
        if len(data) < 16 or data[:4] != b"\x7fELF":
            raise ObjectFormatError(f"{name}: not an ELF object")
        if data[4] != _ELFCLASS64:
            raise ObjectFormatError(f"{name}: not a 64-bit ELF object (class {data[4]})")
        if data[5] not in (1, 2):
            raise ObjectFormatError(f"{name}: unknown ELF byte order {data[5]}")
        self.little_endian = data[5] == 1
        lay = self._lay = _LAYOUTS["<" if self.little_endian else ">"]
        (self.type, self.machine, _, _, _, shoff, _, _, _, _, shentsize, shnum,
         shstrndx) = unpack(lay.ehdr, data, 16, "ELF header", name)
        self.sections: list[Section] = []
        if shoff:
            self._read_sections(shoff, shentsize, shnum, shstrndx)

    def _slice(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self._data):
            raise ObjectFormatError(f"{self.name}: {what} at {offset:#x}+{size:#x} is outside the file")
        return self._data[offset:offset + size]

    def _read_sections(self, shoff: int, shentsize: int, shnum: int, shstrndx: int) -> None:
        raw, shstrndx = section_headers(self._data, self._lay.shdr, shoff, shentsize, shnum,
                                        shstrndx, self.name)
        shnum = len(raw)
        if not 0 <= shstrndx < shnum:
            raise ObjectFormatError(f"{self.name}: section name table {shstrndx} does not exist")
        names = self._slice(raw[shstrndx][4], raw[shstrndx][5], "section name table")
        self.sections = [Section(i, _cstr(names, r[0], self.name), r[1], r[2], r[4], r[5], r[6], r[7], r[9])
                         for i, r in enumerate(raw)]

    def data(self, sec: Section) -> bytes:
        """The contents of ``sec`` (decompressed when SHF_COMPRESSED; NOBITS reads as empty)."""
        if sec.type == SHT_NOBITS:
            return b""
        raw = self._slice(sec.offset, sec.size, f"section {sec.name}")
        if not sec.flags & SHF_COMPRESSED:
            return raw
        import zlib  # compressed sections are rare in BPF objects

        chdr = self._lay.chdr
        if len(raw) < chdr.size:
            raise ObjectFormatError(f"{self.name}: compressed section {sec.name} has no header")
        kind, _, size, _ = chdr.unpack_from(raw)
        if kind != _ELFCOMPRESS_ZLIB:
            raise ObjectFormatError(f"{self.name}: section {sec.name} uses compression {kind}, not zlib")
        try:
            out = zlib.decompress(raw[chdr.size:])
        except zlib.error as e:
            raise ObjectFormatError(f"{self.name}: section {sec.name} does not decompress ({e})") from None
        if len(out) != size:
            raise ObjectFormatError(f"{self.name}: section {sec.name} decompresses to {len(out)} bytes, not {size}")
        return out

    def symbols(self, symtab: Section) -> list[Symbol]:
        """Every entry of the symbol table ``symtab``, index 0 included, names from its string table."""
        st = self._lay.sym
        if symtab.entsize != st.size:
            raise ObjectFormatError(f"{self.name}: {symtab.name} entries are {symtab.entsize} bytes, need {st.size}")
        if not 0 <= symtab.link < len(self.sections):
            raise ObjectFormatError(f"{self.name}: {symtab.name} links to section {symtab.link}, which does not exist")
        strtab = self.data(self.sections[symtab.link])
        raw = self.data(symtab)
        return [Symbol(_cstr(strtab, name, self.name), value, size, info & 0xF, info >> 4, shndx)
                for name, info, _, shndx, value, size in st.iter_unpack(raw[:len(raw) - len(raw) % st.size])]

    def relocations(self, sec: Section) -> list[Relocation]:
        """The entries of the SHT_REL or SHT_RELA section ``sec``."""
        st = self._lay.rel if sec.type == SHT_REL else self._lay.rela
        if sec.entsize != st.size:
            raise ObjectFormatError(f"{self.name}: {sec.name} entries are {sec.entsize} bytes, need {st.size}")
        raw = self.data(sec)
        return [Relocation(offset, info >> 32, info & 0xFFFFFFFF)
                for offset, info, *_ in st.iter_unpack(raw[:len(raw) - len(raw) % st.size])]


def unpack(st: struct.Struct, data: Any, offset: int, what: str, where: str) -> tuple:
    """The one bounds-checked record read of both ELF readers: a short read is an ObjectFormatError."""
    if offset < 0 or offset + st.size > len(data):
        raise ObjectFormatError(f"{where}: truncated {what} at offset {offset:#x}")
    return st.unpack_from(data, offset)


def section_headers(data: Any, shdr: struct.Struct, shoff: int, shentsize: int, shnum: int,
                    shstrndx: int, where: str) -> tuple[list[tuple], int]:
    """The raw section header records at ``shoff`` and the section name table's index, with ELF's
    extended numbering resolved (a zero count or SHN_XINDEX index is stored in section 0)."""
    if shentsize < shdr.size:
        raise ObjectFormatError(f"{where}: section header entries are {shentsize} bytes, need {shdr.size}")
    first = unpack(shdr, data, shoff, "section header 0", where)
    if shnum == 0:
        shnum = first[5]
    if shstrndx == SHN_XINDEX:
        shstrndx = first[6]
    if shoff + shnum * shentsize > len(data):
        raise ObjectFormatError(f"{where}: {shnum} section headers do not fit in the file")
    return [shdr.unpack_from(data, shoff + i * shentsize) for i in range(shnum)], shstrndx


def _cstr(table: bytes, offset: int, where: str) -> str:
    """The NUL-terminated string at ``offset`` of a string table."""
    if offset >= len(table):
        if offset == 0:
            return ""
        raise ObjectFormatError(f"{where}: string offset {offset} is outside its string table")
    end = table.find(b"\0", offset)
    return table[offset:end if end >= 0 else len(table)].decode("utf-8", "replace")
