"""The LLVM side of the DSL compiler: BPF target, optimisation passes, emission, and the worker loop.

This module imports only the standard library and ``llvmlite.binding`` so it
can run as a small separate process (``python -I -S pipeline.py LLVMLITE_DIR``,
started by :mod:`.backend`): the user's process never maps the 170 MB
libllvmlite.so, and a fatal error in LLVM's BPF backend (which exits the
process) ends the worker, not the user's program.

Memory is the point of most choices here (figures: benchmarks/bench_dsl_startup.py):

* only the BPF target is registered (:func:`_register_bpf`), not llvmlite's
  twenty: the others' initialisers and code raise the peak by 7.6 MiB
  (finding BPF's initialisers in the library's symbol table costs ~9 ms);
* the optimiser stays PassBuilder's O2 pipeline.  An explicit pass list
  (always-inliner, SROA, instcombine, simplifycfg, GVN, DSE, ADCE) measured
  1.8 MiB less but lost O2's inter-procedural attribute inference and
  store merging: over the 110 programs of tests/dsl it was worse on 19 (up to
  12 instructions), so per-event cost wins over those pages;
* code generation stays at -O2: -O1 gives the same code and memory, -O0
  saves 1.5 MiB but makes the issue's program 174 instructions instead of 111;
* the module optimised for a compilation is the one emitted (no re-parse),
  so the object is byte-identical to optimising and emitting in one process.

Not reachable from here: most of the worker's pages are libllvmlite.so's
code faulted in at load time (relocations, ~700 static initialisers, each
fault mapping 64 KiB around it; MADV_RANDOM does not stop that fault-around),
and llvmlite.binding's Python layer adds ~5 MiB and ~25 ms of imports.
"""

from __future__ import annotations

import os
import select
import struct
import sys
from array import array
from functools import lru_cache
from typing import Any

__all__ = ["IDLE_EXIT", "target_machine", "optimise", "emit", "read_frame", "write_frame", "serve"]

IDLE_EXIT = 3
"""The worker's exit status when it quits after :data:`_IDLE_SECONDS` without a request."""

_IDLE_SECONDS = 10.0
_BPF_INIT = (b"LLVMInitializeBPFTargetInfo", b"LLVMInitializeBPFTarget",
             b"LLVMInitializeBPFTargetMC", b"LLVMInitializeBPFAsmPrinter")
_ANCHOR = b"LLVMPY_InitializeAllTargets"          # exported: locates the library's load address
_SHDR = struct.Struct("<IIQQQQIIQQ")               # Elf64_Shdr
_SYM = struct.Struct("<IBBHQQ")                    # Elf64_Sym
_CHUNK = _SYM.size * 43690                         # ~1 MiB, whole symbols


