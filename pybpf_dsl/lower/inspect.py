"""Inspection: BPF assembly with the user's Python lines interleaved."""

from __future__ import annotations

import linecache
import re

__all__ = ["interleave"]

_FILE = re.compile(r'^\s*\.file\s+(\d+)\s+"([^"]*)"(?:\s+"([^"]*)")?')
_LOC = re.compile(r"^\s*\.loc\s+(\d+)\s+(\d+)")


def interleave(asm: str) -> str:
    """Replace ``.loc`` directives with ``; file:line: source`` comments; drop debug sections."""
    files: dict[str, str] = {}
    out, last = [], None
    for line in asm.splitlines():
        m = _FILE.match(line)
        if m:
            num, a, b = m.groups()
            files[num] = f"{a}/{b}" if b else a
            continue
        m = _LOC.match(line)
        if m:
            path, lineno = files.get(m.group(1), "?"), int(m.group(2))
            if (path, lineno) != last and lineno:
                src = linecache.getline(path, lineno).strip()
                out.append(f"; {path.rsplit('/', 1)[-1]}:{lineno}: {src}")
                last = (path, lineno)
            continue
        if line.lstrip().startswith(".section") and (".debug" in line or ".BTF" in line):
            break
        out.append(line)
    return "\n".join(out) + "\n"
