"""Parse a BPF ELF object into specs, without any system call.

:func:`parse_object` returns an :class:`ObjectSpec`: programs (one per
global function of an executable section, with the subprograms they call
appended and BPF-to-BPF calls fixed), maps (BTF-defined ``.maps``, legacy
``maps``, and ``.rodata``/``.data``/``.bss`` global data as array maps),
license, kernel version, and the program BTF with its DATASEC sizes and
variable offsets filled in the way the kernel wants them.  ``__kconfig``
externs become a read-only ``.kconfig`` map (filled at load time),
``__ksym`` externs :class:`~.program.KsymRef` entries of the programs, and
relocations of ``.maps`` the initial slots of map-in-map and prog-array maps
(``extra["slots"]``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..ctypes_bridge import ctype_for
from ..errors import ObjectFormatError
from .btf import BTF, Kind
from .btf_ext import CoreRelo, FuncInfo, LineInfo, SectionExt, parse_btf_ext
from .elfobj import (SHN_ABS, SHN_COMMON, SHN_UNDEF, SHT_NOBITS, SHT_NULL, SHT_REL, SHT_RELA, SHT_SYMTAB,
                     STB_GLOBAL, STB_WEAK, STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION, ElfObject, Section,
                     Symbol)
from .mapspec import MapSpec, PinMode
from .program import KsymRef, MapRef, ProgramSpec, section_def
from .uapi import (BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_LD_IMM64, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
                   MapType, ProgType)

KCONFIG = ".kconfig"
_KSYMS = ".ksyms"
_VAR_GLOBAL = 1

__all__ = ["ObjectSpec", "Extern", "KCONFIG", "parse_object"]

EM_BPF = 247
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_32 = 1, 2, 3, 10
_CALL = 0x85
_INSN = struct.Struct("<BBhi")
_DATA_PREFIXES = (".rodata", ".data", ".bss")
_LIBBPF_PIN_BY_NAME = 1
_MAX_NOBITS = 1 << 28  # a larger .bss is corruption, not a program
# Map types whose key/value the kernel will not describe with BTF (libbpf drops the ids too).
_NO_BTF_KV = frozenset({MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE,
                        MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.DEVMAP,
                        MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.SOCKMAP,
                        MapType.SOCKHASH, MapType.QUEUE, MapType.STACK, MapType.RINGBUF,
                        MapType.USER_RINGBUF, MapType.PROG_ARRAY, MapType.REUSEPORT_SOCKARRAY})


@dataclass
class ObjectSpec:
    """Everything in one BPF object, ready for :func:`pybpf_dsl.runtime.loader.load_object`."""
    programs: dict[str, ProgramSpec]
    maps: dict[str, MapSpec]
    license: str = "GPL"
    kern_version: int = 0
    btf: BTF | None = None
    btf_data: bytes = b""
    data_maps: list[str] = field(default_factory=list)


class Extern(NamedTuple):
    """An ``extern`` the loader resolves: a ``__kconfig`` variable (``kind`` "kconfig", at
    ``offset`` of the .kconfig map, ``size`` bytes, ``string`` for char arrays) or a
    ``__ksym`` ("var" typed, "addr" untyped, "func" a kfunc)."""
    name: str
    kind: str
    weak: bool
    offset: int = 0
    size: int = 0
    string: bool = False


@dataclass
class _Func:
    """One function of an executable section: instructions [start, end)."""
    section: str
    name: str
    start: int
    end: int
    is_global: bool


@dataclass
class _Reloc:
    kind: str          # "map" | "data" | "call" | "func" | "ksym"
    target: str = ""   # map name, or section name for calls
    offset: int = 0    # data offset, or target instruction index for calls
    extern: Extern | None = None


class _Parser:
    """Reads one ELF object: sections, symbols, and the pieces each step of :func:`_build` needs."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self.elf = ElfObject(data, name)
        self.sections = self.elf.sections
        for sec in self.sections:
            kind, off, size = sec.type, sec.offset, sec.size
            if kind == SHT_NOBITS and size > _MAX_NOBITS:
                raise ObjectFormatError(f"{name}: section {sec.name} claims {size} bytes")
            if kind not in (SHT_NOBITS, SHT_NULL) and off + size > len(data):
                raise ObjectFormatError(f"{name}: section {sec.name} ({off}+{size}) runs past the"
                                        f" end of the file ({len(data)} bytes)")
        if self.elf.machine != EM_BPF:
            raise ObjectFormatError(f"{name}: ELF machine is {self.elf.machine}, not BPF ({EM_BPF})")
        if not self.elf.little_endian:
            raise ObjectFormatError(f"{name}: big-endian BPF objects are not supported")
        symtabs = [s for s in self.sections if s.type == SHT_SYMTAB and s.name == ".symtab"]
        if not symtabs:
            raise ObjectFormatError(f"{name}: the object has no symbol table")
        self.symbols = self.elf.symbols(symtabs[0])
        self.by_name = {s.name: s for s in self.sections}
        self.externs: dict[str, Extern] = {}

    def section(self, index: int, what: str) -> Section:
        """Section ``index``, which ``what`` refers to; a bad index is a malformed object."""
        if not isinstance(index, int) or not 0 <= index < len(self.sections):
            raise ObjectFormatError(f"{self.name}: {what} refers to section {index}, which does not exist")
        return self.sections[index]

    def symbol(self, index: int, what: str) -> Symbol:
        """Symbol ``index``, which ``what`` refers to; a bad index is a malformed object."""
        if not 0 <= index < len(self.symbols):
            raise ObjectFormatError(f"{self.name}: {what} refers to symbol {index}, which does not exist")
        return self.symbols[index]

    def section_data(self, index: int) -> bytes:
        sec = self.sections[index]
        if sec.type == SHT_NOBITS:
            return bytes(sec.size)
        return self.elf.data(sec)

    def symbols_in(self, index: int, types: tuple[int, ...]) -> list[Symbol]:
        return [s for s in self.symbols if s.shndx == index and s.type in types]

    # ---------------------------------------------------------------- metadata
    def license(self) -> str:
        sec = self.by_name.get("license")
        return self.elf.data(sec).split(b"\0", 1)[0].decode(errors="replace") if sec is not None else "GPL"

    def version(self) -> int:
        sec = self.by_name.get("version")
        if sec is None:
            return 0
        if sec.size != 4:
            raise ObjectFormatError(f"{self.name}: 'version' section must be 4 bytes")
        return struct.unpack("<I", self.elf.data(sec))[0]

    # ---------------------------------------------------------------- BTF
    def btf(self) -> tuple[BTF | None, bytes, dict[str, SectionExt]]:
        sec = self.by_name.get(".BTF")
        if sec is None:
            return None, b"", {}
        orig = BTF.parse(self.elf.data(sec))
        self.externs = self.find_externs(orig)
        raw = self.fixup_btf(orig)
        btf = BTF.parse(raw)
        btf.description = f"BTF of {self.name}"
        ext_sec = self.by_name.get(".BTF.ext")
        ext = parse_btf_ext(self.elf.data(ext_sec), btf.string) if ext_sec is not None else {}
        return btf, raw, ext

    def find_externs(self, btf: BTF) -> dict[str, Extern]:
        """The ``__kconfig`` and ``__ksym`` externs, with .kconfig offsets laid out as libbpf does."""
        weak = {s.name for s in self.symbols if s.shndx == SHN_UNDEF and s.bind == STB_WEAK}
        out: dict[str, Extern] = {}
        for t in btf.iter_types(Kind.DATASEC):
            if t.name not in (KCONFIG, _KSYMS):
                continue
            end = 0
            for v in t.vars:
                var = btf.ref(v.type_id)
                if t.name == _KSYMS:
                    kind = "func" if var.kind == Kind.FUNC else "var" if _typed(btf, var.type_id) else "addr"
                    out[var.name] = Extern(var.name, kind, var.name in weak)
                    continue
                size = btf.sizeof(var.type_id)
                target = btf.resolve(var.type_id)
                string = target.kind == Kind.ARRAY
                align = 1 if string else min(size, 8)
                end = (end + align - 1) // align * align
                out[var.name] = Extern(var.name, "kconfig", var.name in weak, end, size, string)
                end += size
        return out

    def fixup_btf(self, btf: BTF) -> bytes:
        """Fill DATASEC sizes and variable offsets from the ELF, as the kernel requires.

        Extern variables and functions become global (the kernel refuses extern
        linkage), .kconfig gets its layout, and the .ksyms section, which no map
        uses, becomes an anonymous struct of ints of the same byte length.
        """
        raw = bytearray(btf.data)
        for t in btf.iter_types(Kind.DATASEC):
            if t.name in (KCONFIG, _KSYMS):
                self._fixup_extern_sec(btf, t, raw)
                continue
            sec = self.by_name.get(t.name)
            if sec is None:
                continue
            pos = btf.record_offset(t.id)
            struct.pack_into("<I", raw, pos + 8, sec.size)
            offsets = {s.name: s.value for s in self.symbols_in(sec.index, (STT_OBJECT,))}
            entries = []
            for v in t.vars:
                var = btf.ref(v.type_id)
                off = offsets.get(var.name, v.offset)
                entries.append((off, v.type_id, v.size or btf.sizeof(v.type_id)))
            entries.sort()
            for i, (off, tid, size) in enumerate(entries):
                struct.pack_into("<III", raw, pos + 12 + 12 * i, tid, off, size)
        return bytes(raw)

    def _fixup_extern_sec(self, btf: BTF, t: Any, raw: bytearray) -> None:
        pos = btf.record_offset(t.id)
        ints = [i for i in btf.find_all("int", Kind.INT) if i.size == 4]
        if t.name == _KSYMS and not ints:
            raise ObjectFormatError(f"{self.name}: __ksym externs need an 'int' type in the object's BTF")
        for i, v in enumerate(t.vars):
            var = btf.ref(v.type_id)
            vpos = btf.record_offset(var.id)
            if var.kind == Kind.FUNC:
                info = struct.unpack_from("<I", raw, vpos + 4)[0]
                struct.pack_into("<I", raw, vpos + 4, (info & ~0xFFFF) | _VAR_GLOBAL)
                ppos = btf.record_offset(var.type_id) + 12  # a global FUNC needs named parameters
                for j in range(btf.ref(var.type_id).vlen):
                    pname, ptype = struct.unpack_from("<II", raw, ppos + 8 * j)
                    if ptype and not pname:
                        struct.pack_into("<I", raw, ppos + 8 * j, struct.unpack_from("<I", raw, vpos)[0])
            else:
                struct.pack_into("<I", raw, vpos + 12, _VAR_GLOBAL)
            if t.name == _KSYMS:
                if var.kind == Kind.VAR and not _typed(btf, var.type_id):
                    struct.pack_into("<I", raw, vpos + 8, ints[0].id)
                # member i: (name, int, bit offset 32 * i)
                name_off = struct.unpack_from("<I", raw, vpos)[0]
                struct.pack_into("<III", raw, pos + 12 + 12 * i, name_off, ints[0].id, 32 * i)
            else:
                e = self.externs[var.name]
                struct.pack_into("<III", raw, pos + 12 + 12 * i, v.type_id, e.offset, e.size)
        if t.name == _KSYMS:
            struct.pack_into("<III", raw, pos, 0, (int(Kind.STRUCT) << 24) | t.vlen, 4 * t.vlen)
        else:
            struct.pack_into("<I", raw, pos + 8, self.kconfig_size())

    def kconfig_size(self) -> int:
        """Bytes of the .kconfig map value (0: the object has no __kconfig externs)."""
        return max((e.offset + e.size for e in self.externs.values() if e.kind == "kconfig"), default=0)

    # ---------------------------------------------------------------- maps
    def global_data_maps(self, btf: BTF | None) -> dict[str, MapSpec]:
        maps = {}
        for index, sec in enumerate(self.sections):
            flags = sec.flags
            if not (flags & SHF_ALLOC) or flags & SHF_EXECINSTR:
                continue
            if not sec.name.startswith(_DATA_PREFIXES) or sec.size == 0:
                continue
            readonly = not flags & SHF_WRITE
            value_id = 0
            if btf is not None:
                found = btf.find_all(sec.name, Kind.DATASEC)
                value_id = found[0].id if found else 0
            maps[sec.name] = MapSpec(
                sec.name, MapType.ARRAY, 4, sec.size, 1,
                flags=BPF_F_MMAPABLE | (BPF_F_RDONLY_PROG if readonly else 0),
                btf_value_type_id=value_id, data=self.section_data(index), freeze=readonly,
                value_type=_ctype(btf, value_id), extra={"section": sec.name})
        return maps

    def legacy_maps(self) -> dict[str, MapSpec]:
        sec = self.by_name.get("maps")
        if sec is None:
            return {}
        data = self.elf.data(sec)
        syms = sorted(self.symbols_in(sec.index, (STT_OBJECT, STT_NOTYPE)), key=lambda s: s.value)
        syms = [s for s in syms if s.name]
        if not syms:
            return {}
        size = len(data) // len(syms)
        if size < 20:
            raise ObjectFormatError(f"{self.name}: legacy 'maps' entries are {size} bytes, need 20")
        maps = {}
        for s in syms:
            off = s.value
            mtype, key, value, entries, flags = struct.unpack_from("<IIIII", data, off)
            maps[s.name] = MapSpec(s.name, _map_type(mtype, s.name), key, value, entries, flags=flags,
                                   extra={"section": "maps"})
        return maps

    def btf_maps(self, btf: BTF | None) -> dict[str, MapSpec]:
        sec = self.by_name.get(".maps")
        if sec is None:
            return {}
        if btf is None:
            raise ObjectFormatError(f"{self.name}: has a .maps section but no .BTF to describe it")
        found = btf.find_all(".maps", Kind.DATASEC)
        if not found:
            raise ObjectFormatError(f"{self.name}: no DATASEC '.maps' in BTF")
        maps = {}
        for v in found[0].vars:
            var = btf.ref(v.type_id)
            spec = _btf_map_def(btf, var.name, var.type_id)
            maps[var.name] = spec
        return maps

    def map_slots(self, btf: BTF, btf_maps: dict[str, MapSpec]) -> None:
        """Record ``.values = { [i] = &inner_map / &prog }`` (relocations of .maps) as
        ``extra["slots"]`` of the outer map: slot index -> ("map" | "prog", name)."""
        sec = self.by_name.get(".maps")
        if sec is None:
            return
        starts = {s.name: s.value for s in self.symbols_in(sec.index, (STT_OBJECT,)) if s.name in btf_maps}
        for rel in self.sections:
            if rel.type not in (SHT_REL, SHT_RELA) or rel.info != sec.index:
                continue
            for r in self.elf.relocations(rel):
                outer = max((n for n, start in starts.items() if start <= r.offset),
                            key=lambda n: starts[n], default=None)
                if outer is None:
                    raise ObjectFormatError(f"{self.name}: .maps relocation at {r.offset} is in no map")
                base = starts[outer] + _values_offset(btf, outer)
                slot, rem = divmod(r.offset - base, 8)
                spec = btf_maps[outer]
                if rem or not 0 <= slot < spec.max_entries:
                    raise ObjectFormatError(f"{self.name}: map {outer!r}: initial value at {r.offset}"
                                            " is not a slot of its values array")
                sym = self.symbol(r.sym, f"a relocation in {rel.name}")
                target = self.section(sym.shndx, f"symbol {sym.name!r}") if sym.shndx != SHN_UNDEF else None
                if target is not None and target.flags & SHF_EXECINSTR and sym.type == STT_FUNC:
                    kind = "prog"
                elif target is sec and sym.name in btf_maps:
                    kind = "map"
                else:
                    raise ObjectFormatError(f"{self.name}: map {outer!r} slot {slot}: {sym.name!r} is"
                                            " neither a map nor a program")
                spec.extra.setdefault("slots", {})[slot] = (kind, sym.name)

    # ---------------------------------------------------------------- code
    def functions(self) -> dict[str, list[_Func]]:
        """Functions by executable section name, sorted by start."""
        out: dict[str, list[_Func]] = {}
        for index, sec in enumerate(self.sections):
            if not sec.flags & SHF_EXECINSTR or sec.size == 0:
                continue
            funcs = []
            for s in self.symbols_in(index, (STT_FUNC,)):
                start = s.value // 8
                size = s.size // 8 or (sec.size // 8 - start)
                funcs.append(_Func(sec.name, s.name, start, start + size, s.bind in (STB_GLOBAL, STB_WEAK)))
            if not funcs:  # hand-written objects without symbols: the section is one program
                funcs.append(_Func(sec.name, sec.name.replace("/", "_"), 0, sec.size // 8, True))
            funcs.sort(key=lambda f: f.start)
            out[sec.name] = funcs
        return out

    def relocations(self, data_maps: set[str], legacy: dict[str, MapSpec],
                    btf_maps: dict[str, MapSpec]) -> dict[str, dict[int, _Reloc]]:
        """Relocations of each executable section, by instruction index."""
        out: dict[str, dict[int, _Reloc]] = {}
        for rel in self.sections:
            if rel.type not in (SHT_REL, SHT_RELA):
                continue
            target = self.section(rel.info, f"relocation section {rel.name}")
            if not target.flags & SHF_EXECINSTR:
                continue
            code = self.elf.data(target)
            relocs = out.setdefault(target.name, {})
            for r in self.elf.relocations(rel):
                off = r.offset
                if off % 8 or off + 8 > len(code):
                    raise ObjectFormatError(f"{self.name}: relocation at {target.name}+{off} is misaligned")
                sym = self.symbol(r.sym, f"a relocation in {rel.name}")
                relocs[off // 8] = self._reloc(code, off, sym, target.name, data_maps, legacy, btf_maps)
        return out

    def _reloc(self, code: bytes, off: int, sym: Symbol, where: str, data_maps: set[str],
               legacy: dict[str, MapSpec], btf_maps: dict[str, MapSpec]) -> _Reloc:
        opcode, regs, _o, imm = _INSN.unpack_from(code, off)
        shndx = sym.shndx
        ext = self.externs.get(sym.name) if shndx == SHN_UNDEF else None
        if ext is not None and ext.kind == "kconfig":
            return _Reloc("data", KCONFIG, ext.offset + imm)
        if ext is not None:
            return _Reloc("ksym", sym.name, extern=ext)
        if shndx in (SHN_UNDEF, SHN_ABS, SHN_COMMON):
            raise ObjectFormatError(
                f"{self.name}: {where}+{off}: extern symbol {sym.name!r} is not supported"
                " (only __kconfig and __ksym externs are resolved)")
        sec = self.section(shndx, f"symbol {sym.name!r}")
        value = sym.value
        if opcode == _CALL and regs >> 4 == BPF_PSEUDO_CALL:
            return _Reloc("call", sec.name, value // 8 + imm + 1)
        if opcode != BPF_LD_IMM64:
            raise ObjectFormatError(f"{self.name}: {where}+{off}: relocation on instruction 0x{opcode:02x}"
                                    f" against {sym.name!r} is not a map, data or call reference")
        if sec.flags & SHF_EXECINSTR:
            return _Reloc("func", sec.name, (value + imm) // 8)
        if sec.name == ".maps":
            name = sym.name if sym.type != STT_SECTION else self._map_at(shndx, imm)
            if name not in btf_maps:
                raise ObjectFormatError(f"{self.name}: {where}+{off}: no BTF map {name!r}")
            return _Reloc("map", name)
        if sec.name == "maps":
            name = sym.name if sym.type != STT_SECTION else self._map_at(shndx, value + imm)
            if name not in legacy:
                raise ObjectFormatError(f"{self.name}: {where}+{off}: no legacy map {name!r}")
            return _Reloc("map", name)
        if sec.name in data_maps:
            return _Reloc("data", sec.name, value + imm)
        raise ObjectFormatError(f"{self.name}: {where}+{off}: reference to {sym.name!r} in section"
                                f" {sec.name!r}, which is neither a map nor global data")

    def _map_at(self, shndx: int, offset: int) -> str:
        for s in self.symbols_in(shndx, (STT_OBJECT, STT_NOTYPE)):
            if s.value == offset and s.name:
                return s.name
        raise ObjectFormatError(f"{self.name}: no map symbol at offset {offset} of {self.sections[shndx].name}")


def _ctype(btf: BTF | None, type_id: int) -> Any:
    """The ctypes type tables decode entries with; None (raw bytes) when BTF cannot say."""
    if btf is None or not type_id:
        return None
    try:
        return ctype_for(btf, type_id)
    except TypeError:
        return None


def _kconfig_map(btf: BTF | None, size: int, externs: dict[str, Extern]) -> MapSpec:
    """The read-only .kconfig array map; the loader fills ``data`` from the running kernel."""
    found = btf.find_all(KCONFIG, Kind.DATASEC) if btf is not None else []
    kconfig = [e for e in externs.values() if e.kind == "kconfig"]
    return MapSpec(KCONFIG, MapType.ARRAY, 4, size, 1, flags=BPF_F_MMAPABLE | BPF_F_RDONLY_PROG,
                   btf_value_type_id=found[0].id if found else 0, data=bytes(size), freeze=True,
                   value_type=_ctype(btf, found[0].id if found else 0),
                   extra={"section": KCONFIG, "externs": kconfig})


def _values_offset(btf: BTF, name: str) -> int:
    """Byte offset of the ``values`` member in map ``name``'s definition."""
    var = next(btf.ref(v.type_id) for v in btf.find_all(".maps", Kind.DATASEC)[0].vars
               if btf.ref(v.type_id).name == name)
    try:
        return btf.resolve(var.type_id).member("values").bit_offset // 8
    except KeyError:
        raise ObjectFormatError(f"map {name!r} has initial values but no 'values' member") from None


def _typed(btf: BTF, type_id: int) -> bool:
    """Whether a __ksym variable has a type (``extern const void x __ksym`` has none)."""
    while type_id:
        t = btf.ref(type_id)
        if t.kind not in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            return True
        type_id = t.type_id
    return False


def _map_type(value: int, name: str) -> MapType:
    try:
        return MapType(value)
    except ValueError:
        raise ObjectFormatError(f"map {name!r}: unknown map type {value}") from None


def _btf_map_def(btf: BTF, name: str, type_id: int) -> MapSpec:
    """Decode a libbpf BTF map definition (``__uint``/``__type``/``__array`` members)."""
    t = btf.resolve(type_id)
    if t.kind != Kind.STRUCT:
        raise ObjectFormatError(f"map {name!r}: definition is a {t.kind.name}, not a struct")
    fields: dict[str, int] = {}
    key_id = value_id = 0
    key_size = value_size = None
    inner: MapSpec | None = None
    has_values = False
    for m in t.members:
        mt = btf.resolve(m.type_id)
        if m.name in ("key", "value"):
            if mt.kind != Kind.PTR:
                raise ObjectFormatError(f"map {name!r}: {m.name} must be declared with __type()")
            size = btf.sizeof(mt.type_id)
            if m.name == "key":
                key_id, key_size = mt.type_id, size
            else:
                value_id, value_size = mt.type_id, size
        elif m.name == "values":
            if mt.kind != Kind.ARRAY:
                raise ObjectFormatError(f"map {name!r}: values must be declared with __array()")
            has_values = True
            elem = btf.resolve(mt.array[0])
            target = btf.resolve(elem.type_id) if elem.kind == Kind.PTR else elem
            if target.kind == Kind.STRUCT:
                inner = _btf_map_def(btf, f"{name}.inner", target.id)
        else:
            if mt.kind != Kind.PTR or btf.resolve(mt.type_id).kind != Kind.ARRAY:
                raise ObjectFormatError(f"map {name!r}: member {m.name!r} must be declared with __uint()")
            fields[m.name] = btf.resolve(mt.type_id).array[2]
    if "type" not in fields:
        raise ObjectFormatError(f"map {name!r}: definition has no type")
    map_type = _map_type(fields["type"], name)
    key_type, value_type = _ctype(btf, key_id), _ctype(btf, value_id)
    if map_type in _NO_BTF_KV:
        key_id = value_id = 0
    if key_size is None:
        key_size = fields.get("key_size", 0)
    if value_size is None:
        value_size = fields.get("value_size", 0)
    if has_values and not value_size:  # map fds or program fds
        value_size = 4
    if has_values and not key_size:
        key_size = 4
    pinning = PinMode.BY_NAME if fields.get("pinning", 0) == _LIBBPF_PIN_BY_NAME else PinMode.NONE
    if fields.get("pinning", 0) not in (0, _LIBBPF_PIN_BY_NAME):
        raise ObjectFormatError(f"map {name!r}: unknown pinning {fields['pinning']}")
    return MapSpec(name, map_type, key_size, value_size, fields.get("max_entries", 0),
                   flags=fields.get("map_flags", 0), inner=inner, pinning=pinning,
                   numa_node=fields.get("numa_node", 0), map_extra=fields.get("map_extra", 0),
                   btf_key_type_id=key_id, btf_value_type_id=value_id, key_type=key_type,
                   value_type=value_type, extra={"section": ".maps"})


class _Linker:
    """Builds each program's final code: its function plus every subprogram it reaches."""

    def __init__(self, code: dict[str, bytes], funcs: dict[str, list[_Func]],
                 relocs: dict[str, dict[int, _Reloc]], ext: dict[str, SectionExt], obj: str) -> None:
        self.code, self.funcs, self.relocs, self.ext, self.obj = code, funcs, relocs, ext, obj

    def func_at(self, section: str, insn: int) -> _Func:
        for f in self.funcs.get(section, ()):
            if f.start <= insn < f.end:
                return f
        raise ObjectFormatError(f"{self.obj}: call into {section}+{insn * 8}, where no function is")

    def link(self, main: _Func) -> tuple[bytes, list[MapRef], list[FuncInfo], list[LineInfo], list,
                                         list[KsymRef]]:
        placed: list[tuple[_Func, int]] = [(main, 0)]
        base_of = {(main.section, main.start): 0}
        out = bytearray()
        map_refs: list[MapRef] = []
        func_info: list[FuncInfo] = []
        line_info: list[LineInfo] = []
        core: list[CoreRelo] = []
        ksyms: list[KsymRef] = []
        i = 0
        while i < len(placed):
            func, base = placed[i]
            i += 1
            chunk = bytearray(self.code[func.section][func.start * 8:func.end * 8])
            relocs = self.relocs.get(func.section, {})
            for idx in range(func.start, func.end):
                opcode, regs, _off, imm = _INSN.unpack_from(chunk, (idx - func.start) * 8)
                r = relocs.get(idx)
                pos = base + idx - func.start
                if r is None and opcode == _CALL and regs >> 4 == BPF_PSEUDO_CALL:
                    r = _Reloc("call", func.section, idx + imm + 1)
                if r is None:
                    continue
                if r.kind in ("call", "func"):
                    callee = self.func_at(r.target, r.offset)
                    key = (callee.section, callee.start)
                    if key not in base_of:
                        base_of[key] = sum(f.end - f.start for f, _ in placed)
                        placed.append((callee, base_of[key]))
                    new_imm = base_of[key] + (r.offset - callee.start) - pos - 1
                    new_regs = regs if r.kind == "call" else (regs & 0x0F) | (BPF_PSEUDO_FUNC << 4)
                    _INSN.pack_into(chunk, (idx - func.start) * 8, opcode, new_regs, _off, new_imm)
                elif r.kind == "ksym":
                    ksyms.append(KsymRef(pos, r.target, r.extern.kind, r.extern.weak))
                else:
                    map_refs.append(MapRef(pos, r.target, r.offset if r.kind == "data" else None))
            out += chunk
            ext = self.ext.get(func.section, SectionExt())
            shift = base - func.start
            func_info += [fi._replace(insn=fi.insn + shift) for fi in ext.func_info
                          if func.start <= fi.insn < func.end]
            line_info += [li._replace(insn=li.insn + shift) for li in ext.line_info
                          if func.start <= li.insn < func.end]
            core += [cr._replace(insn=cr.insn + shift) for cr in ext.core_relos
                     if func.start <= cr.insn < func.end]
        return bytes(out), map_refs, func_info, line_info, core, ksyms


def parse_object(data: bytes, name: str = "<object>") -> ObjectSpec:
    """Parse a BPF ELF object (bytes) into an :class:`ObjectSpec`.  No system calls."""
    try:
        return _build(_Parser(data, name), name)
    except (struct.error, UnicodeDecodeError, OverflowError) as e:
        raise ObjectFormatError(f"{name}: malformed ELF object ({e})") from None
    except TypeError as e:  # a BTF type used where its kind makes no sense (e.g. sizeof a function)
        raise ObjectFormatError(f"{name}: malformed BTF ({e})") from None


def _build(p: _Parser, name: str) -> ObjectSpec:
    btf, btf_raw, ext = p.btf()
    license = p.license()
    version = p.version()
    data_maps = p.global_data_maps(btf)
    if p.kconfig_size():
        data_maps[KCONFIG] = _kconfig_map(btf, p.kconfig_size(), p.externs)
    legacy = p.legacy_maps()
    btf_maps = p.btf_maps(btf)
    if btf_maps:
        p.map_slots(btf, btf_maps)
    maps: dict[str, MapSpec] = {}
    for group in (btf_maps, legacy, data_maps):
        for key, spec in group.items():
            if key in maps:
                raise ObjectFormatError(f"{name}: two maps are called {key!r}")
            maps[key] = spec
    funcs = p.functions()
    relocs = p.relocations(set(data_maps), legacy, btf_maps)
    code = {sec: p.elf.data(p.by_name[sec]) for sec in funcs}
    linker = _Linker(code, funcs, relocs, ext, name)
    programs: dict[str, ProgramSpec] = {}
    for section, flist in funcs.items():
        if section == ".text":
            continue
        found = section_def(section)
        for func in flist:
            if not func.is_global:
                continue  # static functions in a program section are subprograms
            insns, map_refs, func_info, line_info, core, ksyms = linker.link(func)
            if found is not None:
                d, target = found
                prog_type, attach, flags, btf_target = d.prog_type, d.attach_type, d.flags, d.btf_target
            else:  # unknown section: a front end chooses the type (bcc's load_func)
                prog_type, attach, flags, btf_target, target = ProgType.UNSPEC, None, 0, "", ""
            if func.name in programs:
                raise ObjectFormatError(f"{name}: two programs are called {func.name!r}")
            programs[func.name] = ProgramSpec(
                func.name, section, prog_type, insns, license=license, expected_attach_type=attach,
                attach_to=target, flags=flags, kern_version=version, btf=btf,
                func_info=func_info, line_info=line_info, map_refs=map_refs, core_relos=core,
                btf_target=btf_target, ksym_refs=ksyms)
    return ObjectSpec(programs, maps, license, version, btf, btf_raw, list(data_maps))
