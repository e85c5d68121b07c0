"""Symbols, segments and notes of user-space ELF files, for uprobes, USDT and symbolization.

A direct ``struct`` reader over an ``mmap`` of the file (pyelftools parses
symbol tables entry by entry, ~20x slower on libc-sized files).  Parsed files
are cached by path, device, inode and mtime, so a rebuilt binary is re-read.

::

    elf = open_elf(find_library("c"))
    loc = resolve_symbol(elf.path, "strlen")   # IFUNC -> the implementation in use
    loc.offset                                 # file offset, what a uprobe wants

Also here: where the dynamic loader finds a library (``find_library``), the
executable a name runs (``find_exe``), ``/proc/PID/maps`` (``proc_maps``).
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
import re
import struct
import threading
from typing import Iterator, NamedTuple

from ..errors import AttachTargetNotFound, ObjectFormatError
from .elfobj import section_headers, unpack

__all__ = [
    "ElfFile", "Symbol", "Segment", "Section", "SymbolLocation", "Mapping",
    "open_elf", "resolve_symbol", "get_user_functions_and_addresses", "find_library",
    "find_exe", "resolve_binary", "proc_maps", "build_id",
    "STT_NOTYPE", "STT_OBJECT", "STT_FUNC", "STT_GNU_IFUNC",
]

ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_NOTE = 1, 4
SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM, SHT_GNU_VERSYM = 2, 7, 11, 0x6FFFFFFF
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_GNU_IFUNC = 0, 1, 2, 10
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
SHN_UNDEF = 0
NT_GNU_BUILD_ID = 3
_CODE_TYPES = (STT_FUNC, STT_GNU_IFUNC)


class Symbol(NamedTuple):
    """One ELF symbol; ``value`` is its virtual address in the file's own layout."""
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int
    hidden: bool  # a non-default symbol version (name@VER rather than name@@VER)


class Segment(NamedTuple):
    """A PT_LOAD program header."""
    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int


class Section(NamedTuple):
    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class _Layout:
    """Struct layouts of one ELF class and byte order."""

    def __init__(self, is64: bool, endian: str) -> None:
        e = endian
        if is64:
            self.ehdr = struct.Struct(e + "HHIQQQIHHHHHH")
            self.phdr = struct.Struct(e + "IIQQQQQQ")
            self.shdr = struct.Struct(e + "IIQQQQIIQQ")
            self.sym = struct.Struct(e + "IBBHQQ")
        else:
            self.ehdr = struct.Struct(e + "HHIIIIIHHHHHH")
            self.phdr = struct.Struct(e + "IIIIIIII")
            self.shdr = struct.Struct(e + "IIIIIIIIII")
            self.sym = struct.Struct(e + "IIIBBH")
        self.is64 = is64
        self.endian = e
        self.note = struct.Struct(e + "III")
        self.versym = e + "H"
        self.addr = struct.Struct(e + ("Q" if is64 else "I"))


_LAYOUTS = {(c, d): _Layout(c == 2, "<" if d == 1 else ">") for c in (1, 2) for d in (1, 2)}


def _cstr(table, offset: int) -> str:
    end = table.find(b"\0", offset)
    if end < 0:
        end = len(table)
    return table[offset:end].decode("utf-8", "surrogateescape")


