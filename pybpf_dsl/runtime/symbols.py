"""Addresses to names: kernel symbols from /proc/kallsyms, user symbols through /proc/PID/maps.

The output matches bcc byte for byte::

    sym(addr, pid, show_module=True, show_offset=True)  # b"strlen+0x12 [libc.so.6]"
    ksym(addr)                                           # b"do_sys_openat2"
    ksymname("do_sys_openat2")                           # address, or -1
    symbolize(stack_addrs, pid)                          # one bytes line per frame

PIE and shared libraries are placed through the mapping's file offset (so
load bias never matters), deleted files are read through
/proc/PID/map_files, the vDSO from the process's memory, and JIT code
through /tmp/perf-PID.map when the runtime writes one; other anonymous
code is ``[unknown]``.
"""

from __future__ import annotations

import bisect
import ctypes
import os
import re
import threading
import time
from functools import lru_cache
from typing import Iterable, NamedTuple

from ..errors import ObjectFormatError
from .elfsyms import ElfFile, Mapping, find_library, open_elf, proc_maps, proc_path

__all__ = ["KernelSymbols", "SymbolCache", "symbol_cache", "ksym", "ksymname", "sym",
           "symbolize", "demangle", "format_symbol"]

Resolved = tuple  # (name: bytes | None, offset: int, module: bytes | None)

_KALLSYMS_LINE = rb"(?m)^([0-9a-fA-F]+) ([^bBdDrR\n]) (\S+)(?:\t\[(\S+)\])?$"  # compiled on first use


class KernelSymbols:
    """/proc/kallsyms, loaded once, searched by binary search (text symbols only, like bcc)."""

    def __init__(self) -> None:
        self._addrs: list[int] = []
        self._names: list[bytes] = []
        self._mods: list[bytes] = []
        self._by_name: dict[bytes, int] | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            with open("/proc/kallsyms", "rb") as f:
                data = f.read()
            rows = []
            for addr, _typ, name, mod in re.findall(_KALLSYMS_LINE, data):
                a = int(addr, 16)
                if a:
                    rows.append((a, name, mod or b"kernel"))
            rows.sort(key=lambda r: r[0])
            self._addrs = [r[0] for r in rows]
            self._names = [r[1] for r in rows]
            self._mods = [r[2] for r in rows]
            self._by_name = None
            self._loaded = True

    def refresh(self) -> None:
        """Reload (new modules, newly loaded BPF programs)."""
        self._loaded = False
        self._load()

    def resolve(self, addr: int, demangle: bool = True) -> Resolved:
        """``(name, offset, module)``; ``(None, addr, None)`` below the first symbol."""
        if not self._loaded:
            self._load()
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return None, addr, None
        return self._names[i], addr - self._addrs[i], self._mods[i]

    def resolve_name(self, module: bytes | str | None, name: bytes | str) -> int:
        """Address of kernel symbol ``name`` (first one if duplicated), or -1."""
        if not self._loaded:
            self._load()
        if self._by_name is None:
            table: dict[bytes, int] = {}
            for a, n in zip(self._addrs, self._names):
                table.setdefault(n, a)
            self._by_name = table
        key = name.encode() if isinstance(name, str) else name
        return self._by_name.get(key, -1)


_KERNEL = KernelSymbols()


class _Region(NamedTuple):
    start: int
    end: int
    offset: int
    path: str       # the name shown as module
    open_path: str  # where to read it


