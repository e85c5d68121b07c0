"""A reader for BTF, the BPF type format: kernel BTF, program BTF and split BTF.

Kernel BTF (``/sys/kernel/btf/vmlinux``) holds 100k+ types, so nothing is
decoded up front: the blob stays one buffer (mapped straight from the
kernel when it allows, else read once), the type section is viewed in place
as 32-bit words, and parsing makes one pass over it to record where each
record starts, in a compact ``array('I')``.  A :class:`BtfType` is decoded
when it is first asked for, and a name is looked up by searching the string
section and then the type section's raw bytes::

    btf = kernel_btf()
    task = btf.find("task_struct", Kind.STRUCT)
    task.member("tgid").bit_offset // 8

Any malformed input raises :class:`~pybpf_dsl.errors.ObjectFormatError`
naming the offset or type id at fault.
"""

from __future__ import annotations

import bisect
import functools
import mmap
import os
import re
import struct
from array import array
from enum import IntEnum
from typing import Iterator, NamedTuple

from ..errors import NotSupported, ObjectFormatError

__all__ = [
    "Kind", "BTF", "BtfType", "Member", "Param", "VarSecInfo", "kernel_btf", "module_btf",
    "kernel_modules_with_btf", "find_in_kernel", "BTF_MAGIC", "HEADER",
]

BTF_MAGIC = 0xEB9F
HEADER = struct.Struct("<HBBIIIII")  # magic version flags hdr_len type_off type_len str_off str_len
_BTF_DIR = "/sys/kernel/btf"
_VMLINUX = f"{_BTF_DIR}/vmlinux"


class Kind(IntEnum):
    """``BTF_KIND_*``."""
    VOID = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


_NKINDS = 20
# Record length in 32-bit words: 3 header words + fixed tail, + vlen * per-entry words.
_TAIL = {Kind.INT: 1, Kind.ARRAY: 3, Kind.VAR: 1, Kind.DECL_TAG: 1}
_PER_VLEN = {Kind.STRUCT: 3, Kind.UNION: 3, Kind.ENUM: 2, Kind.FUNC_PROTO: 2,
             Kind.DATASEC: 3, Kind.ENUM64: 3}
_SIZED = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC,
                    Kind.FLOAT})
_KIND_BYTES = bytes(k | flag for k in range(1, _NKINDS) for flag in (0, 0x80))  # info's top byte
_MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
_PTR_SIZE = 8
_MAX_CHAIN = 64  # longest typedef/modifier/array chain followed before calling it a loop


class Member(NamedTuple):
    """A struct or union member; ``bitfield_size`` is 0 unless it is a bitfield."""
    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int


class Param(NamedTuple):
    """A function prototype parameter (``type_id`` 0 on the last one means ``...``)."""
    name: str
    type_id: int


class VarSecInfo(NamedTuple):
    """One variable of a DATASEC: its VAR type id, byte offset and size."""
    type_id: int
    offset: int
    size: int


def _record_words(info: int) -> int:
    """Length in words of a type record whose info word is ``info``; -1 if invalid."""
    kind = (info >> 24) & 0x1F
    if kind == 0 or kind >= _NKINDS or info & 0x60FF0000:
        return -1
    vlen = info & 0xFFFF
    per = _PER_VLEN.get(kind, 0)
    if vlen and not per and kind != Kind.FUNC:  # FUNC keeps its linkage in vlen
        return -1
    return 3 + _TAIL.get(kind, 0) + vlen * per


