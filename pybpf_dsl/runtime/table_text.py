"""bcc's text form of table keys and leaves (key_sprintf/leaf_sprintf/key_scanf/leaf_scanf).

bcc prints a value by walking its type: integers as ``0x%x`` (two's
complement at the type's width), structs as ``{ a b }``, arrays as
``[ a b ]`` and byte arrays as ``"text"``; reading accepts integers in any C
base (``%i``: ``0x1f``, ``017``, ``15``).  Unions use their first member.
"""

from __future__ import annotations

import ctypes as ct
from typing import Any

__all__ = ["format_value", "scan_value"]


def _is_text(ctype: Any) -> bool:
    return issubclass(ctype, ct.Array) and ct.sizeof(ctype._type_) == 1 and \
        issubclass(ctype._type_, ct._SimpleCData)


def format_value(ctype: Any, obj: Any) -> str:
    """``obj`` in bcc's printed form: ints as 0x.., structs as { .. }, arrays as [ .. ],
    byte arrays as quoted strings (up to the first NUL)."""
    if issubclass(ctype, (ct.Structure, ct.Union)):
        fields = ctype._fields_[:1] if issubclass(ctype, ct.Union) else ctype._fields_
        return "{ " + "".join(format_value(f[1], getattr(obj, f[0])) + " " for f in fields) + "}"
    if issubclass(ctype, ct.Array):
        if _is_text(ctype):
            return '"%s"' % bytes(obj).split(b"\0", 1)[0].decode("latin-1")
        return "[ " + "".join(format_value(ctype._type_, obj[i]) + " " for i in range(len(obj))) + "]"
    value = obj.value if isinstance(obj, ct._SimpleCData) else obj
    if isinstance(value, bytes):
        value = value[0] if value else 0
    return "0x%x" % ((value or 0) & ((1 << (8 * ct.sizeof(ctype))) - 1))


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "{}[]":
            out.append(c)
            i += 1
        elif c == '"':
            end = text.index('"', i + 1)
            out.append(text[i:end + 1])
            i = end + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '{}[]"':
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _parse(ctype: Any, toks: list[str]) -> Any:
    """Read one value of ``ctype`` from the front of ``toks`` (consumed)."""
    if issubclass(ctype, (ct.Structure, ct.Union)):
        obj = ctype()
        _expect(toks, "{")
        fields = ctype._fields_[:1] if issubclass(ctype, ct.Union) else ctype._fields_
        for f in fields:
            sub = _parse(f[1], toks)
            if isinstance(sub, ct._SimpleCData):
                sub = sub.value
            elif _is_text(f[1]) and f[1]._type_ is ct.c_char:
                sub = bytes(sub)   # ctypes wants bytes for char array fields
            setattr(obj, f[0], sub)
        _expect(toks, "}")
        return obj
    if issubclass(ctype, ct.Array):
        obj = ctype()
        if _is_text(ctype):
            tok = toks.pop(0) if toks else ""
            if len(tok) < 2 or tok[0] != '"' or tok[-1] != '"':
                raise ValueError(f"expected a quoted string, got {tok!r}")
            data = tok[1:-1].encode("latin-1")[: len(obj)]
            ct.memmove(obj, data, len(data))
            return obj
        _expect(toks, "[")
        for i in range(len(obj)):
            sub = _parse(ctype._type_, toks)
            obj[i] = sub.value if isinstance(sub, ct._SimpleCData) else sub
        _expect(toks, "]")
        return obj
    value = _c_int(toks.pop(0) if toks else "") & ((1 << (8 * ct.sizeof(ctype))) - 1)
    if ctype is ct.c_char:
        return ctype(bytes([value]))
    return ctype(value)


def _c_int(tok: str) -> int:
    """An integer as C's ``%i`` reads it: 0x.. hex, 0.. octal, else decimal."""
    digits = tok.lstrip("+-")
    try:
        if digits[:2].lower() == "0x":
            value = int(digits[2:], 16)
        elif len(digits) > 1 and digits[0] == "0":
            value = int(digits[1:], 8)
        else:
            value = int(digits, 10)
    except ValueError:
        raise ValueError(f"expected an integer, got {tok!r}") from None
    return -value if tok.startswith("-") else value


def _expect(toks: list[str], tok: str) -> None:
    if not toks or toks.pop(0) != tok:
        raise ValueError(f"expected {tok!r}")


def scan_value(ctype: Any, text: str | bytes) -> Any:
    """Parse the printed form back into a new ``ctype`` object (ValueError when malformed)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    toks = _tokens(text)
    obj = _parse(ctype, toks)
    if toks:
        raise ValueError(f"unexpected {toks[0]!r} after the value")
    return obj
