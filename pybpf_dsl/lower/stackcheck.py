"""Pass 4b: refuse, with the user's line, what LLVM's BPF backend would abort the process on.

Run on the optimised module before code generation: a function whose stack
slots exceed BPF's 512 bytes, and a memset/memcpy/memmove the backend cannot
expand inline (non-constant size, or more than 128 stores at its alignment),
make LLVM report a fatal error that exits Python instead of raising.
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


def check_module(mod: Any, sites: dict[str, tuple[str, Any, str]]) -> None:
    """Raise CompileError for stack overuse or an un-expandable mem intrinsic in ``mod``."""
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
        if total > STACK_LIMIT:
            size, name = max(slots)
            site = _site(sites, name)
            what = site[2] if site else f"{size} bytes"
            msg = f"{fn.name}() needs {total} bytes of stack, over BPF's {STACK_LIMIT}-byte limit; largest: {what}"
            hint = "keep large structs/arrays in a per-CPU array map (PerCpuArray[u32, T], key 0) as scratch space"
            if site is not None:
                raise fail(msg, site[1], site[0], hint)
            raise CompileError(msg, hint=hint)


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