class BtfType:
    """One decoded type record.  Kind-specific parts decode on first use."""

    __slots__ = ("btf", "id", "kind", "name", "kind_flag", "vlen", "size", "type_id", "_pos")

    def __init__(self, btf: "BTF", type_id: int, pos: int) -> None:
        self.btf = btf
        self.id = type_id
        self._pos = pos
        if pos < 0:  # void
            self.kind, self.name, self.kind_flag, self.vlen, self.size, self.type_id = (
                Kind.VOID, "", False, 0, 0, 0)
            return
        u = btf._u
        info = u[pos + 1]
        self.kind = Kind((info >> 24) & 0x1F)
        self.kind_flag = bool(info >> 31)
        self.vlen = info & 0xFFFF
        self.name = btf.string(u[pos])
        word = u[pos + 2]
        sized = self.kind in _SIZED
        self.size = word if sized else 0
        self.type_id = 0 if sized else word

    def __repr__(self) -> str:
        return f"<BtfType [{self.id}] {self.kind.name} {self.name!r}>"

    def _check(self, *kinds: Kind) -> None:
        if self.kind not in kinds:
            wanted = "/".join(k.name for k in kinds)
            raise TypeError(f"BTF type [{self.id}] {self.name!r} is {self.kind.name}, not {wanted}")

    def _tail(self, index: int) -> int:
        return self.btf._u[self._pos + 3 + index]

    # ---- INT
    @property
    def int_encoding(self) -> int:
        self._check(Kind.INT)
        return (self._tail(0) >> 24) & 0x0F

    @property
    def int_bits(self) -> int:
        self._check(Kind.INT)
        return self._tail(0) & 0xFF

    @property
    def int_offset(self) -> int:
        self._check(Kind.INT)
        return (self._tail(0) >> 16) & 0xFF

    @property
    def int_signed(self) -> bool:
        return bool(self.int_encoding & 1)

    @property
    def int_char(self) -> bool:
        return bool(self.int_encoding & 2)

    @property
    def int_bool(self) -> bool:
        return bool(self.int_encoding & 4)

    # ---- ARRAY
    @property
    def array(self) -> tuple[int, int, int]:
        """``(elem_type_id, index_type_id, nelems)``."""
        self._check(Kind.ARRAY)
        return self._tail(0), self._tail(1), self._tail(2)

    # ---- STRUCT / UNION
    @property
    def members(self) -> list[Member]:
        self._check(Kind.STRUCT, Kind.UNION)
        u, string, base, bitfields = self.btf._u, self.btf.string, self._pos + 3, self.kind_flag
        out = []
        for i in range(base, base + 3 * self.vlen, 3):
            off = u[i + 2]
            if bitfields:
                out.append(Member(string(u[i]), u[i + 1], off & 0xFFFFFF, off >> 24))
            else:
                out.append(Member(string(u[i]), u[i + 1], off, 0))
        return out

    def member(self, name: str) -> Member:
        """The member called ``name`` (directly in this struct/union); KeyError if absent."""
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"{self.kind.name.lower()} {self.name or '(anonymous)'} has no member {name!r}")

    # ---- ENUM / ENUM64
    @property
    def signed(self) -> bool:
        self._check(Kind.ENUM, Kind.ENUM64)
        return self.kind_flag

    @property
    def values(self) -> list[tuple[str, int]]:
        self._check(Kind.ENUM, Kind.ENUM64)
        u, string, base = self.btf._u, self.btf.string, self._pos + 3
        out = []
        if self.kind == Kind.ENUM:
            for i in range(base, base + 2 * self.vlen, 2):
                v = u[i + 1]
                if self.kind_flag and v & 0x80000000:
                    v -= 1 << 32
                out.append((string(u[i]), v))
        else:
            for i in range(base, base + 3 * self.vlen, 3):
                v = u[i + 1] | (u[i + 2] << 32)
                if self.kind_flag and v & (1 << 63):
                    v -= 1 << 64
                out.append((string(u[i]), v))
        return out

    # ---- FUNC_PROTO
    @property
    def params(self) -> list[Param]:
        self._check(Kind.FUNC_PROTO)
        u, string, base = self.btf._u, self.btf.string, self._pos + 3
        return [Param(string(u[i]), u[i + 1]) for i in range(base, base + 2 * self.vlen, 2)]

    # ---- FUNC / VAR
    @property
    def linkage(self) -> int:
        """0 static, 1 global, 2 extern."""
        self._check(Kind.FUNC, Kind.VAR)
        return self.vlen if self.kind == Kind.FUNC else self._tail(0)

    # ---- DATASEC
    @property
    def vars(self) -> list[VarSecInfo]:
        self._check(Kind.DATASEC)
        u, base = self.btf._u, self._pos + 3
        return [VarSecInfo(u[i], u[i + 1], u[i + 2]) for i in range(base, base + 3 * self.vlen, 3)]

    # ---- FWD
    @property
    def fwd_union(self) -> bool:
        self._check(Kind.FWD)
        return self.kind_flag

    # ---- DECL_TAG
    @property
    def component_idx(self) -> int:
        """-1 when the tag applies to the type itself, else the member/param index."""
        self._check(Kind.DECL_TAG)
        v = self._tail(0)
        return v - (1 << 32) if v & 0x80000000 else v