class ElfFile:
    """A parsed ELF file (or an in-memory image such as the vDSO).

    Sections and segments are read at construction; symbol tables, the
    address index and the build id on first use.
    """

    def __init__(self, data, path: str) -> None:
        self.path = path
        self._data = data
        where = path
        if len(data) < 16 or bytes(data[:4]) != b"\x7fELF":
            raise ObjectFormatError(f"{where}: not an ELF file")
        key = (data[4], data[5])
        if key not in _LAYOUTS:
            raise ObjectFormatError(f"{where}: unknown ELF class/byte order {key}")
        lay = self._lay = _LAYOUTS[key]
        (self.type, self.machine, _, self.entry, phoff, shoff, _, _, phentsize, phnum,
         shentsize, shnum, shstrndx) = unpack(lay.ehdr, data, 16, "ELF header", where)
        self.segments: list[Segment] = []
        self.notes_segments: list[tuple[int, int]] = []
        if phoff and phnum and phentsize < lay.phdr.size:
            raise ObjectFormatError(f"{where}: program header entries too small ({phentsize})")
        for i in range(phnum if phoff else 0):
            f = unpack(lay.phdr, data, phoff + i * phentsize, "program header", where)
            if lay.is64:
                p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = f
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, _ = f
            if p_type == PT_LOAD:
                self.segments.append(Segment(p_vaddr, p_memsz, p_offset, p_filesz, p_flags))
            elif p_type == PT_NOTE:
                self.notes_segments.append((p_offset, p_filesz))
        self.sections: dict[str, Section] = {}
        self._section_list: list[Section] = []
        if shoff:
            self._read_sections(shoff, shentsize, shnum, shstrndx)
        self._symbols: list[Symbol] | None = None
        self._by_name: dict[str, list[Symbol]] | None = None
        self._index: tuple[list[int], list[Symbol]] | None = None
        self._lock = threading.Lock()

    def _read_sections(self, shoff: int, shentsize: int, shnum: int, shstrndx: int) -> None:
        raw, shstrndx = section_headers(self._data, self._lay.shdr, shoff, shentsize, shnum,
                                        shstrndx, self.path)
        shnum = len(raw)
        names = b""
        if 0 < shstrndx < shnum:
            names = self._slice(raw[shstrndx][4], raw[shstrndx][5], "section name table")
        for r in raw:
            sec = Section(_cstr(names, r[0]) if r[0] < len(names) else "", r[1], r[3], r[4],
                          r[5], r[6], r[9])
            self._section_list.append(sec)
            self.sections.setdefault(sec.name, sec)

    def _slice(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self._data):
            raise ObjectFormatError(f"{self.path}: {what} at {offset:#x}+{size:#x} is outside the file")
        return bytes(self._data[offset:offset + size])

    # ------------------------------------------------------------ layout

    @property
    def is_pie_or_shared(self) -> bool:
        """True for ET_DYN (PIE executables and shared libraries): addresses move at load."""
        return self.type == ET_DYN

    @property
    def layout(self) -> _Layout:
        return self._lay

    def section_data(self, name: str) -> bytes | None:
        """The bytes of the first section called ``name`` (None if absent or NOBITS)."""
        sec = self.sections.get(name)
        if sec is None or sec.type == 8:  # SHT_NOBITS
            return None
        return self._slice(sec.offset, sec.size, f"section {name}")

    def vaddr_to_offset(self, vaddr: int) -> int | None:
        """The file offset holding virtual address ``vaddr`` (None if not file-backed)."""
        for seg in self.segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return vaddr - seg.vaddr + seg.offset
        return None

    def offset_to_vaddr(self, offset: int) -> int | None:
        """The virtual address at which file offset ``offset`` is loaded."""
        for seg in self.segments:
            if seg.offset <= offset < seg.offset + seg.filesz:
                return offset - seg.offset + seg.vaddr
        return None

    # ------------------------------------------------------------ notes

    def notes(self, section: str | None = None) -> Iterator[tuple[bytes, int, bytes]]:
        """Each note as ``(name, type, desc)``: of one section, or of every PT_NOTE."""
        if section is not None:
            data = self.section_data(section)
            if data is not None:
                yield from parse_notes(data, self._lay, f"{self.path}: {section}")
            return
        for offset, size in self.notes_segments:
            yield from parse_notes(self._slice(offset, size, "PT_NOTE"), self._lay, self.path)

    @property
    def build_id(self) -> str | None:
        """The GNU build id as lowercase hex, or None."""
        sources = [".note.gnu.build-id"] if ".note.gnu.build-id" in self.sections else [None]
        for src in sources:
            for name, ntype, desc in self.notes(src):
                if ntype == NT_GNU_BUILD_ID and name == b"GNU":
                    return desc.hex()
        return None

    # ------------------------------------------------------------ symbols

    @property
    def symbols(self) -> list[Symbol]:
        """Every defined symbol of .symtab and .dynsym (plus a separate debug file's .symtab)."""
        if self._symbols is None:
            with self._lock:
                if self._symbols is None:
                    self._symbols = self._read_symbols()
        return self._symbols

    def _read_symbols(self) -> list[Symbol]:
        seen: set[tuple[str, int, int]] = set()
        out: list[Symbol] = []
        tables = [s for s in self._section_list if s.type in (SHT_SYMTAB, SHT_DYNSYM)]
        for sec in tables:
            for sym in self._read_table(sec):
                key = (sym.name, sym.value, sym.size)
                if key not in seen:
                    seen.add(key)
                    out.append(sym)
        if not any(s.type == SHT_SYMTAB for s in tables):
            debug = _debug_file(self)
            if debug is not None:
                for sym in debug.symbols:
                    if (sym.name, sym.value, sym.size) not in seen:
                        out.append(sym)
        return out

    def _read_table(self, sec: Section) -> list[Symbol]:
        lay = self._lay
        if sec.link >= len(self._section_list):
            raise ObjectFormatError(f"{self.path}: symbol table {sec.name} links to no section")
        strsec = self._section_list[sec.link]
        strtab = self._slice(strsec.offset, strsec.size, f"string table of {sec.name}")
        raw = self._slice(sec.offset, sec.size - sec.size % lay.sym.size, sec.name)
        hidden_flags: list[int] | None = None
        if sec.type == SHT_DYNSYM:
            for vs in self._section_list:
                if vs.type == SHT_GNU_VERSYM and self._section_list[vs.link] is sec:
                    count = vs.size // 2
                    hidden_flags = list(struct.unpack_from(
                        f"{lay.endian}{count}H", self._slice(vs.offset, count * 2, "versym")))
                    break
        out = []
        is64 = lay.is64
        for i, f in enumerate(lay.sym.iter_unpack(raw)):
            if is64:
                st_name, info, _, shndx, value, size = f
            else:
                st_name, value, size, info, _, shndx = f
            if shndx == SHN_UNDEF or st_name == 0 or st_name >= len(strtab):
                continue
            hidden = bool(hidden_flags and i < len(hidden_flags) and hidden_flags[i] & 0x8000)
            out.append(Symbol(_cstr(strtab, st_name), value, size, info & 0xF, info >> 4, shndx,
                              hidden))
        return out

    def by_name(self, name: str) -> list[Symbol]:
        """Defined symbols called ``name`` (several for versioned or local duplicates)."""
        if self._by_name is None:
            table: dict[str, list[Symbol]] = {}
            for sym in self.symbols:
                table.setdefault(sym.name, []).append(sym)
            self._by_name = table
        return self._by_name.get(name, [])

    def functions(self) -> Iterator[Symbol]:
        """Every FUNC and IFUNC symbol."""
        return (s for s in self.symbols if s.type in _CODE_TYPES)

    def find_function(self, vaddr: int) -> Symbol | None:
        """The function symbol covering virtual address ``vaddr`` (aliases: the plainest name)."""
        starts, syms = self._address_index()
        i = bisect.bisect_right(starts, vaddr) - 1
        # symbols can nest (a local label inside a function): look a few entries back
        for j in range(i, max(i - 8, -1), -1):
            sym = syms[j]
            if vaddr < sym.value + max(sym.size, 1):
                return sym
        return None

    def _address_index(self) -> tuple[list[int], list[Symbol]]:
        if self._index is None:
            best: dict[int, Symbol] = {}
            for sym in self.functions():
                cur = best.get(sym.value)
                if cur is None or _preference(sym) < _preference(cur):
                    best[sym.value] = sym
            ordered = sorted(best.values(), key=lambda s: s.value)
            self._index = ([s.value for s in ordered], ordered)
        return self._index

    def __repr__(self) -> str:
        return f"<ElfFile {self.path}>"