class SymbolCache:
    """User symbols of one process (bcc's SymbolCache); ``pid`` <= 0 means the kernel.

    ``resolve(addr)`` gives ``(name, offset, module)`` as bytes, bcc's
    conventions: a known module but no symbol gives ``(None,
    offset_in_module, module)``, nothing known ``(None, addr, None)``.
    """

    _REFRESH_INTERVAL = 1.0

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._regions: list[_Region] = []
        self._starts: list[int] = []
        self._loaded_at = 0.0
        self._vdso: ElfFile | None = None
        self._perf_map: tuple[list[int], list[tuple[int, bytes]]] | None = None
        if pid > 0:
            self.refresh()

    def refresh(self) -> None:
        """Re-read /proc/PID/maps (new libraries, dlopen)."""
        self._loaded_at = time.monotonic()
        try:
            maps = proc_maps(self.pid)
        except OSError:
            maps = []
        regions = [self._region(m) for m in maps if m.executable]
        self._regions = [r for r in regions if r is not None]
        self._starts = [r.start for r in self._regions]
        self._perf_map = None

    def _region(self, m: Mapping) -> _Region | None:
        if m.path.startswith("/"):
            if m.path.endswith(" (deleted)"):
                return _Region(m.start, m.end, m.offset, m.path[:-10],
                               f"/proc/{self.pid}/map_files/{m.start:x}-{m.end:x}")
            return _Region(m.start, m.end, m.offset, m.path, proc_path(self.pid, m.path))
        if m.path in ("[vdso]", "") or m.path.startswith("[anon"):
            return _Region(m.start, m.end, m.offset, m.path, "")
        return None

    def resolve(self, addr: int, demangle: bool = True) -> Resolved:
        if self.pid <= 0:
            return _KERNEL.resolve(addr)
        region = self._find(addr)
        if region is None and time.monotonic() - self._loaded_at > self._REFRESH_INTERVAL:
            self.refresh()
            region = self._find(addr)
        if region is None:
            return None, addr, None
        if region.open_path:
            return self._resolve_file(region, addr, demangle)
        if region.path == "[vdso]":
            return self._resolve_vdso(region, addr)
        return self._resolve_jit(addr)

    def _find(self, addr: int) -> _Region | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self._regions[i].end:
            return self._regions[i]
        return None

    def _resolve_file(self, region: _Region, addr: int, want_demangle: bool) -> Resolved:
        module = os.fsencode(region.path)
        try:
            elf = open_elf(region.open_path)
        except (OSError, ObjectFormatError):
            # not ELF: shared anonymous memory (/dev/zero, memfd) a JIT may have written code to
            jit = self._resolve_jit(addr)
            return jit if jit[0] is not None else (None, addr - region.start + region.offset, module)
        file_off = addr - region.start + region.offset
        vaddr = elf.offset_to_vaddr(file_off)
        if vaddr is None:
            return None, file_off, module
        found = elf.find_function(vaddr)
        if found is None:
            return None, vaddr, module
        name = found.name
        if want_demangle and name.startswith("_Z"):
            name = demangle(name)
        return name.encode("utf-8", "surrogateescape"), vaddr - found.value, module

    def _resolve_vdso(self, region: _Region, addr: int) -> Resolved:
        if self._vdso is None:
            try:
                with open(f"/proc/{self.pid}/mem", "rb") as f:
                    f.seek(region.start)
                    self._vdso = ElfFile(f.read(region.end - region.start), "[vdso]")
            except (OSError, ObjectFormatError):
                return None, addr, b"[vdso]"
        vaddr = self._vdso.offset_to_vaddr(addr - region.start)
        found = self._vdso.find_function(vaddr) if vaddr is not None else None
        if found is None:
            return None, addr - region.start, b"[vdso]"
        return found.name.encode(), vaddr - found.value, b"[vdso]"

    def _resolve_jit(self, addr: int) -> Resolved:
        if self._perf_map is None:
            self._perf_map = _read_perf_map(self.pid)
        starts, entries = self._perf_map
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < starts[i] + entries[i][0]:
            return entries[i][1], addr - starts[i], os.fsencode(f"perf-{self.pid}.map")
        return None, addr, None

    def resolve_name(self, module: bytes | str | None, name: bytes | str) -> int:
        """Run-time address of ``name`` in ``module`` (a path or library name) in this process, or -1."""
        if self.pid <= 0:
            return _KERNEL.resolve_name(module, name)
        if module is None:
            return -1
        mod = module.decode() if isinstance(module, bytes) else module
        sname = name.decode() if isinstance(name, bytes) else name
        path = mod if "/" in mod else find_library(mod, self.pid) or find_library(mod)
        if path is None:
            return -1
        try:
            want = os.stat(path).st_ino
            elf = open_elf(path)
        except (OSError, ObjectFormatError):
            return -1
        cands = [s for s in elf.by_name(sname) if not s.hidden] or elf.by_name(sname)
        if not cands:
            return -1
        file_off = elf.vaddr_to_offset(cands[0].value)
        if file_off is None:
            return -1
        for m in proc_maps(self.pid):
            # private mappings only: a shared one is somebody's mmap of the file, not the loader's
            if (m.inode == want and m.perms.endswith("p")
                    and m.offset <= file_off < m.offset + (m.end - m.start)):
                return m.start + file_off - m.offset
        return -1