class BTF:
    """Parsed BTF: types by id, names, sizes.  Build with :meth:`parse` or :func:`kernel_btf`."""

    def __init__(self, data: "bytes | mmap.mmap", base: "BTF | None", u: memoryview, offs: array,
                 str_start: int, str_len: int, type_start: int) -> None:
        self.data = data
        self.base = base
        self._u = u
        self._offs = offs
        self._str_start = str_start
        self._str_len = str_len
        self._type_start = type_start
        self.first_id = len(base) if base is not None else 1
        self.str_base = base.str_end if base is not None else 0
        self.str_end = self.str_base + str_len
        self._cache: dict[int, BtfType] = {}
        self._find_cache: dict[tuple[str, int | None], list[int]] = {}
        self.description = "BTF"

    # ---------------------------------------------------------------- parsing
    @classmethod
    def parse(cls, data: "bytes | bytearray | memoryview | mmap.mmap", base: "BTF | None" = None) -> "BTF":
        """Parse a BTF blob (``base`` for split BTF such as a kernel module's).

        A ``bytes`` or read-only ``mmap`` blob is used in place; anything else is copied."""
        if not isinstance(data, (bytes, mmap.mmap)):
            data = bytes(data)
        if len(data) < HEADER.size:
            raise ObjectFormatError(f"BTF is {len(data)} bytes, shorter than its {HEADER.size}-byte header")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = HEADER.unpack_from(data)
        if magic != BTF_MAGIC:
            if magic == 0x9FEB:
                raise ObjectFormatError("big-endian BTF is not supported (this is a little-endian host)")
            raise ObjectFormatError(f"bad BTF magic 0x{magic:04x} (expected 0x{BTF_MAGIC:04x})")
        if version != 1:
            raise ObjectFormatError(f"unsupported BTF version {version}")
        if hdr_len < HEADER.size or hdr_len > len(data):
            raise ObjectFormatError(f"bad BTF header length {hdr_len}")
        t0, s0 = hdr_len + type_off, hdr_len + str_off
        if type_off % 4 or type_len % 4 or t0 + type_len > len(data) or s0 + str_len > len(data):
            raise ObjectFormatError(
                f"BTF sections out of bounds (types {type_off}+{type_len}, strings {str_off}+{str_len},"
                f" data {len(data) - hdr_len} bytes after the header)")
        if base is None and (str_len == 0 or data[s0] != 0):
            raise ObjectFormatError("BTF string section must start with an empty string")
        if str_len and data[s0 + str_len - 1] != 0:
            raise ObjectFormatError("BTF string section is not NUL-terminated")
        u = memoryview(data)[t0:t0 + type_len].cast("I")
        offs = _walk(u)
        return cls(data, base, u, offs, s0, str_len, t0)

    # ---------------------------------------------------------------- strings
    def string(self, off: int) -> str:
        """The string at offset ``off`` of the (possibly base + split) string section."""
        if off < self.str_base:
            return self.base.string(off)  # type: ignore[union-attr]
        rel = off - self.str_base
        if rel >= self._str_len:
            raise ObjectFormatError(f"BTF string offset {off} is past the string section")
        start = self._str_start + rel
        end = self.data.find(b"\0", start)  # found: the section is NUL-terminated
        try:
            return self.data[start:end].decode()
        except UnicodeDecodeError:
            raise ObjectFormatError(f"BTF string at offset {off} is not UTF-8") from None

    def _string_offsets(self, name: str) -> list[int]:
        """Every offset in this BTF's own string section holding exactly ``name``."""
        needle = b"\0" + name.encode() + b"\0"
        data, lo, hi = self.data, self._str_start, self._str_start + self._str_len
        out = []
        pos = data.find(needle, lo, hi)
        while pos >= 0:
            out.append(pos + 1 - lo + self.str_base)
            pos = data.find(needle, pos + 1, hi)
        return out

    # ---------------------------------------------------------------- types
    def __len__(self) -> int:
        """Number of type ids, void and base types included (ids are 0..len-1)."""
        return self.first_id + len(self._offs)

    def __getitem__(self, type_id: int) -> BtfType:
        t = self._cache.get(type_id)
        if t is not None:
            return t
        if type_id < self.first_id:
            if self.base is not None:
                return self.base[type_id]
            if type_id == 0:
                t = BtfType(self, 0, -1)
                self._cache[0] = t
                return t
        index = type_id - self.first_id
        if not 0 <= index < len(self._offs):
            raise KeyError(f"no BTF type id {type_id} ({self.description} has ids 0..{len(self) - 1})")
        t = BtfType(self, type_id, self._offs[index])
        self._cache[type_id] = t
        return t

    def record_offset(self, type_id: int) -> int:
        """Byte offset in :attr:`data` of type ``type_id``'s record (for in-place fix-ups)."""
        index = type_id - self.first_id
        if not 0 <= index < len(self._offs):
            raise KeyError(f"type id {type_id} is not one of {self.description}'s own types")
        return self._type_start + 4 * self._offs[index]

    def kind_of(self, type_id: int) -> Kind:
        """The kind of ``type_id`` without decoding the record."""
        if type_id < self.first_id:
            return self.base.kind_of(type_id) if self.base is not None else Kind.VOID
        return Kind((self._u[self._offs[type_id - self.first_id] + 1] >> 24) & 0x1F)

    def iter_types(self, kind: Kind | None = None) -> Iterator[BtfType]:
        """Every type (base types first for split BTF), optionally only of one kind."""
        if self.base is not None:
            yield from self.base.iter_types(kind)
        u, first = self._u, self.first_id
        for index, pos in enumerate(self._offs):
            if kind is None or (u[pos + 1] >> 24) & 0x1F == kind:
                yield self[first + index]

    def find_all(self, name: str, kind: Kind | None = None) -> list[BtfType]:
        """Every type called ``name`` (of ``kind`` when given), in id order."""
        key = (name, kind)
        ids = self._find_cache.get(key)
        if ids is None:
            ids = self._find_ids(name, kind)
            self._find_cache[key] = ids
        found = self.base.find_all(name, kind) if self.base is not None else []
        return found + [self[i] for i in ids]

    def _find_ids(self, name: str, kind: Kind | None) -> list[int]:
        if not name:
            return []
        data, lo, hi = self.data, self._type_start, self._type_start + 4 * len(self._u)
        offs, ids = self._offs, []
        kinds = _KIND_BYTES if kind is None else bytes((kind, kind | 0x80))
        for str_off in self._string_offsets(name):
            # A record head: name_off, then an info word whose top bytes are 0 and a kind.
            head = re.compile(re.escape(struct.pack("<I", str_off)) + b"..\\x00[" + re.escape(kinds) + b"]",
                              re.DOTALL)
            match = head.search(data, lo, hi)
            while match is not None:
                pos = match.start()
                if not (pos - lo) & 3:
                    word = (pos - lo) >> 2
                    index = bisect.bisect_left(offs, word)
                    if index < len(offs) and offs[index] == word:
                        ids.append(self.first_id + index)
                match = head.search(data, pos + 1, hi)  # not past the match: heads may overlap it
        ids.sort()
        return ids

    def find(self, name: str, kind: Kind | None = None) -> BtfType:
        """The type called ``name``; with no ``kind``, a full definition is preferred
        over a forward declaration.  Raises KeyError naming what is missing."""
        found = self.find_all(name, kind)
        if not found:
            what = f"{kind.name} " if kind is not None else ""
            raise KeyError(f"no BTF {what}type named {name!r} in {self.description}")
        if kind is None:
            for t in found:
                if t.kind != Kind.FWD:
                    return t
        return found[0]

    def find_id(self, name: str, kind: Kind | None = None) -> int:
        """The id of :meth:`find`'s answer."""
        return self.find(name, kind).id

    def resolve(self, type_id: int) -> BtfType:
        """The type behind typedefs and const/volatile/restrict/type_tag modifiers."""
        for _ in range(_MAX_CHAIN):
            t = self.ref(type_id)
            if t.kind not in _MODIFIERS:
                return t
            type_id = t.type_id
        raise ObjectFormatError(f"BTF type [{type_id}]: modifier chain loops")

    def ref(self, type_id: int) -> BtfType:
        """``self[type_id]`` for a reference found inside the BTF: dangling is malformed."""
        try:
            return self[type_id]
        except KeyError as e:
            raise ObjectFormatError(f"BTF refers to missing type id {type_id}") from e

    def sizeof(self, type_id: int) -> int:
        """Size in bytes of a type, following typedefs, modifiers, arrays and VARs."""
        mult = 1
        for _ in range(_MAX_CHAIN):
            t = self.resolve(type_id)
            if t.kind in _SIZED:
                return mult * t.size
            if t.kind == Kind.PTR:
                return mult * _PTR_SIZE
            if t.kind == Kind.ARRAY:
                elem, _index, n = t.array
                mult *= n
                type_id = elem
            elif t.kind == Kind.VAR:
                type_id = t.type_id
            else:
                raise TypeError(f"BTF type [{t.id}] {t.name!r} ({t.kind.name}) has no size")
        raise ObjectFormatError(f"BTF type [{type_id}]: array chain loops")

    def type_name(self, type_id: int) -> str:
        """A C-like name for messages: ``struct task_struct *``, ``u32[16]``."""
        suffix = ""
        for _ in range(_MAX_CHAIN):
            t = self.ref(type_id)
            if t.kind == Kind.PTR:
                suffix = " *" + suffix
            elif t.kind == Kind.ARRAY:
                suffix += f"[{t.array[2]}]"
                type_id = t.array[0]
                continue
            elif t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
                pass
            elif t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
                tag = "enum" if t.kind == Kind.ENUM64 else t.kind.name.lower()
                return f"{tag} {t.name or '(anon)'}{suffix}"
            elif t.kind == Kind.FWD:
                return f"{'union' if t.fwd_union else 'struct'} {t.name}{suffix}"
            elif t.kind == Kind.VOID:
                return "void" + suffix
            elif t.kind == Kind.FUNC_PROTO:
                return "func" + suffix
            else:
                return (t.name or t.kind.name.lower()) + suffix
            type_id = t.type_id
        raise ObjectFormatError(f"BTF type [{type_id}]: reference chain loops")

    def __repr__(self) -> str:
        return f"<BTF {self.description}: {len(self)} types>"