def _preference(sym: Symbol) -> tuple:
    """Sort key choosing among aliases: sized, fewest leading underscores, global, short."""
    bind_rank = {STB_GLOBAL: 0, STB_WEAK: 1}.get(sym.bind, 2)
    underscores = len(sym.name) - len(sym.name.lstrip("_"))
    return (sym.size == 0, sym.hidden, underscores, bind_rank, len(sym.name), sym.name)


def parse_notes(data: bytes, lay: _Layout, where: str) -> Iterator[tuple[bytes, int, bytes]]:
    """Split an ELF note area into ``(name, type, desc)`` records (4-byte aligned)."""
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = unpack(lay.note, data, pos, "note header", where)
        name_start = pos + 12
        desc_start = name_start + ((namesz + 3) & ~3)
        end = desc_start + ((descsz + 3) & ~3)
        if desc_start + descsz > len(data):
            raise ObjectFormatError(f"{where}: note at offset {pos:#x} runs past the end")
        name = bytes(data[name_start:name_start + namesz]).rstrip(b"\0")
        yield name, ntype, bytes(data[desc_start:desc_start + descsz])
        pos = end


def _debug_file(elf: ElfFile) -> ElfFile | None:
    """The separate debug-info file (/usr/lib/debug/.build-id/xx/rest.debug), if installed."""
    if elf.path.startswith("["):
        return None
    bid = elf.build_id
    if not bid or len(bid) < 3:
        return None
    path = f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
    if not os.path.exists(path):
        return None
    try:
        return open_elf(path)
    except (OSError, ObjectFormatError):
        return None


