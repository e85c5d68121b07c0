"""A C header of every kernel type, generated from the running kernel's BTF.

:func:`render` turns a :class:`~pybpf_dsl.runtime.btf.BTF` into a header in
the spirit of ``bpftool btf dump format c``: forward declarations, every
enum, then every struct, union and typedef in dependency order (a type used
by value is defined before its user; a pointer only needs a declaration).
Each struct and union carries ``preserve_access_index`` so clang emits CO-RE
relocations, and its layout is reproduced exactly: explicit padding where the
natural layout would place a member too early, ``packed`` where it would
place one too late.  Names defined twice with different bodies (BTF keeps
both) get bpftool's ``___N`` suffix so the header compiles.
"""

from __future__ import annotations

from pybpf_dsl.runtime.btf import BTF, BtfType, Kind

from .typeselect import TypeIndex

__all__ = ["render", "render_split"]

_MODS = {Kind.CONST: "const", Kind.VOLATILE: "volatile", Kind.RESTRICT: "restrict"}
_RECORDS = (Kind.STRUCT, Kind.UNION)
# C sizes an enum as an int; the kernel's packed and 64-bit enums need a mode.
_ENUM_MODES = {1: " __attribute__((mode(QI)))", 2: " __attribute__((mode(HI)))",
               8: " __attribute__((mode(DI)))"}


