"""Symbols of build-id stack frames (``BPF_STACK_TRACE_BUILDID``), as bcc's ``BPF.sym`` gives them.

A build-id stack holds ``struct bpf_stack_build_id`` frames: a status, the
20-byte GNU build id of the module and the file offset in it (or, when the
kernel could not read the build id, the plain address).  bcc resolves them
through the modules given to ``BPF.add_module``; here those come first, then
the files the process has mapped.
"""

from __future__ import annotations

import os
from typing import Any

from pybpf_dsl.errors import ObjectFormatError
from pybpf_dsl.runtime import symbols
from pybpf_dsl.runtime.elfsyms import open_elf, proc_maps, proc_path

__all__ = ["add_module", "resolve_frame", "sym"]

_STATUS_VALID = 1  # BPF_STACK_BUILD_ID_VALID: build_id and offset are set
_STATUS_IP = 2     # BPF_STACK_BUILD_ID_IP: only ip is set

_MODULES: dict[str, str] = {}  # build id (hex) -> path


def add_module(path: str | bytes) -> bool:
    """Remember ``path``'s build id; False (as bcc, no error) when it is missing or has none."""
    path = os.fsdecode(path)
    try:
        bid = open_elf(path).build_id
    except (OSError, ObjectFormatError):
        return False
    if bid is None:
        return False
    _MODULES.setdefault(bid, path)
    return True


def _module_of(bid: str, pid: int) -> str | None:
    found = _MODULES.get(bid)
    if found is None and pid > 0:
        try:
            maps = proc_maps(pid)
        except OSError:
            return None
        for path in {m.path for m in maps if m.executable and m.path.startswith("/")}:
            add_module(proc_path(pid, path))
        found = _MODULES.get(bid)
    return found


def resolve_frame(frame: Any, pid: int, demangle: bool = True) -> tuple:
    """``(name, offset, module)`` of one build-id frame (bytes or None, bcc's conventions)."""
    if frame.status == _STATUS_IP:
        return symbols.symbol_cache(pid).resolve(frame.ip, demangle)
    if frame.status != _STATUS_VALID:
        return None, 0, None
    bid = bytes(frame.build_id).hex()
    path = _module_of(bid, pid)
    if path is None:
        return None, frame.offset, None
    module = os.fsencode(path)
    elf = open_elf(path)
    vaddr = elf.offset_to_vaddr(frame.offset)
    found = elf.find_function(vaddr) if vaddr is not None else None
    if found is None:
        return None, frame.offset, module
    name = symbols.demangle(found.name) if demangle and found.name.startswith("_Z") else found.name
    return name.encode("utf-8", "surrogateescape"), vaddr - found.value, module


def sym(addr: Any, pid: int, show_module: bool = False, show_offset: bool = False,
        demangle: bool = True) -> bytes:
    """bcc's ``BPF.sym``: an address, or a ``bpf_stack_build_id`` frame, to ``b"name[+0xoff][ [module]]"``."""
    if isinstance(addr, int):
        return symbols.sym(addr, pid, show_module, show_offset, demangle)
    # the runtime's formatting, so both kinds of frame print alike
    return symbols.format_symbol(resolve_frame(addr, pid, demangle), show_module, show_offset)
