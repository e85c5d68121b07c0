"""The LLVM side of the DSL compiler: BPF target, optimisation passes, emission, and the worker loop.

This module imports only the standard library and ``llvmlite.binding`` so it
can run as a small separate process (``python -I -S pipeline.py LLVMLITE_DIR
[CACHE_DIR]``, CACHE_DIR absent when caching is off), started by
:mod:`.backend`: the user's process never maps the 170 MB libllvmlite.so, and
a fatal error in LLVM's BPF backend (which exits the process) ends the worker,
not the user's program.  Once llvmlite loads, the worker writes :data:`READY`.

Memory is the point of most choices here (figures: benchmarks/bench_dsl_startup.py):

* only the BPF target is registered (:func:`_register_bpf`), not llvmlite's
  twenty: the others' initialisers and code raise the peak by 7.6 MiB
  (finding BPF's initialisers in the library's symbol table costs ~9 ms, so
  where they are is kept in CACHE_DIR, keyed by the library's path, size,
  mtime and inode, and checked again on every use);
* the optimiser stays PassBuilder's O2 pipeline.  An explicit pass list
  (always-inliner, SROA, instcombine, simplifycfg, GVN, DSE, ADCE) measured
  1.8 MiB less but lost O2's inter-procedural attribute inference and
  store merging: over the 110 programs of tests/dsl it was worse on 19 (up to
  12 instructions), so per-event cost wins over those pages;
* code generation stays at -O2: -O1 gives the same code and memory, -O0
  saves 1.5 MiB but makes the issue's program 174 instructions instead of 111;
* the module optimised for a compilation is the one emitted (no re-parse),
  so the object is byte-identical to optimising and emitting in one process;
* the worker imports only the llvmlite.binding submodules it calls
  (:func:`_only_needed_submodules`), not the package's ``__init__`` that
  imports all of them: ~3 ms of its ~50 ms start.

Not reachable from here: most of the worker's pages are libllvmlite.so's
code faulted in at load time (relocations, ~700 static initialisers, each
fault mapping 64 KiB around it; MADV_RANDOM does not stop that fault-around),
and llvmlite.binding's Python layer still adds ~5 MiB and ~20 ms of imports
(half of it importlib.resources, which llvmlite's ffi module needs to find
the library).
"""

from __future__ import annotations

import os
import select
import struct
import sys
from array import array
from functools import lru_cache
from typing import Any

__all__ = ["IDLE_EXIT", "READY", "target_machine", "optimise", "emit", "read_frame", "write_frame", "serve"]

IDLE_EXIT = 3
"""The worker's exit status when it quits after :data:`_IDLE_SECONDS` without a request."""

READY = b"R\x10\x00\x00\x00pybpf_dsl-llvm-1"
"""The frame the worker writes first, once llvmlite loads: it is the worker, and it can work."""

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


def _lookup(fd: int, secs: list[tuple[int, ...]]) -> dict[bytes, int] | None:
    """The anchor's value (from .dynsym) and the BPF initialisers' (from .symtab)."""
    found: dict[bytes, int] = {}
    for kind, names in ((11, (_ANCHOR,)), (2, _BPF_INIT)):          # SHT_DYNSYM, SHT_SYMTAB
        tab = next((s for s in secs if s[1] == kind), None)
        if tab is None or tab[6] >= len(secs):
            return None
        offs = _string_offsets(fd, secs[tab[6]], os.path.commonprefix(names), names)
        found.update(_symbol_values(fd, tab, offs))
    return found if len(found) == 1 + len(_BPF_INIT) else None


def _cache_file(cache_dir: str, st: os.stat_result) -> tuple[str, bytes]:
    """Where the symbol values for the library ``st`` describes are kept, and the key they are kept under."""
    return (os.path.join(cache_dir, f"llvm-bpf-init-{st.st_dev:x}-{st.st_ino:x}"),
            f"{st.st_size} {st.st_mtime_ns} {st.st_ino}".encode())


def _cached(cache_dir: str | None, path: bytes, st: os.stat_result) -> dict[bytes, int] | None:
    """The values stored by :func:`_store` for this very file (same path, size, mtime, inode), or None."""
    if not cache_dir:
        return None
    name, key = _cache_file(cache_dir, st)
    try:
        with open(name, "rb") as f:
            stored_path, stored_key, values = f.read().split(b"\0")
        numbers = [int(v, 16) for v in values.split()]
    except (OSError, ValueError):
        return None
    if stored_path != path or stored_key != key or len(numbers) != 1 + len(_BPF_INIT):
        return None
    return dict(zip((_ANCHOR, *_BPF_INIT), numbers))


