"""``print(...)`` in BPF code: typed here, compiled to a ring-buffer record, formatted in user space.

::

    print("pid", pid, "opened", ev.filename)
    print(f"{bpf.comm()} read {n:>8} bytes", sep="", end="\\n")

Only the values travel: each call site reserves a record in the internal
ring buffer (:data:`~pybpf_dsl.printfmt.PRINT_MAP`), stores its site id and
every value, and submits it; the literal text, ``sep``/``end``, f-string
conversions and format specs stay in user space
(:class:`~pybpf_dsl.printfmt.PrintSite`).  A record the ring has no room for
is dropped, as bpftrace drops events, and counted in
:data:`~pybpf_dsl.printfmt.PRINT_LOST_MAP` (user space reports "Possibly lost N samples").  In CPython the interpreter builds the
same record bytes and formats them with the same code.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from .. import types as T
from ..maps import ArrayMap, RingBuf
from ..printfmt import PRINT_LOST_MAP, PRINT_MAP, PrintSite, decode, describe
from .typer import NOSTATIC

__all__ = ["PRINT_RING", "PRINT_LOST", "type_print", "gen_print", "interp_print"]

_MAX_RECORD = 4096
_MAP_LOOKUP_ELEM, _RINGBUF_RESERVE, _RINGBUF_SUBMIT = 1, 131, 132
_CONVERSIONS = {-1: "", ord("r"): "r", ord("s"): "s", ord("a"): "a"}


class _PrintRing(RingBuf):
    """The ring buffer every ``print`` call site of an object writes to (records of many layouts)."""

    type_params = ()
    method_names = ()


PRINT_RING = _PrintRing(64, name=PRINT_MAP)
PRINT_LOST = ArrayMap[T.u64](1, name=PRINT_LOST_MAP)   # slot 0: records the ring had no room for


def _literal(ty: Any, node: ast.expr, what: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(v.value for v in node.values)
    raise ty.err(node, f"{what} must be a string literal", 'e.g. sep=", "')


def _pieces(ty: Any, e: ast.Call) -> list:
    """Literal strings and (node, conversion, spec) value pieces, in output order."""
    sep, end = " ", "\n"
    for kw in e.keywords:
        if kw.arg == "sep":
            sep = _literal(ty, kw.value, "sep=")
        elif kw.arg == "end":
            end = _literal(ty, kw.value, "end=")
        else:
            raise ty.err(kw.value, f"print() in BPF code takes sep= and end= only, not {kw.arg}=",
                         "the output goes to the loaded program's reader (prog.print_events())")
    out: list = []
    for i, a in enumerate(e.args):
        if i:
            out.append(sep)
        if isinstance(a, ast.Starred):
            raise ty.err(a, "print(*args) is not supported in BPF code", "pass each value")
        if isinstance(a, ast.JoinedStr):
            for v in a.values:
                if isinstance(v, ast.Constant):
                    out.append(v.value)
                else:
                    spec = _literal(ty, v.format_spec, "a format spec") if v.format_spec else ""
                    out.append((v.value, _CONVERSIONS[v.conversion], spec))
        else:
            out.append((a, "", ""))
    out.append(end)
    return out


def _printed_type(ty: Any, node: ast.expr) -> tuple[T.Type, bool]:
    """(the type whose bytes are recorded, whether a direct pointer is dereferenced)."""
    t = node.ty
    if isinstance(t, T.PtrType) and t.space == "direct" and not isinstance(t.target, T.PtrType):
        return t.target, True
    if isinstance(t, (T.IntType, T.PtrType, T.ArrayType, T.StructType)):
        return t, False
    raise ty.err(node, f"cannot print a {t}", "print integers, pointers, char arrays, arrays and structs")


def _static_text(ty: Any, node: ast.expr, conv: str, spec: str) -> str:
    v = node.static
    if node.ty is T.bool:
        v = bool(v)
    elif not isinstance(v, (int, str)):
        raise ty.err(node, f"cannot print {ast.unparse(node)}", "print values, strings and constants")
    return _apply(ty, node, v, conv, spec)


def _apply(ty: Any, node: ast.expr, v: Any, conv: str, spec: str) -> str:
    try:
        v = {"r": repr, "s": str, "a": ascii}[conv](v) if conv else v
        return format(v, spec)
    except (ValueError, TypeError) as exc:
        raise ty.err(node, f"format spec {spec!r} does not apply to {ast.unparse(node)}: {exc}",
                     "use a spec for its kind: `{n:>8}`, `{n:#x}` for integers, `{s:<16}` for strings") from None


def type_print(ty: Any, e: ast.Call) -> None:
    """Type a ``print(...)`` call: its record layout and its :class:`PrintSite` parts."""
    parts: list = []
    slots: list[tuple[ast.expr, T.Type, bool]] = []
    specs = []
    for p in _pieces(ty, e):
        if isinstance(p, str):
            parts.append(p)
            continue
        node, conv, spec = p
        ty.expr(node)
        if node.static is not NOSTATIC:
            parts.append(_static_text(ty, node, conv, spec))
            continue
        t, deref = _printed_type(ty, node)
        specs.append((node, t, conv, spec))
        parts.append(len(slots))
        slots.append((node, t, deref))
    layout = T.StructType.layout("print", [("site", T.u32)] + [(f"v{i}", t) for i, (_, t, _) in enumerate(slots)])
    if layout.size > _MAX_RECORD:
        raise ty.err(e, f"this print() records {layout.size} bytes, more than {_MAX_RECORD}",
                     "print the fields you need instead of whole structs")
    merged: list = []
    for p in parts:
        if isinstance(p, int):
            node, t, conv, spec = specs[p]
            f = layout.fields[p + 1]
            _apply(ty, node, decode(describe(t), bytes(t.size)), conv, spec)   # check the spec now
            p = [f.offset, describe(t), conv, spec]
        elif merged and isinstance(merged[-1], str):
            merged[-1] += p
            continue
        merged.append(p)
    e.kind, e.ty = "print", None
    e.print_slots, e.print_layout = slots, layout
    e.print_site = PrintSite(merged, layout.size, f"{ty.file}:{e.lineno}")


def gen_print(g: Any, e: ast.Call) -> None:
    """Evaluate the values, then reserve, fill and submit the record (dropped when the ring is full)."""
    from .codegen import I8, I32, I64, PTR, is_aggregate
    values = []
    for node, t, deref in e.print_slots:
        if deref:
            p = g.gen(node)
            values.append(p if is_aggregate(t) else g.load(p, t))
        elif is_aggregate(t):
            values.append(g.gen(node))
        else:
            values.append(g.value(node, t) if isinstance(t, T.IntType) else g.gen(node))
    site = g.mg.print_site(e.print_site)
    layout = e.print_layout
    rec = g.call_helper(_RINGBUF_RESERVE, PTR, [g.mg.map_global(PRINT_RING), I64(layout.size), I64(0)])
    fill, lost, done = g.new_block("print.fill"), g.new_block("print.lost"), g.new_block("print.end")
    g.b.cbranch(g.nonnull(rec), fill, lost)
    g.b.position_at_end(lost)
    _count_lost(g, done)
    g.b.position_at_end(fill)
    g.store(I32(site), rec, T.u32)
    for f, v in zip(layout.fields[1:], values):
        dst = g.b.gep(rec, [I64(f.offset)], source_etype=I8)
        if is_aggregate(f.type):
            g.copy(dst, v, f.type.size, dst_align=min(8, f.offset & -f.offset or 8))   # records are 8-aligned
        else:
            g.store(v, dst, f.type)
    g.call_helper(_RINGBUF_SUBMIT, I64, [rec, I64(0)])
    g.b.branch(done)
    g.b.position_at_end(done)


def _count_lost(g: Any, done: Any) -> None:
    """Add one to the lost-record counter (an atomic add on its array slot), then go to ``done``."""
    from .codegen import I64, PTR
    key = g.alloca(T.u32, "print.lost.key")
    slot = g.call_helper(_MAP_LOOKUP_ELEM, PTR, [g.mg.map_global(PRINT_LOST), key])
    add = g.new_block("print.lost.add")
    g.b.cbranch(g.nonnull(slot), add, done)
    g.b.position_at_end(add)
    g.b.atomic_rmw("add", slot, I64(1), "monotonic")
    g.b.branch(done)


def _pack(buf: bytearray, off: int, t: T.Type, v: Any) -> None:
    if isinstance(t, T.IntType):
        buf[off: off + t.size] = (t.wrap(int(v)) & t.mask).to_bytes(t.size, "little")
    elif isinstance(t, T.PtrType):
        import ctypes
        addr = ctypes.addressof(v) if isinstance(v, (ctypes.Structure, ctypes.Array)) else int(v or 0)
        buf[off: off + 8] = addr.to_bytes(8, "little")
    else:
        buf[off: off + t.size] = bytes(v)[: t.size]


def interp_print(frame: Any, e: ast.Call) -> None:
    """``print`` in the reference interpreter: the same record, formatted by the same code."""
    layout = e.print_layout
    buf = bytearray(layout.size)
    for (node, t, deref), f in zip(e.print_slots, layout.fields[1:]):
        v = frame.eval(node) if deref or not isinstance(t, T.IntType) else frame.value(node, t)
        if deref and isinstance(t, T.IntType):
            v = v.value if hasattr(v, "value") else v
        _pack(buf, f.offset, t, v)
    sys.stdout.write(e.print_site.format(bytes(buf)))