# ---------------------------------------------------------------- file cache

_CACHE: dict[str, tuple[tuple[int, int, int], ElfFile]] = {}
_CACHE_LOCK = threading.Lock()


def open_elf(path: str) -> ElfFile:
    """The parsed ELF file at ``path``, cached by (device, inode, mtime)."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_mtime_ns)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    with open(path, "rb") as f:
        if st.st_size == 0:
            raise ObjectFormatError(f"{path}: empty file, not an ELF file")
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    elf = ElfFile(data, path)
    with _CACHE_LOCK:
        _CACHE[path] = (key, elf)
    return elf


def build_id(path: str) -> str | None:
    """The GNU build id of the ELF file at ``path`` (hex), or None."""
    return open_elf(path).build_id


# ---------------------------------------------------------------- symbol -> file offset

class SymbolLocation(NamedTuple):
    """Where a symbol's code is: in ``path`` at file ``offset`` (what a uprobe wants)."""
    path: str
    name: str
    vaddr: int     # address in the file's own layout (after IFUNC resolution)
    offset: int    # file offset
    size: int
    ifunc: bool    # the symbol was an IFUNC, resolved to the loader's choice


def resolve_symbol(path: str, name: str, sym_off: int = 0) -> SymbolLocation:
    """Find ``name`` in the ELF file ``path`` and turn it into a file offset.

    IFUNC symbols (glibc's strlen, memcpy...) are resolved to the
    implementation the dynamic loader picks on this machine; ``sym_off`` is
    added to the address (a probe inside the function).  Raises
    AttachTargetNotFound, suggesting close names, when the symbol is absent.
    """
    elf = open_elf(path)
    cands = [s for s in elf.by_name(name) if s.type in (STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE,
                                                           STT_OBJECT)]
    if not cands:
        raise AttachTargetNotFound(_missing_symbol_message(elf, name))
    sym = min(cands, key=lambda s: (s.hidden, s.type not in _CODE_TYPES))
    vaddr, size, is_ifunc = sym.value, sym.size, sym.type == STT_GNU_IFUNC
    if is_ifunc:
        impl = _resolve_ifunc(elf, name)
        if impl is not None:
            vaddr = impl
            found = elf.find_function(impl)
            size = found.size if found is not None and found.value == impl else 0
    offset = elf.vaddr_to_offset(vaddr + sym_off)
    if offset is None:
        raise AttachTargetNotFound(
            f"symbol {name!r} in {path} is at {vaddr + sym_off:#x}, outside every loadable segment")
    return SymbolLocation(path, name, vaddr + sym_off, offset, size, is_ifunc)


def _missing_symbol_message(elf: ElfFile, name: str) -> str:
    import difflib  # only to word an error

    names = {s.name for s in elf.functions()}
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if not names:
        hint = " (the file has no symbol table: stripped?)"
    return f"no symbol {name!r} in {elf.path}{hint}"


_RTLD_LAZY, _RTLD_NOLOAD = 0x1, 0x4