def _sections(fd: int) -> list[tuple[int, ...]]:
    """The section headers of a 64-bit little-endian ELF file (none for anything else)."""
    ehdr = os.pread(fd, 64, 0)
    if ehdr[:6] != b"\x7fELF\x02\x01":
        return []
    shoff, = struct.unpack_from("<Q", ehdr, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", ehdr, 0x3A)
    table = os.pread(fd, shentsize * shnum, shoff)
    return [_SHDR.unpack_from(table, i * shentsize) for i in range(shnum)]


def _string_offsets(fd: int, strtab: tuple[int, ...], prefix: bytes, names: tuple[bytes, ...]) -> dict[bytes, int]:
    """Offsets of ``names`` (all starting with ``prefix``) in a string table, read in chunks
    (pread: nothing is mapped into the process, nothing kept)."""
    found: dict[bytes, int] = {}
    base, size = strtab[4], strtab[5]
    longest = max(map(len, names)) + 2
    needle = b"\0" + prefix
    for off in range(0, size, _CHUNK):
        chunk = os.pread(fd, min(_CHUNK + longest, size - off), base + off)
        pos = chunk.find(needle, 0, _CHUNK + len(needle))
        while pos >= 0:
            end = chunk.find(b"\0", pos + 1)
            name = chunk[pos + 1:end]
            if name in names:
                found.setdefault(name, off + pos + 1)
            pos = chunk.find(needle, pos + 1, _CHUNK + len(needle))
        if len(found) == len(names):
            break
    return found


def _symbol_values(fd: int, symtab: tuple[int, ...], name_offs: dict[bytes, int]) -> dict[bytes, int]:
    """Values of the function symbols whose st_name is in ``name_offs``."""
    values: dict[bytes, int] = {}
    base, size = symtab[4], symtab[5]
    step = _SYM.size // 4
    for off in range(0, size, _CHUNK):
        chunk = os.pread(fd, min(_CHUNK, size - off), base + off)
        st_names = array("I", chunk[:len(chunk) - len(chunk) % 4])[::step].tobytes()   # st_name of each symbol
        for name, noff in name_offs.items():
            pos = -1 if name in values else st_names.find(struct.pack("<I", noff))
            while pos >= 0 and pos % 4:
                pos = st_names.find(struct.pack("<I", noff), pos + 1)
            if pos >= 0:
                _n, info, _o, _s, value, _z = _SYM.unpack_from(chunk, pos // 4 * _SYM.size)
                if info & 0xF == 2:                # STT_FUNC
                    values[name] = value
        if len(values) == len(name_offs):
            break
    return values


def _bpf_init_functions(lib: Any) -> list[Any] | None:
    """LLVM's four BPF initialisers in the loaded libllvmlite.so, or None when they cannot be found.

    They are local symbols (llvmlite exports only "initialise everything"),
    so their addresses come from the library's own .symtab, relative to an
    exported function found in both .dynsym and the running process.
    """
    import ctypes
    try:
        fd = os.open(lib._name, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, TypeError):
        return None
    try:
        secs = _sections(fd)
        found: dict[bytes, int] = {}
        for kind, names in ((11, (_ANCHOR,)), (2, _BPF_INIT)):          # SHT_DYNSYM, SHT_SYMTAB
            tab = next((s for s in secs if s[1] == kind), None)
            if tab is None or tab[6] >= len(secs):
                return None
            offs = _string_offsets(fd, secs[tab[6]], os.path.commonprefix(names), names)
            found.update(_symbol_values(fd, tab, offs))
    finally:
        os.close(fd)
    if len(found) != 1 + len(_BPF_INIT):
        return None
    load_base = ctypes.cast(getattr(lib, _ANCHOR.decode()), ctypes.c_void_p).value - found[_ANCHOR]
    code = [(s[3], s[3] + s[5]) for s in secs if s[2] & 4]                 # SHF_EXECINSTR: [addr, end)
    if not all(any(lo <= found[n] < hi for lo, hi in code) for n in _BPF_INIT):
        return None
    return [ctypes.CFUNCTYPE(None)(load_base + found[n]) for n in _BPF_INIT]


def _register_bpf() -> None:
    """Make LLVM's BPF target available: only BPF when possible, else every target llvmlite has."""
    import llvmlite.binding as llvm
    from llvmlite.binding import ffi
    inits = _bpf_init_functions(ffi.lib._lib)
    if inits is None:
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        return
    for init in inits:
        init()


@lru_cache(maxsize=1)
def target_machine() -> Any:
    """The BPF target machine (little-endian, cpu v3, codegen at -O2)."""
    import llvmlite.binding as llvm
    _register_bpf()
    return llvm.Target.from_triple("bpfel").create_target_machine(cpu="v3", opt=2, codemodel="small")


def optimise(ir_text: str) -> Any:
    """Parse and verify ``ir_text``, run the O2 pipeline, verify again; the optimised llvmlite module.

    Raises RuntimeError (LLVM's message) when the IR does not parse or verify.
    """
    import llvmlite.binding as llvm
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    pb = llvm.create_pass_builder(target_machine(), llvm.create_pipeline_tuning_options(speed_level=2))
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    return mod


def emit(ir_text: str, kind: str, mod: Any = None) -> bytes | str:
    """Code for optimised IR: the ELF object (``kind="object"``) or the assembly text.
    ``mod``: that IR already parsed (code generation changes it: use it once)."""
    import llvmlite.binding as llvm
    tm = target_machine()
    if mod is None:
        mod = llvm.parse_assembly(ir_text)
    return tm.emit_object(mod) if kind == "object" else tm.emit_assembly(mod)


def _read_exact(fd: int, size: int) -> bytes:
    parts = []
    while size:
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def read_frame(fd: int) -> tuple[bytes, bytes] | None:
    """One ``(tag, payload)`` frame from ``fd``; None at EOF (or a frame cut short by EOF)."""
    head = _read_exact(fd, 5)
    if len(head) < 5:
        return None
    size, = struct.unpack_from("<I", head, 1)
    data = _read_exact(fd, size)
    return (head[:1], data) if len(data) == size else None


def write_frame(fd: int, tag: bytes, payload: bytes) -> None:
    """Write a frame: a one-byte ``tag``, the payload's length, the payload."""
    view = memoryview(tag + struct.pack("<I", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def serve(rfd: int, wfd: int, idle: float = _IDLE_SECONDS) -> int:
    """Answer requests until EOF (status 0) or ``idle`` seconds without one (:data:`IDLE_EXIT`).

    A request's tag is ``b"O"`` (optimise), ``b"E"`` (emit the object) or
    ``b"S"`` (emit assembly), its payload UTF-8 IR.  The answer's tag is
    ``b"+"`` with the result (UTF-8 text, or the ELF bytes) or ``b"!"`` with
    LLVM's message for IR it rejects.  A fatal error in LLVM exits the
    process with its message on stderr.
    """
    target_machine()                               # warm up while the caller is still type-checking
    last: tuple[bytes, Any] | None = None           # the optimised module, for the emission that follows
    while True:
        if not select.select([rfd], [], [], idle)[0]:
            return IDLE_EXIT
        req = read_frame(rfd)
        if req is None:
            return 0
        tag, payload = req
        try:
            if tag == b"O":
                mod = optimise(payload.decode())
                out = str(mod).encode()
                last = (out, mod)
            else:
                mod = last[1] if last is not None and last[0] == payload else None
                last = None
                code = emit(payload.decode(), "object" if tag == b"E" else "assembly", mod)
                out = code if isinstance(code, bytes) else code.encode()
        except RuntimeError as exc:
            write_frame(wfd, b"!", str(exc).encode())
            continue
        write_frame(wfd, b"+", out)


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the user's process, which ends us by EOF
    sys.path.insert(0, sys.argv[1])
    sys.exit(serve(0, 1))