class _Writer:
    """One header generation: naming, ordering and layout state."""

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self.out: list[str] = []
        self.names: dict[int, str] = {}
        self.done: set[int] = set()       # named records/typedefs already emitted
        self.busy: set[int] = set()
        # the header as chunks (one per top-level definition): what each defines, what it needs
        self.chunk_of: dict[int, int] = {}
        self.defines: list[list[str]] = []
        self.deps: list[list[int]] = []
        self._needs: list[set[int]] = []
        self._align: dict[int, int] = {}
        self._packed: dict[int, bool] = {}
        self._assign_names()

    # ------------------------------------------------------------ naming
    def _assign_names(self) -> None:
        """Give every named record, enum and typedef a unique C name."""
        seen: dict[tuple[str, str], int] = {}
        enumerators: dict[str, int] = {}
        for t in self.btf.iter_types():
            if not t.name or t.kind not in (*_RECORDS, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF, Kind.FWD):
                continue
            if t.kind == Kind.FWD:
                continue
            space = "typedef" if t.kind == Kind.TYPEDEF else "tag"
            n = seen.get((space, t.name), 0) + 1
            seen[(space, t.name)] = n
            name = t.name if n == 1 else f"{t.name}___{n}"
            # The kernel's va_list is x86's; the BPF target's __builtin_va_list differs.
            self.names[t.id] = "___kernel" + name[1:] if name.startswith("__builtin_") else name
        self.enumerators = enumerators

    def tag(self, t: BtfType) -> str:
        if t.kind == Kind.FWD:
            return f"{'union' if t.fwd_union else 'struct'} {t.name}"
        kw = {Kind.STRUCT: "struct", Kind.UNION: "union"}.get(t.kind, "enum")
        return f"{kw} {self.names[t.id]}"

    # ------------------------------------------------------------ declarators
    def decl(self, type_id: int, name: str, indent: str = "") -> str:
        """``type name`` as a C declaration (pointers, arrays, function pointers)."""
        btf = self.btf
        while True:
            t = btf[type_id]
            k = t.kind
            if k == Kind.PTR:
                target = btf[t.type_id]
                name = f"*{name}"
                if target.kind in (Kind.ARRAY, Kind.FUNC_PROTO):
                    name = f"({name})"
                type_id = t.type_id
            elif k == Kind.ARRAY:
                elem, _idx, n = t.array
                name = f"{name}[{n}]"
                type_id = elem
            elif k in _MODS:
                if btf[t.type_id].kind != Kind.PTR:
                    return f"{_MODS[k]} {self.decl(t.type_id, name, indent)}"
                name = f"{_MODS[k]} {name}"
                type_id = t.type_id
            elif k == Kind.TYPE_TAG:
                type_id = t.type_id
            elif k == Kind.FUNC_PROTO:
                params = t.params
                if not params:
                    args = "void"
                else:
                    args = ", ".join("..." if p.type_id == 0 and not p.name else self.decl(p.type_id, "")
                                     for p in params)
                name = f"{name}({args})"
                type_id = t.type_id
            else:
                base = self.base(t, indent)
                return f"{base} {name}".rstrip() if name else base

    def base(self, t: BtfType, indent: str) -> str:
        k = t.kind
        if k == Kind.VOID:
            return "void"
        if k in (Kind.INT, Kind.FLOAT):
            return t.name
        if k == Kind.TYPEDEF:
            return self.names[t.id]
        if k == Kind.FWD:
            return self.tag(t)
        if t.name:
            return self.tag(t)
        if k in _RECORDS:
            return self.record_body(t, indent)
        return self.enum_body(t, indent)

    # ------------------------------------------------------------ layout
    def align(self, type_id: int) -> int:
        t = self.btf[type_id]
        k = t.kind
        if k in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64):
            return min(t.size, 16) or 1
        if k == Kind.PTR:
            return 8
        if k == Kind.ARRAY:
            return self.align(t.array[0])
        if k in _RECORDS:
            a = self._align.get(t.id)
            if a is None:
                a = 1 if self.packed(t) else max((self.align(m.type_id) for m in t.members), default=1)
                self._align[t.id] = a
            return a
        if k in (Kind.TYPEDEF, Kind.TYPE_TAG, *_MODS):
            return self.align(t.type_id)
        return 1

    def packed(self, t: BtfType) -> bool:
        p = self._packed.get(t.id)
        if p is not None:
            return p
        self._packed[t.id] = False
        natural = max((self.align(m.type_id) for m in t.members), default=1)
        p = t.size % natural != 0
        if not p and t.kind == Kind.STRUCT:
            end = 0
            for m in t.members:
                if m.bitfield_size:
                    end = m.bit_offset + m.bitfield_size
                    continue
                a = self.align(m.type_id) * 8
                if m.bit_offset < -(-end // a) * a:
                    p = True
                    break
                end = m.bit_offset + self.btf.sizeof(m.type_id) * 8
        self._packed[t.id] = p
        self._align.pop(t.id, None)
        return p

    # ------------------------------------------------------------ bodies
    def record_body(self, t: BtfType, indent: str) -> str:
        inner = indent + "\t"
        lines: list[str] = []
        packed = self.packed(t)
        off = 0
        if t.kind == Kind.STRUCT:
            for m in t.members:
                a = 8 if packed or m.bitfield_size else self.align(m.type_id) * 8
                natural = -(-off // a) * a if not m.bitfield_size else off
                if m.bit_offset > natural:
                    self.pad(lines, inner, off, m.bit_offset)
                lines.append(inner + self.member(m, inner) + ";")
                off = m.bit_offset + (m.bitfield_size or self.btf.sizeof(m.type_id) * 8)
            if off < t.size * 8:
                a = 8 if packed else self.align(t.id) * 8
                if -(-off // a) * a != t.size * 8:
                    self.pad(lines, inner, off, t.size * 8)
        else:
            biggest = 0
            for m in t.members:
                lines.append(inner + self.member(m, inner) + ";")
                biggest = max(biggest, self.btf.sizeof(m.type_id) if not m.bitfield_size else 0)
            if biggest < t.size and -(-biggest // self.align(t.id)) * self.align(t.id) != t.size:
                lines.append(f"{inner}char ___pad[{t.size}];")
        kw = "struct" if t.kind == Kind.STRUCT else "union"
        head = f"{kw} {self.names[t.id]}" if t.name else kw
        attr = " __attribute__((packed))" if packed else ""
        return head + " {\n" + "\n".join(lines) + f"\n{indent}}}{attr}"

    @staticmethod
    def pad(lines: list[str], indent: str, start: int, end: int) -> None:
        """Fill bits ``start..end`` with unnamed bit-fields (they never change alignment)."""
        while start < end:
            if start % 64 == 0 and end - start >= 64:
                step, kind = 64, "long"
            else:
                step, kind = min(8 - start % 8, end - start), "unsigned char"
            lines.append(f"{indent}{kind}: {step};")
            start += step

    def member(self, m, indent: str) -> str:
        text = self.decl(m.type_id, m.name, indent)
        return f"{text}: {m.bitfield_size}" if m.bitfield_size else text

    def enum_body(self, t: BtfType, indent: str, labels: list[str] | None = None) -> str:
        inner = indent + "\t"
        items = []
        for name, value in t.values:
            n = self.enumerators.get(name, 0) + 1
            self.enumerators[name] = n
            label = name if n == 1 else f"{name}___{n}"
            if labels is not None:
                labels.append(label)
            suffix = "" if -2**31 <= value < 2**31 else ("LL" if value < 2**63 else "ULL")
            items.append(f"{inner}{label} = {value}{suffix},")
        head = f"enum {self.names[t.id]}" if t.name else "enum"
        mode = _ENUM_MODES.get(t.size, "")
        return head + " {\n" + "\n".join(items) + f"\n{indent}}}{mode}"

    # ------------------------------------------------------------ ordering
    def need(self, type_id: int, full: bool) -> None:
        """Emit what ``type_id`` needs before it can be used (by value when ``full``)."""
        btf = self.btf
        while True:
            t = btf[type_id]
            k = t.kind
            if k == Kind.PTR:
                full = False
                type_id = t.type_id
            elif k == Kind.ARRAY:
                type_id = t.array[0]
                full = True  # array elements must be complete
            elif k in _MODS or k == Kind.TYPE_TAG:
                type_id = t.type_id
            elif k == Kind.FUNC_PROTO:
                for p in t.params:
                    self.need(p.type_id, False)
                type_id = t.type_id
                full = False
            elif k == Kind.TYPEDEF:
                self.emit_typedef(t)
                type_id = t.type_id
                if not full:
                    return
            elif k in _RECORDS:
                if t.name:
                    if full:
                        self.emit_record(t)
                else:
                    for m in t.members:
                        self.need(m.type_id, True)
                return
            else:
                if k in (Kind.ENUM, Kind.ENUM64):
                    self._uses(t.id)
                return

    def _chunk(self, text: str, defines: list[str], deps: set[int], type_id: int | None = None) -> None:
        if type_id is not None:
            self.chunk_of[type_id] = len(self.out)
        self.out.append(text)
        self.defines.append(defines)
        self.deps.append(sorted(deps))

    def _uses(self, type_id: int) -> None:
        """The definition being written needs chunk of ``type_id`` before it."""
        chunk = self.chunk_of.get(type_id)
        if self._needs and chunk is not None:
            self._needs[-1].add(chunk)

    def emit_record(self, t: BtfType) -> None:
        if t.id in self.done or t.id in self.busy:
            self._uses(t.id)
            return
        self.busy.add(t.id)
        self._needs.append(set())
        for m in t.members:
            self.need(m.type_id, True)
        self.busy.discard(t.id)
        self.done.add(t.id)
        self._chunk(self.record_body(t, "") + ";\n", [self.names[t.id]], self._needs.pop(), t.id)
        self._uses(t.id)

    def emit_typedef(self, t: BtfType) -> None:
        if t.id in self.done or t.id in self.busy:
            self._uses(t.id)
            return
        self.busy.add(t.id)
        self._needs.append(set())
        target = self.btf[t.type_id]
        # An anonymous record is written inline, so its members must exist first.
        self.need(t.type_id, target.kind in _RECORDS and not target.name)
        self.busy.discard(t.id)
        self.done.add(t.id)
        self._chunk(f"typedef {self.decl(t.type_id, self.names[t.id])};\n", [self.names[t.id]],
                    self._needs.pop(), t.id)
        self._uses(t.id)

    def run(self) -> str:
        head = ["#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"]
        for t in self.btf.iter_types():
            if (t.kind in _RECORDS or t.kind == Kind.FWD) and t.name:
                head.append(f"{self.tag(t)};\n")
        self._chunk("".join(head), [], set())
        for t in self.btf.iter_types():
            if t.kind in (Kind.ENUM, Kind.ENUM64) and t.vlen:
                labels: list[str] = [self.names[t.id]] if t.name else []
                self._chunk(self.enum_body(t, "", labels) + ";\n", labels, set(), t.id)
        for t in self.btf.iter_types():
            if t.kind in _RECORDS and t.name:
                self.emit_record(t)
            elif t.kind == Kind.TYPEDEF:
                self.emit_typedef(t)
        self._chunk("#pragma clang attribute pop\n", [], set())
        return "".join(self.out)


def render(btf: BTF) -> str:
    """The header text for every type in ``btf``."""
    return _Writer(btf).run()


def render_split(btf: BTF) -> tuple[bytes, TypeIndex]:
    """The header (ASCII bytes) and an index to cut it down (:class:`compat_c.typeselect.TypeIndex`).

    Names are ``"@tag"`` for struct, union and enum tags, the bare name for
    typedefs and enumerators; the first chunk is the attribute pragma and
    every forward declaration, the last closes the pragma.
    """
    w = _Writer(btf)
    w.run()
    chunks = [c.encode() for c in w.out]
    names: dict[str, list[int]] = {}
    for i, defined in enumerate(w.defines):
        for n, name in enumerate(defined):
            tag = n == 0 and w.out[i].startswith((f"struct {name} ", f"union {name} ", f"enum {name} "))
            names.setdefault(f"@{name}" if tag else name, []).append(i)
    return b"".join(chunks), TypeIndex.build(chunks, w.deps, names)