def _resolve_ifunc(elf: ElfFile, name: str) -> int | None:
    """Virtual address (in ``elf``'s layout) of the implementation an IFUNC resolves to.

    Asks the dynamic loader of this process (same CPU, so the same choice as
    in the traced process) and maps the address back to the file through
    /proc/self/maps.  The library used is ``elf`` itself if loaded, else a
    loaded copy with the same build id (a container's libc), else ``elf``
    loaded now (never a second C library or dynamic loader).  None for
    executables, which cannot be loaded twice.
    """
    if elf.type != ET_DYN:
        return None
    lib_path = _loaded_twin(elf)
    mode = _RTLD_LAZY | _RTLD_NOLOAD
    if lib_path is None:
        base = os.path.basename(elf.path)
        if base.startswith(("libc.so", "libc-", "ld-linux", "ld64.so")):
            return None
        lib_path, mode = elf.path, _RTLD_LAZY | os.RTLD_LOCAL
    try:
        addr = ctypes.cast(getattr(ctypes.CDLL(lib_path, mode=mode), name), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    if addr is None:
        return None
    want = os.stat(lib_path).st_ino
    for m in proc_maps("self"):
        if m.start <= addr < m.end and m.inode == want:
            return elf.offset_to_vaddr(addr - m.start + m.offset)
    return None


def _loaded_twin(elf: ElfFile) -> str | None:
    """A path this process has loaded with the same content as ``elf`` (itself or a build-id twin)."""
    try:
        ctypes.CDLL(elf.path, mode=_RTLD_LAZY | _RTLD_NOLOAD)
        return elf.path
    except OSError:
        pass
    bid = elf.build_id
    if bid is None:
        return None
    for path in {m.path for m in proc_maps("self") if m.executable and m.path.startswith("/")}:
        try:
            if open_elf(path).build_id == bid:
                ctypes.CDLL(path, mode=_RTLD_LAZY | _RTLD_NOLOAD)
                return path
        except (OSError, ObjectFormatError):
            continue
    return None


def get_user_functions_and_addresses(name: str, sym_re: str | bytes) -> list[tuple[bytes, int]]:
    """``(name, address)`` of every function in binary or library ``name`` matching ``sym_re``.

    Like bcc: ``re.match`` on the symbol name; addresses are virtual addresses
    in the file's layout (what ``attach_uprobe(addr=...)`` takes).
    """
    path = resolve_binary(name)
    pattern = re.compile(sym_re.encode() if isinstance(sym_re, str) else sym_re)
    out = []
    for sym in open_elf(path).functions():
        raw = sym.name.encode("utf-8", "surrogateescape")
        if pattern.match(raw):
            out.append((raw, sym.value))
    return out


# ---------------------------------------------------------------- /proc/PID/maps

class Mapping(NamedTuple):
    """One line of /proc/PID/maps."""
    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str   # "" for anonymous memory; "[vdso]", "[heap]"...; " (deleted)" kept

    @property
    def executable(self) -> bool:
        return "x" in self.perms


def proc_maps(pid: int | str) -> list[Mapping]:
    """Parse /proc/PID/maps (``pid`` may be "self"); raises OSError when the process is gone."""
    out = []
    with open(f"/proc/{pid}/maps", "rb") as f:
        text = f.read().decode("utf-8", "surrogateescape")
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        start, _, end = parts[0].partition("-")
        out.append(Mapping(int(start, 16), int(end, 16), parts[1], int(parts[2], 16),
                           int(parts[4]), parts[5] if len(parts) > 5 else ""))
    return out


def proc_path(pid: int, path: str) -> str:
    """``path`` as seen by process ``pid`` (through /proc/PID/root when it has another root)."""
    if pid <= 0:
        return path
    try:
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    except OSError:
        return path
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        return path
    return f"/proc/{pid}/root{path}"


# ---------------------------------------------------------------- library and executable lookup

_LDCACHE_NEW = b"glibc-ld.so.cache1.1"
_LDCACHE_OLD = b"ld.so-1.7.0"
_FLAG_TYPE_MASK, _FLAG_ELF_LIBC6 = 0x00FF, 0x0003
_ARCH_FLAGS = {"x86_64": 0x0300, "aarch64": 0x0A00, "ppc64le": 0x0500, "s390x": 0x0400,
               "riscv64": 0x1000}
_ldcache: tuple[tuple[int, int], list[tuple[str, str, int]]] | None = None


def _read_ld_cache(path: str = "/etc/ld.so.cache") -> list[tuple[str, str, int]]:
    """``(soname, path, flags)`` of every entry of the loader cache, in cache order."""
    global _ldcache
    try:
        st = os.stat(path)
    except OSError:
        return []
    key = (st.st_ino, st.st_mtime_ns)
    if _ldcache is not None and _ldcache[0] == key:
        return _ldcache[1]
    with open(path, "rb") as f:
        data = f.read()
    entries = parse_ld_cache(data)
    _ldcache = (key, entries)
    return entries


def parse_ld_cache(data: bytes) -> list[tuple[str, str, int]]:
    """Parse an /etc/ld.so.cache image (the new format, alone or after an old-format part)."""
    start = data.find(_LDCACHE_NEW)
    if start < 0:
        raise ObjectFormatError("ld.so.cache: no glibc-ld.so.cache1.1 header")
    head = struct.Struct("<II")
    count, _strlen = unpack(head, data, start + 20, "ld.so.cache header", "ld.so.cache")
    entry = struct.Struct("<iIIIQ")
    table = start + 48
    out = []
    for i in range(count):
        flags, key, value, _, _ = unpack(entry, data, table + i * entry.size, "entry", "ld.so.cache")
        # string offsets are relative to the new-format header
        if start + key >= len(data) or start + value >= len(data):
            raise ObjectFormatError(f"ld.so.cache: entry {i} points outside the file")
        out.append((_cstr(data, start + key), _cstr(data, start + value), flags))
    return out


def _arch_flags() -> int | None:
    return _ARCH_FLAGS.get(os.uname().machine)


def find_library(name: str | bytes, pid: int = 0) -> str | None:
    """The path of library ``name`` ("c", "pthread", "libssl.so.3" or a path).

    Like bcc: with a pid, the library that process has mapped (seen through
    its root); otherwise the first ``lib{name}.so*`` entry of
    /etc/ld.so.cache for this architecture.  None when not found.
    """
    if isinstance(name, bytes):
        name = name.decode()
    if "/" in name:
        return name if os.path.exists(name) else None
    stems = (f"lib{name}.", f"lib{name}-") if not name.startswith("lib") else (name,)
    if pid:
        try:
            maps = proc_maps(pid)
        except OSError:
            return None
        for m in maps:
            base = os.path.basename(m.path)
            # code the loader mapped: executable and private (not someone's mmap of the file)
            if (m.executable and m.perms.endswith("p") and m.path.startswith("/")
                    and base.startswith(stems) and ".so" in base):
                return proc_path(pid, m.path.removesuffix(" (deleted)"))
        return None
    prefix = name if name.startswith("lib") else f"lib{name}.so"
    arch = _arch_flags()
    for soname, path, flags in _read_ld_cache():
        if not soname.startswith(prefix):
            continue
        if (flags & _FLAG_TYPE_MASK) != _FLAG_ELF_LIBC6:
            continue
        if arch is not None and (flags & 0xFF00) != arch:
            continue
        return path
    return None


def find_exe(name: str | bytes) -> str | None:
    """The executable ``name`` runs: a path as is (if executable), else the first hit on PATH."""
    if isinstance(name, bytes):
        name = name.decode()

    def runnable(p: str) -> bool:
        return os.path.isfile(p) and os.access(p, os.X_OK)

    if os.path.dirname(name):
        return name if runnable(name) else None
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        cand = os.path.join(d.strip('"'), name)
        if runnable(cand):
            return cand
    return None


def resolve_binary(name: str | bytes, pid: int = -1) -> str:
    """A uprobe target name to a path: a path, a library short name, or a command on PATH.

    Raises AttachTargetNotFound naming where it looked.
    """
    if isinstance(name, bytes):
        name = name.decode()
    if "/" in name:
        if os.path.exists(name):
            return name
        raise AttachTargetNotFound(f"no such file {name!r}")
    found = (find_library(name, pid) if pid > 0 else None) or find_library(name) or find_exe(name)
    if found is None:
        raise AttachTargetNotFound(
            f"no library or executable named {name!r} (looked in /etc/ld.so.cache"
            f"{' and the maps of pid %d' % pid if pid > 0 else ''} and on PATH); give a full path")
    return found
