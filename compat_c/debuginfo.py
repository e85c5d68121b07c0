"""Read the debug metadata of clang's textual LLVM IR: C types as plain data.

bcc tells Python the layout of table keys and leaves and of every struct
passed to ``perf_submit``; compat_c reads the same facts from the ``!N =
!DI...`` records clang emits.  :class:`DebugInfo` indexes those records and
:meth:`DebugInfo.describe` turns a type into a JSON-ready description::

    {"kind": "struct", "name": "data_t", "size": 24, "fields": [
        {"name": "pid", "offset": 0, "bit_offset": 0, "bits": 0,
         "type": {"kind": "int", "name": "u32", "size": 4, "signed": false}}, ...]}

Kinds: ``int`` (also enums and bool), ``float``, ``ptr``, ``array`` (``len``,
``type``), ``struct``/``union`` (``fields``), ``void``.  ``name`` keeps the
typedef a field was declared with, as bcc's descriptions do.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DebugInfo", "parse_fields"]

_RECORD = re.compile(r"^(?:distinct )?!(\w*)\((.*)\)\s*$")
_TUPLE = re.compile(r"^!\d+ = (?:distinct )?!\{(.*)\}\s*$")
_TAG = re.compile(r'^!\{!"btf_decl_tag", !"((?:[^"\\]|\\.)*)"\}')


def parse_fields(text: str) -> dict[str, str]:
    """``key: value`` pairs of a metadata record, split at top-level commas."""
    out: dict[str, str] = {}
    depth = 0
    quoted = False
    start = 0
    parts = []
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    for part in parts:
        key, sep, value = part.strip().partition(": ")
        if sep:
            out[key] = value.strip()
    return out


def _unquote(value: str | None) -> str:
    if not value or not value.startswith('"'):
        return ""
    return value[1:-1]


def _ref(value: str | None) -> int | None:
    if value and value.startswith("!") and value[1:].isdigit():
        return int(value[1:])
    return None


class DebugInfo:
    """The ``!N`` metadata records of one module, decoded on demand."""

    def __init__(self, lines: list[str]) -> None:
        # Index only: a program touching task_struct carries ~25k records, few are read.
        self._lines: dict[int, str] = {}
        for line in lines:
            if len(line) > 1 and line[0] == "!" and line[1].isdigit():
                num, _sep, rest = line.partition(" = ")
                self._lines[int(num[1:])] = rest
        self._parsed: dict[int, tuple[str, dict[str, str]]] = {}

    def _tuple(self, ref: int) -> list[int | None]:
        m = _TUPLE.match(f"!{ref} = {self._lines.get(ref, '')}")
        return [_ref(x.strip()) for x in m.group(1).split(",") if x.strip()] if m else []

    def record(self, ref: int | None) -> tuple[str, dict[str, str]]:
        """``(kind, fields)`` of ``!ref`` (``("", {})`` when absent)."""
        if ref is None:
            return "", {}
        got = self._parsed.get(ref)
        if got is None:
            m = _RECORD.match(self._lines.get(ref, ""))
            got = (m.group(1), parse_fields(m.group(2))) if m else ("", {})
            self._parsed[ref] = got
        return got

    def field(self, ref: int | None, key: str) -> str | None:
        return self.record(ref)[1].get(key)

    def tags(self, ref: int | None) -> list[str]:
        """The ``btf_decl_tag`` strings of the type or declaration ``!ref``."""
        annotations = _ref(self.field(ref, "annotations"))
        if annotations is None:
            return []
        out = []
        for item in self._tuple(annotations):
            m = _TAG.match(self._lines.get(item, "")) if item is not None else None
            if m:
                out.append(m.group(1))
        return out

    def variable(self, ref: int) -> tuple[str, int | None]:
        """``(name, type ref)`` of a DILocalVariable or DIGlobalVariable."""
        _kind, f = self.record(ref)
        return _unquote(f.get("name")), _ref(f.get("type"))

    def location(self, ref: int) -> tuple[str, int, int]:
        """``(file, line, column)`` of the DILocation ``!ref``, seen from the outermost caller.

        A location inside an inlined function (a table method) is followed
        through ``inlinedAt`` to the user's own call.
        """
        for _ in range(64):
            outer = _ref(self.field(ref, "inlinedAt"))
            if outer is None:
                break
            ref = outer
        _kind, f = self.record(ref)
        scope = _ref(f.get("scope"))
        for _ in range(64):  # lexical blocks -> subprogram -> file
            sf = self.record(scope)[1]
            if "filename" in sf:
                break
            scope = _ref(sf.get("file")) or _ref(sf.get("scope"))
        return (_unquote(self.field(scope, "filename")), int(f.get("line", "0")),
                int(f.get("column", "0")))

    def strip(self, ref: int | None) -> int | None:
        """Skip typedefs and qualifiers."""
        for _ in range(64):
            kind, f = self.record(ref)
            if kind != "DIDerivedType" or f.get("tag") not in (
                    "DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type",
                    "DW_TAG_restrict_type", "DW_TAG_atomic_type"):
                return ref
            ref = _ref(f.get("baseType"))
        return ref

    def pointee(self, ref: int | None) -> int | None:
        """The type a pointer type points to (None when ``ref`` is no pointer)."""
        ref = self.strip(ref)
        kind, f = self.record(ref)
        if kind == "DIDerivedType" and f.get("tag") == "DW_TAG_pointer_type":
            return _ref(f.get("baseType"))
        return None

    def type_name(self, ref: int | None) -> str:
        kind, f = self.record(ref)
        name = _unquote(f.get("name"))
        if kind == "DICompositeType" and name:
            tag = {"DW_TAG_structure_type": "struct ", "DW_TAG_union_type": "union ",
                   "DW_TAG_enumeration_type": "enum "}.get(f.get("tag", ""), "")
            return tag + name
        return name

    def members(self, ref: int | None) -> list[int]:
        elements = _ref(self.field(ref, "elements"))
        return [m for m in self._tuple(elements) if m is not None] if elements is not None else []

    def array_dims(self, ref: int) -> list[int]:
        dims = []
        for sub in self.members(ref):
            count = self.field(sub, "count")
            dims.append(int(count) if count and count.lstrip("-").isdigit() else 0)
        return dims

    def describe(self, ref: int | None, depth: int = 0) -> dict[str, Any]:
        """A JSON-ready description of the C type ``!ref``."""
        if depth > 32:
            return {"kind": "void", "name": "", "size": 0}
        name = self.type_name(ref)
        base = self.strip(ref)
        kind, f = self.record(base)
        size = int(f.get("size", "0")) // 8
        if base is None or not kind:
            return {"kind": "void", "name": "void", "size": 0}
        if kind == "DIBasicType":
            enc = f.get("encoding", "")
            if enc == "DW_ATE_float":
                return {"kind": "float", "name": name, "size": size}
            return {"kind": "int", "name": name, "size": size,
                    "signed": enc in ("DW_ATE_signed", "DW_ATE_signed_char")}
        tag = f.get("tag", "")
        if tag == "DW_TAG_pointer_type":
            return {"kind": "ptr", "name": name or self.type_name(_ref(f.get("baseType"))) + " *",
                    "size": 8}
        if tag == "DW_TAG_enumeration_type":
            under = self.describe(_ref(f.get("baseType")), depth + 1) if f.get("baseType") else {}
            return {"kind": "int", "name": name, "size": size, "signed": under.get("signed", False)}
        if tag == "DW_TAG_array_type":
            elem = self.describe(_ref(f.get("baseType")), depth + 1)
            for n in reversed(self.array_dims(base)):
                elem = {"kind": "array", "name": name, "len": n, "size": n * elem["size"], "type": elem}
            return elem
        if tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
            fields = []
            for m in self.members(base):
                _mk, mf = self.record(m)
                bit_offset = int(mf.get("offset", "0"))
                bitfield = "DIFlagBitField" in mf.get("flags", "")
                fields.append({
                    "name": _unquote(mf.get("name")),
                    "offset": bit_offset // 8 if not bitfield else int(mf.get("extraData", "i64 0").split()[-1]) // 8,
                    "bit_offset": bit_offset,
                    "bits": int(mf.get("size", "0")) if bitfield else 0,
                    "type": self.describe(_ref(mf.get("baseType")), depth + 1),
                })
            return {"kind": "struct" if tag == "DW_TAG_structure_type" else "union",
                    "name": _unquote(f.get("name")), "size": size, "fields": fields}
        if tag == "DW_TAG_subroutine_type" or kind == "DISubroutineType":
            return {"kind": "void", "name": "function", "size": 0}
        return {"kind": "void", "name": name, "size": size}
