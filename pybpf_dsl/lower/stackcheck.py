"""Pass 4b: check the optimised module for what LLVM's BPF backend would fail on, naming the user's line.

A memset/memcpy/memmove the backend cannot expand inline (non-constant
size, or more than 128 stores at its alignment) is refused here.  Stack use
is estimated as the sum of the stack slots left after optimisation; that
over-counts slots whose lifetimes LLVM's stack colouring overlaps (locals
bracketed by lifetime markers, see :mod:`.lifetimes`) and misses register
spills, so an estimate over 512 bytes is only an explanation: the backend
decides, and when it refuses, the error names the largest slot's line.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import CompileError
from .source import fail

__all__ = ["check_module", "STACK_LIMIT"]

STACK_LIMIT = 512
_MAX_STORES = 128          # the BPF backend's inline limit for memset/memcpy/memmove
_ALLOCA = re.compile(r"^\s*%(\"[^\"]+\"|[\w.$-]+) = alloca (.+?), align (\d+)")
_MEMCALL = re.compile(r"call void @\"?(?:llvm\.)?(memset|memcpy|memmove)[\w.]*\"?\((.*)\)")
_ARG_ALIGN = re.compile(r"ptr (?:[a-z]+ )*?align (\d+)")


def _type_size(text: str) -> int:
    text = text.strip()
    m = re.fullmatch(r"\[(\d+) x (.+)\]", text)
    if m:
        return int(m.group(1)) * _type_size(m.group(2))
    m = re.fullmatch(r"i(\d+)", text)
    if m:
        return max(1, (int(m.group(1)) + 7) // 8)
    return 8    # ptr and anything else SROA leaves is at most a register


def _site(sites: dict[str, tuple[str, Any, str]], name: str) -> tuple[str, Any, str] | None:
    name = name.strip('"')
    while name:
        if name in sites:
            return sites[name]
        if "." not in name:
            break
        name = name.rsplit(".", 1)[0]
    return None


def check_module(mod: Any, sites: dict[str, tuple[str, Any, str]]) -> CompileError | None:
    """Raise CompileError for an un-expandable mem intrinsic in ``mod``; return the error to
    raise if the backend runs out of stack (None when the slots fit in 512 bytes anyway)."""
    stack_error = None
    for fn in mod.functions:
        if fn.is_declaration:
            continue
        slots = []
        for block in fn.blocks:
            for ins in block.instructions:
                op = ins.opcode
                if op == "alloca":
                    m = _ALLOCA.match(str(ins))
                    if m:
                        slots.append((_type_size(m.group(2)) + int(m.group(3)) - 1 & -int(m.group(3)),
                                      m.group(1)))
                elif op == "call":
                    _check_memcall(str(ins), fn.name)
        total = sum(n for n, _ in slots)
        if total > STACK_LIMIT and stack_error is None:
            size, name = max(slots)
            site = _site(sites, name)
            what = site[2] if site else f"{size} bytes"
            msg = (f"{fn.name}() needs more than BPF's {STACK_LIMIT} bytes of stack "
                   f"({total} bytes of stack slots); largest: {what}")
            hint = "keep large structs/arrays in a per-CPU array map (PerCpuArray[u32, T], key 0) as scratch space"
            stack_error = fail(msg, site[1], site[0], hint) if site is not None else CompileError(msg, hint=hint)
    return stack_error


def _check_memcall(text: str, fn_name: str) -> None:
    m = _MEMCALL.search(text)
    if m is None:
        return
    kind, args = m.groups()
    size = re.search(r", i64 (-?\d+), i1 ", args)
    aligns = [int(a) for a in _ARG_ALIGN.findall(args)] or [1]
    if kind == "memset":
        aligns = aligns[:1]
    width = min(8, min(aligns)) if len(aligns) == (1 if kind == "memset" else 2) else 1
    if size is not None and -(-int(size.group(1)) // width) <= _MAX_STORES:
        return
    what = f"{kind} of {size.group(1)} bytes" if size else f"{kind} of a run-time size"
    raise CompileError(f"{fn_name}(): LLVM would emit a {what} the BPF backend cannot expand inline",
                       hint="copy or zero smaller structs, or keep this data in a map value")
