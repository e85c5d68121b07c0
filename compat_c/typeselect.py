"""Cut the kernel types header down to what one program needs.

:func:`compat_c.vmlinux.render_split` writes the header as chunks (one per
top-level definition) with an index of what each defines and needs by
value.  A program's text names what it uses::

    keys = wanted_names(program_text)          # {"@task_struct", "u32", "TCP_CLOSE", ...}
    header = select(types_text, index, keys)   # those definitions, their needs, forward declarations

A tag counts only after ``struct``/``union``/``enum`` (a variable named
``file`` does not pull in ``struct file``); typedef and enumerator names
count wherever they appear.  The selection may be too small for unusual
programs (a type reached only through a macro): the caller then compiles
against the full header.
"""

from __future__ import annotations

import re
from array import array

__all__ = ["wanted_names", "defined_tags", "select"]

_TAG_RE = re.compile(r"\b(struct|union|enum)\s+(\w+)")
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")
_TAG_REF = re.compile(r"\b(struct|union) (\w+)")
_TAG_DEF = re.compile(r"\b(?:struct|union|enum)\s+(\w+)\s*\{")


def wanted_names(c_text: str) -> set[str]:
    """Index keys ``c_text`` may need: ``@tag`` after struct/union/enum, every identifier bare."""
    return {f"@{m.group(2)}" for m in _TAG_RE.finditer(c_text)} | set(_IDENT_RE.findall(c_text))


def defined_tags(c_text: str) -> set[str]:
    """``@tag`` for every struct, union or enum ``c_text`` defines (``struct tag {``)."""
    return {f"@{name}" for name in _TAG_DEF.findall(c_text)}


def select(text: str, index: dict, keys: set[str], omit: set[str] = frozenset()) -> str:
    """The part of ``text`` that defines ``keys`` (see :func:`wanted_names`) and what they need.

    Chunks keep the header's order; the structs and unions they mention are
    forward-declared first, so types used only through pointers need nothing more.
    Chunks defining a key of ``omit`` are left out (the program defines those
    types itself, as it must where bcc's kernel headers lack a private type).
    """
    names = index["names"]
    spans = array("I")
    spans.frombytes(index["spans"])
    flat = array("I")
    flat.frombytes(index["deps"])
    starts, pos = [], 0          # where each chunk's dependency list starts in ``flat``
    while pos < len(flat):
        starts.append(pos)
        pos += flat[pos] + 1
    chosen: set[int] = set()
    for key in omit:
        hit = names.get(key)
        if hit is not None:
            chosen.update(hit if isinstance(hit, tuple) else (hit,))
    skipped = set(chosen)
    todo: list[int] = []
    for key in keys:
        hit = names.get(key)
        if hit is not None:
            todo.extend(hit if isinstance(hit, tuple) else (hit,))
    while todo:
        c = todo.pop()
        if c not in chosen:
            chosen.add(c)
            at = starts[c]
            todo.extend(flat[at + 1:at + 1 + flat[at]])
    last = len(spans) // 2 - 1
    chosen -= skipped
    chosen.discard(0)
    chosen.discard(last)
    body = "".join(text[spans[2 * c]:spans[2 * c + 1]] for c in sorted(chosen))
    pragma = text[:text.index("\n") + 1]
    forward = "".join(sorted({f"{m.group(1)} {m.group(2)};\n" for m in _TAG_REF.finditer(body)}))
    return pragma + forward + body + text[spans[2 * last]:spans[2 * last + 1]]