def _read_perf_map(pid: int) -> tuple[list[int], list[tuple[int, bytes]]]:
    """/tmp/perf-PID.map (as JITs write it), seen from the process's root and pid namespace."""
    nspid = pid
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    nspid = int(line.split()[-1])
    except OSError:
        pass
    rows = []
    try:
        with open(proc_path(pid, f"/tmp/perf-{nspid}.map"), "rb") as f:
            for line in f:
                parts = line.rstrip(b"\n").split(b" ", 2)
                if len(parts) == 3:
                    try:
                        rows.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
                    except ValueError:
                        continue
    except OSError:
        pass
    rows.sort(key=lambda r: r[0])
    return [r[0] for r in rows], [(r[1], r[2]) for r in rows]


@lru_cache(maxsize=None)
def _cxa_demangle():
    import ctypes.util  # subprocess, shutil...: only when a C++ name is demangled

    path = ctypes.util.find_library("stdc++")
    if path is None:
        return None
    try:
        fn = ctypes.CDLL(path).__cxa_demangle
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    return fn


@lru_cache(maxsize=4096)
def demangle(name: str) -> str:
    """A C++ symbol name demangled with libstdc++ (unchanged if that is unavailable or fails)."""
    fn = _cxa_demangle()
    if fn is None or not name.startswith("_Z"):
        return name
    status = ctypes.c_int()
    ptr = fn(name.encode(), None, None, ctypes.byref(status))
    if not ptr:
        return name
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace") if status.value == 0 else name
    finally:
        ctypes.CDLL(None).free(ctypes.c_void_p(ptr))


_CACHES: dict[int, SymbolCache] = {}


def symbol_cache(pid: int) -> SymbolCache:
    """The shared SymbolCache of ``pid`` (any pid <= 0: the kernel's)."""
    key = pid if pid > 0 else -1
    cache = _CACHES.get(key)
    if cache is None:
        cache = _CACHES[key] = SymbolCache(key)
    return cache


def format_symbol(res: Resolved, show_module: bool, show_offset: bool) -> bytes:
    """bcc's text for a resolved address: ``b"func+0x12 [module]"`` or ``b"[unknown]"``."""
    name, offset, module = res
    text = name if name is not None else b"[unknown]"
    if show_offset and name is not None:
        text += b"+0x%x" % offset
    if show_module and module is not None:
        text += b" [" + os.path.basename(module) + b"]"
    return text


def sym(addr: int, pid: int, show_module: bool = False, show_offset: bool = False,
        demangle: bool = True) -> bytes:
    """bcc's ``BPF.sym``: ``b"name[+0xoff][ [module]]"`` or ``b"[unknown]"``; pid <= 0 is the kernel."""
    return format_symbol(symbol_cache(pid).resolve(addr, demangle), show_module, show_offset)


def ksym(addr: int, show_module: bool = False, show_offset: bool = False) -> bytes:
    """bcc's ``BPF.ksym``: a kernel address to ``b"name[+0xoff][ [kernel]]"``."""
    return format_symbol(_KERNEL.resolve(addr), show_module, show_offset)


def ksymname(name: bytes | str) -> int:
    """bcc's ``BPF.ksymname``: the address of a kernel symbol, or -1."""
    return _KERNEL.resolve_name(None, name)


def symbolize(addrs: Iterable[int], pid: int = -1, show_module: bool = False,
              show_offset: bool = False) -> list[bytes]:
    """Symbolize a stack (e.g. ``StackTrace.walk(stack_id)``): one ``sym()`` string per frame."""
    cache = symbol_cache(pid)
    return [format_symbol(cache.resolve(a), show_module, show_offset) for a in addrs]