def _store(cache_dir: str | None, path: bytes, st: os.stat_result, found: dict[bytes, int]) -> None:
    """Keep ``found`` for :func:`_cached` (best effort, written atomically)."""
    if not cache_dir:
        return
    name, key = _cache_file(cache_dir, st)
    values = b" ".join(b"%x" % found[n] for n in (_ANCHOR, *_BPF_INIT))
    tmp = f"{name}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(b"\0".join((path, key, values)))
        os.replace(tmp, name)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _bpf_init_functions(lib: Any, cache_dir: str | None = None) -> list[Any] | None:
    """LLVM's four BPF initialisers in the loaded libllvmlite.so, or None when they cannot be found.

    They are local symbols (llvmlite exports only "initialise everything"),
    so their addresses come from the library's own .symtab, relative to an
    exported function found in both .dynsym and the running process.
    (runtime.elfsyms is not used: it decodes all ~174k symbols, 0.5 s and
    ~100 MiB for this library; here the tables are searched in chunks.)  With a
    ``cache_dir``, the symbol values found are kept there for the next start;
    kept or fresh, they are only used when the initialisers lie in the
    library's executable sections and the load address is page-aligned.
    """
    import ctypes
    try:
        path = os.fsencode(lib._name)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, TypeError):
        return None
    try:
        st = os.fstat(fd)
        secs = _sections(fd)
        code = [(s[3], s[3] + s[5]) for s in secs if s[2] & 4]             # SHF_EXECINSTR: [addr, end)
        exported = getattr(lib, _ANCHOR.decode(), None)
        if exported is None:
            return None
        anchor = ctypes.cast(exported, ctypes.c_void_p).value

        def plausible(found: dict[bytes, int] | None) -> bool:
            return found is not None and not (anchor - found[_ANCHOR]) % 4096 and all(
                any(lo <= found[n] < hi for lo, hi in code) for n in (_ANCHOR, *_BPF_INIT))

        found = _cached(cache_dir, path, st)
        if not plausible(found):
            found = _lookup(fd, secs)
            if not plausible(found):
                return None
            _store(cache_dir, path, st, found)
    finally:
        os.close(fd)
    load_base = anchor - found[_ANCHOR]
    return [ctypes.CFUNCTYPE(None)(load_base + found[n]) for n in _BPF_INIT]


_cache_dir: str | None = None
"""Where :func:`_bpf_init_functions` keeps what it found (the worker's second argument)."""


def _register_bpf() -> None:
    """Make LLVM's BPF target available: only BPF when possible, else every target llvmlite has."""
    from llvmlite.binding import ffi, initfini
    inits = _bpf_init_functions(ffi.lib._lib, _cache_dir)
    if inits is None:
        initfini.initialize_all_targets()
        initfini.initialize_all_asmprinters()
        return
    for init in inits:
        init()


@lru_cache(maxsize=1)
def target_machine() -> Any:
    """The BPF target machine (little-endian, cpu v3, codegen at -O2)."""
    from llvmlite.binding import targets
    _register_bpf()
    return targets.Target.from_triple("bpfel").create_target_machine(cpu="v3", opt=2, codemodel="small")


def optimise(ir_text: str) -> Any:
    """Parse and verify ``ir_text``, run the O2 pipeline, verify again; the optimised llvmlite module.

    Raises RuntimeError (LLVM's message) when the IR does not parse or verify.
    """
    from llvmlite.binding import module, newpassmanagers
    mod = module.parse_assembly(ir_text)
    mod.verify()
    pb = newpassmanagers.create_pass_builder(target_machine(),
                                             newpassmanagers.create_pipeline_tuning_options(speed_level=2))
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    return mod


def emit(ir_text: str, kind: str, mod: Any = None) -> bytes | str:
    """Code for optimised IR: the ELF object (``kind="object"``) or the assembly text.
    ``mod``: that IR already parsed (code generation changes it: use it once)."""
    from llvmlite.binding import module
    tm = target_machine()
    if mod is None:
        mod = module.parse_assembly(ir_text)
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


def _only_needed_submodules() -> None:
    """Make ``from llvmlite.binding import X`` run only X (and what X imports): the package's
    ``__init__`` imports every submodule, the JIT and object-file readers included, which
    this process never uses.  Uses only the import system; the full package is imported
    instead if llvmlite's layout ever stops allowing it."""
    import importlib.util
    spec = importlib.util.find_spec("llvmlite.binding")
    if spec is None or "llvmlite.binding" in sys.modules:
        return
    sys.modules["llvmlite.binding"] = importlib.util.module_from_spec(spec)
    try:
        from llvmlite.binding import ffi, initfini, module, newpassmanagers, targets  # noqa: F401
    except Exception:
        for name in [n for n in sys.modules if n.startswith("llvmlite.binding")]:
            del sys.modules[name]


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the user's process, which ends us by EOF
    sys.path.insert(0, sys.argv[1])
    _cache_dir = sys.argv[2] if len(sys.argv) > 2 else None
    _only_needed_submodules()
    from llvmlite.binding import ffi  # noqa: F401  (an interpreter that cannot load it stops here)
    os.write(1, READY)
    sys.exit(serve(0, 1))