def _walk(u: memoryview) -> array:
    """The word offset of every type record, in one pass over the type section."""
    offs = array("I")
    append = offs.append
    lengths: dict[int, int] = {}
    n = len(u)
    i = 0
    while True:
        try:
            while i < n:
                append(i)
                i += lengths[u[i + 1]]
            break
        except KeyError:
            info = u[i + 1]
            words = _record_words(info)
            if words < 0:
                raise ObjectFormatError(
                    f"BTF type [{len(offs)}] at byte {4 * i} of the type section has invalid"
                    f" info 0x{info:08x}") from None
            lengths[info] = words
            i += words
        except IndexError:
            raise ObjectFormatError(f"BTF type [{len(offs)}] is truncated at the end of the type section") from None
    if i != n:
        raise ObjectFormatError(f"BTF type [{len(offs)}] runs past the end of the type section")
    return offs


def _read(path: str) -> "bytes | mmap.mmap":
    """The file's bytes: a private read-only mapping when the file allows one
    (vmlinux BTF on Linux 6.16+: no copy, and kernel pages are not charged to
    this process's RSS), else one read."""
    with open(path, "rb", buffering=0) as f:
        try:
            return mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
        except (OSError, ValueError):  # sysfs file without mmap, or empty
            return f.readall()


@functools.cache
def kernel_btf() -> BTF:
    """The running kernel's BTF (``/sys/kernel/btf/vmlinux``), parsed once and cached."""
    try:
        data = _read(_VMLINUX)
    except FileNotFoundError:
        raise NotSupported("kernel BTF", f"{_VMLINUX} is missing (kernel built without CONFIG_DEBUG_INFO_BTF)") from None
    btf = BTF.parse(data)
    btf.description = "kernel BTF"
    return btf


