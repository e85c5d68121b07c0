"""bcc's ``struct tracepoint__<category>__<event>``, built from tracefs formats.

bcc gives a TRACEPOINT_PROBE an ``args`` pointer to a struct with the
event's fields: the common header folded into one leading ``u64``,
``__data_loc`` fields as ``int data_loc_NAME`` (read them with
TP_DATA_LOC_READ*), and every scalar widened to the size the format gives
(syscall arguments are declared ``int`` but take 8 bytes).  The program's
text names the events it uses (``TRACEPOINT_PROBE(cat, ev)`` or a function
``tracepoint__cat__ev``); :func:`definitions` writes their structs.
"""

from __future__ import annotations

import re

from pybpf_dsl.runtime.tracepoints import TracepointField, TracepointFormat, tracepoint_format

__all__ = ["used_tracepoints", "render", "definitions"]

_USES = re.compile(r"\bTRACEPOINT_PROBE\s*\(\s*(\w+)\s*,\s*(\w+)\s*\)|\btracepoint__(\w+?)__(\w+)")
_INTS = {(1, True): "s8", (1, False): "u8", (2, True): "s16", (2, False): "u16",
         (4, True): "s32", (4, False): "u32", (8, True): "s64", (8, False): "u64"}
_CHARS = ("char", "signed char", "unsigned char")


def used_tracepoints(text: str) -> list[tuple[str, str]]:
    """``(category, event)`` of every tracepoint the program's text refers to, in order."""
    seen: list[tuple[str, str]] = []
    for m in _USES.finditer(text):
        pair = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if pair not in seen:
            seen.append(pair)
    return seen


def _field(f: TracepointField) -> str:
    if f.data_loc or f.rel_loc:
        return f"int data_loc_{f.name};"
    if f.array_len is not None:
        elem = f.type if f.type in _CHARS else _INTS.get((f.elem_size, f.signed), "u8")
        count = f.array_len if f.type in _CHARS or (f.elem_size, f.signed) in _INTS else f.size
        return f"{elem} {f.name}[{count}];"
    if f.is_pointer and f.size == 8:
        return f"{f.type}{'' if f.type.endswith('*') else ' '}{f.name};"
    ctype = _INTS.get((f.size, f.signed))
    return f"{ctype} {f.name};" if ctype else f"u8 {f.name}[{f.size}];"


def render(fmt: TracepointFormat) -> str:
    """The C definition of bcc's args struct for one event."""
    lines = []
    off = 0
    pads = 0
    header = fmt.common_fields
    if header:
        lines.append("u64 __do_not_use__;")
        off = 8
    for f in fmt.args:
        if f.offset < off:
            continue  # overlaps the folded header (never seen in practice)
        if f.offset > off:
            lines.append(f"char __pad_{pads}[{f.offset - off}];")
            pads += 1
        lines.append(_field(f))
        off = f.offset + f.size
    body = "\n  ".join(lines)
    return f"struct tracepoint__{fmt.category}__{fmt.event} {{\n  {body}\n}};\n"


def definitions(text: str) -> str:
    """Struct definitions for every tracepoint ``text`` uses (AttachTargetNotFound if one is missing)."""
    return "".join(render(tracepoint_format(cat, ev)) for cat, ev in used_tracepoints(text))