@functools.cache
def module_btf(module: str) -> BTF:
    """A kernel module's split BTF (``/sys/kernel/btf/<module>``) on top of the kernel's."""
    try:
        data = _read(f"{_BTF_DIR}/{module}")
    except FileNotFoundError:
        raise KeyError(f"no BTF for kernel module {module!r} (is it loaded?)") from None
    btf = BTF.parse(data, base=kernel_btf())
    btf.description = f"BTF of module {module}"
    return btf


def kernel_modules_with_btf() -> list[str]:
    """Loaded kernel modules that carry BTF (``/sys/kernel/btf/*`` but vmlinux), sorted."""
    try:
        return sorted(n for n in os.listdir(_BTF_DIR) if n != "vmlinux")
    except FileNotFoundError:
        return []


def find_in_kernel(name: str, kind: Kind, modules: list[str] | None = None) -> tuple[str | None, BtfType] | None:
    """Where the running kernel defines ``name`` (a FUNC, VAR, TYPEDEF...): ``(None, type)``
    for vmlinux, ``(module, type)`` for the first loaded module (or of ``modules``) whose
    own split BTF has it, None if nothing does.  vmlinux is searched first, as libbpf does."""
    found = kernel_btf().find_all(name, kind)
    if found:
        return None, found[0]
    for module in kernel_modules_with_btf() if modules is None else modules:
        try:
            btf = module_btf(module)
        except KeyError:  # unloaded since it was listed
            continue
        own = [t for t in btf.find_all(name, kind) if t.id >= btf.first_id]
        if own:
            return module, own[0]
    return None
